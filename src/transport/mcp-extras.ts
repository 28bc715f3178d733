// What MCP offers beyond tools, one set per node, shared by every MCP server it builds (one per
// session, or per stateless request): run_js as a task, live console output, resources (the
// agents' guide and execution output), and short instructions.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema, ErrorCode, McpError, SetLevelRequestSchema,
  type CallToolRequest, type CallToolResult, type ServerCapabilities,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import { listScanRecordsMax } from '../auth/tenants.ts';
import type { Config } from '../config.ts';
import type { ExecutionRecord } from '../model.ts';
import { ownerOf } from '../principal.ts';
import { executionNotFound } from '../storage/execution-store.ts';
import type { ExecutionService } from '../service/executions.ts';
import { finishedRunReply } from '../tools/execution-tools.ts';
import { parseToolArguments, type ToolContext, type ToolDefinition } from '../tools/tool.ts';
import { agentGuide, guideUri, instructionsFor } from './guide.ts';
import { LiveOutput, type LiveNotification } from './live-output.ts';
import { installedHandler } from './sdk-handlers.ts';
import { toolResult } from './tool-result.ts';
import { ExecutionTaskStore, taskPollIntervalMs } from './tasks.ts';

/** Bytes of console output one execution://{id}/output read returns; get_execution_output pages on. */
export const outputResourceBytesMax = 1024 * 1024;
/** Executions listed as resources (the newest). */
export const outputResourcesListed = 20;

/** Principals whose task stores are kept; past it the least recently used one's tasks are forgotten (the executions stay). */
const taskStoresMax = 1000;

export interface McpExtras {
  service: ExecutionService;
  stateful: boolean;
  /** Each principal's own task store: a task list never shows another tenant's runs. */
  tasksFor: (principal: string) => ExecutionTaskStore;
  live: LiveOutput;
  guide: string;
  instructions: string;
}

/** Built once per node, after the tools. */
export function createMcpExtras(service: ExecutionService, config: Config): McpExtras {
  const stateful = !config.stateless;
  const result = async (executionId: string) => toolResult(await finishedRunReply(service, await service.get(executionId), stateful));
  const stores = new LRUCache<string, ExecutionTaskStore>({ max: taskStoresMax });
  const tasksFor = (principal: string) => {
    let store = stores.get(principal);
    if (store === undefined) stores.set(principal, store = new ExecutionTaskStore(service, result));
    return store;
  };
  return { service, stateful, tasksFor, live: new LiveOutput(service), guide: agentGuide(config), instructions: instructionsFor(stateful) };
}

export function extrasCapabilities(): ServerCapabilities {
  return {
    tools: {},
    resources: {},
    logging: {},
    tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
  };
}

type Extra = RequestHandlerExtra<never, never>;

/** Per request: the ToolContext with a `watch` that sends console lines live, and its end. */
export function liveContext(extras: McpExtras, base: ToolContext, extra: Extra, loggingOn: () => boolean): { context: ToolContext; stop: () => Promise<void> } {
  const progressToken = extra._meta?.progressToken;
  const live = extras.live.start({
    progressToken,
    logging: loggingOn(),
    send: (notification: LiveNotification) => extra.sendNotification(notification as never),
  });
  if (live === undefined) return { context: base, stop: async () => undefined };
  return { context: { ...base, watch: live.watch }, stop: live.stop };
}

