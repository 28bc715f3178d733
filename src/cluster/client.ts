// Node-to-node HTTP client (undici): keep-alive connections per peer, a timeout on every request,
// and for Raft messages a bounded number of requests in flight per peer and route (one for votes,
// appendRequestsInFlightMax for appends), with the messages that arrive meanwhile batched behind
// them; the peer answers each with its own messages for this node
// (Raft tolerates loss and reordering, so a full queue drops the oldest; appends batched in order
// keep a follower's log moving without reject round trips).
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { McpV8Error, isMcpV8Error, type ErrorCode, ErrorCodes } from '../errors.ts';
import type { Message } from '../raft/types.ts';
import { clusterHeaders, signClusterRequest } from '../auth/cluster.ts';
import { encodeMessages, JsonText, parseMessages } from './wire.ts';
import { SnapshotSender, snapshotChunkCharsDefault, type SnapshotChunk } from './snapshot-transfer.ts';

const clusterPrincipalHeader = clusterHeaders.principal;

/** Messages waiting for one peer and route, at most; beyond it the oldest are dropped. */
export const messagesQueuedMax = 4096;
/** How long one Raft message request may take before it counts as lost. */
export const messageRequestTimeoutMs = 5_000;
/** Idle keep-alive connections are closed after this long. */
const keepAliveMs = 30_000;
const connectTimeoutMs = 2_000;
/**
 * Connections per peer: Raft messages need few (one request in flight per route); calls (forwarded
 * writes, execution calls, some held for a long poll) get their own pool, so a held poll never
 * queues a write, and enough connections that many clients' calls travel at once.
 */
const messageConnectionsMax = 4;
const callConnectionsMax = 256;
/**
 * Append requests in flight to one peer. Above 1, the next batch leaves while the follower still
 * writes the one before, instead of a round trip later, each on its own connection (node:http
 * reads a pipelined request only once the one before it is answered, so HTTP pipelining would not
 * overlap them); requests on different connections may be read out of order, and an append that
 * arrives before the one it follows is rejected and the leader probes back (src/raft/replication.ts;
 * test/raft/replication.test.ts has that case). Measured on this 2-core machine (bench/RESULTS.md,
 * "issue 21 speed, round 2"), 4 in flight cost the leader 20-50 % more CPU per append at load 19-28
 * (more, smaller requests), and its median appends/s was below 1's at load 3-6 too, so it is 1:
 * batches wait for the answer to the one before.
 */
export const appendRequestsInFlightMax = 1;
/** Forwarded MCP requests: a GET stream of a session holds its connection while it is open, so they have a pool of their own. */
const streamConnectionsMax = 1024;

type PoolKind = 'messages' | 'appends' | 'calls' | 'streams';
const connectionsOf: Record<PoolKind, number> = { messages: messageConnectionsMax, appends: appendRequestsInFlightMax, calls: callConnectionsMax, streams: streamConnectionsMax };

export type RaftRoute = 'vote' | 'append' | 'snapshot';

export function routeOf(message: Message): RaftRoute {
  switch (message.type) {
    case 'vote': case 'voteResponse': case 'preVote': case 'preVoteResponse': return 'vote';
    case 'snapshot': return 'snapshot';
    default: return 'append';
  }
}

/** Who signs this node's requests to its peers: its name and the cluster secret (null: unsigned, loopback only). */
export interface PeerSigner {
  node: string;
  secret: string | null;
}

/**
 * The headers that prove a request to a peer comes from a member (src/auth/cluster.ts): a fresh
 * timestamp and nonce and an HMAC over them, the route, the body and the principal it acts for.
 */
export function peerAuthHeaders(signer: PeerSigner, method: string, path: string, body: string, principal: string | null): Record<string, string> {
  if (signer.secret === null) return {};
  return signClusterRequest(signer.secret, signer.node, { method, path, body }, principal === null ? {} : { principal });
}

class PeerQueue {
  queued: Message[] = [];
  /** Requests of this route to this peer in flight (each a drain loop). */
  inFlight = 0;
}

function requestsInFlightMax(route: RaftRoute): number {
  return route === 'append' ? appendRequestsInFlightMax : 1;
}

