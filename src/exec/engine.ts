// The execution engine: a FIFO of runs, at most N at once, each in its own fresh context on a
// warm isolate, driven by a host-side event loop (see docs/exec.md):
//   compile → run the script (completion value by reference) → settle it in the sandbox →
//   while a timer is pending, sleep until it is due and fire it (one callback per turn) →
//   finished when the completion value has settled and no ref'd timer is left.
// The wall-clock deadline covers all of it; every call into the isolate also carries the time
// left, so a synchronous loop, a microtask loop or a loop inside a timer ends on time.
import ivm from 'isolated-vm';
import { assert } from '../errors.ts';
import { IsolatePool, isolateMemoryMbMin, type ControlName, type PreparedContext } from './isolate-pool.ts';
import { wrapTopLevelAwait } from './top-level-await.ts';
import { SourceError, stripTypes } from './typescript.ts';
import { ErrorTexts, type DeterminismRecord, type Engine, type RunOutcome, type RunRequest } from './types.ts';

/** Runs waiting for a slot; past this, submissions still queue (never rejected) but we log. */
export const queueWarnDepth = 10_000;
/** How often the host looks again while V8 finishes work the sandbox awaits (a wasm compile). */
export const pendingWorkPollMs = 2;
/** An error text longer than this is cut (the sandbox cuts results at 8 Mi characters). */
export const errorCharsMax = 64 * 1024;

interface SandboxState {
  settled: boolean;
  outcome: { ok: true; value: string } | { ok: false; error: string } | null;
  fatal: string | null;
  batchesSent: number;
  refTimers: number;
  timers: number;
  nextDueInMs: number | null;
  /** Async work V8 finishes outside microtasks (WebAssembly.compile/instantiate) still pending. */
  pendingWork: number;
  /** True when the call ran no user code, so no microtask can change this state. */
  final: boolean;
  /** Sent once, with the state that ends the run. */
  record: DeterminismRecord | null;
}

type StopReason = 'timeout' | 'cancelled';

class RunStopped extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(reason);
    this.reason = reason;
  }
}

/** What isolated-vm throws when a call runs past its timeout or the isolate past its memory limit. */
const ivmMessages = {
  timeout: 'Script execution timed out.',
  outOfMemory: 'Isolate was disposed during execution due to memory limit',
} as const;
const awaitRequired = /await is only valid|Cannot use import statement|Unexpected reserved word/;
/** Code without the word `await` cannot use top-level await, so it needs no fallback compile. */
const mayAwait = /\bawait\b/;
const scriptFilename = 'main.js';

