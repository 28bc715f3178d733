// The execution service: the async model of the README. It mints ids, keeps the durable record
// and console output in the ExecutionStore, hands runs to the engine (which queues them), and
// lets callers wait for, cancel and page through executions. Transports reach it only through
// the tool definitions in src/tools.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { AssertionFailed, McpV8Error, assert, isMcpV8Error } from '../errors.ts';
import { isExecutionId, newExecutionId } from '../exec/ids.ts';
import { ErrorTexts, type Engine, type ReplayStep, type RunLimits, type RunOutcome } from '../exec/types.ts';
import { originalPositions } from '../exec/ts-positions.ts';
import { explainFailure } from '../exec/unsupported.ts';
import type { Metrics } from '../metrics.ts';
import type { ExecutionRecord, ExecutionStatus, FinalStatus } from '../model.ts';
import { executionNotFound, type ExecutionStore, type OutputPage, type OutputQuery } from '../storage/execution-store.ts';
import type { HeapService, StatefulRequest } from './heaps.ts';
import { ImageShelf } from './images.ts';
import { ClientTally } from './client-tally.ts';
import { anonymousPrincipal } from '../principal.ts';

export interface SubmitRequest {
  code: string;
  heapMemoryMaxMb: number;
  /**
   * False when the caller did not choose heapMemoryMaxMb (it is the server's default): a run
   * that resumes a heap then gets the limit that heap was made with, which its replay needs.
   */
  heapMemoryMaxMbChosen?: boolean;
  executionTimeoutSecs: number;
  /** Stateful mode only (a service with heaps): heap, session and tags, each optional. */
  stateful?: Partial<StatefulRequest>;
  /** The principal it runs for, kept in its record (access control on); null or absent: nobody's in particular. */
  owner?: string | null;
  /** Who the scheduler shares lanes between: the owner, or an anonymous caller's connection or session (null: the one anonymous client). */
  client?: string | null;
  /** Cluster mode: set on a run another node handed over, so it is not handed on again. */
  forwarded?: boolean;
  /**
   * The caller waits for the outcome (`wait_ms`) and tells nobody the id before: the id is
   * answered before its record is written, which then usually shares its finish's batch. A wait
   * that ends with the run still going answers only once the record is written (`waitFor`).
   */
  awaited?: boolean;
  /**
   * How long the caller then waits (`wait_ms`, with `awaited`). Cluster mode: a run handed to another
   * node is submitted and waited for there in one call, which brings the record (and its first
   * console page) back for the wait that follows (src/cluster/executions.ts).
   */
  waitMs?: number;
}

/**
 * Cluster mode: executions another node ran, reached through that node (src/cluster). `ownerOf`
 * names the node's address when the id is another member's, else null (served here).
 */
export interface RemoteExecutions {
  ownerOf(executionId: string): string | null;
  get(owner: string, executionId: string): Promise<ExecutionRecord>;
  wait(owner: string, executionId: string, waitMs: number): Promise<ExecutionRecord>;
  cancel(owner: string, executionId: string): Promise<{ ok: true } | { ok: false; error: string }>;
  output(owner: string, executionId: string, query: OutputQuery): Promise<OutputPage>;
  /** The other node that runs a session's runs (so they stay in order and resume live), or null: here. */
  homeOf(session: string): string | null;
  /** The other node that holds `heap` live (or ran it, and may), or null: here, or none known. */
  heapHomeOf(heap: string): Promise<string | null>;
  /** Submits on `owner`; answers the execution id (which carries `owner`). Throws NO_QUORUM when it cannot be reached. */
  submit(owner: string, request: SubmitRequest): Promise<string>;
  /** Every member's records (`local` lists this node's), merged newest first and paged; members that did not answer in time are named. */
  listAll(options: ListOptions, local: (options: ListOptions) => Promise<ExecutionRecord[]>): Promise<ListPage>;
}

export interface ListOptions {
  limit?: number;
  offset?: number;
  status?: ExecutionStatus;
}

/** A page of list_executions: in a cluster, every node's runs, and the nodes that did not answer. */
export interface ListPage {
  records: ExecutionRecord[];
  unavailable: Array<{ node_id: string; error: string }>;
}