export class PeerClient {
  private readonly pools = new Map<string, Pool>();
  private readonly queues = new Map<string, PeerQueue>();
  private readonly logger: Logger;
  private readonly signer: PeerSigner;
  private closed = false;
  /** Failures logged per peer, so an unreachable peer is logged once per outage, not per heartbeat. */
  private readonly unreachable = new Set<string>();

  /**
   * Told when a request to `addr` fails as one to a dead process does: the connection refused
   * (nothing listens there) or closed or reset by the peer's end mid-request (ClusterNode.leaderGoneHint).
   */
  onPeerGone: ((addr: string, why: string) => void) | null = null;

  /** Where the messages a peer answers a Raft request with go (the node's input). */
  private readonly onReply: (messages: readonly Message[]) => void;

  /** Snapshots go in chunks, one transfer per peer (snapshot-transfer.ts), not through the message queues. */
  private readonly snapshots: SnapshotSender;

  constructor(
    logger: Logger, signer: PeerSigner,
    onReply: (messages: readonly Message[]) => void = () => {},
    snapshotChunkChars = snapshotChunkCharsDefault,
  ) {
    this.logger = logger;
    this.signer = signer;
    this.onReply = onReply;
    this.snapshots = new SnapshotSender({
      logger, chunkChars: snapshotChunkChars,
      post: (addr, chunk: SnapshotChunk) => this.request<{ next_offset: number }>(addr, 'messages', 'POST', '/raft/snapshot', { chunk }, messageRequestTimeoutMs),
    });
  }