/** The text of an error thrown at the top level: its stack inside the sandbox, host frames cut. */
function describeThrown(error: Error): string {
  const stack = error.stack ?? `${error.name}: ${error.message}`;
  const text = stack.split('\n').filter((line) => !line.includes('<isolated-vm boundary>') && !line.includes('mcp-v8:prelude') && !/\(node:|\(file:|node_modules/.test(line)).join('\n');
  return text.length <= errorCharsMax ? text : `${text.slice(0, errorCharsMax)}… [truncated: ${text.length - errorCharsMax} more characters]`;
}

function failed(error: string, record: DeterminismRecord | null = null): RunOutcome {
  return { status: 'failed', result: null, error, record };
}

/** Maps what isolated-vm throws to the outcome the user sees. */
function outcomeOfError(error: unknown, stoppedBy: StopReason | null, isolate: ivm.Isolate): RunOutcome {
  const stopReason = error instanceof RunStopped ? error.reason : stoppedBy;
  if (stopReason === 'cancelled') return { status: 'cancelled', result: null, error: ErrorTexts.cancelled };
  const message = error instanceof Error ? error.message : String(error);
  if (message === ivmMessages.outOfMemory || (isolate.isDisposed && stopReason === null)) return failed(ErrorTexts.outOfMemory);
  if (stopReason === 'timeout' || message === ivmMessages.timeout) return { status: 'timed_out', result: null, error: ErrorTexts.timeout };
  return failed(error instanceof Error ? describeThrown(error) : message);
}

class Run {
  private stopReason: StopReason | null = null;
  private wake: (() => void) | null = null;
  private readonly deadlineMs: number;
  private readonly prepared: PreparedContext;
  private readonly request: RunRequest;

  constructor(prepared: PreparedContext, request: RunRequest) {
    this.prepared = prepared;
    this.request = request;
    this.deadlineMs = Date.now() + request.limits.executionTimeoutMs;
  }

  get stopped(): StopReason | null {
    return this.stopReason;
  }

  /** Ends the run from outside: the isolate is disposed, so any call into it returns at once. */
  stop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    if (!this.prepared.isolate.isDisposed) this.prepared.isolate.dispose();
    this.wake?.();
  }

  private remainingMs(): number {
    const remaining = this.deadlineMs - Date.now();
    if (remaining <= 0) {
      // The host deadline timer may not have fired yet; the run is over either way.
      this.stop('timeout');
      throw new RunStopped('timeout');
    }
    return remaining;
  }

  private async call<Result = SandboxState>(method: ControlName, args: ivm.Transferable[] = []): Promise<Result> {
    assert(args.length <= 1, 'control methods take at most one argument');
    const result = await this.prepared.control.apply(undefined, [method, ...args] as never, { timeout: this.remainingMs(), result: { copy: true } });
    return result as Result;
  }

  /**
   * One turn of the sandbox's event loop: the call, then (after the microtask checkpoint that
   * ends it) the state, which is only then final: a microtask may settle the run or add a timer.
   */
  private async turn(method: ControlName, args: ivm.Transferable[] = []): Promise<SandboxState> {
    const state = await this.call(method, args);
    // A call that ran no user code could not queue a microtask: its state is already final.
    return state.final ? state : this.call('state');
  }

  private async compile(code: string): Promise<ivm.Script> {
    const { isolate } = this.prepared;
    try {
      return await isolate.compileScript(code, { filename: scriptFilename });
    } catch (error) {
      if (!(error instanceof Error) || !awaitRequired.test(error.message)) throw error;
      return isolate.compileScript(wrapTopLevelAwait(code), { filename: scriptFilename });
    }
  }

  /**
   * Runs the code as a classic script and keeps its completion value in the isolate. Code that
   * cannot contain top-level await is compiled and run in one call (one thread hop fewer).
   */
  private async evaluate(code: string): Promise<ivm.Reference<unknown>> {
    if (!mayAwait.test(code)) {
      return this.prepared.context.eval(code, { filename: scriptFilename, timeout: this.remainingMs(), reference: true }) as Promise<ivm.Reference<unknown>>;
    }
    const script = await this.compile(code);
    try {
      return await script.run(this.prepared.context, { timeout: this.remainingMs(), reference: true });
    } finally {
      script.release();
    }
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      // A stop that came between the last turn and this sleep has nobody to wake: do not wait.
      if (this.stopReason !== null) return resolve();
      const timer = setTimeout(() => { this.wake = null; resolve(); }, Math.min(delayMs, this.deadlineMs - Date.now()));
      this.wake = () => { clearTimeout(timer); this.wake = null; resolve(); };
    });
  }

  async execute(): Promise<RunOutcome> {
    const code = stripTypes(this.request.code);
    const seed = this.request.environment?.seed;
    if (seed !== undefined) {
      assert(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, 'a seed is a 32-bit unsigned integer');
      await this.call('reseed', [seed]);
    }
    let completion: ivm.Reference<unknown>;
    try {
      completion = await this.evaluate(code);
    } catch (error) {
      if (this.stopReason !== null || this.prepared.isolate.isDisposed || !(error instanceof Error) || error.message === ivmMessages.timeout) throw error;
      // A throw from the top level of the code: the run fails with the sandbox's own stack,
      // after the lines it printed before throwing.
      await this.drainOutput(await this.call('state'));
      return failed(describeThrown(error), await this.call<DeterminismRecord>('record'));
    }
    const outcome = await this.loop(await this.turn('settle', [completion.derefInto()]));
    completion.release();
    return outcome;
  }

  /** Waits until every console batch the sandbox sent has reached the host. */
  private async drainOutput(state: SandboxState): Promise<void> {
    const { route } = this.prepared;
    while (route.batchesReceived < state.batchesSent) {
      // A stop (timeout, cancel) disposes the isolate: batches still in flight may never come.
      await new Promise<void>((resolve) => {
        route.onBatch = resolve;
        this.wake = resolve;
      });
      route.onBatch = null;
      this.wake = null;
      if (this.stopReason !== null) throw new RunStopped(this.stopReason);
    }
  }

  private async loop(initial: SandboxState): Promise<RunOutcome> {
    let state = initial;
    for (;;) {
      await this.drainOutput(state);
      if (state.fatal !== null) return failed(state.fatal, state.record);
      if (state.settled && state.refTimers === 0) break;
      if (state.nextDueInMs === null && state.pendingWork === 0) {
        if (!state.settled) return failed('Error: the code awaits a promise that nothing can settle (no timer or pending work is left)', state.record);
        break;
      }
      // While V8 finishes work of its own (an async WebAssembly compile), poll for it.
      const waitMs = state.pendingWork > 0 ? Math.min(state.nextDueInMs ?? pendingWorkPollMs, pendingWorkPollMs) : state.nextDueInMs!;
      if (waitMs > 0) await this.sleep(waitMs);
      if (this.stopReason !== null) throw new RunStopped(this.stopReason);
      state = await this.turn('fire');
    }
    const outcome = state.outcome;
    assert(outcome !== null, 'a settled run has an outcome');
    return outcome.ok ? { status: 'completed', result: outcome.value, error: null, record: state.record } : failed(outcome.error, state.record);
  }
}

