// The tools of every mode: run_js, get_execution, get_execution_output, cancel_execution,
// list_executions. Texts are written for the agent that reads them.
import { z } from 'zod';
import { tagMapArgument } from './tags-argument.ts';
import type { Config } from '../config.ts';
import { McpV8Error } from '../errors.ts';
import { busyPollHoldMs, type ExecutionService } from '../exec/service.ts';
import type { OutputQuery } from '../storage/execution-store.ts';
import { defineTool, type ToolDefinition } from './tool.ts';

/** Bounds on what one call may ask for. */
export const codeCharsMax = 1_000_000;
export const waitMsMax = 60_000;
export const lineLimitMax = 10_000;
export const byteLimitMax = 1024 * 1024;
const lineLimitDefault = 100;
const byteLimitDefault = 4096;

const executionId = z.string().describe('The execution_id returned by run_js.');
const status = z.enum(['running', 'completed', 'failed', 'cancelled', 'timed_out']);
const executionFields = {
  execution_id: z.string(),
  status,
  result: z.string().nullable().describe('Completion value of the code as a string, when completed.'),
  heap: z.string().nullable().describe('Output heap hash in stateful mode, else null.'),
  error: z.string().nullable(),
  started_at: z.string(),
  completed_at: z.string().nullable(),
};
const outputPageFields = {
  execution_id: z.string(),
  data: z.string().describe('The console text of this page; each line ends with \\n.'),
  start_line: z.number(), end_line: z.number(), next_line_offset: z.number(), total_lines: z.number(),
  start_byte: z.number(), end_byte: z.number(), next_byte_offset: z.number(), total_bytes: z.number(),
  has_more: z.boolean(),
  status,
};

const runJsInput = {
  code: z.string().max(codeCharsMax).describe('JavaScript or TypeScript (types are stripped). The value of the last expression becomes `result`; top-level await works.'),
  heap_memory_max_mb: z.number().int().min(4).max(64).optional().describe('V8 heap limit for this run in MiB (4-64).'),
  execution_timeout_secs: z.number().int().min(1).max(300).optional().describe('Wall-clock limit for this run in seconds (1-300), including time spent awaiting.'),
  wait_ms: z.number().int().min(0).max(waitMsMax).optional().describe(
    'Wait up to this many ms for the run to finish (0 = return at once). Use 1000-5000 for quick snippets: when the run finishes in time the reply already holds status, result, error and the first page of console output, so no get_execution call is needed.'),
  heap: z.string().optional().describe('Stateful mode: 64-hex heap hash (from get_execution) to resume; its variables, functions and data are there. Omit to start fresh (or to continue the session).'),
  session: z.string().optional().describe('Stateful mode: session name; the run is logged under it, and without heap it continues from the session\'s latest heap.'),
  tags: tagMapArgument.optional().describe('Stateful mode: tags for the output heap (find it later with query_heaps_by_tags).'),
};

const statefulDescription =
  ' State persists: every run returns a heap (get_execution `heap`); pass it as `heap` to continue with everything the code defined (var/let/const/class/functions, closures, data), or use a `session` name to continue its latest heap automatically. A heap can be resumed many times (forks are independent).';

