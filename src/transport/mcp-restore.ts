// Rebuilding an initialized Streamable HTTP session on a node that did not answer its initialize
// (a cluster node taking over the session of a node that died, or a node restarted). The SDK
// (1.32) has no public way to do it: its transport keeps `sessionId` and `_initialized` in
// private fields that only the initialize exchange sets (typescript-sdk issues #1658, #1882).
// So the exchange is replayed, in-process, through the transport's public handleRequest: the
// recorded initialize (its negotiated protocol version, the client's info and capabilities) and
// `notifications/initialized`. The transport's id generator answers the recorded id, so the
// transport ends up in the state the original one reached, and the MCP server behind it has the
// client's capabilities and info as the original had, by the SDK's own code paths.
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { McpV8Error } from '../errors.ts';

/** What a session's initialize settled: enough to rebuild it elsewhere. */
export interface RestorableSession {
  id: string;
  /** Who opened it: only they may use it. */
  principal: string;
  /** The protocol version the server answered initialize with. */
  protocol_version: string;
  client_info: Record<string, unknown>;
  capabilities: Record<string, unknown>;
}

/** How long one replayed message may take: it never leaves the process, so only a bug makes it slow. */
const replayMsMax = 10_000;
/** The replayed initialize's JSON-RPC id: its answer goes nowhere. */
const replayRequestId = 'mcp-v8-restore';

/** initialize's part of a session record, from the initialize request in `body` (null: no such request). */
export function initializeOf(body: unknown, sessionId: string, principal: string): RestorableSession | null {
  const request = (Array.isArray(body) ? body : [body]).find((message) => isInitializeRequest(message));
  if (request === undefined || !isInitializeRequest(request)) return null;
  const requested = request.params.protocolVersion;
  // The negotiation of the SDK's Server._oninitialize: the client's version when supported, else the latest.
  const negotiated = SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
  return {
    id: sessionId,
    principal,
    protocol_version: negotiated,
    client_info: { ...request.params.clientInfo },
    capabilities: { ...request.params.capabilities },
  };
}

/** One request through `transport`, in-process: a real IncomingMessage and ServerResponse over a socket that keeps what is written. */
async function exchange(transport: StreamableHTTPServerTransport, headers: Record<string, string>, body: unknown): Promise<{ status: number; text: string }> {
  const written: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer | string, _encoding, done) {
      written.push(Buffer.from(chunk));
      done();
    },
  });
  const request = new IncomingMessage(socket as unknown as Socket);
  request.method = 'POST';
  request.url = '/mcp';
  request.headers = { host: 'localhost', accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...headers };
  request.rawHeaders = Object.entries(request.headers).flatMap(([name, value]) => [name, String(value)]);
  request.push(null);
  const response = new ServerResponse(request);
  response.assignSocket(socket as unknown as Socket);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await transport.handleRequest(request, response, body);
        // 'prefinish': the whole answer is handed to the socket (an SSE answer ends after its last response).
        if (!response.writableEnded) await new Promise((resolve) => response.once('prefinish', resolve));
      })(),
      new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new McpV8Error('INTERNAL', `restoring an MCP session: the replayed ${JSON.stringify(body).slice(0, 40)} was not answered within ${replayMsMax} ms`)), replayMsMax); }),
    ]);
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
  return { status: response.statusCode, text: Buffer.concat(written).toString('utf8') };
}

/**
 * Makes `transport` (connected to its MCP server, its id generator answering `session.id`) an
 * initialized session: replays initialize and notifications/initialized. Throws when either is
 * refused (a bug, or a record of another SDK's protocol version), naming the answer.
 */
export async function replayInitialize(transport: StreamableHTTPServerTransport, session: RestorableSession): Promise<void> {
  const initialize = { jsonrpc: '2.0', id: replayRequestId, method: 'initialize', params: { protocolVersion: session.protocol_version, capabilities: session.capabilities, clientInfo: session.client_info } };
  const answered = await exchange(transport, {}, initialize);
  if (answered.status !== 200 || !answered.text.includes(`"id":"${replayRequestId}"`) || !answered.text.includes('"result"') || transport.sessionId !== session.id) {
    throw new McpV8Error('INTERNAL', `restoring MCP session ${session.id}: the replayed initialize was answered ${answered.status} (${answered.text.slice(-200)})`);
  }
  const headers = { 'mcp-session-id': session.id, 'mcp-protocol-version': session.protocol_version };
  const initialized = await exchange(transport, headers, { jsonrpc: '2.0', method: 'notifications/initialized' });
  if (initialized.status !== 202) throw new McpV8Error('INTERNAL', `restoring MCP session ${session.id}: the replayed notifications/initialized was answered ${initialized.status}`);
}
