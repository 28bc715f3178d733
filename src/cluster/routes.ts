// The cluster port: Raft's transport and the node-to-node calls, on Koa + @koa/router (the hot
// routes on node:http directly, see clusterHandler).
//   POST /raft/vote, /raft/append, /raft/snapshot   Raft messages ({ messages: [...] }), answered with
//                                                   this node's messages for the sender, or 204
//   POST /raft/propose                              writes forwarded by a follower to the leader, batched
//   POST /raft/join, /raft/leave                    membership (forwarded to the leader)
//   GET  /raft/status                               members, roles, term, commit and apply indexes
//   POST /raft/executions                           get/wait/cancel/output of an execution of this node
//   POST/GET/DELETE /raft/mcp                       a client's request for a Streamable HTTP session of this node
import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { z } from 'zod';
import { McpV8Error, isMcpV8Error } from '../errors.ts';
import { executionStatuses, type ExecutionStatus } from '../model.ts';
import { errorAnswer } from '../transport/api-fast-path.ts';
import { parseJsonBody, peerBounds, readBody, readJsonBody } from '../transport/body.ts';
import { checkHostPort } from '../config.ts';
import { clusterHeaders, createClusterVerifier, replayWindowMsDefault } from '../auth/cluster.ts';
import { createHostOriginPolicy } from '../auth/host-origin.ts';
import type { ForwardedMcpHandler } from '../transport/mcp-http.ts';
import { anonymousPrincipal } from '../principal.ts';
import { clusterListDepthMax, type ExecutionCall, type LocalExecutions } from './executions.ts';
import { forwardedMcpPath } from './mcp-sessions.ts';
import { encodeMessages, JsonText, parseMessages, parseSnapshotChunk } from './wire.ts';
import { answerBatch, parseProposeBody } from './propose-batch.ts';
import type { ClusterNode } from './node.ts';
import { snapshotChunkCharsMax } from './snapshot-transfer.ts';

/**
 * Raft message batches, and snapshots, at most. An append carries up to 64 entries, each up to a
 * run's code (1,000,000 characters, ≤ 6 bytes each as JSON): a smaller bound could refuse a batch
 * forever. A snapshot holds at most replicatedHeapBytesMax of records plus the session log.
 */
const messageBodyBytesMax = 512 * 1024 * 1024;
/** A snapshot chunk: at most --raft-snapshot-chunk-bytes' maximum of characters, each at most 6 bytes as JSON, and its header. */
const snapshotBodyBytesMax = 6 * snapshotChunkCharsMax + 1024 * 1024;
const callBodyBytesMax = 8 * 1024 * 1024;
/** A forwarded MCP request: what the HTTP port took (--http-body-max-bytes is at most this). */
const mcpBodyBytesMax = 64 * 1024 * 1024;

const nodeName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);
const joinBody = z.object({ node_id: nodeName, addr: z.string() });
const leaveBody = z.object({ node_id: nodeName });
const submitBody = z.object({
  op: z.literal('submit'),
  request: z.object({
    code: z.string(), heapMemoryMaxMb: z.number().int().min(1).max(64), executionTimeoutSecs: z.number().int().min(1).max(300),
    stateful: z.object({ heap: z.string().nullable(), session: z.string().nullable(), tags: z.record(z.string(), z.string()).nullable() }).partial().optional(),
    forwarded: z.boolean().optional(),
    // Unsigned clusters (loopback) carry the client's principal here; a signed request's own wins.
    owner: z.string().max(1024).nullable().optional(),
  }),
  // The home waits this long and answers the record and first console page with the id (src/cluster/executions.ts).
  wait_ms: z.number().int().min(0).max(600_000).optional(),
});
const listBody = z.object({
  op: z.literal('list'),
  limit: z.number().int().min(1).max(clusterListDepthMax + 1),
  status: z.enum(executionStatuses as [ExecutionStatus, ...ExecutionStatus[]]).optional(),
});
const holdsBody = z.object({ op: z.literal('holds'), heap: z.string().max(128) });
const executionBody = z.object({
  op: z.enum(['get', 'wait', 'cancel', 'output']),
  execution_id: z.string().max(128),
  wait_ms: z.number().int().min(0).max(600_000).optional(),
  first_page: z.boolean().optional(),
  query: z.union([
    z.object({ mode: z.literal('line'), lineOffset: z.number().int(), lineLimit: z.number().int() }),
    z.object({ mode: z.literal('byte'), byteOffset: z.number().int(), byteLimit: z.number().int() }),
  ]).optional(),
});