export function executionTools(service: ExecutionService, config: Config): ToolDefinition[] {
  const runJs = defineTool({
    name: 'run_js',
    title: 'Run JavaScript',
    description:
      'Run JavaScript or TypeScript in an isolated V8 sandbox. Returns {execution_id} at once; poll get_execution for status and result, and read console output with get_execution_output. ' +
      'Pass wait_ms (e.g. 2000) to get the result in this same reply when the code finishes quickly. Timers, Promises, top-level await and WebAssembly work; there is no network, file system, process, require or import (modules).' +
      (config.stateless ? ' Every run starts fresh (this server is stateless).' : statefulDescription),
    input: runJsInput,
    output: {
      execution_id: z.string(),
      status: status.optional(), result: z.string().nullable().optional(), heap: z.string().nullable().optional(),
      error: z.string().nullable().optional(), started_at: z.string().optional(), completed_at: z.string().nullable().optional(),
      output: z.object(outputPageFields).optional().describe('First page of console output, when the run finished within wait_ms.'),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    statefulOnly: false,
    handler: async (args) => {
      if (config.stateless && (args.heap !== undefined || args.session !== undefined || args.tags !== undefined)) {
        const which = ['heap', 'session', 'tags'].filter((key) => args[key as 'heap'] !== undefined).join(', ');
        throw new McpV8Error('STATEFUL_ONLY', `${which}: only in stateful mode; this server runs with --stateless`);
      }
      const id = await service.submit({
        code: args.code,
        heapMemoryMaxMb: args.heap_memory_max_mb ?? config.heapMemoryMaxMb,
        executionTimeoutSecs: args.execution_timeout_secs ?? config.executionTimeoutSecs,
        ...(config.stateless ? {} : { stateful: { heap: args.heap ?? null, session: args.session ?? null, tags: args.tags ?? null } }),
      });
      if (args.wait_ms === undefined || args.wait_ms === 0) return { execution_id: id };
      const record = await service.wait(id, args.wait_ms);
      if (record.status === 'running') return { execution_id: id, status: record.status };
      const output = await service.output(id, { mode: 'line', lineOffset: 1, lineLimit: lineLimitDefault });
      return { ...record, output };
    },
  });

  const getExecution = defineTool({
    name: 'get_execution',
    title: 'Get execution status',
    description: 'Status of an execution (running, completed, failed, cancelled, timed_out) with its result, error and times. Pass wait_ms to wait up to that long for a running execution to finish (long poll) instead of calling again. Console output is read with get_execution_output.',
    input: {
      execution_id: executionId,
      wait_ms: z.number().int().min(0).max(waitMsMax).optional().describe(`Wait up to this many ms while the execution is running (0 = answer at once). Omitted: at once, except while runs wait in the server's queue, when it waits up to ${busyPollHoldMs} ms.`),
    },
    output: executionFields,
    annotations: { readOnlyHint: true, openWorldHint: false },
    statefulOnly: false,
    handler: async (args) => (args.wait_ms === undefined ? service.poll(args.execution_id) : service.wait(args.execution_id, args.wait_ms)),
  });

  const getOutput = defineTool({
    name: 'get_execution_output',
    title: 'Read console output',
    description:
      'Read an execution\'s console output a page at a time, also while it runs. Line mode: line_offset (1-based, default 1) and line_limit (default 100). Byte mode: byte_offset (0-based) and byte_limit (default 4096). ' +
      'Every answer gives both coordinates; continue from next_line_offset or next_byte_offset while has_more is true.',
    input: {
      execution_id: executionId,
      line_offset: z.number().int().min(1).optional(),
      line_limit: z.number().int().min(1).max(lineLimitMax).optional(),
      byte_offset: z.number().int().min(0).optional(),
      byte_limit: z.number().int().min(1).max(byteLimitMax).optional(),
    },
    output: outputPageFields,
    annotations: { readOnlyHint: true, openWorldHint: false },
    statefulOnly: false,
    handler: async (args) => service.output(args.execution_id, outputQuery(args)),
  });

  const cancelExecution = defineTool({
    name: 'cancel_execution',
    title: 'Cancel an execution',
    description: 'Stop a running execution; it ends with status cancelled. Answers ok: false when the execution had already finished.',
    input: { execution_id: executionId },
    output: { ok: z.boolean(), error: z.string().optional() },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    statefulOnly: false,
    handler: async (args) => service.cancel(args.execution_id),
  });

  const listExecutions = defineTool({
    name: 'list_executions',
    title: 'List executions',
    description: 'Executions known to this server, newest first, with status and times.',
    input: {},
    output: { executions: z.array(z.object({ execution_id: z.string(), status, started_at: z.string(), completed_at: z.string().nullable() })) },
    annotations: { readOnlyHint: true, openWorldHint: false },
    statefulOnly: false,
    handler: async () => ({
      executions: (await service.list()).map(({ execution_id, status, started_at, completed_at }) => ({ execution_id, status, started_at, completed_at })),
    }),
  });

  return [runJs, getExecution, getOutput, cancelExecution, listExecutions] as unknown as ToolDefinition[];
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
