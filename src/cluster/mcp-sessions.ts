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
import { isMcpV8Error } from '../errors.ts';
import { sessionMovedStatus, sessionOwnerHeader, type McpSessionPeers } from '../transport/mcp-http.ts';
import type { RestorableSession } from '../transport/mcp-restore.ts';
import type { Member } from './machine.ts';
import type { McpSessionRecord } from './mcp-session-records.ts';
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

/** A record not applied here yet is read behind a barrier, for at most this long. */
const recordReadMs = 3_000;
/** Owners looked for again after losing a take-over to another node, before the client is told to retry. */
const takeOverAttemptsMax = 2;
/** Owners looked for again after the node tried said the session moved on (its replica is ahead of this one's). */
const movedAttemptsMax = 3;

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

/**
 * How a forwarded request went when it did not reach its holder's answer. 'moved': the node tried
 * no longer owns the session by its own applied state (this replica has not applied an adoption
 * yet), and names the owner it knows.
 */
type ForwardFailure = { kind: 'unreachable' | 'failed'; why: string } | { kind: 'moved'; why: string; owner: string };

export class McpSessionForwarder implements McpSessionPeers {
  private readonly node: ClusterNode;
  private readonly logger: Logger;
  /** Take-overs under way, so that requests at once for one session commit one adoption. */
  private readonly takingOver = new Map<string, Promise<McpSessionRecord | ForwardFailure>>();
  /** Records this node should hold but does not hold live, and since when (at most one per record). */
  private readonly unheld = new Map<string, number>();

  constructor(node: ClusterNode, logger: Logger) {
    this.node = node;
    this.logger = logger;
  }

  newSessionId(): string {
    return newMcpSessionId(this.node.name);
  }

  async opened(session: RestorableSession): Promise<void> {
    try {
      await this.node.write({ type: 'mcp.open', session: { ...session, owner: this.node.name } });
    } catch (error) {
      // The session still works here; only another node cannot take it over if this one dies.
      this.logger.warn({ sessionId: session.id, err: (error as Error).message }, 'could not record a new MCP session in the cluster: it lives on this node only');
    }
  }

  async closed(sessionId: string): Promise<void> {
    try {
      await this.node.write({ type: 'mcp.close', id: sessionId });
      // A follower's write returns once the leader applied it; until this replica applies it too,
      // a request forwarded here would find the record still naming this node and rebuild the
      // session just ended. A ReadIndex barrier waits for that apply.
      await this.node.read(() => undefined, recordReadMs);
    } catch (error) {
      this.logger.warn({ sessionId, err: (error as Error).message }, 'could not remove an ended MCP session\'s record (it is forgotten at the records\' bound)');
    }
  }

  onMoved(listener: (sessionId: string, owner: string | null) => void): void {
    // owner null: ended (a snapshot shows it gone), so not served here either.
    this.node.machine.mcpSessions.listener = (sessionId, owner) => { if (owner !== this.node.name) listener(sessionId, owner); };
  }

  /**
   * Records are ended by their owner's idle close; a record whose owner restarted (its live
   * session gone) would outlive every timeout, so it is ended once it has gone unused here for as
   * long. The leader does the same for records of nodes no longer members.
   */
  sweep(isLive: (sessionId: string) => boolean, idleMs: number): void {
    const now = Date.now();
    const members = new Set(this.node.knownMembers().map(([, member]) => member.name));
    const seen = new Set<string>();
    for (const record of this.node.machine.mcpSessions.all()) {
      const mine = record.owner === this.node.name || (this.node.isLeader && !members.has(record.owner));
      if (!mine || isLive(record.id)) continue;
      seen.add(record.id);
      const since = this.unheld.get(record.id);
      if (since === undefined) this.unheld.set(record.id, now);
      else if (now - since > idleMs) {
        this.unheld.delete(record.id);
        void this.closed(record.id).then(() => this.logger.info({ sessionId: record.id, owner: record.owner }, 'ended an MCP session recorded for this node but unused since it restarted'));
      }
    }
    for (const sessionId of [...this.unheld.keys()]) if (!seen.has(sessionId)) this.unheld.delete(sessionId);
  }

  /** The session's record: the local replica's, else (just opened elsewhere, not applied here yet) after a ReadIndex barrier. */
  private async recordOf(sessionId: string, fresh = false): Promise<McpSessionRecord | undefined> {
    const local = fresh ? undefined : this.node.machine.mcpSessions.get(sessionId);
    if (local !== undefined) return local;
    try {
      return await this.node.read(() => this.node.machine.mcpSessions.get(sessionId), recordReadMs);
    } catch {
      return this.node.machine.mcpSessions.get(sessionId);
    }
  }

  /**
   * Read past a barrier, never from this replica alone: a node restarted behind an adoption would
   * otherwise rebuild a session another node holds now. No quorum: throws (the client retries).
   */
  async claim(sessionId: string, principal: string): Promise<McpSessionRecord | { movedTo: string } | null> {
    const record = await this.node.read(() => this.node.machine.mcpSessions.get(sessionId), recordReadMs);
    if (record === undefined || record.principal !== principal) return null;
    return record.owner === this.node.name ? record : { movedTo: record.owner };
  }