interface LiveExecution {
  abort: AbortController;
  /** The final record, once it is written (or its write failed and was logged). */
  done: Promise<ExecutionRecord>;
  /** The final record, as soon as it is known: before its write, which `done` waits for. */
  settled: Promise<ExecutionRecord>;
  settle: (record: ExecutionRecord) => void;
  /** Set when the engine starts the run; until then it is queued and has no started_at. */
  startedAt: string | null;
  /** Callers waiting for it (wait_ms): its final record is then written at once (ExecutionStore.finish). */
  waiters: number;
  /** Its record's create is written (it rejects when that write failed). */
  created: Promise<void>;
  /** Set when the create's write failed: the run was cancelled for it, and fails with this. */
  createFailed: Error | null;
  /** Its record's code_snippet, made once for the record's create and its finish. */
  snippet: string;
}

/** Characters of code kept with each record for list_executions (its first line or so). */
export const codeSnippetCharsMax = 80;

/** Whom the engine's fair share counts a run for (scheduler.ts): its principal; anonymous runs share one. */
/** Whose bounds a request counts against (code and output in flight): its principal; every anonymous caller is one. */
function boundsClientOf(request: SubmitRequest): string {
  return request.owner ?? anonymousPrincipal;
}

function clientOf(request: SubmitRequest): { client?: string } {
  const client = request.owner ?? request.client;
  return client == null ? {} : { client };
}

export function codeSnippet(code: string): string {
  const oneLine = code.slice(0, codeSnippetCharsMax * 4).replace(/\s+/g, ' ').trim();
  return oneLine.length > codeSnippetCharsMax ? `${oneLine.slice(0, codeSnippetCharsMax - 1)}…` : oneLine;
}

/** Executions accepted but not finished, queued or running: the bound on their number. */
export const liveExecutionsMax = 100_000;
/**
 * ...and on the characters of their code, which a queued run keeps in memory until it starts
 * (up to 1,000,000 each: 100,000 of them would be 100 GB). 512 Mi characters: 0.5-1 GiB.
 */
export const liveCodeCharsMaxDefault = 512 * 1024 * 1024;
/**
 * Per client (a principal; every anonymous caller is one), the characters of code of its
 * executions in flight (`--client-code-max-mb`, in Mi characters): 64 runs of the largest code.
 */
export const clientCodeCharsMaxDefault = 64 * 1024 * 1024;
/**
 * Per client, the console output its running executions hold (`--client-output-max-mb`; counted
 * in characters, one more per line, so empty lines count too): eight runs at the 32 MiB bound of
 * one. Past it, those runs' further lines are dropped, after a line that says so.
 */
export const clientOutputCharsMaxDefault = 256 * 1024 * 1024;
/**
 * How long a poll without wait_ms may be held while runs wait in the queue (see `poll`). Longer
 * only means fewer "running" answers: a held poll answers the moment its execution finishes.
 */
export const busyPollHoldMs = 1_000;
/** What a client refused for load is told to wait before it retries (HTTP Retry-After). */
export const busyRetryAfterSecs = 1;

/** A node's load and health, as /healthz and /metrics report it. */
export interface NodeLoad {
  /** Executions waiting to start (for their code to be prepared, or for a slot). */
  queued: number;
  running: number;
  /** Isolates whose thread is lost (busy or parked): the node is degraded. */
  stuckIsolates: number;
  storedRecords: number;
  storedOutputBytes: number;
  /** Set when an invariant of ours failed: the node takes no new executions until a restart. */
  fault: string | null;
  /** Set past the bound on stuck isolates: the node takes no more runs and exits once the runs under way end. */
  retiring: string | null;
}

/** What live output (src/transport/live-output.ts) listens to while a run goes on. */
export interface ExecutionServiceEvents {
  output: [executionId: string, line: string];
  finished: [record: ExecutionRecord];
}

export class ExecutionService extends EventEmitter<ExecutionServiceEvents> {
  private readonly live = new Map<string, LiveExecution>();
  /** Characters of code of the executions in flight, counted from the door (`start`) to the record. */
  private liveCodeChars = 0;
  private readonly liveCodeCharsMax: number;
  private readonly clientCode: ClientTally;
  private readonly clientOutput: ClientTally;
  private readonly engine: Engine;
  private readonly store: ExecutionStore;
  private readonly metrics: Metrics;
  private readonly nodeId: string;
  private readonly logger: Logger | undefined;
  /** The first failed assertion of this service: from then on it takes no new executions. */
  private fault: AssertionFailed | null = null;
  /** Stateful mode: every run leaves a heap. Null in stateless mode. */
  readonly heaps: HeapService | null;
  /** Images the runs displayed, for their replies (bounded). */
  readonly images = new ImageShelf();
  /** Cluster mode: where other nodes' executions are asked for (set once the cluster is up). */
  remote: RemoteExecutions | null = null;

