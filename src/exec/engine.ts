// The execution engine: a queue of runs, at most N at once (a fair share: scheduler.ts), each
// in its own context on a warm isolate from the pool, or in the live context it resumes; what a
// run leaves decides whether its context is kept (stateful), reused or discarded. The parts:
//   run.ts      one run: compile, evaluate, the host side of its event loop, deadline, stop;
//   replay.ts   the replay of a stateful history, driven through the run's turns;
//   outcome.ts  the sandbox's state and texts checked, errors turned into outcomes.
// The wall-clock deadline covers all of a run: when it passes, the host disposes the isolate,
// which ends a synchronous loop, a microtask loop or a loop inside a timer wherever it runs.
import type { PolicyCapabilities } from '../policy/capabilities.ts';
import type ivm from 'isolated-vm';
import { assert } from '../errors.ts';
import type { WasmModuleConfig } from '../wasm-config.ts';
import { IsolatePool, IsolateUnresponsive, isolateMemoryMb, residentBytesOf, sandboxGlobalNames, type PreparedContext } from './isolate-pool.ts';
import { ConsoleBudget, ReplayFailed, failed, outcomeOfError, type Settled } from './outcome.ts';
import { droppedBatchesLine } from './console-queue.ts';
import { ModuleLoader } from './modules.ts';
import { CheckpointDiverged, Run } from './run.ts';
import type { LiveContextHandle, LiveHeapCache } from './live-heaps.ts';
import { Scheduler, type Ticket } from './scheduler.ts';
import { isolateThreadsSettled, ThreadNice, type RunsCpu } from './thread-nice.ts';
import { IdleGroup } from './idle-group.ts';
import { type PreparedSource, SourcePrep } from './source-prep.ts';
import { SourceError } from './typescript.ts';
import { ErrorTexts, type CheckpointStart, type Engine, type LiveHeaps, type ReplayStart, type ReplayStep, type RunOutcome, type RunRequest } from './types.ts';
import { PreloadedWasm } from './wasm-modules.ts';


/** Runs waiting for a slot; past this, submissions still queue (never rejected) but we log. */
export const queueWarnDepth = 10_000;


/**
 * A stateless isolate whose run made more than this outside the V8 heap is disposed rather than
 * reused: V8 frees that memory only when it collects, which nothing about it prompts (an isolate
 * reused by runs that each kept Intl objects grew the host by ≈ 20 MiB a run).
 */
export const offHeapReuseBytesMax = 64 * 1024;

interface QueuedRun {
  request: RunRequest;
  resolve: (outcome: RunOutcome) => void;
  onAbort: (() => void) | null;
  /** Its code, made ready before it joined the queue. */
  code: Settled<PreparedSource> | null;
  /** The live context it resumes, taken from the live heaps when it was submitted. */
  resumed: Resumed | null;
  /** Takes it out of the scheduler's queue (true), or says it had started (false). */
  cancel: (() => boolean) | null;
}

/** A live context taken by a run that resumes it, and the heap it is of (to give it back). */
interface Resumed {
  heap: string;
  live: LiveContextHandle;
}

/** The logger the engine needs: pino's, or anything with the same methods. */
export interface EngineLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

/**
 * The outcome of a run cancelled before it started. A live context it was to resume (taken out
 * of the live heaps) goes back there, unchanged: nothing ran in it.
 */
function cancelledBeforeStart(live: LiveHeapCache, resumed: Resumed | null): RunOutcome {
  if (resumed !== null) live.put(resumed.heap, resumed.live);
  return { status: 'cancelled', result: null, error: ErrorTexts.cancelled, record: null };
}

/** The CPU time (ns) an isolate has used so far; null once it is disposed. */
function cpuTimeNs(isolate: ivm.Isolate): bigint | null {
  try {
    return isolate.cpuTime;
  } catch {
    return null;
  }
}

