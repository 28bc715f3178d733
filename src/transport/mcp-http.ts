// MCP over HTTP: Streamable HTTP at /mcp (sessions, and stateless requests that any node of a
// cluster can serve) and the legacy SSE transport at /sse + /message. Transports only translate:
// every tool call ends in the same tool definitions.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { ToolDefinition } from '../tools/tool.ts';
import { principalOf } from '../auth/gate.ts';
import { connectionOf } from '../principal.ts';
import { readJsonBody } from './body.ts';
import type { McpExtras } from './mcp-extras.ts';
import { createMcpServer } from './mcp-server.ts';
import { initializeOf, replayInitialize, type RestorableSession } from './mcp-restore.ts';
import { McpEventStore, type McpEventBounds } from './mcp-events.ts';

interface McpHttpOptions {
  tools: readonly ToolDefinition[];
  logger: Logger;
  bodyBytesMax: number;
  /** No sessions at all: every request is served by a fresh server. */
  statelessHttp: boolean;
  /** Open MCP sessions per transport kind (`--mcp-sessions-max`). */
  sessionsMax: number;
  /** A Streamable HTTP session with no request or stream open for this long is closed (`--mcp-session-idle-timeout`). */
  sessionIdleMs: number;
  /** Tasks, resources, live output (src/transport/mcp-extras.ts). */
  extras?: McpExtras | undefined;
  /** Cluster mode: sessions whose id names another node are served there (src/cluster/mcp-sessions.ts). */
  peers?: McpSessionPeers | undefined;
  /** Bounds of the events kept for resumable streams (src/transport/mcp-events.ts); its defaults when absent. */
  eventBounds?: McpEventBounds | undefined;
}

/**
 * The other nodes of a cluster, as the Streamable HTTP handler sees them: a session's id names the
 * node that holds it, so a load balancer that knows nothing of MCP sessions may send its requests
 * to any node, and that node hands them on to the holder.
 */
export interface McpSessionPeers {
  /** A new session id that names this node. */
  newSessionId(): string;
  /** Records a session initialize opened here, so that any node can serve it (resolves before initialize is answered). */
  opened(session: RestorableSession): Promise<void>;
  /** The session ended for good (DELETE, idle, made room): its record goes (resolves when it has, or could not; never rejects). */
  closed(sessionId: string): Promise<void>;
  /**
   * For a session this node does not hold live: when another member holds it, serves the request
   * there (its answer, an SSE stream included, streamed back into `response`) and resolves true;
   * when this node is to serve it (it owns the session's record, or took it over from an owner
   * that cannot be reached), its record; null: no such session for `principal`.
   */
  forward(sessionId: string, request: IncomingMessage, response: ServerResponse, body: unknown, principal: string): Promise<true | RestorableSession | null>;
  /**
   * The record of a session this node owns but does not hold live (it restarted), for a request
   * another node forwarded; `movedTo`: another node owns it now. Read past a barrier; rejects
   * when this node cannot confirm it.
   */
  claim(sessionId: string, principal: string): Promise<RestorableSession | { movedTo: string } | null>;
  /** `listener` is told the id of a session another node took over (`owner`), or that ended (null): this node lets its live copy go. */
  onMoved(listener: (sessionId: string, owner: string | null) => void): void;
  /** Called with each idle sweep: ends the recorded sessions of this node that nobody has used live for `idleMs` (a restart left them). */
  sweep(isLive: (sessionId: string) => boolean, idleMs: number): void;
}

/**
 * A forwarded request for a session that the node asked no longer owns (another node took it over,
 * which the forwarding node has not applied yet) is answered 421 Misdirected Request with the
 * owner's --node-id in this header: the forwarder goes there instead of telling the client to
 * initialize again.
 */
export const sessionMovedStatus = 421;
export const sessionOwnerHeader = 'mcp-v8-session-owner';

/** Serves a request that another node forwarded for a session of this node (never forwarded again). */
export type ForwardedMcpHandler = (request: IncomingMessage, response: ServerResponse, body: unknown, principal: string) => Promise<void>;

/** How often idle sessions are looked for: often enough that one outlives its timeout by at most a quarter of it. */
function sweepIntervalMs(idleMs: number): number {
  return Math.max(250, Math.min(60_000, Math.floor(idleMs / 4)));
}