  constructor(options: { engine: Engine; store: ExecutionStore; metrics: Metrics; nodeId: string; heaps?: HeapService | null; liveCodeCharsMax?: number; clientCodeCharsMax?: number; clientOutputCharsMax?: number; logger?: Logger }) {
    super();
    this.clientCode = new ClientTally(options.clientCodeCharsMax ?? clientCodeCharsMaxDefault);
    this.clientOutput = new ClientTally(options.clientOutputCharsMax ?? clientOutputCharsMaxDefault);
    this.liveCodeCharsMax = options.liveCodeCharsMax ?? liveCodeCharsMaxDefault;
    assert(Number.isInteger(this.liveCodeCharsMax) && this.liveCodeCharsMax >= 1, 'the bound on code in flight is a positive integer');
    this.engine = options.engine;
    this.store = options.store;
    this.metrics = options.metrics;
    this.nodeId = options.nodeId;
    this.heaps = options.heaps ?? null;
    this.logger = options.logger;
  }

  /**
   * A failed assertion is a bug of ours, not a failed run: say so loudly, once, and stop taking
   * executions (the runs under way finish), rather than go on from a state we no longer understand.
   */
  private faulted(error: AssertionFailed, where: string): void {
    this.logger?.fatal({ err: error, where }, 'an invariant failed: this node takes no new executions until it is restarted');
    this.fault ??= error;
  }

  /** Set by `close`: no execution starts after it. */
  private closing = false;
  /** Submissions past the door whose execution is not live yet (its record is being created). */
  private readonly submitting = new Set<Promise<string>>();

  async submit(request: SubmitRequest): Promise<string> {
    if (this.closing) throw new McpV8Error('STOPPING', 'the server is stopping and takes no new executions; retry on another node or after it restarts');
    if (this.fault !== null) throw new McpV8Error('SERVER_FAULT', `an internal check failed on this node (${this.fault.message}); it takes no new executions until it is restarted; retry on another node`);
    const home = await this.sessionHome(request);
    if (home !== null) {
      try {
        return await this.remote!.submit(home, { ...request, forwarded: true, awaited: false });
      } catch (error) {
        // The home node is down, starting or stopping: run here (the replicated records rebuild the heap by replay).
        if (!isMcpV8Error(error) || (error.code !== 'NO_QUORUM' && error.code !== 'STOPPING')) throw error;
        this.logger?.warn({ home, session: request.stateful?.session, err: error.message }, 'the home node of a session cannot be reached; running here');
      }
    }
    const submitted = this.start(request);
    this.submitting.add(submitted);
    try {
      return await submitted;
    } catch (error) {
      if (error instanceof AssertionFailed) this.faulted(error, 'submit');
      throw error;
    } finally {
      this.submitting.delete(submitted);
    }
  }

  private async start(request: SubmitRequest): Promise<string> {
    if (this.live.size >= liveExecutionsMax) {
      throw new McpV8Error('BUSY', `too many executions in flight (${liveExecutionsMax}); retry after some finish`, { retryAfterSecs: busyRetryAfterSecs });
    }
    const codeChars = request.code.length;
    if (this.liveCodeChars + codeChars > this.liveCodeCharsMax) {
      throw new McpV8Error('BUSY', `the executions in flight hold ${this.liveCodeChars} characters of code, and this one's ${codeChars} would pass the bound of ${this.liveCodeCharsMax}; retry after some finish`, { retryAfterSecs: busyRetryAfterSecs });
    }
    const client = boundsClientOf(request);
    if (!this.clientCode.tryAdd(client, codeChars)) {
      throw new McpV8Error('LIMIT_EXCEEDED', `this client's executions in flight hold ${this.clientCode.of(client)} characters of code, and this one's ${codeChars} would pass the bound of ${this.clientCode.max} per client (--client-code-max-mb); retry after some finish`, { retryAfterSecs: busyRetryAfterSecs });
    }
    // Counted at once (the awaits below let other submissions in), given back if this one fails
    // before its run is under way; from then on the run gives them back when it ends.
    this.liveCodeChars += codeChars;
    let launched: { executionId: string; created: Promise<void> };
    try {
      launched = await this.launch(request);
    } catch (error) {
      this.liveCodeChars -= codeChars;
      this.clientCode.release(client, codeChars);
      throw error;
    }
    // The id is answered once its record is written (a 202 names an execution that survives a
    // restart); the run did not wait for that write. An awaited run's id goes out with its outcome.
    if (request.awaited !== true) await launched.created;
    return launched.executionId;
  }

