// Stateful mode's bookkeeping around the engine (docs/stateful.md): where a run starts (a live
// context of its parent heap, or a replay of the parent's recorded history loaded from the heap
// store), what it leaves (a heap record, content-addressed, then its session entry and tags in
// one batch), which live context the engine keeps, and the order of the runs of one session.
// The live contexts themselves are the engine's (src/exec/live-heaps.ts): this names them by heap id.
import { LRUCache } from 'lru-cache';
import { McpV8Error, assert, isMcpV8Error } from '../errors.ts';
import { decodeHeapRecord, encodeHeapRecord, heapRecordOf, type HeapRecord } from '../storage/heap-record.ts';
import { checkHeapId, heapIdOf, heapNotFound, type HeapStore } from '../storage/heap-store.ts';
import { checkSessionName, checkTags, type SessionStore, type SessionEntry, type Tags } from '../storage/session-db.ts';
import { isolateMemoryMb } from '../exec/isolate-pool.ts';
import type { LiveHeaps, ReplayStart, ReplayStep, RunLimits, RunModules, RunOutcome, StatefulStart } from '../exec/types.ts';

/** What a run_js call asks of stateful mode; all optional. */
export interface StatefulRequest {
  heap: string | null;
  session: string | null;
  tags: Tags | null;
}

/** Decoded heap records kept in memory, so that replays rarely read the store. */
export const recordsCachedMax = 10_000;
/** The longest history a heap may have: a resume replays at most this many runs. */
export const historyRunsMax = 10_000;

/**
 * A fresh heap (no parent, no session) whose run used less CPU than this is not kept live: its
 * context is released and its isolate goes back to the pool. Kept, it would hold an isolate that
 * the pool then makes again on the event loop (≈ 4 ms there, which every run waits behind), and a
 * stream of fresh heaps fills the live heaps and then evicts one per run (most of those isolates
 * disposed and made again: isolate-pool.ts, `liveIsolateReuseBytesMax`); a resume of such a heap,
 * if one ever comes, replays its one run on its own isolate's thread instead (a trivial stateful
 * run: 1–14 ms of its isolate's CPU, median 2.9 ms, six at once; a collection of the isolate's
 * heap during the run counts too, and passed 20 ms once in 30). A session's heap, a heap made from
 * another heap (a chain) and a costly fresh one stay live: their next run is expected, or a replay
 * would delay the resume by more than a tenth of a second.
 */
export const freshHeapLiveCpuMsMin = 100;

/** Whether a heap is worth its live context (see `freshHeapLiveCpuMsMin`). */
export function keptLive(request: { parent: string | null; session: string | null; outcome: { cpuMs?: number } }): boolean {
  return request.parent !== null || request.session !== null || (request.outcome.cpuMs ?? Number.POSITIVE_INFINITY) >= freshHeapLiveCpuMsMin;
}

export interface CommitRequest {
  parent: string | null;
  /** The code as the user wrote it (the session log's), and the source that ran (the record's). */
  code: string;
  limits: RunLimits;
  outcome: RunOutcome;
  session: string | null;
  tags: Tags | null;
  /** The run continued its session's latest heap (it named none): the entry is saved only if that is still the latest. */
  continuesLatest?: boolean;
  completedAt: Date;
  /** The engine's live contexts: the run's (`outcome.kept`) is named after its heap, or released. */
  live: LiveHeaps;
}

/** What a finished stateful run left: its heap, or why it has none; a line for its output, if any. */
export type CommitResult = { heap: string; note: string | null } | { heap: null; note: string | null };

/** The logger the heap service reports a refused checkpoint to: pino's, or anything with the same method. */
export interface HeapLogger {
  warn(fields: object, message: string): void;
}

export class HeapService {
  readonly store: HeapStore;
  readonly sessions: SessionStore;
  private readonly records = new LRUCache<string, HeapRecord>({ max: recordsCachedMax });
  /** The last submitted run of each session: the next one starts after it. */
  private readonly sessionTails = new Map<string, Promise<void>>();

