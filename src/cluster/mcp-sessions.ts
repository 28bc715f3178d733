// Streamable HTTP sessions behind a load balancer that knows nothing of them. An MCP session is a
// live object (its server, its open streams) on the node that initialized it, and its id names
// that node: `<8 hex: FNV-1a hash of the node id>-<random UUID>`, the same hash execution ids
// carry, which is the node's Raft id. A node that gets a request for another member's session
// forwards it, signed like all node traffic, to that member's cluster port (`/raft/mcp`, any
// method) and streams the answer back as it comes: a JSON answer, an SSE answer to a POST, the
// GET stream. The holder serves it as if the client had come to it.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { nodeHash } from '../exec/ids.ts';
import type { McpSessionPeers } from '../transport/mcp-http.ts';
import type { ClusterNode } from './node.ts';

export const forwardedMcpPath = '/raft/mcp';

/** What a forwarded request carries of the client's headers: what the MCP transport reads. */
const forwardedRequestHeaders = ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'] as const;
/** Hop-by-hop headers (RFC 9110 §7.6.1) stay on their own connection; the rest of the holder's answer comes back. */
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);
/**
 * How long the holder may take to start its answer. A tool call answered as JSON starts when the
 * call ends: get_execution may hold for its largest wait_ms (10 minutes) first.
 */
const answerStartMsMax = 11 * 60_000;
/** Errors that mean the holder is not there (down, or no route to it): its sessions are gone. */
const unreachableCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND']);

const sessionIdPattern = /^([0-9a-f]{8})-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function newMcpSessionId(nodeName: string): string {
  return `${nodeHash(nodeName).toString(16).padStart(8, '0')}-${randomUUID()}`;
}

/** The node hash a session id names, or null for ids of another form (a single node's plain UUIDs). */
export function mcpSessionNodeHash(sessionId: string): number | null {
  const match = sessionIdPattern.exec(sessionId);
  return match === null ? null : Number.parseInt(match[1]!, 16) >>> 0;
}

function errorCode(error: unknown): string | undefined {
  const seen = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = seen?.code ?? seen?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

function jsonRpcError(response: ServerResponse, status: number, code: number, message: string): void {
  const text = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export class McpSessionForwarder implements McpSessionPeers {
  private readonly node: ClusterNode;
  private readonly logger: Logger;

  constructor(node: ClusterNode, logger: Logger) {
    this.node = node;
    this.logger = logger;
  }

  newSessionId(): string {
    return newMcpSessionId(this.node.name);
  }

  async forward(sessionId: string, request: IncomingMessage, response: ServerResponse, body: unknown, principal: string): Promise<boolean> {
    const hash = mcpSessionNodeHash(sessionId);
    const holder = hash === null ? undefined : this.node.peerOfHash(hash);
    if (holder === undefined) return false;
    const headers: Record<string, string> = {};
    for (const name of forwardedRequestHeaders) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const method = request.method ?? 'GET';
    // The client going away ends the forwarded request, and with it the holder's stream.
    const abort = new AbortController();
    const onClose = () => { if (!response.writableFinished) abort.abort(new Error('the client closed its request')); };
    response.once('close', onClose);
    let answer;
    try {
      answer = await this.node.client.stream(holder.addr, method, forwardedMcpPath, headers, body === undefined ? undefined : JSON.stringify(body), principal, answerStartMsMax, abort.signal);
    } catch (error) {
      response.off('close', onClose);
      if (abort.signal.aborted) return true;
      const code = errorCode(error);
      const why = `${code ?? (error as Error).message}`;
      this.logger.warn({ sessionId, holder: holder.name, err: (error as Error).message }, 'could not forward an MCP request to the node holding its session');
      // A node that is down has lost its sessions (they live in its memory): the client must
      // initialize a new one, which a 404 tells it (the MCP spec's answer for an ended session).
      if (code !== undefined && unreachableCodes.has(code)) {
        jsonRpcError(response, 404, -32001, `Session not found: the node that holds this MCP session (${holder.name}) cannot be reached (${why}); initialize a new session`);
      } else {
        jsonRpcError(response, 502, -32000, `the node that holds this MCP session (${holder.name}) did not answer (${why}); retry, or initialize a new session`);
      }
      return true;
    }
    const outgoing: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !hopByHop.has(name)) outgoing[name] = value;
    }
    response.writeHead(answer.statusCode, outgoing);
    // An SSE answer starts now, not at its first event.
    response.flushHeaders();
    try {
      await pipeline(answer.body, response);
    } catch (error) {
      // The holder died mid-stream, or the client left: either way the stream ends here.
      if (!abort.signal.aborted) this.logger.info({ sessionId, holder: holder.name, err: (error as Error).message }, 'a forwarded MCP stream ended early');
      response.destroy();
    } finally {
      response.off('close', onClose);
    }
    return true;
  }
}