  /**
   * Creates the record and starts the run at once, beside the record's write rather than after
   * it: the write (a batch on LevelDB's thread, ~0.2 ms and a thread wake) is no longer part of
   * the time to result. If that write fails, the run is cancelled and the submission fails.
   */
  private async launch(request: SubmitRequest): Promise<{ executionId: string; created: Promise<void> }> {
    // The tools refuse heap, session and tags by name in stateless mode, before this.
    assert(this.heaps !== null || request.stateful === undefined, 'stateful requests reach a service with heaps');
    const stateful = this.heaps === null ? null : await this.heaps.check({
      heap: request.stateful?.heap ?? null, session: request.stateful?.session ?? null, tags: request.stateful?.tags ?? null,
    });
    const executionId = newExecutionId(this.nodeId);
    const startedAt = new Date();
    const snippet = codeSnippet(request.code);
    // Readable (running) at once; written in the next batch.
    const created = this.store.create({
      execution_id: executionId, status: 'running', result: null, heap: null, error: null,
      started_at: null, completed_at: null, code_snippet: snippet,
      ...(request.owner == null ? {} : { owner: request.owner }),
    }, request.awaited !== true);
    this.metrics.executionSubmitted();
    const abort = new AbortController();
    const live = { abort, startedAt: null, waiters: 0, created, createFailed: null, snippet } as Partial<LiveExecution> as LiveExecution;
    let failSettled: (error: unknown) => void = () => undefined;
    live.settled = new Promise((resolve, reject) => { live.settle = resolve; failSettled = reject; });
    live.done = this.runToRecord(executionId, request, stateful, live, startedAt);
    // runToRecord handles a failed final write itself; anything else that escapes it (a failed
    // assert) reaches whoever waits on the run, and must never become an unhandled rejection
    // that takes the whole server down. (It settles `settled` itself; this is for a throw before.)
    live.done.then(live.settle, failSettled);
    live.settled.catch(() => undefined);
    this.live.set(executionId, live);
    created.catch((error: unknown) => {
      live.createFailed = error instanceof Error ? error : new Error(String(error));
      abort.abort();
    });
    return { executionId, created };
  }