  private readonly logger: HeapLogger | undefined;
  /**
   * Resumes from storage since the process started (/metrics): from a checkpoint (and the runs
   * after it), by replaying the whole history, and checkpoints that fell back to the whole history.
   */
  readonly resumes = { checkpoint: 0, history: 0, checkpointFallbacks: 0 };

  constructor(options: { store: HeapStore; sessions: SessionStore; logger?: HeapLogger }) {
    this.logger = options.logger;
    this.store = options.store;
    this.sessions = options.sessions;
  }

  /** Checks a request before it gets an execution id: bad names and unknown heaps are errors now. */
  async check(request: StatefulRequest): Promise<StatefulRequest> {
    const heap = request.heap === null ? null : checkHeapId(request.heap);
    const session = request.session === null ? null : checkSessionName(request.session);
    const tags = request.tags === null ? null : checkTags(request.tags);
    if (heap !== null) await this.mustExist(heap);
    return { heap, session, tags };
  }

  /** The heap id, checked: HEAP_NOT_FOUND unless this node holds it or the store has it. */
  async mustExist(heap: string): Promise<string> {
    const id = checkHeapId(heap);
    if (!this.records.has(id) && !(await this.store.has(id))) throw heapNotFound(id);
    return id;
  }

  /**
   * Runs `body` after every earlier run of the same session has finished (runs of one session
   * apply in submission order); without a session, at once. A run cancelled while it waits for
   * its turn answers `cancelled()` at once, and the runs after it still wait for the ones before.
   */
  inSessionOrder<Result>(session: string | null, body: () => Promise<Result>, signal?: AbortSignal, cancelled?: () => Result): Promise<Result> {
    if (session === null) return body();
    const previous = this.sessionTails.get(session) ?? Promise.resolve();
    let result: Promise<Result>;
    if (signal === undefined || cancelled === undefined) {
      result = previous.then(body);
    } else {
      const aborted = new Promise<'aborted'>((resolve) => {
        if (signal.aborted) resolve('aborted');
        else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
      });
      result = Promise.race([previous.then(() => 'turn' as const), aborted]).then((first) => (first === 'aborted' ? cancelled() : body()));
    }
    const tail = Promise.all([previous, result.catch(() => undefined)]).then(() => undefined);
    this.sessionTails.set(session, tail);
    void tail.then(() => {
      if (this.sessionTails.get(session) === tail) this.sessionTails.delete(session);
    });
    return result;
  }

  /** The heap a run continues from: the one asked for, else its session's latest, else none. */
  async parentOf(request: StatefulRequest): Promise<string | null> {
    if (request.heap !== null) return request.heap;
    if (request.session !== null) return (await this.sessions.latestHeap(request.session)) ?? null;
    return null;
  }

  /** Where a run from `parent` starts: its live context if the engine has it (`live`), else a replay. */
  async startOf(parent: string | null, heapMemoryMaxMb: number, live: LiveHeaps): Promise<StatefulStart> {
    if (parent === null) return { replay: [] };
    if (live.has(parent, heapMemoryMaxMb)) return { resume: parent, history: () => this.replayFrom(parent) };
    return this.replayFrom(parent);
  }

  /**
   * The replay that rebuilds `heap`: from its newest checkpoint (the runs after it only), else the
   * whole history. A checkpoint the sandbox refuses is logged, and the whole history replayed.
   */
  async replayFrom(heap: string): Promise<ReplayStart> {
    const steps: ReplayStep[] = [];
    let id: string | null = heap;
    while (id !== null) {
      if (steps.length >= historyRunsMax) break;
      const record = await this.record(id);
      if (record.checkpoint !== undefined) {
        const at = id;
        const fallback = async (reason: string): Promise<ReplayStep[]> => {
          this.resumes.checkpointFallbacks++;
          this.logger?.warn({ heap, checkpointOf: at, reason }, 'a heap checkpoint could not be restored; resuming by replaying the whole history');
          return this.history(heap);
        };
        this.resumes.checkpoint++;
        return { replay: steps.reverse(), checkpoint: { heap: at, state: record.checkpoint, fallback } };
      }
      steps.push(await this.stepOf(id, record));
      id = record.parent;
    }
    this.resumes.history++;
    return { replay: await this.history(heap) };
  }