  private pool(addr: string, kind: PoolKind): Pool {
    const key = `${kind} ${addr}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(`http://${addr}`, { connections: connectionsOf[kind], keepAliveTimeout: keepAliveMs, connectTimeout: connectTimeoutMs, pipelining: 1 });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Queue Raft messages for `addr`; they leave in one request per route at once when fewer than
   * that route's maximum are in flight, else as soon as one of those answers.
   */
  sendMessages(addr: string, messages: readonly Message[]): void {
    if (this.closed) return;
    const touched = new Map<RaftRoute, PeerQueue>();
    for (const message of messages) {
      if (message.type === 'snapshot' && message.snapshot !== null) {
        this.snapshots.send(addr, message);
        continue;
      }
      const route = routeOf(message);
      const key = `${addr} ${route}`;
      let queue = this.queues.get(key);
      if (queue === undefined) this.queues.set(key, (queue = new PeerQueue()));
      queue.queued.push(message);
      if (queue.queued.length > messagesQueuedMax) queue.queued.shift();
      touched.set(route, queue);
    }
    for (const [route, queue] of touched) if (queue.inFlight < requestsInFlightMax(route)) void this.drain(addr, route, queue);
  }

  private async drain(addr: string, route: RaftRoute, queue: PeerQueue): Promise<void> {
    queue.inFlight++;
    try {
      while (queue.queued.length > 0 && !this.closed) {
        const batch = queue.queued;
        queue.queued = [];
        try {
          // The peer answers with its own messages for this node (votes, append answers), or 204.
          const answer = await this.request<unknown>(addr, route === 'append' ? 'appends' : 'messages', 'POST', `/raft/${route}`, new JsonText(encodeMessages(batch)), messageRequestTimeoutMs);
          if (answer !== null) this.onReply(parseMessages(answer, `the answer of cluster peer ${addr}`));
          if (this.unreachable.delete(addr)) this.logger.info({ peer: addr }, 'cluster peer reachable again');
        } catch (error) {
          if (!this.unreachable.has(addr)) {
            this.unreachable.add(addr);
            this.logger.warn({ peer: addr, err: (error as Error).message }, 'cluster peer unreachable; Raft retries on its own');
          }
        }
      }
    } finally {
      queue.inFlight--;
    }
  }

  /**
   * POST JSON to a peer; answers its JSON, or throws its coded error (or NO_QUORUM when it cannot be
   * reached). `principal`: the client a forwarded call acts for, signed with it.
   */
  async post<Answer>(addr: string, path: string, body: unknown, timeoutMs: number, principal: string | null = null): Promise<Answer> {
    return this.request<Answer>(addr, 'calls', 'POST', path, body, timeoutMs, principal);
  }

  async get<Answer>(addr: string, path: string, timeoutMs: number): Promise<Answer> {
    return this.request<Answer>(addr, 'calls', 'GET', path, undefined, timeoutMs);
  }

  /**
   * A request whose answer is streamed back as it comes (a forwarded MCP request: an SSE stream may
   * stay open and quiet for as long as its client holds it, so the body has no timeout; `signal`
   * ends it). Signed for `principal`; on an unsigned cluster the principal travels unsigned.
   * Throws what undici throws when the peer cannot be reached or answer.
   */
  stream(addr: string, method: string, path: string, headers: Record<string, string>, body: string | undefined, principal: string, headersTimeoutMs: number, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    if (this.closed) return Promise.reject(new McpV8Error('STOPPING', 'this node is stopping'));
    const signed = peerAuthHeaders(this.signer, method, path, body ?? '', principal);
    return this.pool(addr, 'streams').request({
      method: method as Dispatcher.HttpMethod, path, body,
      headers: { ...headers, ...(this.signer.secret === null ? { [clusterPrincipalHeader]: principal } : signed) },
      headersTimeout: headersTimeoutMs, bodyTimeout: 0, signal,
    });
  }

  private async request<Answer>(addr: string, kind: PoolKind, method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number, principal: string | null = null): Promise<Answer> {
    if (this.closed) throw new McpV8Error('STOPPING', 'this node is stopping');
    const text = body === undefined ? undefined : body instanceof JsonText ? body.text : JSON.stringify(body);
    let response;
    try {
      response = await this.pool(addr, kind).request({
        method, path, body: text,
        headers: { ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...peerAuthHeaders(this.signer, method, path, text ?? '', principal) },
        // Raft messages are bounded by the two timeouts alone: a timeout signal per message built a
        // DOMException with a stack for each one still referenced when it fired (leader profile).
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...(kind === 'messages' || kind === 'appends' ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
      });
    } catch (error) {
      const code = peerGoneCode(error);
      if (code !== null && !this.closed) this.onPeerGone?.(addr, `${method} ${path}: ${code}`);
      throw new McpV8Error('NO_QUORUM', `cluster peer ${addr} did not answer ${method} ${path}: ${(error as Error).message}`, { cause: error });
    }
    const answer = response.statusCode === 204 ? null : await response.body.json().catch(() => null);
    if (response.statusCode >= 200 && response.statusCode < 300) return answer as Answer;
    throw peerError(addr, path, response.statusCode, answer);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.snapshots.close();
    await Promise.allSettled([...this.pools.values()].map((pool) => pool.destroy()));
    this.pools.clear();
  }
}

/** Error codes of a request to a process that is gone: refused, reset, or closed by its end ('other side closed'). */
const peerGoneCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']);

/** The code of `error` (or of its cause) when it says the peer's process is gone, else null. */
export function peerGoneCode(error: unknown): string | null {
  for (let at: unknown = error, depth = 0; at instanceof Error && depth < 3; at = at.cause, depth++) {
    const code = (at as Error & { code?: unknown }).code;
    if (typeof code === 'string' && peerGoneCodes.has(code)) return code;
  }
  return null;
}

/** A peer's coded error answer, as our own error again (so a forwarded call fails the way a local one would). */
function peerError(addr: string, path: string, status: number, answer: unknown): McpV8Error {
  const body = answer as { code?: unknown; error?: unknown } | null;
  const code = typeof body?.code === 'string' ? body.code.replace(/^MCPV8_ERR_/, '') : '';
  const message = typeof body?.error === 'string' ? body.error : `cluster peer ${addr} answered ${status} to ${path}`;
  return new McpV8Error(code in ErrorCodes ? (code as ErrorCode) : 'NO_QUORUM', message);
}

export function isRetryableAcrossNodes(error: unknown): boolean {
  return isMcpV8Error(error) && (error.code === 'NO_QUORUM' || error.code === 'NOT_LEADER' || error.code === 'STOPPING');
}