  private async runToRecord(executionId: string, request: SubmitRequest, stateful: StatefulRequest | null, live: LiveExecution, startedAt: Date): Promise<ExecutionRecord> {
    const limits: RunLimits = { heapMemoryMaxMb: request.heapMemoryMaxMb, executionTimeoutMs: request.executionTimeoutSecs * 1000 };
    const signal = live.abort.signal;
    const output = this.clientOutputOf(request, executionId);
    const onConsoleLine = (line: string) => {
      if (!output.take(line)) return;
      const stored = this.images.take(executionId, line);
      // Not sent live either when the store drops it (it is behind: its output says so).
      if (this.store.appendOutput(executionId, stored)) this.emit('output', executionId, stored);
    };
    const onStarted = () => { live.startedAt ??= new Date().toISOString(); };
    let outcome: RunOutcome;
    let heap: string | null = null;
    try {
      if (stateful === null || this.heaps === null) {
        outcome = await this.engine.run({ code: request.code, limits, signal, onConsoleLine, onStarted, ...clientOf(request) });
      } else {
        ({ outcome, heap } = await this.runStateful(request.code, limits, stateful, signal, onConsoleLine, onStarted, request.heapMemoryMaxMbChosen ?? true, clientOf(request)));
      }
    } catch (error) {
      // The engine reports sandbox failures as outcomes; a throw here is a host fault (storage
      // failing while a heap is saved, say): the run fails, and the log keeps the cause.
      if (error instanceof AssertionFailed) this.faulted(error, 'run');
      else this.logger?.error({ err: error, executionId }, 'a host fault failed this execution');
      outcome = { status: 'failed', result: null, error: `Internal error: ${(error as Error).message}` };
    }
    if (live.createFailed !== null) outcome = { status: 'failed', result: null, error: `Internal error: the execution's record could not be written (${live.createFailed.message}); the run was stopped` };
    const completedAt = new Date();
    const record: ExecutionRecord = {
      execution_id: executionId, status: outcome.status, result: outcome.result, ...(outcome.resultType === undefined ? {} : { result_type: outcome.resultType }), heap, error: explainFailure(outcome.status === 'failed' ? originalPositions(outcome.error, request.code) : outcome.error, request.code),
      started_at: live.startedAt, completed_at: completedAt.toISOString(), code_snippet: live.snippet,
    };
    // Final in the store's memory at once; written in its next batch (at once when somebody waits).
    let written: Promise<void>;
    try {
      written = this.store.finish(executionId, {
        status: record.status as FinalStatus, result: record.result, ...(record.result_type === undefined ? {} : { result_type: record.result_type }), error: record.error, heap, started_at: record.started_at, completed_at: record.completed_at!,
      }, live.waiters > 0);
    } catch (error) {
      written = Promise.reject(error);
    }
    // The code is no longer held (a client that sends its next run on this reply has room for it).
    this.liveCodeChars -= request.code.length;
    this.clientCode.release(boundsClientOf(request), request.code.length);
    this.metrics.executionFinished(outcome.status, (completedAt.getTime() - startedAt.getTime()) / 1000);
    // Live watchers send what they hold, then waiters answer from this record, while it is written.
    this.emit('finished', record);
    live.settle(record);
    try {
      await written;
    } catch (error) {
      // The store answers the finished record from memory anyway (ExecutionStore.finish); on
      // disk it stays "running" until the next start marks it interrupted.
      this.logger?.error({ err: error, executionId, status: record.status }, 'the final record of an execution could not be written');
    } finally {
      // Its unwritten lines were held in memory until now.
      this.live.delete(executionId);
      output.release();
    }
    assert(this.liveCodeChars >= 0, 'code in flight never negative');
    return record;
  }

  /**
   * One run's share of its client's output bound: `take` counts a line (false: drop it; the first
   * line past the bound is replaced by one that says why), `release` gives it all back at the end.
   */
  private clientOutputOf(request: SubmitRequest, executionId: string): { take: (line: string) => boolean; release: () => void } {
    const client = boundsClientOf(request);
    const tally = this.clientOutput;
    let held = 0;
    let cut = false;
    return {
      take: (line) => {
        if (cut) return false;
        if (tally.tryAdd(client, line.length + 1)) { held += line.length + 1; return true; }
        cut = true;
        const why = `[output truncated: this client's running executions hold ${tally.of(client)} characters of console output, the bound per client (--client-output-max-mb)]`;
        this.store.appendOutput(executionId, why);
        this.emit('output', executionId, why);
        return false;
      },
      release: () => tally.release(client, held),
    };
  }

  /**
   * A stateful run, after the earlier runs of its session: find the parent heap, start from its
   * live context or a replay of its history, run, and commit the heap before the record says so.
   */
  private runStateful(code: string, chosenLimits: RunLimits, stateful: StatefulRequest, signal: AbortSignal, onConsoleLine: (line: string) => void, onStarted: () => void, memoryChosen: boolean, client: { client?: string }): Promise<{ outcome: RunOutcome; heap: string | null }> {
    const heaps = this.heaps!;
    return heaps.inSessionOrder(stateful.session, async () => {
      let parent: string | null = null;
      let start;
      let limits = chosenLimits;
      try {
        parent = await heaps.parentOf(stateful);
        if (!memoryChosen && parent !== null) limits = { ...limits, heapMemoryMaxMb: await heaps.memoryOf(parent) };
        start = await heaps.startOf(parent, limits.heapMemoryMaxMb, this.engine.live);
      } catch (error) {
        // A heap missing from the middle of a history, a corrupt record: the run cannot start.
        const message = (error as Error).message;
        return { outcome: { status: 'failed', result: null, error: parent === null ? message : `Could not resume heap ${parent}: ${message}` }, heap: null };
      }
      const outcome = await this.engine.run({ code, limits, signal, onConsoleLine, onStarted, stateful: start, ...client });
      let committed;
      try {
        committed = await heaps.commit({ parent, code, limits, outcome, session: stateful.session, tags: stateful.tags, continuesLatest: stateful.heap === null, completedAt: new Date(), live: this.engine.live });
      } catch (error) {
        // Another node saved a run of this session first (routing moved during a membership change): no fork, a clear failure.
        if (isMcpV8Error(error) && error.code === 'SESSION_CONFLICT') return { outcome: { status: 'failed', result: null, error: `${error.publicCode}: ${error.message}` }, heap: null };
        throw error;
      }
      if (committed.note !== null) for (const line of committed.note.split('\n')) onConsoleLine(line);
      return { outcome, heap: committed.heap };
    }, signal, () => ({ outcome: { status: 'cancelled', result: null, error: ErrorTexts.cancelled }, heap: null }));
  }

