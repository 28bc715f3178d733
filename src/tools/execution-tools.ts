// The tools of every mode: run_js, get_execution, get_execution_output, cancel_execution,
// list_executions. Texts are written for the agent that reads them.
import { z } from 'zod';
import { tagMapArgument } from './tags-argument.ts';
import type { Config } from '../config.ts';
import { McpV8Error } from '../errors.ts';
import { busyPollHoldMs, type ExecutionService } from '../service/executions.ts';
import { recordsMax, type OutputQuery } from '../storage/execution-store.ts';
import { linePageBytesMax } from '../storage/output-pages.ts';
import { heapMemoryMbDefault, listLimitDefault, type ExecutionRecord } from '../model.ts';
import { ownerOf, schedulingClientOf } from '../principal.ts';
import { withoutMarkdownFence } from './code-fences.ts';
import { withImages, executionReply, executionShape, firstPage, type ExecutionReply, type FirstPage, firstPageBytesMax, firstPageQuery, firstPageShape, resultCharsMax, statusSchema } from './replies.ts';
import { defineTool, type ToolDefinition } from './tool.ts';

/** Bounds on what one call may ask for. */
export const codeCharsMax = 1_000_000;
/**
 * The longest wait one call may ask for: under the 60 s request timeout of the MCP SDKs (and
 * the clients built on them), with room for the reply to arrive. A run that takes longer is
 * followed with get_execution wait_ms, or as an MCP task.
 */
export const waitMsMax = 50_000;
export const lineLimitMax = 10_000;
export const byteLimitMax = 1024 * 1024;
const lineLimitDefault = 100;
const byteLimitDefault = 4096;
/** list_executions: runs per page by default, and at most. */
export const listLimitMax = 200;

const executionId = z.string().describe('The execution_id returned by run_js.');
const outputPageFields = {
  execution_id: z.string(),
  data: z.string(),
  start_line: z.number(), end_line: z.number(), next_line_offset: z.number(), total_lines: z.number(),
  start_byte: z.number(), end_byte: z.number(), next_byte_offset: z.number(), total_bytes: z.number(),
  has_more: z.boolean(),
  status: statusSchema,
};

const runJsInput = {
  code: z.string().max(codeCharsMax).describe('JavaScript or TypeScript (types are stripped). The value of the last expression becomes `result`; top-level await works.'),
  heap_memory_max_mb: z.number().int().min(4).max(64).optional().describe(`V8 heap limit in MiB (4-64). Default: the server's (${heapMemoryMbDefault} unless set), or when resuming a heap the limit it was made with.`),
  execution_timeout_secs: z.number().int().min(1).max(300).optional().describe('Wall-clock limit in seconds (1-300), awaiting included.'),
  wait_ms: z.number().int().min(0).max(waitMsMax).optional().describe(
    `Wait up to this many ms (max ${waitMsMax}, under common 60 s client timeouts) for the run to finish; the reply then holds result, error and the first console lines. 0 or omitted: return the execution_id at once.`),
};
const statefulInput = {
  heap: z.string().optional().describe('64-hex heap hash to resume (from a reply\'s `heap`): everything its code defined is there.'),
  session: z.string().optional().describe('Session name: the run is logged under it and, without heap, continues its latest heap.'),
  tags: tagMapArgument.optional().describe('Tags for the output heap (query_heaps_by_tags).'),
};

const statefulDescription =
  ' State persists: every run returns a `heap`; pass it back as `heap` to continue with what the code defined, or use a `session` to continue its latest heap. Heaps can be resumed many times (forks).';