  /** The replay step of the record `id`, with the module sources it imported. */
  private async stepOf(id: string, record: HeapRecord): Promise<ReplayStep> {
    const modules = record.modules === undefined ? undefined : await this.modulesOf(id, record.modules);
    return { heap: id, code: record.code, limits: record.limits, observed: record.observed, outcome: record.outcome, textFormat: record.textFormat ?? 1, ...(modules === undefined ? {} : { modules }) };
  }

  /** The runs that built `heap`, oldest first, read (and verified) from the heap store. */
  async history(heap: string): Promise<ReplayStep[]> {
    const steps: ReplayStep[] = [];
    let id: string | null = heap;
    while (id !== null) {
      if (steps.length >= historyRunsMax) {
        throw new McpV8Error('HEAP_CORRUPT', `heap ${heap} has a history longer than ${historyRunsMax} runs; it cannot be resumed`);
      }
      const record = await this.record(id);
      steps.push(await this.stepOf(id, record));
      id = record.parent;
    }
    return steps.reverse();
  }

  /** A heap's recorded imports with their sources, read from the heap store (each verified by its sha256). */
  private async modulesOf(heap: string, recorded: NonNullable<HeapRecord['modules']>): Promise<RunModules> {
    const sources = new Map<string, string>();
    for (const entry of recorded.entries) {
      if (entry.sha256 === undefined || sources.has(entry.sha256)) continue;
      try {
        sources.set(entry.sha256, Buffer.from(await this.store.get(entry.sha256)).toString('utf8'));
      } catch (error) {
        if (!isMcpV8Error(error) || (error.code !== 'HEAP_NOT_FOUND' && error.code !== 'HEAP_CORRUPT')) throw error;
        throw new McpV8Error('HEAP_CORRUPT', `heap ${heap} imported module ${entry.url} (sha256 ${entry.sha256}), whose source is ${error.code === 'HEAP_NOT_FOUND' ? 'missing from' : 'corrupt in'} the heap store; it cannot be resumed`);
      }
    }
    return { imports: recorded.imports, journal: { entries: recorded.entries, sources } };
  }

  /** The memory limit (MiB) the heap was made with: what resuming it needs unless told otherwise. */
  async memoryOf(id: string): Promise<number> {
    return (await this.record(id)).limits.heapMemoryMaxMb;
  }

  private async record(id: string): Promise<HeapRecord> {
    const cached = this.records.get(id);
    if (cached !== undefined) return cached;
    const record = decodeHeapRecord(id, await this.store.get(id));
    this.remember(id, record);
    return record;
  }

  private remember(id: string, record: HeapRecord): void {
    this.records.set(id, record);
  }

  /**
   * Saves what a finished stateful run left. A clean run that ended completed or failed becomes
   * a heap: the record first (content-addressed, atomic), then the session entry and tags in one
   * batch, and its context is named after the heap in the engine's live heaps. Anything else has
   * no heap; its context (if any) is released, or named after the parent when no code ran at all.
   * Whatever happens, the context the run left is named or released here, once.
   */
  async commit(request: CommitRequest): Promise<CommitResult> {
    const kept = request.outcome.kept ?? null;
    let named = false;
    const name = (heap: string, live = true) => {
      named = true;
      if (kept === null) return;
      if (live) request.live.keep(kept, heap);
      else request.live.release(kept);
    };
    try {
      return await this.save(request, name);
    } finally {
      if (!named && kept !== null) request.live.release(kept);
    }
  }

