// The replicated state machine of a cluster: the session log, the heap tag index, the heap records
// (when no shared heap store is configured) and the address book of members that joined. Every
// node applies the same committed commands in the same order, so every replica holds the same
// state; the Raft log (LevelDB, fsync) is what makes it durable, and a restarted node rebuilds
// this machine from its last snapshot and the entries after it.
//
// Commands carry a request id: a write retried after a lost answer (a forwarded write whose
// leader died, a client that timed out) is applied once, and the retry gets the first answer.
import { createHash } from 'node:crypto';
import { McpV8Error, isMcpV8Error, type ErrorCode } from '../errors.ts';
import type { StateMachine } from '../raft/state-machine.ts';
import type { Entry } from '../raft/types.ts';
import { checkHeapId } from '../storage/heap-store.ts';
import { McpSessionRecords, type McpSessionCommand } from './mcp-session-records.ts';
import { checkSnapshotState } from './snapshot-check.ts';
import { checkSessionName, checkStillLatest, checkTags, queryResultsMax, type SessionCommand, type SessionEntry, type Tags } from '../storage/session-db.ts';

export interface Member {
  readonly name: string;
  readonly addr: string;
}

export type MachineCommand =
  | SessionCommand
  /** A heap record replicated through the log (no shared store): `record` is its canonical JSON text; `node` the node that ran it (it may hold the heap live). */
  | { type: 'heap.put'; heap: string; record: string; node?: string }
  /** heap.put and its heap.commit in one entry: the record is stored only if the commit's checks pass. */
  | { type: 'heap.save'; record: string; node?: string; commit: Extract<SessionCommand, { type: 'heap.commit' }> }
  | { type: 'member.add'; id: number; name: string; addr: string }
  | { type: 'member.remove'; id: number }
  /** Streamable HTTP sessions (src/cluster/mcp-session-records.ts). */
  | McpSessionCommand;

/** What one Raft entry of ours holds. */
export interface Envelope {
  /** Request id: the same id applied twice answers the first result. */
  readonly rid: string;
  /**
   * The log index the proposing node had applied when it first proposed this request (kept for
   * every retry): the entry, if ever applied, lies after it. If the machine has since forgotten a
   * request id applied after it, a retry could be a double apply, so it is refused instead.
   */
  readonly since?: number;
  readonly command: MachineCommand;
}

export type ApplyResult = { ok: true; value: number | null } | { ok: false; code: ErrorCode; message: string };

/**
 * Request ids remembered for retries, oldest forgotten first (every replica forgets the same ones).
 * A retry of a request first proposed before the oldest remembered one was applied is refused
 * (LIMIT_EXCEEDED), never applied a second time.
 */
export const requestIdsRememberedMax = 65_536;
/**
 * Bytes of heap records the log-replicated heap store holds at most; past it, configure
 * --s3-bucket. A snapshot is one JSON string, and V8 strings end near 512 Mi characters.
 */
export const replicatedHeapBytesMax = 256 * 1024 * 1024;

const snapshotFormat = 'mcp-v8/cluster-machine@1';

/** What snapshotParts() keeps of the machine, read later by snapshotText. */
interface SnapshotView {
  readonly sessions: ReadonlyArray<readonly [string, readonly SessionEntry[], number]>;
  readonly tags: ReadonlyArray<readonly [string, Tags]>;
  readonly heaps: ReadonlyMap<string, string>;
  readonly heapsCount: number;
  readonly creators: ReadonlyMap<string, string>;
  readonly creatorsCount: number;
  readonly members: ReadonlyArray<readonly [number, Member]>;
  readonly requestIds: readonly string[];
  readonly requests: ReadonlyArray<{ readonly result: ApplyResult; readonly index: number }>;
  readonly forgottenThrough: number;
  readonly mcpSessions: readonly unknown[];
}

/** Items per part of a long list (session entries, heaps, request ids): a part stays small whatever the list. */
const snapshotItemsPerPart = 256;