function parse<Shape extends z.ZodType>(schema: Shape, value: unknown, what: string): z.infer<Shape> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new McpV8Error('INVALID_ARGUMENT', `${what}: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Requests and body bytes the hot routes took since the node started, by path (GET /raft/status,
 * `requests_in`): what a run costs in Raft traffic (bench/cluster-load.ts). Fixed keys: the hot paths.
 */
export type RequestCounts = Record<string, { requests: number; bytes: number }>;

export function newRequestCounts(): RequestCounts {
  return Object.fromEntries(['/raft/vote', '/raft/append', '/raft/snapshot', '/raft/propose', '/raft/executions'].map((path) => [path, { requests: 0, bytes: 0 }]));
}

function countIn(counts: RequestCounts, request: IncomingMessage): void {
  const count = counts[request.url ?? '']!;
  count.requests += 1;
  count.bytes += Number(request.headers['content-length'] ?? 0) || 0;
}

interface ClusterAppOptions {
  node: ClusterNode;
  /** Counted by clusterHandler, shown by GET /raft/status. */
  counts: RequestCounts;
  executions: () => LocalExecutions | null;
  /** This node's Streamable HTTP sessions, once the HTTP app is up (null before, or with no such transport). */
  mcp: () => ForwardedMcpHandler | null;
  logger: Logger;
  /** --allowed-hosts: Host values the cluster port answers to beside loopback, the bind and the advertise address. */
  allowedHosts: readonly string[];
  bindHost: string;
}

/** A signed request that passed peerGate: its body, read to check the signature, and the principal it acts for. */
interface Authorized {
  body: Buffer | null;
  principal: string | null;
}

const authorized = new WeakMap<IncomingMessage, Authorized>();

/** The JSON body of an authorized request (already read when it was signed), within `bytesMax`. */
async function bodyOf(request: IncomingMessage, bytesMax: number): Promise<unknown> {
  const body = authorized.get(request)?.body ?? null;
  if (body === null) return readJsonBody(request, bytesMax, null, peerBounds);
  if (body.length > bytesMax) throw new McpV8Error('BODY_TOO_LARGE', `request body exceeds the limit of ${bytesMax} bytes`);
  return parseJsonBody(body);
}

/** Refused chunks of older senders between two log lines (a sender tries 5 chunks a transfer). */
const olderSenderLogEvery = 100;

/** Remote addresses whose refused requests were logged (a rogue peer is logged once, not per request). */
const refusalsLoggedMax = 1024;

/**
 * Who may call the cluster port, checked before any route does any work: a Host this node answers
 * to (a DNS-rebinding page names its own), no browser (Origin), and with --cluster-secret a request
 * signed with it, fresh and not seen before (src/auth/cluster.ts). The signature covers the body,
 * so the body is read here, within the route's bound; a request without fresh signature headers
 * is refused before its body is read.
 */
function peerGate(options: ClusterAppOptions, bodyBytesMaxOf: (path: string) => number): (request: IncomingMessage) => Promise<void> {
  const { node, logger } = options;
  const advertised = node.config.advertiseAddr;
  const hosts = createHostOriginPolicy({ allowedHosts: [...options.allowedHosts, ...(advertised === null ? [] : [advertised])], allowedOrigins: [] }, options.bindHost);
  const secret = node.config.secret;
  const verify = secret === null ? null : createClusterVerifier(secret);
  const logged = new Set<string>();
  const refuse = (request: IncomingMessage, why: string): never => {
    const from = request.socket.remoteAddress ?? 'unknown';
    if (!logged.has(from)) {
      if (logged.size >= refusalsLoggedMax) logged.clear();
      logged.add(from);
      logger.warn({ from, path: (request.url ?? '').slice(0, 200), why }, 'cluster port refused an unauthenticated request (later ones from this address are not logged)');
    }
    throw new McpV8Error('UNAUTHORIZED', `the cluster port takes requests from members only: ${why}; every node needs the same --cluster-secret`);
  };
  return async (request) => {
    const host = hosts.check({ host: request.headers.host });
    if (host !== null) throw new McpV8Error('HOST_NOT_ALLOWED', `cluster port: ${host.message}`);
    if (request.headers.origin !== undefined) throw new McpV8Error('INVALID_ARGUMENT', 'the cluster port does not take browser requests (Origin header present)');
    if (verify === null) return;
    const timestamp = Number(request.headers[clusterHeaders.timestamp]);
    if (request.headers[clusterHeaders.signature] === undefined) refuse(request, 'the request is not signed');
    if (!(Math.abs(Date.now() - timestamp) <= replayWindowMsDefault)) refuse(request, `its timestamp is outside the ${replayWindowMsDefault} ms window (clocks apart, or a replay)`);
    const path = request.url ?? '';
    const body = await readBody(request, bodyBytesMaxOf(path.split('?')[0]!));
    const verdict = verify({ method: request.method ?? '', path, body }, request.headers);
    if (!verdict.ok) refuse(request, verdict.why);
    authorized.set(request, { body, principal: verdict.ok ? verdict.principal : null });
  };
}

/** The principal a signed request acts for (null: none, or an unsigned cluster). */
function principalOf(request: IncomingMessage): string | null {
  return authorized.get(request)?.principal ?? null;
}

/**
 * The hot routes (Raft messages, forwarded writes: one request per write) on node:http directly,
 * the rest through Koa: under load Koa's context and middleware cost as much as the work itself
 * (the same reasoning as src/transport/api-fast-path.ts). Same validation, same error bodies.
 */
export function clusterHandler(options: ClusterAppOptions): (request: IncomingMessage, response: ServerResponse) => void {
  const { node, logger } = options;
  const koa = clusterApp(options).callback();
  let olderSendersLogged = 0;
  // Answered with this node's messages for the sender once they are handled (receiveAndReply), or 204.
  const messages = (bytesMax: number, fromLeader = false) => async (request: IncomingMessage) => {
    const received = parseMessages(await bodyOf(request, bytesMax), 'raft messages');
    // The connection a leader's appends come on: its close by the leader's end is a sign of death (issue 21).
    if (fromLeader) node.watchLeaderSocket(request.socket, received);
    const replies = await node.receiveAndReply(received);
    return replies.length === 0 ? null : new JsonText(encodeMessages(replies));
  };
  const hot = new Map<string, (request: IncomingMessage) => Promise<unknown>>([
    ['/raft/vote', messages(messageBodyBytesMax)],
    ['/raft/append', messages(messageBodyBytesMax, true)],
    ['/raft/snapshot', async (request: IncomingMessage) => {
      const body = await bodyOf(request, snapshotBodyBytesMax);
      let chunk;
      try {
        chunk = parseSnapshotChunk(body, 'raft snapshot chunk');
      } catch (error) {
        // An older sender during a rolling upgrade: said here too, once a transfer, not once a chunk.
        if (isMcpV8Error(error) && error.code === 'NOT_SUPPORTED' && olderSendersLogged++ % olderSenderLogEvery === 0) options.logger.warn({ err: error.message }, 'refused a snapshot from an older node');
        throw error;
      }
      return node.snapshots.receive(chunk.message, chunk);
    }],
    ['/raft/propose', async (request) => {
      const { writes, batched } = parseProposeBody(await bodyOf(request, messageBodyBytesMax));
      if (!node.isLeader) throw new McpV8Error('NOT_LEADER', `node ${node.name} is not the leader`);
      if (batched) return answerBatch(writes, (data, timeoutMs) => node.proposeHere(data, timeoutMs));
      return { value: await node.proposeHere(writes[0]!.data, writes[0]!.timeout_ms) };
    }],
  ]);
  const bytesMax = new Map([['/raft/vote', messageBodyBytesMax], ['/raft/append', messageBodyBytesMax], ['/raft/snapshot', snapshotBodyBytesMax], ['/raft/propose', messageBodyBytesMax], [forwardedMcpPath, mcpBodyBytesMax]]);
  const gate = peerGate(options, (path) => bytesMax.get(path) ?? callBodyBytesMax);
  /** A client's request for one of this node's MCP sessions, forwarded by the node the client reached (src/cluster/mcp-sessions.ts). */
  const mcp = async (request: IncomingMessage, response: ServerResponse) => {
    const serve = options.mcp();
    if (serve === null) throw new McpV8Error('ROUTE_NOT_FOUND', `node ${node.name} serves no Streamable HTTP sessions`);
    const signedBody = authorized.get(request)?.body ?? null;
    const body = request.method !== 'POST' ? undefined : parseJsonBody(signedBody ?? (await readBody(request, mcpBodyBytesMax)));
    // Signed: the principal the forwarding node signed for; unsigned (loopback only): as it says.
    const unsigned = request.headers[clusterHeaders.principal];
    const principal = node.config.secret !== null ? principalOf(request) : typeof unsigned === 'string' ? unsigned : null;
    await serve(request, response, body, principal ?? anonymousPrincipal);
  };
  return (request, response) => {
    const route = request.method === 'POST' ? hot.get(request.url ?? '') : undefined;
    if (route !== undefined || (request.method === 'POST' && request.url === '/raft/executions')) countIn(options.counts, request);
    gate(request).then(() => {
      if (route !== undefined) return route(request);
      if (request.url === forwardedMcpPath) return mcp(request, response).then(() => undefined);
      void koa(request, response);
      return undefined;
    }).then((answer) => {
      if (answer === undefined) return;
      if (answer === null) {
        response.writeHead(204).end();
        return;
      }
      const text = answer instanceof JsonText ? answer.text : JSON.stringify(answer);
      response.writeHead(200, { 'content-type': jsonType, 'content-length': Buffer.byteLength(text) }).end(text);
    }, (error: unknown) => {
      const { status, body, headers } = errorAnswer(error, logger, request.url ?? '');
      const text = JSON.stringify(body);
      if (!response.headersSent) response.writeHead(status, { 'content-type': jsonType, 'content-length': Buffer.byteLength(text), ...headers }).end(text);
    });
  };
}

const jsonType = 'application/json; charset=utf-8';

function clusterApp(options: ClusterAppOptions): Koa {
  const { node, logger } = options;
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  router.post('/raft/join', async (ctx) => {
    const body = parse(joinBody, await bodyOf(ctx.req, callBodyBytesMax), 'raft join');
    ctx.body = await node.join(body.node_id, checkHostPort('addr', body.addr));
  });
  router.post('/raft/leave', async (ctx) => {
    const body = parse(leaveBody, await bodyOf(ctx.req, callBodyBytesMax), 'raft leave');
    ctx.body = await node.leave(body.node_id);
  });
  router.get('/raft/status', (ctx) => { ctx.body = { ...node.status(), requests_in: options.counts }; });
  router.post('/raft/executions', async (ctx) => {
    const raw = await bodyOf(ctx.req, callBodyBytesMax);
    const op = (raw as { op?: unknown } | null)?.op;
    const body = op === 'submit' ? parse(submitBody, raw, 'forwarded run') : op === 'list' ? parse(listBody, raw, 'execution list') : op === 'holds' ? parse(holdsBody, raw, 'heap holder') : parse(executionBody, raw, 'execution call');
    const executions = options.executions();
    if (executions === null) throw new McpV8Error('STOPPING', `node ${node.name} is starting or stopping: it serves no executions now`);
    ctx.body = await executions.call(body as ExecutionCall, node.config.secret === null ? undefined : principalOf(ctx.req));
  });
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const { status, body, headers } = errorAnswer(error, logger, ctx.path);
      ctx.status = status;
      ctx.set(headers);
      ctx.body = body;
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.use((ctx) => {
    throw new McpV8Error('ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path.slice(0, 200)} on the cluster port`);
  });
  return app;
}