/** A Streamable HTTP session: its transport, and whether anybody is using it. */
interface Session {
  transport: StreamableHTTPServerTransport;
  /** Who opened it: only they may use it (src/auth). */
  principal: string;
  /** Requests (a GET stream included) still open on it. */
  requestsOpen: number;
  lastUsedMs: number;
}

function jsonRpcError(response: ServerResponse, httpStatus: number, code: number, message: string): void {
  response.writeHead(httpStatus, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function hasInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((message) => isInitializeRequest(message)) : isInitializeRequest(body);
}

export function createStreamableHttpHandler(options: McpHttpOptions): { handle: (ctx: Context) => Promise<void>; serveForwarded: ForwardedMcpHandler; close: () => Promise<void> } {
  // In the order of last use: the first idle entry is the least recently used one.
  const sessions = new Map<string, Session>();
  // What a session's SSE streams carried, for clients that reconnect with Last-Event-ID.
  const events = new McpEventStore(options.logger, options.eventBounds);
  // `connection`: the scheduler's key for an anonymous caller; the session's own for a session.
  const makeServer = (principal: string, connection: string) => createMcpServer({ tools: options.tools, context: { principal, transport: 'http', connection }, logger: options.logger, extras: options.extras });

  /** Marks a session used by this request until its response closes (a GET stream holds it for as long as it is open). */
  function use(sessionId: string, session: Session, response: ServerResponse): void {
    sessions.delete(sessionId);
    sessions.set(sessionId, session);
    session.requestsOpen++;
    session.lastUsedMs = Date.now();
    response.once('close', () => {
      session.requestsOpen--;
      session.lastUsedMs = Date.now();
    });
  }

  /** `ended`: the session is over for every node (its record goes); else only this node lets it go. */
  function closeSession(sessionId: string, session: Session, why: string, ended = true): void {
    sessions.delete(sessionId);
    options.logger.info({ sessionId, idleMs: Date.now() - session.lastUsedMs }, why);
    if (ended) void options.peers?.closed(sessionId);
    void session.transport.close();
  }
  options.peers?.onMoved((sessionId, owner) => {
    const session = sessions.get(sessionId);
    if (session !== undefined) closeSession(sessionId, session, owner === null ? 'let go of an MCP session the cluster ended (a snapshot no longer has it)' : 'let go of an MCP session another node took over', false);
  });

  // Clients that go away without DELETE (a crash, a closed laptop) would otherwise hold their
  // session for as long as the server runs, until the bound refuses everybody.
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const [sessionId, session] of sessions) {
      if (session.requestsOpen === 0 && now - session.lastUsedMs > options.sessionIdleMs) closeSession(sessionId, session, 'closed an idle MCP session');
    }
    options.peers?.sweep((sessionId) => sessions.has(sessionId) || restoring.has(sessionId), options.sessionIdleMs);
  }, sweepIntervalMs(options.sessionIdleMs));
  sweeper.unref();

  /** At the bound, the least recently used idle session makes room; with none idle, false. */
  function makeRoom(): boolean {
    if (sessions.size < options.sessionsMax) return true;
    for (const [sessionId, session] of sessions) {
      if (session.requestsOpen === 0) {
        closeSession(sessionId, session, 'closed the least recently used idle MCP session to make room for a new one');
        return true;
      }
    }
    return false;
  }

  async function serveStateless(ctx: Context, body: unknown): Promise<void> {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = makeServer(principalOf(ctx.req), connectionOf(ctx.req));
    ctx.res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(ctx.req, ctx.res, body);
  }

  async function openSession(ctx: Context, body: unknown): Promise<void> {
    if (!makeRoom()) {
      jsonRpcError(ctx.res, 503, -32000, `too many open MCP sessions (${options.sessionsMax}), all in use; close one or use stateless requests`);
      return;
    }
    const principal = principalOf(ctx.req);
    const transport = sessionTransport(options.peers === undefined ? () => randomUUID() : () => options.peers!.newSessionId(), async (sessionId) => {
      use(sessionId, { transport, principal, requestsOpen: 0, lastUsedMs: Date.now() }, ctx.res);
      // Recorded before initialize is answered: the client never holds an id another node could not serve.
      const opened = initializeOf(body, sessionId, principal);
      if (opened !== null) await options.peers?.opened(opened);
    });
    // A session of its own for fair shares: its id is chosen later, while initialize is answered.
    await makeServer(principal, `mcp session ${randomUUID()}`).connect(transport);
    await transport.handleRequest(ctx.req, ctx.res, body);
  }

  function sessionTransport(idOf: () => string, initialized: (sessionId: string) => void | Promise<void>): StreamableHTTPServerTransport {
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: idOf,
      onsessioninitialized: initialized,
      // DELETE: the client ended it, for every node; answered once no node would bring it back.
      onsessionclosed: (sessionId) => options.peers?.closed(sessionId),
      eventStore: events.forSession(() => transport.sessionId),
    });
    transport.onclose = () => {
      const sessionId = transport.sessionId;
      if (sessionId !== undefined) events.endSession(sessionId);
      if (sessionId !== undefined && sessions.get(sessionId)?.transport === transport) sessions.delete(sessionId);
    };
    return transport;
  }

  /** Sessions being rebuilt from their record, so that two requests at once rebuild one. */
  const restoring = new Map<string, Promise<boolean>>();

  /** Rebuilds a session another node opened (src/transport/mcp-restore.ts); false: no room for it. */
  function restore(record: RestorableSession): Promise<boolean> {
    if (sessions.has(record.id)) return Promise.resolve(true);
    const pending = restoring.get(record.id);
    if (pending !== undefined) return pending;
    const restored = (async () => {
      if (!makeRoom()) return false;
      const transport = sessionTransport(() => record.id, (sessionId) => { sessions.set(sessionId, { transport, principal: record.principal, requestsOpen: 0, lastUsedMs: Date.now() }); });
      try {
        await makeServer(record.principal, `mcp session ${randomUUID()}`).connect(transport);
        await replayInitialize(transport, record);
      } catch (error) {
        await transport.close();
        throw error;
      }
      options.logger.info({ sessionId: record.id }, 'restored an MCP session from its replicated record');
      return true;
    })().finally(() => restoring.delete(record.id));
    restoring.set(record.id, restored);
    return restored;
  }

  /** restore(), answering the client itself when it fails; true: the session is here to serve. */
  async function restoreOrRefuse(record: RestorableSession, response: ServerResponse): Promise<boolean> {
    try {
      if (await restore(record)) return true;
      jsonRpcError(response, 503, -32000, `too many open MCP sessions (${options.sessionsMax}), all in use: this node cannot take this session over now; retry`);
    } catch (error) {
      options.logger.error({ sessionId: record.id, err: (error as Error).message }, 'could not restore an MCP session from its record');
      jsonRpcError(response, 500, -32603, `this node could not restore MCP session ${record.id}: ${(error as Error).message}`);
    }
    return false;
  }

  function serveSession(sessionId: string, request: IncomingMessage, response: ServerResponse, body: unknown, principal: string): Promise<void> {
    const session = sessions.get(sessionId);
    // Another principal's session reads as no session at all: its id tells them nothing.
    if (session === undefined || session.principal !== principal) {
      jsonRpcError(response, 404, -32001, 'Session not found: initialize a new session');
      return Promise.resolve();
    }
    // The SDK would answer a Last-Event-ID it cannot replay with "Invalid event ID format"; say why.
    const lastEventId = request.method === 'GET' ? request.headers['last-event-id'] : undefined;
    const refusal = typeof lastEventId === 'string' && lastEventId !== '' ? events.refusal(sessionId, lastEventId) : null;
    if (refusal !== null) {
      options.logger.info({ sessionId, lastEventId: lastEventId!.slice(0, 200), refusal }, 'refused to resume an MCP stream');
      jsonRpcError(response, 400, -32000, `cannot resume from Last-Event-ID: ${refusal}`);
      return Promise.resolve();
    }
    use(sessionId, session, response);
    return session.transport.handleRequest(request, response, body);
  }

  async function serveForwarded(request: IncomingMessage, response: ServerResponse, body: unknown, principal: string): Promise<void> {
    const sessionId = request.headers['mcp-session-id'];
    if (typeof sessionId !== 'string' || sessionId === '' || options.statelessHttp) return jsonRpcError(response, 400, -32000, 'a forwarded MCP request must name a session (Mcp-Session-Id)');
    if (!sessions.has(sessionId) && options.peers !== undefined) {
      // This node owns the session's record but not a live session: it restarted since.
      let own: RestorableSession | { movedTo: string } | null;
      try {
        own = await options.peers.claim(sessionId, principal);
      } catch (error) {
        return jsonRpcError(response, 503, -32000, `this node cannot confirm who holds MCP session ${sessionId} now (${(error as Error).message}); retry`);
      }
      if (own !== null && 'movedTo' in own) {
        response.setHeader(sessionOwnerHeader, own.movedTo);
        return jsonRpcError(response, sessionMovedStatus, -32000, `MCP session ${sessionId} is held by ${own.movedTo} now, not by this node`);
      }
      if (own !== null && !(await restoreOrRefuse(own, response))) return;
    }
    return serveSession(sessionId, request, response, body, principal);
  }

  async function handle(ctx: Context): Promise<void> {
    const body = ctx.method === 'POST' ? await readJsonBody(ctx.req, options.bodyBytesMax) : undefined;
    ctx.respond = false;
    const sessionId = ctx.get('mcp-session-id');
    if (sessionId !== '' && !options.statelessHttp) {
      const principal = principalOf(ctx.req);
      if (!sessions.has(sessionId) && options.peers !== undefined) {
        const found = await options.peers.forward(sessionId, ctx.req, ctx.res, body, principal);
        if (found === true) return;
        if (found !== null && !(await restoreOrRefuse(found, ctx.res))) return;
      }
      return serveSession(sessionId, ctx.req, ctx.res, body, principal);
    }
    if (ctx.method === 'POST' && !options.statelessHttp && hasInitialize(body)) return openSession(ctx, body);
    // Requests without a session are self-contained: any node behind a load balancer can answer.
    return serveStateless(ctx, body);
  }

  async function close(): Promise<void> {
    clearInterval(sweeper);
    const open = [...sessions.values()];
    sessions.clear();
    await Promise.allSettled(open.map((session) => session.transport.close()));
  }

  return { handle, serveForwarded, close };
}