  /** Cluster mode: the other node that runs this request's session, if any. */
  private async sessionHome(request: SubmitRequest): Promise<string | null> {
    if (this.remote === null || request.forwarded === true) return null;
    const { session, heap } = request.stateful ?? {};
    if (session !== undefined && session !== null) return this.remote.homeOf(session);
    // A run from a heap, outside a session: to the node that ran that heap, which may hold it live.
    if (heap === undefined || heap === null || this.holdsLive(heap)) return null;
    return this.remote.heapHomeOf(heap);
  }

  /** Whether this node's engine holds `heap`'s context live (a run from it resumes without a replay). */
  holdsLive(heap: string): boolean {
    return this.engine.live.has(heap);
  }

  /** The other node that owns `executionId` (cluster mode), or null when it is this node's. */
  private ownerOf(executionId: string): string | null {
    return this.remote?.ownerOf(checkedId(executionId)) ?? null;
  }

  async get(executionId: string): Promise<ExecutionRecord> {
    const owner = this.ownerOf(executionId);
    if (owner !== null) return this.remote!.get(owner, executionId);
    const record = await this.store.get(checkedId(executionId));
    if (record === undefined) throw executionNotFound(executionId);
    const startedAt = record.status === 'running' ? this.live.get(executionId)?.startedAt : undefined;
    return startedAt === undefined || startedAt === null ? record : { ...record, started_at: startedAt };
  }

  /**
   * A poll without wait_ms: answered at once, unless runs are waiting for a slot. Then the server
   * is behind, and every "running" answer it sends is work taken from the runs themselves: a
   * backlog of n executions polled every 50 ms is 20·n requests/s, which at 1000 runs/s offered
   * took the whole main thread and held this node at a third of its capacity until the load
   * went away (bench/RESULTS.md). So the poll waits for its execution, up to busyPollHoldMs, and
   * answers when it finishes: the same record a later poll would have got, sooner, for one request.
   */
  poll(executionId: string): Promise<ExecutionRecord> {
    const owner = this.ownerOf(executionId);
    if (owner !== null) return this.remote!.get(owner, executionId);
    // queuedCount includes runs whose code a source worker is still preparing (engine.ts).
    const live = this.live.get(checkedId(executionId));
    const held = live !== undefined && this.engine.queuedCount > 0;
    if (held) this.metrics.pollHeld();
    return this.waitFor(executionId, live, held ? busyPollHoldMs : 0);
  }

  /** Waits up to `waitMs` for the execution to finish; returns its record either way. */
  wait(executionId: string, waitMs: number): Promise<ExecutionRecord> {
    const owner = this.ownerOf(executionId);
    if (owner !== null) return this.remote!.wait(owner, executionId, waitMs);
    return this.waitFor(executionId, this.live.get(checkedId(executionId)), waitMs);
  }

