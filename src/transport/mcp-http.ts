// MCP over HTTP: Streamable HTTP at /mcp (sessions, and stateless requests that any node of a
// cluster can serve) and the legacy SSE transport at /sse + /message. Transports only translate:
// every tool call ends in the same tool definitions.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { ToolDefinition } from '../tools/tool.ts';
import { readJsonBody } from './body.ts';
import { createMcpServer } from './mcp-server.ts';

/** Open MCP sessions per transport kind; past the bound new sessions are refused with 503. */
export const mcpSessionsMax = 10_000;

interface McpHttpOptions {
  tools: readonly ToolDefinition[];
  logger: Logger;
  bodyBytesMax: number;
  /** No sessions at all: every request is served by a fresh server. */
  statelessHttp: boolean;
}

function jsonRpcError(response: ServerResponse, httpStatus: number, code: number, message: string): void {
  response.writeHead(httpStatus, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function hasInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((message) => isInitializeRequest(message)) : isInitializeRequest(body);
}

export function createStreamableHttpHandler(options: McpHttpOptions): { handle: (ctx: Context) => Promise<void>; close: () => Promise<void> } {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const makeServer = () => createMcpServer({ tools: options.tools, context: { principal: 'anonymous', transport: 'http' }, logger: options.logger });

  async function serveStateless(ctx: Context, body: unknown): Promise<void> {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = makeServer();
    ctx.res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(ctx.req, ctx.res, body);
  }

  async function openSession(ctx: Context, body: unknown): Promise<void> {
    if (sessions.size >= mcpSessionsMax) {
      jsonRpcError(ctx.res, 503, -32000, `too many open MCP sessions (${mcpSessionsMax}); close one or use stateless requests`);
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => { sessions.set(sessionId, transport); },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await makeServer().connect(transport);
    await transport.handleRequest(ctx.req, ctx.res, body);
  }

  async function handle(ctx: Context): Promise<void> {
    const body = ctx.method === 'POST' ? await readJsonBody(ctx.req, options.bodyBytesMax) : undefined;
    ctx.respond = false;
    const sessionId = ctx.get('mcp-session-id');
    if (sessionId !== '' && !options.statelessHttp) {
      const transport = sessions.get(sessionId);
      if (transport === undefined) return jsonRpcError(ctx.res, 404, -32001, 'Session not found: initialize a new session');
      return transport.handleRequest(ctx.req, ctx.res, body);
    }
    if (ctx.method === 'POST' && !options.statelessHttp && hasInitialize(body)) return openSession(ctx, body);
    // Requests without a session are self-contained: any node behind a load balancer can answer.
    return serveStateless(ctx, body);
  }

  async function close(): Promise<void> {
    await Promise.allSettled([...sessions.values()].map((transport) => transport.close()));
    sessions.clear();
  }

  return { handle, close };
}

export function createSseHandler(options: Omit<McpHttpOptions, 'statelessHttp'>): {
  connect: (ctx: Context) => Promise<void>; message: (ctx: Context) => Promise<void>; close: () => Promise<void>;
} {
  const sessions = new Map<string, SSEServerTransport>();

  async function connect(ctx: Context): Promise<void> {
    ctx.respond = false;
    if (sessions.size >= mcpSessionsMax) return jsonRpcError(ctx.res, 503, -32000, `too many open SSE sessions (${mcpSessionsMax})`);
    const transport = new SSEServerTransport('/message', ctx.res);
    sessions.set(transport.sessionId, transport);
    transport.onclose = () => { sessions.delete(transport.sessionId); };
    ctx.res.on('close', () => { sessions.delete(transport.sessionId); });
    const server = createMcpServer({ tools: options.tools, context: { principal: 'anonymous', transport: 'sse' }, logger: options.logger });
    await server.connect(transport);
  }

  async function message(ctx: Context): Promise<void> {
    const sessionId = typeof ctx.query.sessionId === 'string' ? ctx.query.sessionId : '';
    const transport = sessions.get(sessionId);
    const body = await readJsonBody(ctx.req, options.bodyBytesMax);
    ctx.respond = false;
    if (transport === undefined) return jsonRpcError(ctx.res, 404, -32001, `unknown SSE session '${sessionId.slice(0, 80)}': open GET /sse first`);
    await transport.handlePostMessage(ctx.req, ctx.res, body);
  }

  async function close(): Promise<void> {
    await Promise.allSettled([...sessions.values()].map((transport) => transport.close()));
    sessions.clear();
  }

  return { connect, message, close };
}