export function createSseHandler(options: Omit<McpHttpOptions, 'statelessHttp' | 'sessionIdleMs'>): {
  connect: (ctx: Context) => Promise<void>; message: (ctx: Context) => Promise<void>; close: () => Promise<void>;
} {
  const sessions = new Map<string, { transport: SSEServerTransport; principal: string }>();

  async function connect(ctx: Context): Promise<void> {
    ctx.respond = false;
    // An SSE session lives exactly as long as its GET /sse stream: every open one is in use.
    if (sessions.size >= options.sessionsMax) return jsonRpcError(ctx.res, 503, -32000, `too many open SSE sessions (${options.sessionsMax})`);
    const transport = new SSEServerTransport('/message', ctx.res);
    const principal = principalOf(ctx.req);
    sessions.set(transport.sessionId, { transport, principal });
    transport.onclose = () => { sessions.delete(transport.sessionId); };
    ctx.res.on('close', () => { sessions.delete(transport.sessionId); });
    const server = createMcpServer({ tools: options.tools, context: { principal, transport: 'sse', connection: `sse session ${randomUUID()}` }, logger: options.logger, extras: options.extras });
    await server.connect(transport);
  }

  async function message(ctx: Context): Promise<void> {
    const sessionId = typeof ctx.query.sessionId === 'string' ? ctx.query.sessionId : '';
    const session = sessions.get(sessionId);
    const body = await readJsonBody(ctx.req, options.bodyBytesMax);
    ctx.respond = false;
    if (session === undefined || session.principal !== principalOf(ctx.req)) return jsonRpcError(ctx.res, 404, -32001, `unknown SSE session '${sessionId.slice(0, 80)}': open GET /sse first`);
    await session.transport.handlePostMessage(ctx.req, ctx.res, body);
  }

  async function close(): Promise<void> {
    await Promise.allSettled([...sessions.values()].map((session) => session.transport.close()));
    sessions.clear();
  }

  return { connect, message, close };
}