  /** `wait` with the execution's live entry already looked up (undefined: it is not running here). */
  private async waitFor(executionId: string, live: LiveExecution | undefined, waitMs: number): Promise<ExecutionRecord> {
    if (live === undefined || waitMs <= 0) return this.get(executionId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(resolve, waitMs, null); });
    live.waiters++;
    let finished: ExecutionRecord | null;
    try {
      finished = await Promise.race([live.settled, timeout]);
    } finally {
      live.waiters--;
      clearTimeout(timer);
    }
    if (finished !== null) return finished;
    // Still running: its id goes out now, so its record must be written first (an awaited run's
    // create waits for company; a failed create ends the run, whose record then says why).
    void this.store.flush();
    await live.created.catch(() => undefined);
    return this.get(executionId);
  }

  async cancel(executionId: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const owner = this.ownerOf(executionId);
    if (owner !== null) return this.remote!.cancel(owner, executionId);
    const live = this.live.get(checkedId(executionId));
    if (live === undefined) {
      const record = await this.get(executionId);
      return { ok: false, error: `Execution ${executionId} is not running (status: ${record.status})` };
    }
    live.abort.abort();
    // The run may have ended on its own before the abort reached it (its outcome was on its
    // way): the cancel then lost, and says so with the final status (issue 18 item 7).
    const record = await live.done;
    if (record.status === 'cancelled') return { ok: true };
    return { ok: false, error: `Execution ${executionId} finished before the cancel took effect (status: ${record.status})` };
  }

  /** Console lines an execution running here has printed so far (0 when none runs here). */
  linesPrinted(executionId: string): number {
    return this.store.liveLineCount(executionId) ?? 0;
  }

  output(executionId: string, query: OutputQuery): Promise<OutputPage> {
    const owner = this.ownerOf(executionId);
    if (owner !== null) return this.remote!.output(owner, executionId, query);
    return this.store.readOutput(checkedId(executionId), query);
  }

  /** This node's and, in a cluster, every member's records (src/cluster/executions.ts), newest first, a page at a time. */
  async listEverywhere(options: ListOptions = {}): Promise<ListPage> {
    if (this.remote === null) return { records: await this.list(options), unavailable: [] };
    return this.remote.listAll(options, (query) => this.list(query));
  }

  /** Newest first, a page at a time; running records say when they started. This node's only. */
  async list(options: ListOptions = {}): Promise<ExecutionRecord[]> {
    return (await this.store.list(options)).map((record) => {
      const startedAt = record.status === 'running' ? this.live.get(record.execution_id)?.startedAt : undefined;
      return startedAt === undefined || startedAt === null ? record : { ...record, started_at: startedAt };
    });
  }

  /**
   * Runs code after a replay of `steps` in a fresh context that nobody keeps (describe_heap's
   * introspection): no record, no output, no heap; the context is disposed.
   */
  async runDetached(code: string, limits: RunLimits, steps: ReplayStep[]): Promise<RunOutcome> {
    if (this.closing) throw new McpV8Error('STOPPING', 'the server is stopping');
    const outcome = await this.engine.run({ code, limits, signal: new AbortController().signal, onConsoleLine: () => undefined, stateful: { replay: steps } });
    if (outcome.kept !== undefined && outcome.kept !== null) this.engine.live.release(outcome.kept);
    return outcome;
  }

  /** What /healthz and /metrics report of this node, so that transports need not know the engine. */
  /** Executions accepted whose final record is not yet written (a retiring node waits for them). */
  get liveExecutions(): number {
    return this.live.size;
  }

  load(): NodeLoad {
    return {
      queued: this.engine.queuedCount,
      running: this.engine.runningCount,
      stuckIsolates: this.engine.stuckIsolates,
      storedRecords: this.store.storedRecords,
      storedOutputBytes: this.store.storedOutputBytes,
      fault: this.fault?.message ?? null,
      retiring: this.engine.retiring,
    };
  }

  /** The Prometheus text of /metrics. */
  metricsText(): string {
    const load = this.load();
    return this.metrics.render({ ...load, queueDepth: load.queued, faulted: load.fault !== null });
  }

  /**
   * Refuses new executions, cancels every live one, and waits for their records to be written,
   * including those of submissions that were still creating their record when it was called
   * (a request in flight when the server stops).
   */
  async close(): Promise<void> {
    this.closing = true;
    while (this.submitting.size > 0 || this.live.size > 0) {
      await Promise.allSettled([...this.submitting]);
      const pending = [...this.live.values()];
      for (const live of pending) live.abort.abort();
      await Promise.allSettled(pending.map((live) => live.done));
    }
  }
}

function checkedId(executionId: string): string {
  if (!isExecutionId(executionId)) {
    throw new McpV8Error('INVALID_ARGUMENT', `execution_id must be a UUID like 0190a4f2-1c3b-8d4e-9f00-1a2b3c4d5e6f, got '${executionId.slice(0, 80)}'`);
  }
  return executionId;
}