  async forward(sessionId: string, request: IncomingMessage, response: ServerResponse, body: unknown, principal: string): Promise<true | McpSessionRecord | null> {
    let record = await this.recordOf(sessionId);
    // Its own record but not live here: this replica may be behind an adoption (a restart); look past a barrier.
    if (record?.owner === this.node.name) record = await this.recordOf(sessionId, true);
    /** The owner a node tried last named, when this replica had not learnt it (no record here). */
    let hint: string | undefined;
    for (let attempt = 0; ; attempt++) {
      // Another principal's session reads as no session at all, here as on its holder.
      if (record !== undefined && record.principal !== principal) return null;
      if (record?.owner === this.node.name) return record;
      // No record (one opened while the cluster had no quorum): the node its id names may hold it.
      const hash = mcpSessionNodeHash(sessionId);
      const named = record?.owner ?? hint;
      const holder = named !== undefined ? this.memberNamed(named) : hash === null ? undefined : this.node.peerOfHash(hash);
      if (holder === undefined && record === undefined) return null;
      let failure: ForwardFailure = { kind: 'unreachable', why: 'no longer a member' };
      if (holder !== undefined) {
        const outcome = await this.forwardTo(holder, sessionId, request, response, body, principal);
        if (outcome === null) return true;
        failure = outcome;
      }
      if (failure.kind === 'moved' && attempt < movedAttemptsMax) {
        ({ record, hint } = await this.afterMoved(sessionId, holder!.name, failure.owner));
        continue;
      }
      if (record === undefined || failure.kind !== 'unreachable' || attempt === takeOverAttemptsMax) {
        this.refuse(response, record?.owner ?? holder!.name, failure);
        return true;
      }
      // Its owner is down: this node takes the session over, unless another node did first.
      const taken = await this.takeOver(record);
      if (!('kind' in taken)) return taken;
      if (taken.kind === 'failed') {
        this.refuse(response, record.owner, { kind: 'failed', why: `it cannot be reached, and this node could not take its session over: ${taken.why}` });
        return true;
      }
      record = await this.recordOf(sessionId, true);
    }
  }

  /**
   * `tried` said the session is `owner`'s now: this replica has not applied that yet. The record is
   * read again past a barrier; when that still names `tried` (no quorum here, or not applied yet),
   * `owner` is believed: `tried` read it past a barrier of its own, and an adoption from it commits
   * only if it still owns the session.
   */
  private async afterMoved(sessionId: string, tried: string, owner: string): Promise<{ record: McpSessionRecord | undefined; hint: string | undefined }> {
    const record = await this.recordOf(sessionId, true);
    this.logger.info({ sessionId, tried, owner, applied: record?.owner ?? null }, 'a forwarded MCP request went to a node the session moved away from; trying its owner');
    if (record === undefined) return { record, hint: owner };
    return { record: record.owner === tried ? { ...record, owner } : record, hint: undefined };
  }

  private memberNamed(name: string): Member | undefined {
    return this.node.knownMembers().find(([, member]) => member.name === name)?.[1];
  }

  /** Commits `mcp.adopt` from the owner `record` names: the record with this node as owner, or why not ('unreachable': another node took it first; look again). */
  private takeOver(record: McpSessionRecord): Promise<McpSessionRecord | ForwardFailure> {
    const pending = this.takingOver.get(record.id);
    if (pending !== undefined) return pending;
    const taking = (async (): Promise<McpSessionRecord | ForwardFailure> => {
      try {
        await this.node.write({ type: 'mcp.adopt', id: record.id, from: record.owner, to: this.node.name });
        this.logger.info({ sessionId: record.id, from: record.owner }, 'took over an MCP session whose node cannot be reached');
        return { ...record, owner: this.node.name };
      } catch (error) {
        if (isMcpV8Error(error) && error.code === 'SESSION_CONFLICT') return { kind: 'unreachable', why: error.message };
        return { kind: 'failed', why: `${isMcpV8Error(error) ? `${error.code}: ` : ''}${(error as Error).message}` };
      }
    })().finally(() => this.takingOver.delete(record.id));
    this.takingOver.set(record.id, taking);
    return taking;
  }

  private refuse(response: ServerResponse, holder: string, failure: ForwardFailure): void {
    if (failure.kind === 'moved') {
      jsonRpcError(response, 503, -32000, `MCP session moved from ${holder} to ${failure.owner} and this node has not caught up with it yet (${failure.why}); retry`);
    } else if (failure.kind === 'unreachable') {
      // A node that is down has lost the sessions nobody recorded: the client must initialize a new
      // one, which a 404 tells it (the MCP spec's answer for an ended session).
      jsonRpcError(response, 404, -32001, `Session not found: the node that holds this MCP session (${holder}) cannot be reached (${failure.why}); initialize a new session`);
    } else {
      jsonRpcError(response, 502, -32000, `the node that holds this MCP session (${holder}) did not answer (${failure.why}); retry, or initialize a new session`);
    }
  }

  /** Serves the request on `holder`, its answer streamed back; null when it was, else why not (nothing written yet). */
  private async forwardTo(holder: Member, sessionId: string, request: IncomingMessage, response: ServerResponse, body: unknown, principal: string): Promise<ForwardFailure | null> {
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
      if (abort.signal.aborted) return null;
      const code = errorCode(error);
      const why = `${code ?? (error as Error).message}`;
      this.logger.warn({ sessionId, holder: holder.name, err: (error as Error).message }, 'could not forward an MCP request to the node holding its session');
      return { kind: code !== undefined && unreachableCodes.has(code) ? 'unreachable' : 'failed', why };
    }
    const owner = answer.headers[sessionOwnerHeader];
    if (answer.statusCode === sessionMovedStatus && typeof owner === 'string') {
      response.off('close', onClose);
      await answer.body.dump().catch(() => {});
      return { kind: 'moved', why: `${holder.name} no longer holds it`, owner };
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
    return null;
  }
}