/** Isolates made at start for the server's default memory limit, at most (≈ 1.5 MiB and 2 ms each). */
export const prewarmIsolatesMax = 8;
/**
 * Isolates made at start per slot: under load each slot has one running, and the one before it
 * making its next context (≈ 0.5 ms) while a third waits ready. With one per slot, the first
 * second of a 1000/s load made four more on the request path (≈ 2 ms of the main thread each).
 */
export const prewarmIsolatesPerSlot = 3;

/** The scheduler's client for runs whose request names none. */
const anonymousClient = '';

/** The fair share of the lanes (long runs, clients, awaiting runs): scheduler.ts. */
export { inFlightPerSlot, longRunLanesPerSlot, longRunMs } from './scheduler.ts';

/**
 * Isolate threads that V8 cannot stop (parked after running out of memory beyond recovery, or
 * busy in a loop that outlived the stop) a node keeps at most. Each holds a thread and its memory
 * (up to ≈ 1.2 GB) until the process ends: at this many, or past `stuckRssBytesMax` of process
 * RSS with any of them, the node takes no more runs, lets those running finish (at most
 * `retireDrainMsMax`) and exits, for its supervisor to start it afresh (docs/exec.md, "Safety").
 */
export const stuckIsolatesMax = 4;
export const stuckRssBytesMax = 4 * 1024 ** 3;
/** How often the RSS bound is read while any isolate is stuck (a busy one may still allocate). */
export const stuckRssCheckMs = 1_000;

export interface EngineOptions {
  /** Runs at once; more wait in a FIFO queue (never refused). */
  maxConcurrentExecutions: number;
  logger?: EngineLogger;
  /**
   * Where a run reads the time for its deadline (default Date.now). Tests move it to put a
   * deadline exactly between two calls; the deadline's own timer still runs on real time.
   */
  clock?: () => number;
  /** Isolates of this memory limit (the server's default) are made at start, prewarmIsolatesPerSlot per slot, at most prewarmIsolatesMax. */
  warmMemoryMb?: number;
  /** Hears once that the node must retire (the stuck isolates' bound), with why; the server then exits. */
  onRetire?: (reason: string) => void;
  /** Tests: a lower bound than `stuckIsolatesMax`. */
  stuckIsolatesMax?: number;
  /** Live contexts of stateful runs kept, at most (live-heaps.ts, `liveHeapsMaxDefault`); 0: none. */
  liveHeapsMax?: number;
  /** Resident bytes the live contexts may hold together (`liveHeapBytesMaxDefault`, --live-heaps-memory-mb). */
  liveHeapBytesMax?: number;
  /**
   * What the sandbox may reach outside (src/policy/capabilities.ts): fetch() with a fetch policy,
   * fs with a filesystem policy, `modules` for gated imports. Absent: none of them.
   */
  capabilities?: PolicyCapabilities | null;
  /** Where imports come from (modules.ts); by default external imports are disabled. */
  modules?: ModuleLoader;
  /** Pre-loaded WebAssembly modules (--wasm-module, --wasm-config), checked at start-up. */
  wasmModules?: readonly WasmModuleConfig[];
  /** Process RSS past which a node with any stuck isolate retires (default `stuckRssBytesMax`). */
  stuckRssBytesMax?: number;
  /** Runs in flight, busy or awaiting a timer (default slots × `inFlightPerSlot`). */
  inFlightMax?: number;
}

class IsolateEngine implements Engine {
  private readonly pool: IsolatePool;
  private readonly active = new Set<Run>();
  private closed = false;
  private onIdle: (() => void) | null = null;
  /** Runs waiting in the scheduler's queue for a lane. */
  private readonly queue = new Set<QueuedRun>();
  /** Runs whose code a source worker is making ready; they join the queue after. */
  private readonly preparing = new Set<QueuedRun>();
  private running = 0;
  private readonly scheduler: Scheduler;
  private readonly slots: number;
  private readonly logger: EngineLogger | undefined;
  private readonly clock: () => number;
  /** swc's stripping and rewrites, in a worker thread (source-worker.ts). */
  readonly sources = new SourcePrep();
  private readonly modules: ModuleLoader;
  /** The pre-loaded WebAssembly modules every context is attached with, or null for none. */
  readonly wasm: PreloadedWasm | null;

