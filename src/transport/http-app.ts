// The one Koa app of a node: health and metrics, the plain API, and the MCP transport the
// config asks for. Built once, testable without a port (`app.callback()`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { McpV8Error } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { ExecutionService } from '../service/executions.ts';
import { callTool, type ToolDefinition } from '../tools/tool.ts';
import { version } from '../version.ts';
import { createGate, principalOf, type Gate } from '../auth/gate.ts';
import { connectionOf } from '../principal.ts';
import { createFastPath, errorAnswer, execStatus, type FastHandler } from './api-fast-path.ts';
import { readJsonBody } from './body.ts';
import { bodyShapeOf } from './body-shape.ts';
import { checkSessionHeader, sessionHeader } from './session-header.ts';
import { createSseHandler, createStreamableHttpHandler, type ForwardedMcpHandler, type McpSessionPeers } from './mcp-http.ts';
import { guideRoute, type McpExtras } from './mcp-extras.ts';

export interface HttpAppOptions {
  config: Config;
  tools: readonly ToolDefinition[];
  /** The node's load and metrics, for /healthz and /metrics. */
  node: Pick<ExecutionService, 'load' | 'metricsText'>;
  /** Counts requests the access-control gate turns away, for /metrics. */
  metrics?: Pick<Metrics, 'requestRefused'>;
  logger: Logger;
  /** Tasks, resources, live output and the agents' guide (also served as /llms.txt). */
  extras?: McpExtras;
  /** Cluster mode: the Raft status (members, roles, term, commit and apply indexes) for /healthz. */
  cluster?: () => object;
  /** Cluster mode: Streamable HTTP sessions of other nodes, served by forwarding (src/cluster/mcp-sessions.ts). */
  mcpPeers?: McpSessionPeers;
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
      const { status, body, headers } = errorAnswer(error, logger, ctx.path);
      ctx.status = status;
      ctx.set(headers);
      ctx.body = body;
    }
  };
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
  const call = (ctx: Context, name: string, args: unknown) => callTool(tools, name, args, { principal: principalOf(ctx.req), transport: 'api', connection: connectionOf(ctx.req) });
  /** A tool's body is refused at its first key the tool does not take (none if no such tool: the call says so). */
  const toolBody = (ctx: Context, name: string) => {
    const tool = tools.find((candidate) => candidate.name === name);
    return readJsonBody(ctx.req, config.httpBodyBytesMax, tool === undefined ? null : bodyShapeOf(tool));
  };
  router.post('/api/exec', async (ctx) => {
    const body = await toolBody(ctx, 'run_js');
    checkSessionHeader(ctx.req.headers[sessionHeader], body);
    const result = await call(ctx, 'run_js', body);
    ctx.status = execStatus(result);
    ctx.body = result;
  });
  router.get('/api/executions', async (ctx) => { ctx.body = await call(ctx, 'list_executions', {}); });
  router.get('/api/executions/:id', async (ctx) => { ctx.body = await call(ctx, 'get_execution', { execution_id: ctx.params.id, ...numericQuery(ctx, ['wait_ms']) }); });
  router.get('/api/executions/:id/output', async (ctx) => {
    ctx.body = await call(ctx, 'get_execution_output', { execution_id: ctx.params.id, ...numericQuery(ctx, ['line_offset', 'line_limit', 'byte_offset', 'byte_limit']) });
  });
  router.post('/api/executions/:id/cancel', async (ctx) => { ctx.body = await call(ctx, 'cancel_execution', { execution_id: ctx.params.id }); });
  // Every tool, by name, with its arguments as the JSON body: the same definitions MCP serves.
  router.post('/api/tools/:name', async (ctx) => { ctx.body = await call(ctx, ctx.params.name!, await toolBody(ctx, ctx.params.name!)); });
  router.get('/api/tools', (ctx) => { ctx.body = { tools: tools.map(({ name, title, description }) => ({ name, title, description })) }; });
}