interface QueuedRun {
  request: RunRequest;
  resolve: (outcome: RunOutcome) => void;
  onAbort: (() => void) | null;
}

/** The logger the engine needs: pino's, or anything with the same methods. */
export interface EngineLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

export interface EngineOptions {
  /** Runs at once; more wait in a FIFO queue (never refused). */
  maxConcurrentExecutions: number;
  logger?: EngineLogger;
}

class IsolateEngine implements Engine {
  private readonly pool: IsolatePool;
  private readonly active = new Set<Run>();
  private closed = false;
  private onIdle: (() => void) | null = null;
  private readonly queue: QueuedRun[] = [];
  private running = 0;
  private readonly slots: number;
  private readonly logger: EngineLogger | undefined;

  constructor(options: EngineOptions) {
    assert(Number.isInteger(options.maxConcurrentExecutions) && options.maxConcurrentExecutions >= 1, 'at least one slot');
    this.slots = options.maxConcurrentExecutions;
    this.pool = new IsolatePool({ slots: this.slots });
    this.logger = options.logger;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Queues the run (FIFO, never refused); its timeout starts when it leaves the queue. */
  run(request: RunRequest): Promise<RunOutcome> {
    assert(request.limits.executionTimeoutMs > 0 && request.limits.heapMemoryMaxMb > 0, 'positive limits');
    if (this.closed) return Promise.resolve({ status: 'cancelled', result: null, error: ErrorTexts.cancelled, record: null });
    return new Promise((resolve) => {
      const queued: QueuedRun = { request, resolve, onAbort: null };
      // Cancelling a run that still waits for a slot answers at once, without using a slot.
      queued.onAbort = () => {
        const index = this.queue.indexOf(queued);
        if (index === -1) return;
        this.queue.splice(index, 1);
        resolve({ status: 'cancelled', result: null, error: ErrorTexts.cancelled, record: null });
      };
      request.signal.addEventListener('abort', queued.onAbort, { once: true });
      this.queue.push(queued);
      if (this.queue.length === queueWarnDepth) this.logger?.warn({ depth: this.queue.length }, 'execution queue is deep');
      this.startQueued();
    });
  }

  private startQueued(): void {
    while (this.running < this.slots && this.queue.length > 0) {
      const next = this.queue.shift()!;
      next.request.signal.removeEventListener('abort', next.onAbort!);
      this.running++;
      this.runOne(next.request)
        .catch((error: unknown) => {
          // The engine turns every sandbox failure into an outcome; this is a fault of our own.
          this.logger?.error({ err: error }, 'execution engine fault');
          return failed(`Internal error: ${error instanceof Error ? error.message : String(error)}`);
        })
        .then(next.resolve)
        .finally(() => {
          this.running--;
          assert(this.running >= 0, 'running count never negative');
          if (this.running === 0) this.onIdle?.();
          this.startQueued();
        });
    }
  }

  private async runOne(request: RunRequest): Promise<RunOutcome> {
    if (request.signal.aborted) return { status: 'cancelled', result: null, error: ErrorTexts.cancelled };
    const memoryMb = Math.max(isolateMemoryMbMin, Math.ceil(request.limits.heapMemoryMaxMb));
    let prepared: PreparedContext;
    try {
      prepared = await this.pool.acquire(memoryMb);
    } catch (error) {
      this.logger?.error({ err: error }, 'could not prepare an isolate');
      return failed(`Internal error: could not prepare an isolate: ${(error as Error).message}`);
    }
    prepared.route.sink = (lines) => {
      try {
        for (const line of lines) request.onConsoleLine(line);
      } catch (error) {
        // A failing sink is the caller's fault; it must not reach isolated-vm's callback thread.
        this.logger?.error({ err: error }, 'console line sink threw');
      }
    };
    const run = new Run(prepared, request);
    this.active.add(run);
    const onAbort = () => run.stop('cancelled');
    request.signal.addEventListener('abort', onAbort, { once: true });
    // Aborted or closed while the isolate was being prepared: too late to have heard it.
    if (request.signal.aborted || this.closed) run.stop('cancelled');
    const deadline = setTimeout(() => run.stop('timeout'), request.limits.executionTimeoutMs);
    let outcome: RunOutcome;
    let clean = false;
    try {
      outcome = await run.execute();
      clean = run.stopped === null && !prepared.isolate.isDisposed;
    } catch (error) {
      outcome = error instanceof SourceError ? failed(error.message) : outcomeOfError(error, run.stopped, prepared.isolate);
      clean = error instanceof SourceError || (outcome.status === 'failed' && !prepared.isolate.isDisposed && run.stopped === null && !(error instanceof Error && error.message === ivmMessages.timeout));
    } finally {
      clearTimeout(deadline);
      request.signal.removeEventListener('abort', onAbort);
      this.active.delete(run);
    }
    if (clean) this.pool.release(prepared, memoryMb);
    else this.pool.discard(prepared, memoryMb);
    return outcome;
  }

  /** Cancels what is queued and what runs (each answers `cancelled`), then disposes every isolate. */
  async close(): Promise<void> {
    this.closed = true;
    for (const queued of this.queue.splice(0)) {
      queued.request.signal.removeEventListener('abort', queued.onAbort!);
      queued.resolve({ status: 'cancelled', result: null, error: ErrorTexts.cancelled, record: null });
    }
    for (const run of this.active) run.stop('cancelled');
    while (this.running > 0) await new Promise<void>((resolve) => { this.onIdle = resolve; });
    this.pool.close();
  }
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const engine = new IsolateEngine(options);
  // Load swc and compile the prelude once before the first request pays for it.
  stripTypes('0');
  return engine;
}