  constructor(options: EngineOptions) {
    assert(Number.isInteger(options.maxConcurrentExecutions) && options.maxConcurrentExecutions >= 1, 'at least one slot');
    this.slots = options.maxConcurrentExecutions;
    this.pool = new IsolatePool({
      slots: this.slots, onCatastrophicError: (isolate, message) => this.onCatastrophicError(isolate, message),
      ...(options.liveHeapsMax === undefined ? {} : { liveHeapsMax: options.liveHeapsMax }),
      ...(options.liveHeapBytesMax === undefined ? {} : { liveHeapBytesMax: options.liveHeapBytesMax }),
    });
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.wasm = options.wasmModules === undefined || options.wasmModules.length === 0 ? null : new PreloadedWasm(options.wasmModules);
    this.onRetire = options.onRetire ?? null;
    this.stuckMax = options.stuckIsolatesMax ?? stuckIsolatesMax;
    this.capabilities = options.capabilities ?? null;
    this.modules = options.modules ?? new ModuleLoader({ allowExternal: false });
    assert(Number.isInteger(this.stuckMax) && this.stuckMax >= 1, 'a positive bound on stuck isolates');
    this.stuckRssMax = options.stuckRssBytesMax ?? stuckRssBytesMax;
    assert(this.stuckRssMax > 0, 'a positive RSS bound');
    this.scheduler = new Scheduler({ slots: this.slots, ...(options.inFlightMax === undefined ? {} : { inFlightMax: options.inFlightMax }) });
    // Also while any isolate is stuck: a thread V8 cannot stop that still spins stays lowered
    // after its run ended (with no long run, every thread would get its priority back).
    this.threadNice = new ThreadNice({ runsCpu: (longMs) => this.runsCpu(longMs), stuck: () => this.stuck.size > 0 }, this.logger ?? null, IdleGroup.open(this.logger ?? null));
    this.threadNice.start();
  }

  private readonly threadNice: ThreadNice;
  /** The isolate of each run executing now, with its CPU time (ns) when the run began (thread-nice.ts). */
  private readonly runCpuStart = new Map<ivm.Isolate, bigint>();
  /**
   * Runs that only await a timer now (their lane given back): not executing, so no reason for
   * the looks (a run of 8,000 timers held to its timeout cost 115 ms of event loop, 45 % of it
   * in looks every 10 ms while it only waited, bench/RESULTS.md). Taking its lane back wakes them.
   */
  private readonly runsAwaiting = new Set<ivm.Isolate>();

  /** The run's lane (scheduler.ts), with the looks told when it only awaits and when it runs again. */
  private laneOf(ticket: Ticket, isolate: ivm.Isolate): Pick<Ticket, 'idle' | 'busy'> {
    return {
      idle: () => {
        this.runsAwaiting.add(isolate);
        ticket.idle();
      },
      busy: async () => {
        await ticket.busy();
        if (this.runsAwaiting.delete(isolate)) this.threadNice.wake();
      },
    };
  }

  /** Runs executing now, the most CPU time (ms) one has used since it began, and how many have used `longMs` or more. */
  private runsCpu(longMs: number): RunsCpu {
    let mostMs = 0;
    let long = 0;
    let running = 0;
    for (const [isolate, startNs] of this.runCpuStart) {
      if (this.runsAwaiting.has(isolate)) continue;
      running++;
      const nowNs = cpuTimeNs(isolate);
      if (nowNs === null) continue; // disposed meanwhile
      const usedMs = Number(nowNs - startNs) / 1e6;
      mostMs = Math.max(mostMs, usedMs);
      if (usedMs >= longMs) long++;
    }
    return { running, mostMs, long };
  }

  private readonly stuckRssMax: number;

  private readonly onRetire: ((reason: string) => void) | null;
  readonly capabilities: PolicyCapabilities | null;
  private readonly stuckMax: number;
  private retiringReason: string | null = null;
  private rssCheck: NodeJS.Timeout | null = null;