/** `items` as the JSON array's elements, `snapshotItemsPerPart` at a time ('[' and ']' are the caller's). */
function* jsonElements<T>(items: Iterable<T>, count: number, encode: (item: T) => unknown = (item) => item): Generator<string> {
  let batch: unknown[] = [];
  let emitted = 0;
  for (const item of items) {
    if (emitted + batch.length >= count) break;
    batch.push(encode(item));
    if (batch.length < snapshotItemsPerPart) continue;
    yield (emitted === 0 ? '' : ',') + JSON.stringify(batch).slice(1, -1);
    emitted += batch.length;
    batch = [];
  }
  if (batch.length > 0) yield (emitted === 0 ? '' : ',') + JSON.stringify(batch).slice(1, -1);
}

/** The snapshot's JSON text in parts: the same document snapshot() was as one JSON.stringify, which restore() reads. */
function* snapshotText(view: SnapshotView): Generator<string> {
  yield `{"format":${JSON.stringify(snapshotFormat)},"sessions":[`;
  for (let at = 0; at < view.sessions.length; at++) {
    const [name, entries, length] = view.sessions[at]!;
    yield `${at === 0 ? '' : ','}[${JSON.stringify(name)},[`;
    yield* jsonElements(entries, length);
    yield ']]';
  }
  yield '],"tags":[';
  yield* jsonElements(view.tags, view.tags.length);
  yield '],"heaps":[';
  yield* jsonElements(view.heaps, view.heapsCount);
  yield '],"creators":[';
  yield* jsonElements(view.creators, view.creatorsCount);
  yield `],"members":${JSON.stringify(view.members)},"requests":[`;
  yield* jsonElements(view.requestIds.keys(), view.requestIds.length, (at) => [view.requestIds[at], view.requests[at]!.result, view.requests[at]!.index]);
  yield `],"forgotten_through":${view.forgottenThrough},"mcp_sessions":${JSON.stringify(view.mcpSessions)}}`;
}

const pairKey = (key: string, value: string) => `${key}\u0000${value}`;

export class ClusterMachine implements StateMachine<ApplyResult> {
  private sessions = new Map<string, SessionEntry[]>();
  private tags = new Map<string, Tags>();
  /** Heaps by tag pair, so a query never scans every heap. */
  private tagIndex = new Map<string, Set<string>>();
  private heaps = new Map<string, string>();
  /** The node that ran each heap's run: where its live context is, if anywhere. */
  private creators = new Map<string, string>();
  private heapBytes = 0;
  readonly members = new Map<number, Member>();
  private requests = new Map<string, { result: ApplyResult; index: number }>();
  /** The highest log index whose request id was forgotten. */
  private forgottenThrough = 0;
  /** Streamable HTTP sessions: who opened them, what they negotiated, which node holds them. */
  readonly mcpSessions = new McpSessionRecords();