  /** `commit`, with the run's context named by `name` (or released by it, `live` false; else released by the caller). */
  private async save(request: CommitRequest, name: (heap: string, live?: boolean) => void): Promise<CommitResult> {
    const { outcome } = request;
    const record = outcome.record ?? null;
    if (outcome.status !== 'completed' && outcome.status !== 'failed') return { heap: null, note: null };
    if (record === null || outcome.source === null || outcome.source === undefined) {
      // No code ran (the source did not compile): a context still holds the parent's state. Or
      // the run has no record (out of memory, a replay that failed): nothing to save.
      if (request.parent !== null && outcome.source === null) name(request.parent);
      return { heap: null, note: null };
    }
    if (!record.complete) {
      return { heap: null, note: '[WARN] mcp-v8: this run read the clock or fired timers more than 100000 times; its state was not saved as a heap' };
    }
    const heapRecord = heapRecordOf({
      parent: request.parent,
      code: outcome.source,
      limits: request.limits,
      observed: record,
      outcome: { status: outcome.status, result: outcome.result, error: outcome.error },
      ...(outcome.modules === undefined || outcome.modules === null ? {} : { modules: { imports: outcome.modules.imports, entries: outcome.modules.journal.entries } }),
      checkpoint: outcome.status === 'completed' ? outcome.checkpoint ?? null : null,
    });
    const bytes = encodeHeapRecord(heapRecord);
    // The sources the run imported go first, content-addressed: a resume reads them from here
    // and never fetches (docs/modules.md, "Replay").
    for (const [sha256, source] of outcome.modules?.journal.sources ?? []) {
      assert((await this.store.put(Buffer.from(source, 'utf8'))) === sha256, 'a module source is stored by its sha256');
    }
    const heap = heapIdOf(bytes);
    // The context joins the cache now, not after the writes: under load the writes queue behind
    // other fsyncs, and a context waiting there would hold its isolate out of the pool. Nobody
    // can resume the heap before it is acknowledged (its id is not out yet, and the next run of
    // its session waits for this one), and a failed write takes it out again. A cheap fresh heap
    // is not kept at all (`keptLive`): its isolate goes back to the pool now.
    name(heap, keptLive(request));
    try {
      const entry: Omit<SessionEntry, 'index'> | null = request.session === null ? null : {
        input_heap: request.parent, output_heap: heap, code: request.code, timestamp: request.completedAt.toISOString(),
      };
      const commit = entry === null && request.tags === null ? null
        : { type: 'heap.commit' as const, heap, session: request.session, entry, tags: request.tags, ...(request.continuesLatest === true && entry !== null ? { after: request.parent } : {}) };
      if (commit !== null && this.store.putAndCommit !== undefined) {
        await this.store.putAndCommit(bytes, commit);
        this.remember(heap, heapRecord);
      } else {
        assert((await this.store.put(bytes)) === heap, 'the store names a heap by the hash of its bytes');
        this.remember(heap, heapRecord);
        if (commit !== null) await this.sessions.apply(commit);
      }
    } catch (error) {
      if (outcome.kept !== undefined && outcome.kept !== null) request.live.drop(heap);
      // A cluster node cut off from its quorum still runs code: a run that asked for no session
      // and no tags keeps its result, without a heap, and says why.
      if (isMcpV8Error(error) && error.code === 'NO_QUORUM' && request.session === null && request.tags === null) {
        return { heap: null, note: `[WARN] mcp-v8: this run's heap was not saved: ${error.message}` };
      }
      throw error;
    }
    return { heap, note: leftoverNote(outcome) };
  }
}

/** The warning a run's output ends with when it left timers or async work that a heap does not carry over. */
function leftoverNote(outcome: RunOutcome): string | null {
  const timersLeft = outcome.timersLeft ?? 0;
  const workLeft = outcome.pendingWorkLeft ?? 0;
  const notes = [
    ...(timersLeft === 0 ? [] : [`${timersLeft} unref'd timer${timersLeft === 1 ? ' was' : 's were'} still pending when the run ended; a heap does not carry pending timers over`]),
    ...(workLeft === 0 ? [] : [`${workLeft} async WebAssembly compile${workLeft === 1 ? ' was' : 's were'} still pending when the run ended; ${workLeft === 1 ? 'it' : 'they'} will never complete (await it within the run)`]),
  ];
  return notes.length === 0 ? null : notes.map((note) => `[WARN] mcp-v8: ${note}`).join('\n');
}