  get live(): LiveHeaps {
    return this.pool.live;
  }

  get contextsInUse(): number {
    return this.pool.contextsInUse;
  }

  /** The priority looks made so far (thread-nice.ts; tests count them, never wall time). */
  get priorityLooks(): number {
    return this.threadNice.looks;
  }

  /** Warm isolates disposed after clean runs, by why (isolate-pool.ts, `release`): /metrics. */
  get isolatesRetired(): Readonly<Record<'heap' | 'contexts' | 'unanswered', number>> {
    return this.pool.isolatesRetired;
  }

  get retiring(): string | null {
    return this.retiringReason;
  }

  /** Counts a stuck isolate, and retires the node past the bound on them. */
  private markStuck(isolate: ivm.Isolate): void {
    this.stuck.add(isolate);
    this.threadNice.wake();
    this.checkStuckBound();
    if (this.rssCheck === null && this.retiringReason === null) {
      this.rssCheck = setInterval(() => this.checkStuckBound(), stuckRssCheckMs);
      this.rssCheck.unref();
    }
  }

  private checkStuckBound(): void {
    if (this.retiringReason !== null) return;
    if (this.stuck.size === 0) {
      if (this.rssCheck !== null) clearInterval(this.rssCheck);
      this.rssCheck = null;
      return;
    }
    const rssBytes = process.memoryUsage.rss();
    const reason = this.stuck.size >= this.stuckMax
      ? `${this.stuck.size} isolate threads V8 cannot stop (bound ${this.stuckMax})`
      : rssBytes > this.stuckRssMax ? `process RSS ${Math.round(rssBytes / 2 ** 20)} MiB with ${this.stuck.size} isolate threads V8 cannot stop (bound ${Math.round(this.stuckRssMax / 2 ** 20)} MiB)` : null;
    if (reason === null) return;
    this.retiringReason = reason;
    if (this.rssCheck !== null) clearInterval(this.rssCheck);
    this.rssCheck = null;
    this.logger?.error({ stuckIsolates: this.stuck.size, rssBytes, reason }, 'retiring: this node takes no more runs and exits once the runs under way end, for its supervisor to restart it');
    this.onRetire?.(reason);
  }

  /**
   * Warm isolates for the slots (`prewarmIsolatesPerSlot` each), contexts made (createEngine's
   * warmMemoryMb), at most `prewarmIsolatesMax`: 1,024 slots must not mean 1.5 GiB of isolates
   * before the first request.
   */
  prewarm(memoryMb: number): Promise<void> {
    return this.pool.prewarm(memoryMb, Math.min(prewarmIsolatesPerSlot * this.slots, prewarmIsolatesMax));
  }