export function executionTools(service: ExecutionService, config: Config): ToolDefinition[] {
  const stateful = !config.stateless;
  const executionFields = executionShape(stateful);
  const runJs = runJsTool(service, config);

  const getExecution = defineTool({
    name: 'get_execution',
    title: 'Get execution status',
    description: `Status (running, completed, failed, cancelled, timed_out), result, error and times of an execution. wait_ms waits for a running one to finish (long poll, max ${waitMsMax}). A result longer than ${resultCharsMax} characters is cut; result_offset reads on.`,
    input: {
      execution_id: executionId,
      wait_ms: z.number().int().min(0).max(waitMsMax).optional().describe(`Wait up to this many ms while it runs (0: at once; omitted: at once, or up to ${busyPollHoldMs} ms while runs are queued).`),
      result_offset: z.number().int().min(0).optional().describe('Character offset in result to read from (default 0).'),
    },
    output: executionFields,
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args, context) => {
      if (args.wait_ms !== undefined && args.wait_ms > 0) context.watch?.(args.execution_id);
      const record = await (args.wait_ms === undefined ? service.poll(args.execution_id) : service.wait(args.execution_id, args.wait_ms));
      return withImages(executionReply(record, stateful, args.result_offset ?? 0), record.status === 'running' ? [] : service.images.of(record.execution_id)) as never;
    },
  });

  const getOutput = defineTool({
    name: 'get_execution_output',
    title: 'Read console output',
    description:
      `Read an execution's console output a page at a time, also while it runs. Line mode: line_offset (1-based, default 1), line_limit (default ${lineLimitDefault}); a line page holds at most ${linePageBytesMax} bytes. Byte mode: byte_offset (0-based), byte_limit (default ${byteLimitDefault}). ` +
      'Continue from next_line_offset or next_byte_offset while has_more is true.',
    input: {
      execution_id: executionId,
      line_offset: z.number().int().min(1).optional(),
      line_limit: z.number().int().min(1).max(lineLimitMax).optional(),
      byte_offset: z.number().int().min(0).optional(),
      byte_limit: z.number().int().min(1).max(byteLimitMax).optional(),
    },
    output: outputPageFields,
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args) => service.output(args.execution_id, outputQuery(args)),
  });

  const cancelExecution = defineTool({
    name: 'cancel_execution',
    title: 'Cancel an execution',
    description: 'Stop a running execution (status cancelled). ok: false when it had already finished.',
    input: { execution_id: executionId },
    output: { ok: z.boolean(), error: z.string().optional() },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    handler: async (args) => service.cancel(args.execution_id),
  });

  const listExecutions = defineTool({
    name: 'list_executions',
    title: 'List executions',
    description: `Executions, newest first, ${listLimitDefault} per page (limit up to ${listLimitMax}, offset to page on), optionally only one status; each with the start of its code. In a cluster: every node's, and unavailable_nodes names nodes that did not answer.`,
    input: {
      limit: z.number().int().min(1).max(listLimitMax).optional(),
      offset: z.number().int().min(0).max(recordsMax).optional(),
      status: statusSchema.optional(),
    },
    output: {
      executions: z.array(z.object({ execution_id: z.string(), status: statusSchema, code: z.string(), started_at: z.string().nullable(), completed_at: z.string().nullable() })),
      next_offset: z.number().nullable(),
      unavailable_nodes: z.array(z.object({ node_id: z.string(), error: z.string() })).optional(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args) => {
      const limit = args.limit ?? listLimitDefault;
      const offset = args.offset ?? 0;
      // One more than asked tells whether another page exists.
      const { records, unavailable } = await service.listEverywhere({ limit: limit + 1, offset, ...(args.status === undefined ? {} : { status: args.status }) });
      return {
        executions: records.slice(0, limit).map(({ execution_id, status, code_snippet, started_at, completed_at }) => ({ execution_id, status, code: code_snippet ?? '', started_at, completed_at })),
        next_offset: records.length > limit ? offset + limit : null,
        ...(unavailable.length === 0 ? {} : { unavailable_nodes: unavailable }),
      };
    },
  });

  return [runJs, getExecution, getOutput, cancelExecution, listExecutions] as unknown as ToolDefinition[];
}