/**
 * Koa, with the polling routes answered before Koa builds a context (see api-fast-path.ts), and
 * the access-control gate (src/auth/gate.ts) in front of both: no route is reached around it.
 */
export class ApiApp extends Koa {
  private readonly fastPath: FastHandler;
  private readonly gate: Gate;

  constructor(fastPath: FastHandler, gate: Gate) {
    super();
    this.fastPath = fastPath;
    this.gate = gate;
  }

  /** The same app without the fast path: what test/transport/fast-path.test.ts compares it with. */
  koaCallback(): ReturnType<Koa['callback']> {
    return super.callback();
  }

  override callback(): ReturnType<Koa['callback']> {
    const koa = super.callback();
    const { fastPath, gate } = this;
    const serve: ReturnType<Koa['callback']> = (request, response) => {
      if ('stream' in request || 'stream' in response) return koa(request, response);
      return fastPath(request, response) ? Promise.resolve() : koa(request, response);
    };
    return (request, response) => {
      // node:http only (server.ts); Koa's type also allows HTTP/2, whose request has the same headers and url.
      const admitted = gate(request as IncomingMessage, response as ServerResponse);
      if (admitted === true) return serve(request, response);
      if (admitted === false) return Promise.resolve();
      return admitted.then((ok) => (ok ? serve(request, response) : undefined));
    };
  }
}

/** `serveForwardedMcp`: serves the requests other nodes forward for this node's Streamable HTTP sessions (null: no such sessions). */
export function createHttpApp(options: HttpAppOptions): { app: ApiApp; close: () => Promise<void>; serveForwardedMcp: ForwardedMcpHandler | null } {
  const { config, logger } = options;
  const gate = createGate({ auth: config.auth, bindHost: config.bindHost, logger, metrics: options.metrics });
  const app = new ApiApp(createFastPath({ tools: options.tools, bodyBytesMax: config.httpBodyBytesMax, logger }), gate);
  app.silent = true;
  const router = new Router();
  router.get('/healthz', (ctx) => {
    const load = options.node.load();
    // Still serving, but each stuck isolate keeps a core busy: an operator should restart the node.
    // Faulted (an internal check failed), it serves reads but takes no new executions: 503.
    // Retiring: past the bound on stuck isolates it takes no more runs and exits (503 for load balancers).
    const status = load.fault !== null ? 'faulted' : load.retiring !== null ? 'retiring' : load.stuckIsolates === 0 ? 'ok' : 'degraded';
    if (load.fault !== null || load.retiring !== null) ctx.status = 503;
    ctx.body = {
      status, version, running: load.running, queued: load.queued, stuck_isolates: load.stuckIsolates,
      ...(load.fault === null ? {} : { fault: load.fault }), ...(load.retiring === null ? {} : { reason: load.retiring }),
      ...(options.cluster === undefined ? {} : { cluster: options.cluster() }),
    };
  });
  router.get('/metrics', (ctx) => {
    ctx.type = 'text/plain; version=0.0.4';
    ctx.body = options.node.metricsText();
  });
  apiRoutes(router, options);
  if (options.extras !== undefined) guideRoute(router, options.extras.guide);
  const closers: Array<() => Promise<void>> = [];
  let serveForwardedMcp: ForwardedMcpHandler | null = null;
  const mcpOptions = { tools: options.tools, logger, bodyBytesMax: config.httpBodyBytesMax, sessionsMax: config.mcpSessionsMax, extras: options.extras };
  if (config.transport === 'http') {
    const streamable = createStreamableHttpHandler({ ...mcpOptions, statelessHttp: config.statelessHttp, sessionIdleMs: config.mcpSessionIdleSecs * 1000, peers: options.mcpPeers, eventBounds: config.mcpEventBounds });
    router.all('/mcp', streamable.handle);
    serveForwardedMcp = streamable.serveForwarded;
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
  return { app, serveForwardedMcp, close: async () => { await Promise.allSettled(closers.map((close) => close())); } };
}