/** Installs tasks, resources and the logging switch on a server whose tools are registered. */
export function installExtras(server: McpServer, options: { extras: McpExtras; tools: readonly ToolDefinition[]; context: ToolContext; logger: Logger; onLogging: () => void; toolError: (error: unknown, logger: Logger, name: string) => CallToolResult }): void {
  const { extras } = options;
  installRunTask(server, options);
  const setLevel = installedHandler(server, 'logging/setLevel');
  server.server.setRequestHandler(SetLevelRequestSchema, async (request, extra) => {
    options.onLogging();
    return (setLevel === undefined ? {} : await setLevel(request, extra)) as never;
  });
  server.registerResource('guide', guideUri, { title: 'mcp-v8 guide for agents', description: 'Tools, limits, the stateful workflow and the sandbox globals.', mimeType: 'text/markdown' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/markdown', text: extras.guide }] }));
  server.registerResource('execution-output', new ResourceTemplate('execution://{id}/output', {
    list: async () => ({
      resources: (await ownExecutions(extras.service, ownerOf(options.context))).map((record) => ({
        uri: `execution://${record.execution_id}/output`, name: `${record.status}: ${record.code_snippet ?? record.execution_id}`, mimeType: 'text/plain',
      })),
    }),
  }), { title: 'Console output of an execution', description: `The console output of an execution (first ${outputResourceBytesMax} bytes; get_execution_output pages).`, mimeType: 'text/plain' },
  async (uri, variables) => {
    const id = String(variables.id);
    const owner = ownerOf(options.context);
    if (owner !== null && (await extras.service.get(id)).owner !== owner) throw executionNotFound(id);
    const page = await extras.service.output(id, { mode: 'byte', byteOffset: 0, byteLimit: outputResourceBytesMax });
    const more = page.has_more ? `\n[${page.total_bytes - page.end_byte} more bytes: get_execution_output byte_offset ${page.next_byte_offset}]\n` : '';
    return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: page.data + more }] };
  });
}

/** The newest executions a principal may see as resources (all of them with access control off). */
async function ownExecutions(service: ExecutionService, owner: string | null): Promise<ExecutionRecord[]> {
  if (owner === null) return service.list({ limit: outputResourcesListed });
  return (await service.list({ limit: listScanRecordsMax })).filter((record) => record.owner === owner).slice(0, outputResourcesListed);
}

/**
 * tools/call with a `task` for run_js: the run is submitted as run_js would (same validation,
 * same errors) and a task is answered at once, its id the execution_id. Every other call, and
 * run_js without `task`, goes to the SDK's handler unchanged.
 */
function installRunTask(server: McpServer, options: { extras: McpExtras; tools: readonly ToolDefinition[]; context: ToolContext; logger: Logger; toolError: (error: unknown, logger: Logger, name: string) => CallToolResult }): void {
  const callTool = installedHandler(server, 'tools/call');
  const runJs = options.tools.find((tool) => tool.name === 'run_js');
  if (callTool === undefined || runJs === undefined) return;
  server.server.setRequestHandler(CallToolRequestSchema, async (request: CallToolRequest, extra) => {
    if (request.params.task === undefined || request.params.name !== runJs.name) return callTool(request, extra) as never;
    if (extra.taskStore === undefined) throw new McpError(ErrorCode.InternalError, 'tasks are not configured on this server');
    let executionId: string;
    try {
      // The one validation path of every transport (src/tools/tool.ts), then run_js without waiting.
      const args = parseToolArguments(runJs, request.params.arguments ?? {});
      ({ execution_id: executionId } = await runJs.handler({ ...args, wait_ms: 0 }, options.context) as { execution_id: string });
    } catch (error) {
      // No task was made: a JSON-RPC error (a task request's answer is a task or an error).
      const text = (options.toolError(error, options.logger, runJs.name).content[0] as { text: string }).text;
      throw new McpError(ErrorCode.InvalidParams, text);
    }
    const task = await extra.taskStore.createTask({ ttl: request.params.task.ttl ?? null, pollInterval: taskPollIntervalMs, context: { executionId } });
    return { task } as never;
  });
}

/** GET /llms.txt: the guide, for agents and tools that look there (llmstxt.org). */
export function guideRoute(router: { get: (path: string, handler: (ctx: { type: string; body: unknown }) => void) => unknown }, guide: string): void {
  router.get('/llms.txt', (ctx) => {
    ctx.type = 'text/markdown; charset=utf-8';
    ctx.body = guide;
  });
}