/** run_js: submits the code, and answers at once or after wait_ms. */
function runJsTool(service: ExecutionService, config: Config) {
  const stateful = !config.stateless;
  const executionFields = executionShape(stateful);
  return defineTool({
    name: 'run_js',
    title: 'Run JavaScript',
    description:
      `Run JavaScript or TypeScript in an isolated V8 sandbox. Pass wait_ms (e.g. 10000) to get the result in this reply; otherwise poll get_execution. Replies are bounded: result ${resultCharsMax} characters, console ${firstPageBytesMax} bytes (read more with get_execution_output). ` +
      `Timers, Promises, top-level await and WebAssembly work; ${config.capabilities?.fetch !== undefined ? 'fetch() reaches URLs the server\'s policy allows' : 'there is no network'}, ${config.capabilities?.fs !== undefined ? 'an fs global (promises) reaches paths a policy allows' : 'no file system'}, no process, require or import.` +
      (stateful ? statefulDescription : ''),
    input: { ...runJsInput, ...statefulInput },
    unadvertised: stateful ? [] : Object.keys(statefulInput),
    output: {
      ...Object.fromEntries(Object.entries(executionFields).map(([key, schema]) => [key, key === 'execution_id' ? schema : schema.optional()])),
      output: firstPageShape.optional().describe('First console lines; absent when nothing was printed.'),
    } as typeof executionFields & { output: z.ZodOptional<typeof firstPageShape> },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    handler: async (args, context) => {
      const given = args;
      if (config.stateless && (given.heap !== undefined || given.session !== undefined || given.tags !== undefined)) {
        const which = ['heap', 'session', 'tags'].filter((key) => given[key as 'heap'] !== undefined).join(', ');
        throw new McpV8Error('STATEFUL_ONLY', `${which}: only in stateful mode; this server runs with --stateless`);
      }
      const id = await service.submit({
        code: withoutMarkdownFence(args.code),
        heapMemoryMaxMb: args.heap_memory_max_mb ?? config.heapMemoryMaxMb,
        heapMemoryMaxMbChosen: args.heap_memory_max_mb !== undefined,
        executionTimeoutSecs: args.execution_timeout_secs ?? config.executionTimeoutSecs,
        ...(config.stateless ? {} : { stateful: { heap: given.heap ?? null, session: given.session ?? null, tags: given.tags ?? null } }),
        owner: ownerOf(context),
        client: schedulingClientOf(context) ?? null,
        awaited: args.wait_ms !== undefined && args.wait_ms > 0,
        ...(args.wait_ms !== undefined && args.wait_ms > 0 ? { waitMs: args.wait_ms } : {}),
      });
      if (args.wait_ms === undefined || args.wait_ms === 0) return { execution_id: id } as never;
      context.watch?.(id);
      const record = await service.wait(id, args.wait_ms);
      if (record.status === 'running') return { execution_id: id, status: record.status } as never;
      return finishedRunReply(service, record, stateful) as never;
    },
  });
}

/** run_js's reply for a finished run: the record and its first console lines (also a task's result). */
export async function finishedRunReply(service: ExecutionService, record: ExecutionRecord, stateful: boolean): Promise<ExecutionReply & { output?: FirstPage }> {
  const output = firstPage(await service.output(record.execution_id, firstPageQuery));
  return withImages({ ...executionReply(record, stateful), ...(output === undefined ? {} : { output }) }, service.images.of(record.execution_id));
}

function outputQuery(args: { line_offset?: number | undefined; line_limit?: number | undefined; byte_offset?: number | undefined; byte_limit?: number | undefined }): OutputQuery {
  const byteMode = args.byte_offset !== undefined || args.byte_limit !== undefined;
  const lineMode = args.line_offset !== undefined || args.line_limit !== undefined;
  if (byteMode && lineMode) {
    throw new McpV8Error('INVALID_ARGUMENT', 'give either line_offset/line_limit (line mode) or byte_offset/byte_limit (byte mode), not both');
  }
  if (byteMode) return { mode: 'byte', byteOffset: args.byte_offset ?? 0, byteLimit: args.byte_limit ?? byteLimitDefault };
  return { mode: 'line', lineOffset: args.line_offset ?? 1, lineLimit: args.line_limit ?? lineLimitDefault };
}