  apply(entry: Entry): ApplyResult {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(entry.data) as Envelope;
    } catch {
      return { ok: false, code: 'INTERNAL', message: `raft entry ${entry.index} is not JSON` };
    }
    const earlier = this.requests.get(envelope.rid);
    if (earlier !== undefined) return earlier.result;
    let result: ApplyResult;
    if (typeof envelope.since === 'number' && envelope.since < this.forgottenThrough) {
      // It may have been applied at an index whose request id is forgotten: it is not applied again.
      result = { ok: false, code: 'LIMIT_EXCEEDED', message: `this write was first proposed at log index ${envelope.since}, before the last ${requestIdsRememberedMax} writes, which are all the cluster remembers for retries: it may or may not have been applied; read the state back before writing again` };
      this.remember(envelope.rid, result, entry.index);
      return result;
    }
    try {
      result = { ok: true, value: this.applyCommand(envelope.command) };
    } catch (error) {
      // Deterministic refusals (a bad name, a full store) are answers too: every replica gives the same.
      result = isMcpV8Error(error) ? { ok: false, code: error.code, message: error.message } : { ok: false, code: 'INTERNAL', message: (error as Error).message };
    }
    this.remember(envelope.rid, result, entry.index);
    return result;
  }

  private remember(rid: string, result: ApplyResult, index: number): void {
    this.requests.set(rid, { result, index });
    if (this.requests.size > requestIdsRememberedMax) {
      const [oldest, forgotten] = this.requests.entries().next().value!;
      this.requests.delete(oldest);
      this.forgottenThrough = Math.max(this.forgottenThrough, forgotten.index);
    }
  }

  private applyCommand(command: MachineCommand): number | null {
    switch (command.type) {
      case 'session.append':
        return this.append(command.session, command.entry);
      case 'heap.commit':
        return this.commitHeap(command, () => {});
      case 'heap.save':
        return this.commitHeap(command.commit, (heap) => this.putHeap(heap, command.record, command.node ?? null));
      case 'tags.set':
        this.replaceTags(checkHeapId(command.heap), checkTags(command.tags));
        return null;
      case 'tags.delete': {
        const heap = checkHeapId(command.heap);
        const keys = command.keys;
        const current = this.tags.get(heap) ?? {};
        this.replaceTags(heap, keys === null ? {} : Object.fromEntries(Object.entries(current).filter(([key]) => !keys.includes(key))));
        return null;
      }
      case 'heap.put':
        return this.putHeap(command.heap, command.record, command.node ?? null);
      case 'member.add':
        this.members.set(command.id, { name: command.name, addr: command.addr });
        return null;
      case 'member.remove':
        this.members.delete(command.id);
        return null;
      case 'mcp.open':
      case 'mcp.adopt':
      case 'mcp.close':
        return this.mcpSessions.apply(command);
    }
  }

  /** heap.commit: every check first, then `put` (heap.save's record, which may refuse too), then the entry and tags. */
  private commitHeap(command: Extract<SessionCommand, { type: 'heap.commit' }>, put: (heap: string) => void): number | null {
    const heap = checkHeapId(command.heap);
    if (command.session !== null && (command.entry === null || command.entry.output_heap !== heap)) {
      throw new McpV8Error('INVALID_ARGUMENT', 'a session entry of a committed heap names that heap as its output');
    }
    const tags = command.tags === null ? null : checkTags(command.tags);
    if (command.session !== null) checkSessionName(command.session);
    if (command.session !== null && command.after !== undefined) checkStillLatest(command.session, command.after, this.latestHeap(command.session) ?? null);
    put(heap);
    const index = command.session === null ? null : this.append(command.session, command.entry!);
    if (tags !== null) this.replaceTags(heap, tags);
    return index;
  }

  private append(sessionName: string, fields: Omit<SessionEntry, 'index'>): number {
    const session = checkSessionName(sessionName);
    let entries = this.sessions.get(session);
    if (entries === undefined) this.sessions.set(session, (entries = []));
    const entry: SessionEntry = { index: entries.length, input_heap: fields.input_heap, output_heap: fields.output_heap, code: fields.code, timestamp: fields.timestamp };
    entries.push(entry);
    return entry.index;
  }

  private replaceTags(heap: string, tags: Tags): void {
    for (const [key, value] of Object.entries(this.tags.get(heap) ?? {})) {
      const heaps = this.tagIndex.get(pairKey(key, value));
      heaps?.delete(heap);
      if (heaps?.size === 0) this.tagIndex.delete(pairKey(key, value));
    }
    if (Object.keys(tags).length === 0) {
      this.tags.delete(heap);
      return;
    }
    this.tags.set(heap, { ...tags });
    for (const [key, value] of Object.entries(tags)) {
      let heaps = this.tagIndex.get(pairKey(key, value));
      if (heaps === undefined) this.tagIndex.set(pairKey(key, value), (heaps = new Set()));
      heaps.add(heap);
    }
  }

  private putHeap(heapId: string, record: string, node: string | null): null {
    const heap = checkHeapId(heapId);
    if (this.heaps.has(heap)) return null;
    if (createHash('sha256').update(record, 'utf8').digest('hex') !== heap) throw new McpV8Error('HEAP_CORRUPT', `heap ${heap}: the replicated record does not hash to its id`);
    const bytes = Buffer.byteLength(record, 'utf8');
    if (this.heapBytes + bytes > replicatedHeapBytesMax) {
      throw new McpV8Error('BUSY', `the cluster's replicated heap records would pass ${replicatedHeapBytesMax} bytes; run the cluster with --s3-bucket for more heaps`);
    }
    this.heaps.set(heap, record);
    if (node !== null) this.creators.set(heap, node);
    this.heapBytes += bytes;
    return null;
  }

  // Reads: the caller has passed a ReadIndex barrier first (ReplicatedSessions), so they are linearizable.

  heapRecord(heap: string): string | undefined {
    return this.heaps.get(heap);
  }

  /** The node that ran `heap`, when its record came through the log. */
  heapCreator(heap: string): string | undefined {
    return this.creators.get(heap);
  }

  listSessions(): string[] {
    return [...this.sessions.keys()].sort();
  }

  entries(session: string): SessionEntry[] {
    return (this.sessions.get(checkSessionName(session)) ?? []).map((entry) => ({ ...entry }));
  }

  latestHeap(session: string): string | undefined {
    return this.sessions.get(checkSessionName(session))?.at(-1)?.output_heap;
  }

  getTags(heap: string): Tags {
    return { ...(this.tags.get(checkHeapId(heap)) ?? {}) };
  }

  queryTags(wanted: Tags): Array<{ heap: string; tags: Tags }> {
    const pairs = Object.entries(checkTags(wanted));
    const candidates = pairs.length === 0 ? [...this.tags.keys()] : [...(this.tagIndex.get(pairKey(pairs[0]![0], pairs[0]![1])) ?? [])];
    const results: Array<{ heap: string; tags: Tags }> = [];
    for (const heap of candidates.sort()) {
      const tags = this.tags.get(heap)!;
      if (pairs.every(([key, value]) => tags[key] === value)) results.push({ heap, tags: { ...tags } });
      if (results.length >= queryResultsMax) break;
    }
    return results;
  }

  snapshot(): string {
    return [...this.snapshotParts()].join('');
  }

  /**
   * The snapshot in parts, of the state as it is at this call (see StateMachine.snapshotParts): a
   * view copies what later entries change in place (the tag map, the request ids, the members and
   * MCP session records) and keeps the rest by reference and length, since session entries, heap
   * records and creators are only ever added (entries pushed, maps inserted into; restore() makes
   * new ones), and every value is immutable once stored. Taking it costs a copy of the request
   * ids (at most requestIdsRememberedMax) and the tags, not a serialisation of the whole machine.
   */
  snapshotParts(): Iterable<string> {
    const view: SnapshotView = {
      sessions: Array.from(this.sessions, ([name, entries]) => [name, entries, entries.length] as const),
      tags: [...this.tags],
      heaps: this.heaps, heapsCount: this.heaps.size,
      creators: this.creators, creatorsCount: this.creators.size,
      members: [...this.members],
      requestIds: [...this.requests.keys()], requests: [...this.requests.values()],
      forgottenThrough: this.forgottenThrough,
      mcpSessions: this.mcpSessions.snapshot(),
    };
    return snapshotText(view);
  }

  /** '' is the bootstrap snapshot's data: the empty machine. */
  restore(data: string): void {
    this.sessions = new Map();
    this.tags = new Map();
    this.tagIndex = new Map();
    this.heaps = new Map();
    this.creators = new Map();
    this.heapBytes = 0;
    this.members.clear();
    this.requests = new Map();
    this.forgottenThrough = 0;
    // MCP session records are replaced once, at the end: their listener compares before and after.
    if (data === '') return this.mcpSessions.restore([]);
    // Checked in place, not copied (src/cluster/snapshot-check.ts): a snapshot may be hundreds of MiB.
    const state = checkSnapshotState(JSON.parse(data), snapshotFormat);
    this.sessions = new Map(state.sessions);
    for (const [heap, tags] of state.tags) this.replaceTags(heap, tags);
    for (const [heap, record] of state.heaps) {
      this.heaps.set(heap, record);
      this.heapBytes += Buffer.byteLength(record, 'utf8');
    }
    this.creators = new Map(state.creators);
    for (const [id, member] of state.members) this.members.set(id, member);
    this.requests = new Map(state.requests.map(([rid, result, index]) => [rid, { result: result as ApplyResult, index: index ?? 0 }]));
    this.forgottenThrough = state.forgotten_through ?? 0;
    this.mcpSessions.restore(state.mcp_sessions ?? []);
  }
}
