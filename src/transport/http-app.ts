// The one Koa app of a node: health and metrics, the plain API, and the MCP transport the
// config asks for. Built once, testable without a port (`app.callback()`).
import Router from '@koa/router';
import Koa from 'koa';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { McpV8Error } from '../errors.ts';
import type { Engine } from '../exec/types.ts';
import type { Metrics } from '../metrics.ts';
import { parseToolArguments, type ToolDefinition } from '../tools/tool.ts';
import { version } from '../version.ts';
import { createFastPath, errorAnswer, execStatus, type FastHandler } from './api-fast-path.ts';
import { readJsonBody } from './body.ts';
import { createSseHandler, createStreamableHttpHandler } from './mcp-http.ts';
import type { ExecutionStore } from '../storage/execution-store.ts';

export interface HttpAppOptions {
  config: Config;
  tools: readonly ToolDefinition[];
  engine: Engine;
  metrics: Metrics;
  /** What the execution store holds, for /metrics. */
  store: Pick<ExecutionStore, 'storedRecords' | 'storedOutputBytes'>;
  logger: Logger;
}

/** One error path for every request: coded JSON for clients, a log line for the server's faults. */
function errorMiddleware(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (ctx.respond === false && ctx.res.headersSent) {
        logger.error({ err: error, path: ctx.path }, 'request failed after the response started');
        return;
      }
      ctx.respond = true;
      const { status, body } = errorAnswer(error, logger, ctx.path);
      ctx.status = status;
      ctx.body = body;
    }
  };
}

function toolNamed(tools: readonly ToolDefinition[], name: string): ToolDefinition {
  const tool = tools.find((candidate) => candidate.name === name);
  if (tool === undefined) throw new McpV8Error('ROUTE_NOT_FOUND', `no tool named '${name.slice(0, 80)}'; tools: ${tools.map((t) => t.name).join(', ')}`);
  return tool;
}

/** Query-string numbers for the output route, validated by the tool's own schema after this. */
function numericQuery(ctx: Context, names: readonly string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const name of names) {
    const raw = ctx.query[name];
    if (raw === undefined) continue;
    if (typeof raw !== 'string' || !/^-?\d+$/.test(raw)) throw new McpV8Error('INVALID_ARGUMENT', `${name} must be a whole number, got '${String(raw).slice(0, 40)}'`);
    values[name] = Number(raw);
  }
  return values;
}

function apiRoutes(router: Router, options: HttpAppOptions): void {
  const { tools, config } = options;
  const call = async (name: string, args: unknown) => {
    const tool = toolNamed(tools, name);
    return tool.handler(parseToolArguments(tool, args), { principal: 'anonymous', transport: 'api' });
  };
  router.post('/api/exec', async (ctx) => {
    const result = await call('run_js', await readJsonBody(ctx.req, config.httpBodyBytesMax));
    ctx.status = execStatus(result);
    ctx.body = result;
  });
  router.get('/api/executions', async (ctx) => { ctx.body = await call('list_executions', {}); });
  router.get('/api/executions/:id', async (ctx) => { ctx.body = await call('get_execution', { execution_id: ctx.params.id, ...numericQuery(ctx, ['wait_ms']) }); });
  router.get('/api/executions/:id/output', async (ctx) => {
    ctx.body = await call('get_execution_output', { execution_id: ctx.params.id, ...numericQuery(ctx, ['line_offset', 'line_limit', 'byte_offset', 'byte_limit']) });
  });
  router.post('/api/executions/:id/cancel', async (ctx) => { ctx.body = await call('cancel_execution', { execution_id: ctx.params.id }); });
  // Every tool, by name, with its arguments as the JSON body: the same definitions MCP serves.
  router.post('/api/tools/:name', async (ctx) => { ctx.body = await call(ctx.params.name!, await readJsonBody(ctx.req, config.httpBodyBytesMax)); });
  router.get('/api/tools', (ctx) => { ctx.body = { tools: tools.map(({ name, title, description }) => ({ name, title, description })) }; });
}

/** Koa, with the polling routes answered before Koa builds a context (see api-fast-path.ts). */
class ApiApp extends Koa {
  private readonly fastPath: FastHandler;

  constructor(fastPath: FastHandler) {
    super();
    this.fastPath = fastPath;
  }

  override callback(): ReturnType<Koa['callback']> {
    const koa = super.callback();
    const fastPath = this.fastPath;
    return (request, response) => {
      if ('stream' in request || 'stream' in response) return koa(request, response);
      return fastPath(request, response) ? Promise.resolve() : koa(request, response);
    };
  }
}

export function createHttpApp(options: HttpAppOptions): { app: Koa; close: () => Promise<void> } {
  const { config, logger } = options;
  const app = new ApiApp(createFastPath({ tools: options.tools, bodyBytesMax: config.httpBodyBytesMax, logger }));
  app.silent = true;
  const router = new Router();
  router.get('/healthz', (ctx) => {
    const stuck = options.engine.stuckIsolates;
    const retiring = options.engine.retiring;
    // Still serving, but each stuck isolate keeps a core busy: an operator should restart the node.
    // Retiring: past the bound on them it takes no more runs and exits (503 for load balancers).
    if (retiring !== null) ctx.status = 503;
    ctx.body = {
      status: retiring !== null ? 'retiring' : stuck === 0 ? 'ok' : 'degraded', version, running: options.engine.runningCount,
      queued: options.engine.queuedCount, stuck_isolates: stuck, ...(retiring !== null ? { reason: retiring } : {}),
    };
  });
  router.get('/metrics', (ctx) => {
    ctx.type = 'text/plain; version=0.0.4';
    ctx.body = options.metrics.render({
      queueDepth: options.engine.queuedCount,
      running: options.engine.runningCount,
      stuckIsolates: options.engine.stuckIsolates,
      storedRecords: options.store.storedRecords,
      storedOutputBytes: options.store.storedOutputBytes,
    });
  });
  apiRoutes(router, options);
  const closers: Array<() => Promise<void>> = [];
  const mcpOptions = { tools: options.tools, logger, bodyBytesMax: config.httpBodyBytesMax, sessionsMax: config.mcpSessionsMax };
  if (config.transport === 'http') {
    const streamable = createStreamableHttpHandler({ ...mcpOptions, statelessHttp: config.statelessHttp, sessionIdleMs: config.mcpSessionIdleSecs * 1000 });
    router.all('/mcp', streamable.handle);
    closers.push(streamable.close);
  } else if (config.transport === 'sse') {
    const sse = createSseHandler(mcpOptions);
    router.get('/sse', sse.connect);
    router.post('/message', sse.message);
    closers.push(sse.close);
  }
  app.use(errorMiddleware(logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use((ctx) => {
    throw new McpV8Error('ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path.slice(0, 200)}`);
  });
  return { app, close: async () => { await Promise.allSettled(closers.map((close) => close())); } };
}