  /** Runs waiting to start: for a source worker to make their code ready, or for a slot. */
  get queuedCount(): number {
    return this.preparing.size + this.queue.size;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Isolates whose thread is lost (busy or parked), until they answer (if ever). */
  private readonly stuck = new Set<ivm.Isolate>();

  get stuckIsolates(): number {
    return this.stuck.size;
  }

  private unmarkStuck(isolate: ivm.Isolate): void {
    if (!this.stuck.delete(isolate)) return;
    this.logger?.info({ stuckIsolates: this.stuck.size }, 'a stuck isolate answered at last: its thread is free again');
  }

  /**
   * V8 ran out of memory in an isolate in a way it cannot recover from: in a builtin's own loop
   * that never checks for termination (`fill` growing a dictionary for 1e9 elements after the
   * memory limit terminated it, until V8 cannot make the table larger). Without this handler V8
   * aborts the whole process; with it, isolated-vm parks the isolate's thread for good, holding
   * the memory it has (isolated-vm gives an isolate 1 GiB of headroom at a time to reach a
   * termination). The run in it ends now, out of memory; the thread is counted stuck.
   */
  private onCatastrophicError(isolate: ivm.Isolate, message: string): void {
    const run = [...this.active].find((candidate) => candidate.runsIn(isolate));
    // With a run, the engine counts the isolate once that run is abandoned (at once, below).
    if (run === undefined) this.markStuck(isolate);
    this.logger?.error({ v8: message, duringRun: run !== undefined }, 'V8 ran out of memory in an isolate beyond recovery; its thread is parked until the process exits, holding its memory');
    run?.parkedByV8();
  }

  /**
   * Queues the run (FIFO, never refused); its timeout starts when it leaves the queue. Its code is
   * made ready first (types stripped, rewrites), before it joins the queue: a run whose code a
   * source worker takes long over (a megabyte takes seconds) holds no slot meanwhile, and the
   * runs behind it in the queue do not wait for it.
   */
  run(request: RunRequest): Promise<RunOutcome> {
    const start = request.stateful;
    if (start !== undefined && 'replay' in start && start.checkpoint !== undefined) return this.fromCheckpoint(request, start.checkpoint);
    return this.queued(request);
  }

  /**
   * A run from a checkpoint: if the runs after it do not replay as recorded (the checkpoint was
   * not faithful), the whole history is replayed instead, never a wrong state.
   */
  private async fromCheckpoint(request: RunRequest, checkpoint: CheckpointStart): Promise<RunOutcome> {
    const outcome = await this.queued(request);
    if (outcome.checkpointDiverged === undefined) return outcome;
    let replay: ReplayStep[];
    try {
      replay = await checkpoint.fallback(outcome.checkpointDiverged);
    } catch (error) {
      return failed(`Could not resume heap ${checkpoint.heap}: ${(error as Error).message}`);
    }
    return this.queued({ ...request, stateful: { replay } });
  }

  /** The run, queued (see `run`). */
  private queued(request: RunRequest): Promise<RunOutcome> {
    assert(request.limits.executionTimeoutMs > 0 && request.limits.heapMemoryMaxMb > 0, 'positive limits');
    if (this.closed) return Promise.resolve(cancelledBeforeStart(this.pool.live, null));
    if (this.retiringReason !== null) return Promise.resolve(failed(ErrorTexts.retiring));
    const start = request.stateful;
    let resumed: Resumed | null = null;
    if (start !== undefined && 'resume' in start) {
      const live = this.pool.live.take(start.resume, isolateMemoryMb(request.limits.heapMemoryMaxMb));
      // Resumed meanwhile by another run, or evicted: this one replays the history instead.
      if (live === null) return this.replayInstead(request, start.resume, start.history);
      resumed = { heap: start.resume, live };
    }
    const code = this.sources.prepare(request.code, request.stateful !== undefined);
    return new Promise((resolve) => {
      const queued: QueuedRun = { request, resolve, onAbort: null, code: null, resumed, cancel: null };
      // Cancelling a run that still waits for its code or a slot answers at once, without a slot.
      queued.onAbort = () => {
        if (this.queue.delete(queued)) queued.cancel?.();
        else if (!this.preparing.delete(queued)) return;
        resolve(cancelledBeforeStart(this.pool.live, resumed));
      };
      request.signal.addEventListener('abort', queued.onAbort, { once: true });
      if (!(code instanceof Promise)) return this.enqueue(queued, { ok: true, value: code });
      this.preparing.add(queued);
      code.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })).then((settled) => {
        // Cancelled, or the engine closed, while the worker had it: already answered.
        if (this.preparing.delete(queued)) this.enqueue(queued, settled);
      });
    });
  }

  /** Runs `request` on a replay of `heap`'s history, which was to be resumed live. */
  private async replayInstead(request: RunRequest, heap: string, history: () => Promise<ReplayStep[] | ReplayStart>): Promise<RunOutcome> {
    let replay: ReplayStep[] | ReplayStart;
    try {
      replay = await history();
    } catch (error) {
      return failed(`Could not resume heap ${heap}: ${(error as Error).message}`);
    }
    // From the history's checkpoint, when it answers one.
    return this.run({ ...request, stateful: Array.isArray(replay) ? { replay } : replay });
  }

  private enqueue(queued: QueuedRun, code: Settled<PreparedSource>): void {
    // Code that does not parse fails at once, without a slot or a context: nothing would run. (A
    // stateful run goes through its slot: its live context, which the run holds, goes back then.)
    if (!code.ok && code.error instanceof SourceError && queued.request.stateful === undefined) {
      queued.request.signal.removeEventListener('abort', queued.onAbort!);
      return queued.resolve(failed(code.error.message));
    }
    queued.code = code;
    this.queue.add(queued);
    if (this.queue.size === queueWarnDepth) this.logger?.warn({ depth: this.queue.size }, 'execution queue is deep');
    queued.cancel = this.scheduler.admit(queued.request.client ?? anonymousClient, (ticket) => this.start(queued, ticket));
  }

  /** The scheduler gave the run a lane (scheduler.ts). */
  private start(queued: QueuedRun, ticket: Ticket): void {
    this.queue.delete(queued);
    queued.request.signal.removeEventListener('abort', queued.onAbort!);
    this.running++;
    this.runOne(queued.request, queued.code!, queued.resumed, ticket)
      .catch((error: unknown) => {
        // The engine turns every sandbox failure into an outcome; this is a fault of our own.
        this.logger?.error({ err: error }, 'execution engine fault');
        return failed(`Internal error: ${error instanceof Error ? error.message : String(error)}`);
      })
      .then(queued.resolve)
      .finally(() => {
        this.running--;
        assert(this.running >= 0, 'running count never negative');
        if (this.running === 0) {
          this.threadNice.idle();
          this.onIdle?.();
        }
        ticket.end();
      });
  }

  private async runOne(request: RunRequest, code: Settled<PreparedSource>, resumed: Resumed | null, ticket: Ticket): Promise<RunOutcome> {
    if (request.signal.aborted) return cancelledBeforeStart(this.pool.live, resumed);
    request.onStarted?.();
    const memoryMb = isolateMemoryMb(request.limits.heapMemoryMaxMb);
    const prepared = await this.contextFor(request, memoryMb, resumed);
    if (!('isolate' in prepared)) return prepared;
    try {
      return await this.runIn(prepared, request, code, memoryMb, ticket);
    } finally {
      // The engine frees the context on every path: given back already, unless a fault of ours
      // escaped on the way, and then its isolate goes (a stateful one is not replaced).
      this.pool.reclaim(prepared, memoryMb, request.stateful !== undefined);
    }
  }

  /** Runs the request in its context, then gives the context back, keeps it live or discards it. */
  private async runIn(prepared: PreparedContext, request: RunRequest, code: Settled<PreparedSource>, memoryMb: number, ticket: Ticket): Promise<RunOutcome> {
    this.routeConsole(prepared, request);
    const stateless = request.stateful === undefined;
    // A stateless run's isolate gets its heap reading and next context with the settle call
    // while other runs wait (they will want it soon), else after the reply (pool.release).
    const run = new Run({
      prepared, request, memoryMb, now: this.clock, sources: this.sources, code, lane: this.laneOf(ticket, prepared.isolate), capabilities: this.capabilities, modules: this.modules, wasm: this.wasm,
      onEffectError: (error) => this.logger?.error({ err: error }, 'a fetch/fs call of the sandbox failed in the host'),
      ...(stateless ? { onSettleSent: () => { if (this.queue.size > 0 || this.preparing.size > 0) this.pool.sendSuccessor(prepared); } } : {}),
    });
    const cpuStartNs = stateless ? null : cpuTimeNs(prepared.isolate);
    const { outcome, clean } = await this.execute(run, prepared, request);
    if (run.abandoned) this.noteAbandoned(run, prepared.isolate);
    if (!stateless) return this.keepStateful(run, prepared, memoryMb, outcome, clean, cpuStartNs);
    // An isolate whose run left async work pending would run that work's user code during the
    // next execution that uses it: it is discarded, as after a timeout. So is one whose run made
    // much outside the V8 heap (offHeapReuseBytesMax): disposing frees it now.
    const left = run.leftover;
    // So is one that compiled modules: they stay in its heap for as long as the host holds their
    // handles, and the next run on it would pay for them (docs/modules.md).
    if (clean && left.pendingWorkLeft === 0 && left.offHeapBytes <= offHeapReuseBytesMax && left.modules === null) this.pool.release(prepared, memoryMb, left.ranAfterSettle);
    else this.pool.discard(prepared, memoryMb);
    return outcome;
  }

  /** The context a run starts in: the live one it resumes, or a new one from the pool (or the failure to make one). */
  private async contextFor(request: RunRequest, memoryMb: number, resumed: Resumed | null): Promise<PreparedContext | RunOutcome> {
    const start = request.stateful;
    if (resumed !== null) return this.pool.resume(resumed.live, memoryMb);
    let prepared: PreparedContext;
    try {
      prepared = await this.pool.acquire(memoryMb);
    } catch (error) {
      this.logger?.error({ err: error }, 'could not prepare an isolate');
      return failed(`Internal error: could not prepare an isolate: ${(error as Error).message}`);
    }
    // A stateful context keeps its isolate after the run: the pool makes itself another.
    if (start !== undefined) this.pool.detach(memoryMb);
    return prepared;
  }

  /** Console batches of the context go to the request, counted on the host (ConsoleBudget). */
  private routeConsole(prepared: PreparedContext, request: RunRequest): void {
    const consoleBudget = new ConsoleBudget();
    prepared.route.sink = (batch) => {
      try {
        for (const line of consoleBudget.take(batch)) request.onConsoleLine(line);
      } catch (error) {
        // A failing sink is the caller's fault; it must not reach isolated-vm's callback thread.
        this.logger?.error({ err: error }, 'console line sink threw');
      }
    };
  }

  /** Runs it to its outcome, cancellable; `clean`: the context is fit for another run (stateful: to be kept). */
  private async execute(run: Run, prepared: PreparedContext, request: RunRequest): Promise<{ outcome: RunOutcome; clean: boolean }> {
    this.active.add(run);
    try {
      this.runCpuStart.set(prepared.isolate, prepared.isolate.cpuTime);
      this.threadNice.wake();
    } catch {
      // Disposed already: the run fails at once.
    }
    const onAbort = () => run.stop('cancelled');
    request.signal.addEventListener('abort', onAbort, { once: true });
    // Aborted or closed while the isolate was being prepared: too late to have heard it.
    if (request.signal.aborted || this.closed) run.stop('cancelled');
    try {
      const outcome = await run.executeBounded();
      return { outcome, clean: run.stopped === null && !prepared.isolate.isDisposed };
    } catch (error) {
      if (error instanceof CheckpointDiverged) return { outcome: { ...failed(error.message), checkpointDiverged: error.message }, clean: false };
      if (error instanceof ReplayFailed) return { outcome: failed(error.message), clean: false };
      if (error instanceof IsolateUnresponsive) {
        // Our prelude did not answer (attachContext disposed the isolate): an internal fault.
        this.logger?.error({ err: error }, 'an isolate did not answer');
        return { outcome: failed(`Internal error: ${error.message}`), clean: false };
      }
      const outcome = error instanceof SourceError ? failed(error.message) : outcomeOfError(error, run.stopped, prepared.isolate, run.limits);
      return { outcome, clean: error instanceof SourceError || (outcome.status === 'failed' && !prepared.isolate.isDisposed && run.stopped === null) };
    } finally {
      // A stopped run's batches still queued on the host (console-queue.ts) go no further: its output says so.
      const dropped = prepared.route.dropQueued?.() ?? 0;
      if (dropped > 0) prepared.route.sink?.(droppedBatchesLine(dropped));
      run.clearDeadline();
      request.signal.removeEventListener('abort', onAbort);
      this.active.delete(run);
      this.runCpuStart.delete(prepared.isolate);
      this.runsAwaiting.delete(prepared.isolate);
    }
  }

  /** A stopped run whose isolate never answered: its thread is counted stuck until it does. */
  private noteAbandoned(run: Run, isolate: ivm.Isolate): void {
    this.markStuck(isolate);
    // A builtin's loop that outlived the stop may still end (a string operation over a rope
    // allocating its way through): its thread is free again then.
    void run.answered.then(() => this.unmarkStuck(isolate));
    // Out of memory, the isolate's thread is parked, and onCatastrophicError said so already.
    if (!run.parked) {
      this.logger?.error({ stuckIsolates: this.stuck.size }, 'a stopped run\'s isolate did not answer; the run ended without it, and its thread stays busy until the process exits');
    }
  }

  /**
   * Stateful: a run that ended cleanly leaves its context alive for the next run; the source it
   * ran goes with the outcome, for the record a replay runs again.
   */
  private async keepStateful(run: Run, prepared: PreparedContext, memoryMb: number, outcome: RunOutcome, clean: boolean, cpuStartNs: bigint | null): Promise<RunOutcome> {
    if (!clean) {
      this.pool.dropDetached(prepared);
      return outcome;
    }
    const left = run.leftover;
    // What the run cost its isolate: the service keeps a fresh heap live only when a replay would cost more than 100 ms (heaps.ts, `keptLive`).
    const cpuEndNs = cpuTimeNs(prepared.isolate);
    const cpuMs = cpuStartNs === null || cpuEndNs === null ? {} : { cpuMs: Number(cpuEndNs - cpuStartNs) / 1e6 };
    const ended = { ...outcome, source: left.source, timersLeft: left.timersLeft, pendingWorkLeft: left.pendingWorkLeft, modules: left.modules, ...cpuMs };
    // Async work still pending when the run ended would complete in this context later, before
    // anything the next run asks, so the context is not kept: a resume replays the history,
    // where that work never reaches user code. The heap itself is saved as for any run.
    const heapBytes = left.pendingWorkLeft > 0 ? null : await residentBytesOf(prepared.isolate);
    if (heapBytes === null) {
      this.pool.dropDetached(prepared);
      return { ...ended, kept: null };
    }
    // The live-heap cache bounds its memory by these bytes: what V8 keeps outside the heap counts.
    return { ...ended, kept: this.pool.keepLive(prepared, memoryMb, heapBytes + left.offHeapBytes) };
  }

  /** Cancels what is queued and what runs (each answers `cancelled`), then disposes every isolate. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.rssCheck !== null) clearInterval(this.rssCheck);
    this.rssCheck = null;
    this.scheduler.close();
    this.scheduler.drain();
    const niceStopped = this.threadNice.stop();
    const waiting = [...this.queue];
    this.queue.clear();
    for (const queued of [...this.preparing, ...waiting]) {
      queued.request.signal.removeEventListener('abort', queued.onAbort!);
      queued.resolve(cancelledBeforeStart(this.pool.live, queued.resumed));
    }
    this.preparing.clear();
    for (const run of this.active) run.stop('cancelled');
    while (this.running > 0) await new Promise<void>((resolve) => { this.onIdle = resolve; });
    await this.pool.close();
    // Isolates on their way back or being created are disposed when they arrive: wait for them,
    // since a process that exits while an isolate's thread still runs can crash on the way out.
    await this.wasm?.close();
    await this.pool.whenReplenished();
    await this.sources.close();
    await niceStopped;
    await isolateThreadsSettled();
  }
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const engine = new IsolateEngine(options);
  try {
    // Pre-loaded modules: names checked against the sandbox's globals, compiled for the default limit.
    engine.wasm?.checkAgainstGlobals(await sandboxGlobalNames());
    if (engine.wasm !== null && options.warmMemoryMb !== undefined) await engine.wasm.prepare(isolateMemoryMb(options.warmMemoryMb));
    // Start the source worker (it loads swc) before the first request pays for it.
    await engine.sources.warm();
    if (options.warmMemoryMb !== undefined) await engine.prewarm(isolateMemoryMb(options.warmMemoryMb));
  } catch (error) {
    await engine.close();
    throw error;
  }
  return engine;
}
