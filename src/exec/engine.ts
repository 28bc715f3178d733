// The execution engine: a FIFO of runs, at most N at once, each in its own fresh context on a
// warm isolate, driven by a host-side event loop (see docs/exec.md):
//   compile → run the script (completion value by reference) → settle it in the sandbox →
//   while a timer is pending, sleep until it is due and fire it (one callback per turn) →
//   finished when the completion value has settled and no ref'd timer is left.
// The wall-clock deadline covers all of it: when it passes, the host disposes the isolate, which
// ends a synchronous loop, a microtask loop or a loop inside a timer wherever it runs.
import { randomInt } from 'node:crypto';
import ivm from 'isolated-vm';
import { assert } from '../errors.ts';
import { IsolatePool, IsolateUnresponsive, attachContext, heapBytesOf, isolateMemoryMb, seedLimit, type ControlFunction, type ControlName, type PreparedContext } from './isolate-pool.ts';
import { type PreparedSource, SourcePrep } from './source-prep.ts';
import { mayAwait, originOf } from './top-level-await.ts';
import { SourceError } from './typescript.ts';
import { ErrorTexts, type DeterminismRecord, type Engine, type LiveHeap, type ReplayStep, type RunOutcome, type RunRequest } from './types.ts';

/** Runs waiting for a slot; past this, submissions still queue (never rejected) but we log. */
export const queueWarnDepth = 10_000;
/** How often the host looks again while V8 finishes work the sandbox awaits (a wasm compile). */
export const pendingWorkPollMs = 2;
/** An error text longer than this is cut (the sandbox cuts results at 8 Mi characters). */
export const errorCharsMax = 64 * 1024;
/** The prelude's truncation marker (`… [truncated: N more characters]`) is shorter than this. */
const sandboxMarkerCharsMax = 64;
/** A result longer than this is cut, by the sandbox and again by the host. */
export const resultCharsMax = 8 * 1024 * 1024;

/**
 * A result or error text from the sandbox, checked: the prelude formats them with builtins user
 * code can replace, so what arrives may be no string, or longer than the prelude's own bound.
 */
export function sandboxText(value: unknown, charsMax: number): string {
  if (typeof value !== 'string') return '[the sandbox returned a value that is not text]';
  // The prelude's own cut adds its marker past charsMax: room for it, so that it stays.
  const allowed = charsMax + sandboxMarkerCharsMax;
  return value.length <= allowed ? value : `${value.slice(0, charsMax)}… [truncated: ${value.length - charsMax} more characters]`;
}

interface SandboxState {
  settled: boolean;
  outcome: { ok: true; value: string; type?: unknown } | { ok: false; error: string } | null;
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
  /** Replay: whether the last 'deliver' found its work finished. */
  delivered: boolean;
  /** Replay: how the run's use of the clock differed from the record, or null. */
  replayIssue: string | null;
  /**
   * Bytes the context reserved outside the V8 heap (WebAssembly memories, resizable buffers) and
   * the ballast its Intl objects carried, none of which the heap statistics see (sandbox/prelude/off-heap.js).
   */
  offHeapBytes: number;
}

/**
 * A stateless isolate whose run made more than this outside the V8 heap is disposed rather than
 * reused: V8 frees that memory only when it collects, which nothing about it prompts (an isolate
 * reused by runs that each kept Intl objects grew the host by ≈ 20 MiB a run).
 */
export const offHeapReuseBytesMax = 64 * 1024;

/** The longest a replay of a whole history may take (each run's own timeout counts, up to this). */
export const replayTimeoutMsMax = 300_000;

/** Console output one execution may print, in UTF-8 bytes (one more per line), and in lines. */
export const consoleBytesMax = 32 * 1024 * 1024;
export const consoleLinesMax = 100_000;
/** The last line of an execution whose console output reached a bound (the sandbox writes the same). */
export const consoleTruncatedLine = `[output truncated: this execution reached the console limit of ${consoleLinesMax} lines or 32 MiB]`;
const consoleRefusedLine = '[output truncated: the sandbox sent console output that is not text]';

/**
 * The host's own count of one execution's console output. The sandbox bounds it too, but its
 * code runs beside user code, so nothing it sends is trusted: a batch that is not a string ends
 * the output, and the bounds are counted again here, in exact UTF-8 bytes.
 */
export class ConsoleBudget {
  private bytes = 0;
  private lines = 0;
  private ended = false;

  /** The lines of one batch that may be stored, the truncation line last if a bound is reached. */
  take(batch: unknown): string[] {
    if (this.ended) return [];
    if (typeof batch !== 'string') {
      this.ended = true;
      return [consoleRefusedLine];
    }
    const lines = batch.split('\n');
    const batchBytes = Buffer.byteLength(batch, 'utf8') + 1;
    if (this.bytes + batchBytes <= consoleBytesMax && this.lines + lines.length <= consoleLinesMax) {
      this.bytes += batchBytes;
      this.lines += lines.length;
      return lines;
    }
    const kept: string[] = [];
    for (const line of lines) {
      const lineBytes = Buffer.byteLength(line, 'utf8') + 1;
      if (line === consoleTruncatedLine || this.bytes + lineBytes > consoleBytesMax || this.lines + 1 > consoleLinesMax) {
        this.ended = true;
        kept.push(consoleTruncatedLine);
        break;
      }
      this.bytes += lineBytes;
      this.lines++;
      kept.push(line);
    }
    return kept;
  }
}

/** A plain object handed to the sandbox by copy. */
function copied(value: object): ivm.Transferable {
  return new ivm.ExternalCopy(value).copyInto({ release: true });
}

/** A replay that cannot rebuild the heap: the run fails with this text, the context is discarded. */
class ReplayFailed extends Error {}

/** A context kept alive for the next run of the same heap (stateful mode). */
class LiveContext implements LiveHeap {
  readonly prepared: PreparedContext;
  readonly memoryMb: number;
  readonly heapBytes: number;
  private consumed = false;
  /** Gives the isolate back to the pool (the context is released, never reused). */
  private readonly retire: (prepared: PreparedContext) => void;

  constructor(prepared: PreparedContext, memoryMb: number, heapBytes: number, retire: (prepared: PreparedContext) => void) {
    this.prepared = prepared;
    this.memoryMb = memoryMb;
    this.heapBytes = heapBytes;
    this.retire = retire;
  }

  get disposed(): boolean {
    return this.consumed || this.prepared.isolate.isDisposed;
  }

  /** Taken by a run: from now on the run owns the context. */
  consume(): PreparedContext {
    assert(!this.disposed, 'a live heap is resumed once, while alive');
    this.consumed = true;
    return this.prepared;
  }

  /**
   * The state is no longer wanted: its context is released and the isolate goes back to the pool
   * for other runs (new contexts, as for stateless runs), so that a stream of fresh stateful runs
   * does not create and dispose an isolate each.
   */
  dispose(): void {
    if (this.consumed) return;
    this.consumed = true;
    this.prepared.route.sink = null;
    if (!this.prepared.isolate.isDisposed) this.retire(this.prepared);
  }
}

/** Why a run was ended from outside: its deadline, a cancel, or V8 out of memory in its isolate (`onCatastrophicError`). */
type StopReason = 'timeout' | 'cancelled' | 'out-of-memory';

class RunStopped extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(reason);
    this.reason = reason;
  }
}

/** What isolated-vm throws when the isolate passes its memory limit. */
const ivmOutOfMemory = 'Isolate was disposed during execution due to memory limit';
const awaitRequired = /await is only valid|Cannot use import statement|Unexpected reserved word/;
const scriptFilename = 'main.js';

/** What isolated-vm reports for a thrown object that is not an Error (the value itself is lost). */
const notAnErrorMessage = 'An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`.';
const notAnErrorText = 'Uncaught: the code threw an object that is not an Error (throw new Error(...) to get its message and stack)';

/**
 * A frame of the host's own stack, which isolated-vm appends to errors it carries out: named
 * (`at f (file:///…)`) or anonymous (`at file:///…`, `at node:internal/…`).
 */
const hostFrame = /\((node|file):|^\s*at (node|file):|node_modules/;

/** The text of an error thrown at the top level: its stack inside the sandbox, host frames cut. */
export function describeThrown(error: Error): string {
  if (error.message === notAnErrorMessage) return notAnErrorText;
  const stack = error.stack ?? `${error.name}: ${error.message}`;
  const text = stack.split('\n').filter((line) => !line.includes('<isolated-vm boundary>') && !line.includes('mcp-v8:prelude') && !hostFrame.test(line)).join('\n');
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
  if (message === ivmOutOfMemory || stopReason === 'out-of-memory' || (isolate.isDisposed && stopReason === null)) return failed(ErrorTexts.outOfMemory);
  if (stopReason === 'timeout') return { status: 'timed_out', result: null, error: ErrorTexts.timeout };
  return failed(error instanceof Error ? describeThrown(error) : message);
}

class Run {
  private stopReason: StopReason | null = null;
  private wake: (() => void) | null = null;
  private deadlineMs = 0;
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** Set by `stop`: gives up on the isolate's answer (`executeBounded`). */
  private abandonTimer: NodeJS.Timeout | null = null;
  private abandon: (() => void) | null = null;
  /** The run was stopped and its isolate never answered: its thread is lost (see `executeBounded`). */
  abandoned = false;
  /** Settles when the isolate has answered the calls of `execute`, abandoned or not (a thread parked after V8 ran out of memory never does). */
  answered: Promise<void> = Promise.resolve();
  private readonly prepared: PreparedContext;
  private readonly request: RunRequest;
  private readonly memoryMb: number;
  /** The source that ran, after type stripping and the rewrites: what a replay runs again. */
  source: string | null = null;
  /** Timers (unref'd ones: a ref'd timer keeps the run going) still pending when the run ended. */
  timersLeft = 0;
  /**
   * Async work (a WebAssembly compile) still pending at the end: its completion would reach this
   * context later, outside the run, so the isolate must not serve anybody else afterwards.
   */
  pendingWorkLeft = 0;
  /** What the context holds outside the V8 heap at the end (SandboxState.offHeapBytes). */
  offHeapBytes = 0;
  /** Called right after the settle call is sent: what the host sends then shares its thread wake. */
  onSettleSent: (() => void) | null = null;
  /** User code ran after the settle call (timers, async work). */
  ranAfterSettle = false;

  /** The wall clock the deadline is read from (EngineOptions.clock). */
  private readonly now: () => number;
  private readonly sources: SourcePrep;
  /** The code made ready before the run took its slot, or why it could not be. */
  private readonly code: Settled<PreparedSource>;

  constructor(prepared: PreparedContext, request: RunRequest, memoryMb: number, now: () => number, sources: SourcePrep, code: Settled<PreparedSource>) {
    this.prepared = prepared;
    this.request = request;
    this.memoryMb = memoryMb;
    this.now = now;
    this.sources = sources;
    this.code = code;
  }

  /** (Re)starts the wall-clock limit: the replay of a history has its own, then the run its. */
  startDeadline(timeoutMs: number): void {
    this.clearDeadline();
    this.deadlineMs = this.now() + timeoutMs;
    this.deadlineTimer = setTimeout(() => this.stop('timeout'), timeoutMs);
  }

  clearDeadline(): void {
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    if (this.abandonTimer !== null) clearTimeout(this.abandonTimer);
    this.abandonTimer = null;
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
    this.abandonTimer = setTimeout(() => this.abandon?.(), stoppedAnswerMsMax);
  }

  /** Whether V8 ran out of memory in this run's isolate beyond recovery (its thread is parked for good). */
  parked = false;

  /**
   * V8 ran out of memory in this run's isolate beyond recovery: its thread never answers. The
   * run ends now, out of memory, or with the reason it was stopped for already (its deadline may
   * have passed while V8 went on allocating).
   */
  parkedByV8(): void {
    this.parked = true;
    this.stop('out-of-memory');
    // Its thread never answers: no waiting `stoppedAnswerMsMax` for it.
    if (this.abandonTimer !== null) clearTimeout(this.abandonTimer);
    this.abandonTimer = setTimeout(() => this.abandon?.(), 0);
  }

  /** Whether this run's code runs in `isolate`. */
  runsIn(isolate: ivm.Isolate): boolean {
    return this.prepared.isolate === isolate;
  }

  /**
   * `execute`, bounded: once the run is stopped, its isolate has `stoppedAnswerMsMax` to answer
   * the call under way, after which the run ends without it (with its stop reason) and its slot
   * is free again. Disposing an isolate terminates the JavaScript it runs once; isolated-vm's
   * own code can call into it again afterwards (reading the properties of a thrown value or of
   * an unhandled rejection's reason, where a getter or proxy trap can loop), and nothing then
   * terminates that. The isolate is gone either way; its thread stays busy until the process ends.
   */
  executeBounded(): Promise<RunOutcome> {
    const executing = this.execute();
    this.answered = executing.then(() => {}, () => {});
    return new Promise((resolve, reject) => {
      // Settling after the give-up changes nothing (a promise settles once) and is handled here.
      executing.then(resolve, reject);
      this.abandon = () => {
        this.abandoned = true;
        reject(new RunStopped(this.stopReason ?? 'timeout'));
      };
    });
  }

  /**
   * Throws once the deadline has passed (the host deadline timer may not have fired yet; the run
   * is over either way). Calls into the isolate carry no timeout of their own: the deadline
   * timer disposes the isolate, which ends whatever runs in it (a loop in sync code, in a
   * microtask, in a timer) as surely, and an isolated-vm timeout costs a timer on its timer
   * thread per call, which wakes for each one when it comes due, finished or not (≈ 800
   * wakes/s at 1000 runs/s, bench/RESULTS.md).
   */
  private checkDeadline(): void {
    if (this.deadlineMs - this.now() > 0) return;
    this.stop('timeout');
    throw new RunStopped('timeout');
  }

  private async call<Result = SandboxState>(method: ControlName, args: ivm.Transferable[] = []): Promise<Result> {
    assert(args.length <= 1, 'control methods take at most one argument');
    assert(this.prepared.control !== null, 'the context is attached before the host drives it');
    this.checkDeadline();
    const result = await this.prepared.control.apply(undefined, [method, ...args] as never, { result: { copy: true } });
    return result as Result;
  }

  /**
   * One turn of the sandbox's event loop: the call, then (after the microtask checkpoint that
   * ends it) the state, which is only then final: a microtask may settle the run or add a timer.
   * A call that ran no user code could not queue a microtask: its state is already final. When
   * user code may run (`userCode`), the state call goes out right behind it, in the same thread
   * wake, rather than after its answer.
   */
  private async turn(method: ControlName, args: ivm.Transferable[] = [], userCode = true): Promise<SandboxState> {
    const sent = this.call(method, args);
    const after = userCode ? this.call('state') : null;
    // `after` may reject while `sent` is awaited (the deadline passes between the two calls, the
    // isolate is disposed): handled from the start, or Node would report an unhandled rejection
    // and the server would stop. Whoever awaits it below still gets the rejection.
    after?.catch(() => undefined);
    if (method === 'settle') this.onSettleSent?.();
    else if (method === 'fire' || method === 'deliver') this.ranAfterSettle = true;
    const state = await sent;
    if (!state.final) return after ?? this.call('state');
    return state;
  }

  /** Settles the completion value; a primitive is formatted without running user code. */
  private settle(completion: ivm.Reference<unknown>): Promise<SandboxState> {
    const primitive = completion.typeof !== 'object' && completion.typeof !== 'function';
    return this.turn('settle', [completion.derefInto()], !primitive);
  }

  private async compile(code: string, foreseen: Promise<string> | null): Promise<ivm.Script> {
    const { isolate } = this.prepared;
    try {
      this.source = code;
      return await isolate.compileScript(code, originOf(code, scriptFilename));
    } catch (error) {
      // `await x` in a script parses as an identifier `await` followed by something unexpected:
      // any syntax error of code that has the word may be top-level await. If the wrapped code
      // does not compile either, the error of the code as written is the one to report.
      if (!(error instanceof Error) || !(awaitRequired.test(error.message) || error.name === 'SyntaxError')) throw error;
      let wrapped: string;
      try {
        // Made ahead, before the slot, when the source worker saw that V8 would refuse the code.
        wrapped = await (foreseen ?? this.sources.wrap(code));
      } catch (wrapError) {
        if (!awaitRequired.test(error.message)) throw error;
        // Our rewrite refused the code (an import statement): no code ran, so a stateful run
        // leaves no heap, whose replay would meet V8's error instead of this one.
        this.source = null;
        throw wrapError;
      }
      try {
        const script = await isolate.compileScript(wrapped, originOf(wrapped, scriptFilename));
        this.source = wrapped;
        return script;
      } catch (wrappedError) {
        if (awaitRequired.test(error.message)) throw wrappedError;
        throw error;
      }
    }
  }

  /**
   * Runs the code as a classic script and keeps its completion value in the isolate. Code that
   * cannot contain top-level await is compiled and run in one call, sent right after the attach
   * call of a fresh context: one thread wake for both.
   */
  private async evaluate({ code, wrapped }: PreparedSource, attaching: Promise<ControlFunction> | null): Promise<ivm.Reference<unknown>> {
    if (!mayAwait.test(code)) {
      this.source = code;
      this.checkDeadline();
      const evaluating = this.prepared.context.eval(code, { ...originOf(code, scriptFilename), reference: true }) as Promise<ivm.Reference<unknown>>;
      if (attaching !== null) {
        // Attaching can only fail with the isolate gone (a stop), and then the code fails too.
        evaluating.catch(() => undefined);
        await attaching;
      }
      return evaluating;
    }
    if (attaching !== null) await attaching;
    const script = await this.compile(code, wrapped);
    try {
      this.checkDeadline();
      return await script.run(this.prepared.context, { reference: true });
    } finally {
      script.release();
    }
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      // A stop that came between the last turn and this sleep has nobody to wake: do not wait.
      if (this.stopReason !== null) return resolve();
      const timer = setTimeout(() => { this.wake = null; resolve(); }, Math.min(delayMs, this.deadlineMs - this.now()));
      this.wake = () => { clearTimeout(timer); this.wake = null; resolve(); };
    });
  }

  async execute(): Promise<RunOutcome> {
    const start = this.request.stateful;
    if (!this.code.ok) throw this.code.error;
    const seed = this.request.environment?.seed;
    if (seed !== undefined) assert(Number.isInteger(seed) && seed >= 0 && seed < seedLimit, 'a seed is a 32-bit unsigned integer');
    // A fresh context is attached with the seed of its first run; one that ran before (a live
    // heap, a replayed history) starts a new run with 'begin'.
    let attaching = this.prepared.control === null ? attachContext(this.prepared, seed ?? randomInt(0, seedLimit), this.memoryMb) : null;
    // Awaited later, after other calls that may throw first (a stop): handled from the start.
    attaching?.catch(() => undefined);
    if (start !== undefined && 'replay' in start && start.replay.length > 0) {
      if (attaching !== null) await attaching;
      attaching = null;
      await this.replay(start.replay);
    }
    this.startDeadline(this.request.limits.executionTimeoutMs);
    if (attaching === null) await this.call('begin', [copied({ seed: seed ?? randomInt(0, seedLimit) })]);
    this.prepared.runs++;
    let completion: ivm.Reference<unknown>;
    try {
      completion = await this.evaluate(this.code.value, attaching);
    } catch (error) {
      if (this.stopReason !== null || this.prepared.isolate.isDisposed || !(error instanceof Error)) throw error;
      // A throw from the top level of the code: the run fails with the sandbox's own stack,
      // after the lines it printed before throwing. (A rewrite that failed, SourceError, already
      // has its text: describing it again would say "SyntaxError: SyntaxError: …".)
      const state = await this.call('state');
      await this.drainOutput(state);
      this.pendingWorkLeft = state.pendingWork;
      this.offHeapBytes = state.offHeapBytes;
      return failed(error instanceof SourceError ? error.message : describeThrown(error), await this.call<DeterminismRecord>('record'));
    }
    const outcome = await this.loop(await this.settle(completion));
    completion.release();
    return outcome;
  }

  /**
   * Rebuilds a heap: runs each recorded step again in this context, with its seed, its clock
   * readings and its events in their recorded order, on a virtual clock (no waiting), printing
   * nothing. Each step must end as it did; anything else is a divergence and the heap cannot be
   * rebuilt here. Throws ReplayFailed, or RunStopped on cancel.
   */
  private async replay(steps: ReplayStep[]): Promise<void> {
    const last = steps[steps.length - 1]!;
    const budgetMs = Math.min(replayTimeoutMsMax, steps.reduce((sum, step) => sum + step.limits.executionTimeoutMs, 0));
    this.startDeadline(budgetMs);
    const cannot = (reason: string) => new ReplayFailed(`Could not resume heap ${last.heap}: ${reason}`);
    for (const [index, step] of steps.entries()) {
      let ended: { status: 'completed' | 'failed'; result: string | null; error: string | null; issue: string | null };
      try {
        ended = await this.replayStep(step);
      } catch (error) {
        if (this.stopReason === 'cancelled') throw new RunStopped('cancelled');
        const message = error instanceof Error ? error.message : String(error);
        if (message === ivmOutOfMemory || (this.prepared.isolate.isDisposed && this.stopReason === null)) {
          throw cannot(`replaying its history (run ${index + 1} of ${steps.length}) ran out of memory under heap_memory_max_mb=${this.memoryMb}; resume it with a larger heap_memory_max_mb`);
        }
        if (this.stopReason === 'timeout') throw cannot(`replaying its history (${steps.length} runs) took longer than ${budgetMs / 1000} s`);
        throw cannot(`replaying run ${index + 1} of ${steps.length} (heap ${step.heap}) failed: ${message}`);
      }
      const expected = step.outcome;
      const issue = ended.issue ?? (ended.status !== expected.status || ended.result !== expected.result || ended.error !== expected.error
        ? `it ended ${ended.status} (${(ended.result ?? ended.error ?? '').slice(0, 200)}), the recorded run ${expected.status} (${(expected.result ?? expected.error ?? '').slice(0, 200)})`
        : null);
      if (issue !== null) throw cannot(`replaying run ${index + 1} of ${steps.length} (heap ${step.heap}) diverged from its record: ${issue}`);
    }
  }

  private async replayStep(step: ReplayStep): Promise<{ status: 'completed' | 'failed'; result: string | null; error: string | null; issue: string | null }> {
    await this.call('begin', [copied({ seed: step.observed.seed, clockReadingsMs: step.observed.clockReadingsMs })]);
    this.prepared.runs++;
    let completion: ivm.Reference<unknown>;
    try {
      this.checkDeadline();
      completion = await this.prepared.context.eval(step.code, { ...originOf(step.code, scriptFilename), reference: true }) as ivm.Reference<unknown>;
    } catch (error) {
      if (this.stopReason !== null || this.prepared.isolate.isDisposed || !(error instanceof Error)) throw error;
      const state = await this.call('state');
      return { status: 'failed', result: null, error: describeThrown(error), issue: state.replayIssue };
    }
    let state = await this.settle(completion);
    completion.release();
    for (const event of step.observed.events) {
      if (state.fatal !== null) break;
      if (event.kind === 'timer') {
        state = await this.turn('fire', [copied({ timerId: event.timerId, atMs: event.atMs })]);
        continue;
      }
      // Work V8 finishes on its own time (a WebAssembly compile): wait for it, then deliver it.
      for (;;) {
        state = await this.turn('deliver', [event.workId], false);
        if (state.delivered) break;
        await this.sleep(pendingWorkPollMs);
        if (this.stopReason !== null) throw new RunStopped(this.stopReason);
      }
    }
    const ended = endOf(state);
    return { ...ended, issue: state.replayIssue };
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
      this.offHeapBytes = state.offHeapBytes;
      await this.drainOutput(state);
      if (state.fatal !== null) return failed(sandboxText(state.fatal, errorCharsMax), state.record);
      if (state.settled && state.refTimers === 0) break;
      if (state.nextDueInMs === null && state.pendingWork === 0) {
        if (!state.settled) return failed(stuckError, state.record);
        break;
      }
      // While V8 finishes work of its own (an async WebAssembly compile), poll for it.
      const waitMs = state.pendingWork > 0 ? Math.min(state.nextDueInMs ?? pendingWorkPollMs, pendingWorkPollMs) : state.nextDueInMs!;
      if (waitMs > 0) await this.sleep(waitMs);
      if (this.stopReason !== null) throw new RunStopped(this.stopReason);
      state = await this.turn('fire');
    }
    this.timersLeft = state.timers;
    this.pendingWorkLeft = state.pendingWork;
    return { ...endOf(state), record: state.record };
  }
}

const stuckError = 'Error: the code awaits a promise that nothing can settle (no timer or pending work is left)';

/** How a run ended, from the sandbox state after its last turn. */
/** typeof of the completion value (or 'null'), as the sandbox says; anything else is not believed. */
const resultTypes = new Set(['string', 'number', 'bigint', 'boolean', 'undefined', 'symbol', 'object', 'function', 'null']);

function endOf(state: SandboxState): { status: 'completed' | 'failed'; result: string | null; error: string | null; resultType?: string } {
  if (state.fatal !== null) return { status: 'failed', result: null, error: sandboxText(state.fatal, errorCharsMax) };
  if (!state.settled) return { status: 'failed', result: null, error: stuckError };
  const outcome = state.outcome;
  assert(outcome !== null, 'a settled run has an outcome');
  if (!outcome.ok) return { status: 'failed', result: null, error: sandboxText(outcome.error, errorCharsMax) };
  const resultType = typeof outcome.type === 'string' && resultTypes.has(outcome.type) ? { resultType: outcome.type } : {};
  return { status: 'completed', result: sandboxText(outcome.value, resultCharsMax), error: null, ...resultType };
}

/** A promise's outcome, as a value. */
type Settled<Value> = { ok: true; value: Value } | { ok: false; error: unknown };

interface QueuedRun {
  request: RunRequest;
  resolve: (outcome: RunOutcome) => void;
  onAbort: (() => void) | null;
  /** Its code, made ready before it joined the queue. */
  code: Settled<PreparedSource> | null;
}

/** The logger the engine needs: pino's, or anything with the same methods. */
export interface EngineLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

/**
 * The outcome of a run cancelled before it started. A live heap it was to resume was handed over
 * to it (taken out of the live-heap cache): it is freed here, or its isolate would never be.
 */
function cancelledBeforeStart(request: RunRequest): RunOutcome {
  const start = request.stateful;
  if (start !== undefined && 'live' in start) start.live.dispose();
  return { status: 'cancelled', result: null, error: ErrorTexts.cancelled, record: null };
}

/**
 * How long a stopped run's isolate has to answer the call under way before the run ends without
 * it. Disposing answers within milliseconds; only an isolate stuck in isolated-vm's own code after
 * its termination takes longer (Run.executeBounded).
 */
export const stoppedAnswerMsMax = 2_000;

/** Isolates made at start for the server's default memory limit, at most (≈ 1.5 MiB and 2 ms each). */
export const prewarmIsolatesMax = 8;
/**
 * Isolates made at start per slot: under load each slot has one running, and the one before it
 * making its next context (≈ 0.5 ms) while a third waits ready. With one per slot, the first
 * second of a 1000/s load made four more on the request path (≈ 2 ms of the main thread each).
 */
export const prewarmIsolatesPerSlot = 3;

/**
 * Fair share between long and short runs (docs/exec.md, "Safety"). A run that has held its slot
 * this long counts as long; while runs wait, long runs do not count against the slots, up to
 * `longRunLanesPerSlot` × slots runs at once in all. Two `for(;;){}` runs on a 2-slot node held
 * both slots for their whole timeout (up to 300 s) while every `1+1` waited; now a waiting run
 * starts at most this long after the last free slot was taken, whatever the runs before it do.
 * The price: up to twice as many isolate threads as slots while long runs last (CPU is shared).
 */
export const longRunMs = 500;
export const longRunLanesPerSlot = 2;

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
}

class IsolateEngine implements Engine {
  private readonly pool: IsolatePool;
  private readonly active = new Set<Run>();
  private closed = false;
  private onIdle: (() => void) | null = null;
  private readonly queue: QueuedRun[] = [];
  /** Runs whose code a source worker is making ready; they join the queue after. */
  private readonly preparing = new Set<QueuedRun>();
  private running = 0;
  /** When each running run took its slot (performance.now()), for the fair share of `longRunMs`. */
  private readonly slotsTakenAt = new Set<{ sinceMs: number }>();
  /** Looks at the queue again when the oldest short run turns long (one timer for all). */
  private longRunCheck: NodeJS.Timeout | null = null;
  private readonly slots: number;
  private readonly logger: EngineLogger | undefined;
  private readonly clock: () => number;
  /** swc's stripping and rewrites, in a worker thread (source-worker.ts). */
  readonly sources = new SourcePrep();

  constructor(options: EngineOptions) {
    assert(Number.isInteger(options.maxConcurrentExecutions) && options.maxConcurrentExecutions >= 1, 'at least one slot');
    this.slots = options.maxConcurrentExecutions;
    this.pool = new IsolatePool({ slots: this.slots, onCatastrophicError: (isolate, message) => this.onCatastrophicError(isolate, message) });
    this.logger = options.logger;
    this.clock = options.clock ?? Date.now;
    this.onRetire = options.onRetire ?? null;
    this.stuckMax = options.stuckIsolatesMax ?? stuckIsolatesMax;
    assert(Number.isInteger(this.stuckMax) && this.stuckMax >= 1, 'a positive bound on stuck isolates');
  }

  private readonly onRetire: ((reason: string) => void) | null;
  private readonly stuckMax: number;
  private retiringReason: string | null = null;
  private rssCheck: NodeJS.Timeout | null = null;

  get retiring(): string | null {
    return this.retiringReason;
  }

  /** Counts a stuck isolate, and retires the node past the bound on them. */
  private markStuck(isolate: ivm.Isolate): void {
    this.stuck.add(isolate);
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
      : rssBytes > stuckRssBytesMax ? `process RSS ${Math.round(rssBytes / 2 ** 20)} MiB with ${this.stuck.size} isolate threads V8 cannot stop (bound ${stuckRssBytesMax / 2 ** 20} MiB)` : null;
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
    return this.preparing.size + this.queue.length;
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
    assert(request.limits.executionTimeoutMs > 0 && request.limits.heapMemoryMaxMb > 0, 'positive limits');
    if (this.closed) return Promise.resolve(cancelledBeforeStart(request));
    if (this.retiringReason !== null) {
      if (request.stateful !== undefined && 'live' in request.stateful) request.stateful.live.dispose();
      return Promise.resolve(failed(ErrorTexts.retiring));
    }
    const code = this.sources.prepare(request.code, request.stateful !== undefined);
    return new Promise((resolve) => {
      const queued: QueuedRun = { request, resolve, onAbort: null, code: null };
      // Cancelling a run that still waits for its code or a slot answers at once, without a slot.
      queued.onAbort = () => {
        const index = this.queue.indexOf(queued);
        if (index !== -1) this.queue.splice(index, 1);
        else if (!this.preparing.delete(queued)) return;
        resolve(cancelledBeforeStart(request));
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

  private enqueue(queued: QueuedRun, code: Settled<PreparedSource>): void {
    // Code that does not parse fails at once, without a slot or a context: nothing would run. (A
    // stateful run goes through its slot: its live context, which the run holds, goes back then.)
    if (!code.ok && code.error instanceof SourceError && queued.request.stateful === undefined) {
      queued.request.signal.removeEventListener('abort', queued.onAbort!);
      return queued.resolve(failed(code.error.message));
    }
    queued.code = code;
    this.queue.push(queued);
    if (this.queue.length === queueWarnDepth) this.logger?.warn({ depth: this.queue.length }, 'execution queue is deep');
    this.startQueued();
  }

  /**
   * Whether the next queued run may start: a free slot, or every slot held by a long run (one
   * that has run `longRunMs`) and room left under `longRunLanesPerSlot` × slots.
   */
  private mayStart(nowMs: number): boolean {
    if (this.running < this.slots) return true;
    if (this.running >= this.slots * longRunLanesPerSlot) return false;
    let short = 0;
    for (const taken of this.slotsTakenAt) if (nowMs - taken.sinceMs < longRunMs) short++;
    return short < this.slots;
  }

  private startQueued(): void {
    while (this.queue.length > 0 && this.mayStart(performance.now())) {
      const next = this.queue.shift()!;
      next.request.signal.removeEventListener('abort', next.onAbort!);
      this.running++;
      const taken = { sinceMs: performance.now() };
      this.slotsTakenAt.add(taken);
      this.runOne(next.request, next.code!)
        .catch((error: unknown) => {
          // The engine turns every sandbox failure into an outcome; this is a fault of our own.
          this.logger?.error({ err: error }, 'execution engine fault');
          return failed(`Internal error: ${error instanceof Error ? error.message : String(error)}`);
        })
        .then(next.resolve)
        .finally(() => {
          this.running--;
          this.slotsTakenAt.delete(taken);
          assert(this.running >= 0, 'running count never negative');
          if (this.running === 0) this.onIdle?.();
          this.startQueued();
        });
    }
    this.checkWhenLong();
  }

  /** Runs wait and every slot is taken: look again when the oldest short run turns long. */
  private checkWhenLong(): void {
    if (this.queue.length === 0 || this.closed || this.running >= this.slots * longRunLanesPerSlot) {
      if (this.longRunCheck !== null) clearTimeout(this.longRunCheck);
      this.longRunCheck = null;
      return;
    }
    if (this.longRunCheck !== null) return;
    const nowMs = performance.now();
    let oldestShortMs = Infinity;
    for (const taken of this.slotsTakenAt) if (nowMs - taken.sinceMs < longRunMs) oldestShortMs = Math.min(oldestShortMs, taken.sinceMs);
    if (oldestShortMs === Infinity) return;
    const delayMs = Math.max(1, Math.ceil(oldestShortMs + longRunMs - nowMs));
    this.longRunCheck = setTimeout(() => { this.longRunCheck = null; this.startQueued(); }, delayMs);
    this.longRunCheck.unref();
  }

  private async runOne(request: RunRequest, code: Settled<PreparedSource>): Promise<RunOutcome> {
    const start = request.stateful;
    const resumed = start !== undefined && 'live' in start ? start.live : null;
    if (request.signal.aborted) return cancelledBeforeStart(request);
    request.onStarted?.();
    const memoryMb = isolateMemoryMb(request.limits.heapMemoryMaxMb);
    let prepared: PreparedContext;
    if (resumed !== null) {
      assert(resumed instanceof LiveContext && resumed.memoryMb === memoryMb, 'a live heap of this engine, with the memory limit of the run');
      prepared = resumed.consume();
    } else {
      try {
        prepared = await this.pool.acquire(memoryMb);
      } catch (error) {
        this.logger?.error({ err: error }, 'could not prepare an isolate');
        return failed(`Internal error: could not prepare an isolate: ${(error as Error).message}`);
      }
      // A stateful context keeps its isolate after the run: the pool makes itself another.
      if (start !== undefined) this.pool.detach(memoryMb);
    }
    const consoleBudget = new ConsoleBudget();
    prepared.route.sink = (batch) => {
      try {
        for (const line of consoleBudget.take(batch)) request.onConsoleLine(line);
      } catch (error) {
        // A failing sink is the caller's fault; it must not reach isolated-vm's callback thread.
        this.logger?.error({ err: error }, 'console line sink threw');
      }
    };
    const run = new Run(prepared, request, memoryMb, this.clock, this.sources, code);
    // A stateless run's isolate gets its heap reading and next context with the settle call.
    if (start === undefined) run.onSettleSent = () => this.pool.sendSuccessor(prepared);
    this.active.add(run);
    const onAbort = () => run.stop('cancelled');
    request.signal.addEventListener('abort', onAbort, { once: true });
    // Aborted or closed while the isolate was being prepared: too late to have heard it.
    if (request.signal.aborted || this.closed) run.stop('cancelled');
    let outcome: RunOutcome;
    let clean = false;
    try {
      outcome = await run.executeBounded();
      clean = run.stopped === null && !prepared.isolate.isDisposed;
    } catch (error) {
      if (error instanceof ReplayFailed) {
        outcome = failed(error.message);
      } else if (error instanceof IsolateUnresponsive) {
        // Our prelude did not answer (attachContext disposed the isolate): an internal fault.
        this.logger?.error({ err: error }, 'an isolate did not answer');
        outcome = failed(`Internal error: ${error.message}`);
      } else {
        outcome = error instanceof SourceError ? failed(error.message) : outcomeOfError(error, run.stopped, prepared.isolate);
        clean = error instanceof SourceError || (outcome.status === 'failed' && !prepared.isolate.isDisposed && run.stopped === null);
      }
    } finally {
      run.clearDeadline();
      request.signal.removeEventListener('abort', onAbort);
      this.active.delete(run);
    }
    if (run.abandoned) {
      this.markStuck(prepared.isolate);
      // A builtin's loop that outlived the stop may still end (a string operation over a rope
      // allocating its way through): its thread is free again then.
      void run.answered.then(() => this.unmarkStuck(prepared.isolate));
      // Out of memory, the isolate's thread is parked, and onCatastrophicError said so already.
      if (!run.parked) {
        this.logger?.error({ stuckIsolates: this.stuck.size }, 'a stopped run\'s isolate did not answer; the run ended without it, and its thread stays busy until the process exits');
      }
    }
    if (start !== undefined) {
      // Stateful: a run that ended cleanly leaves its context alive for the next run; the
      // source it ran goes with the outcome, for the record a replay runs again.
      prepared.route.sink = null;
      if (!clean) {
        if (!prepared.isolate.isDisposed) prepared.isolate.dispose();
        return outcome;
      }
      const kept = { ...outcome, source: run.source, timersLeft: run.timersLeft, pendingWorkLeft: run.pendingWorkLeft };
      // Async work still pending when the run ended would complete in this context later, before
      // anything the next run asks, so the context is not kept: a resume replays the history,
      // where that work never reaches user code. The heap itself is saved as for any run.
      const heapBytes = run.pendingWorkLeft > 0 ? null : await heapBytesOf(prepared.isolate);
      if (heapBytes === null) {
        if (!prepared.isolate.isDisposed) prepared.isolate.dispose();
        return { ...kept, live: null };
      }
      // The live-heap cache bounds its memory by these bytes: what V8 keeps outside the heap counts.
      return { ...kept, live: new LiveContext(prepared, memoryMb, heapBytes + run.offHeapBytes, (retired) => this.pool.release(retired, memoryMb)) };
    }
    // An isolate whose run left async work pending would run that work's user code during the
    // next execution that uses it: it is discarded, as after a timeout. So is one whose run made
    // much outside the V8 heap (offHeapReuseBytesMax): disposing frees it now.
    if (clean && run.pendingWorkLeft === 0 && run.offHeapBytes <= offHeapReuseBytesMax) this.pool.release(prepared, memoryMb, run.ranAfterSettle);
    else this.pool.discard(prepared, memoryMb);
    return outcome;
  }

  /** Cancels what is queued and what runs (each answers `cancelled`), then disposes every isolate. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.rssCheck !== null) clearInterval(this.rssCheck);
    this.rssCheck = null;
    if (this.longRunCheck !== null) clearTimeout(this.longRunCheck);
    this.longRunCheck = null;
    for (const queued of [...this.preparing, ...this.queue.splice(0)]) {
      queued.request.signal.removeEventListener('abort', queued.onAbort!);
      queued.resolve(cancelledBeforeStart(queued.request));
    }
    this.preparing.clear();
    for (const run of this.active) run.stop('cancelled');
    while (this.running > 0) await new Promise<void>((resolve) => { this.onIdle = resolve; });
    await this.pool.close();
    // Isolates on their way back or being created are disposed when they arrive: wait for them,
    // since a process that exits while an isolate's thread still runs can crash on the way out.
    await this.pool.whenReplenished();
    await this.sources.close();
  }
}

export async function createEngine(options: EngineOptions): Promise<Engine> {
  const engine = new IsolateEngine(options);
  // Start the source worker (it loads swc) before the first request pays for it.
  await engine.sources.warm();
  if (options.warmMemoryMb !== undefined) await engine.prewarm(isolateMemoryMb(options.warmMemoryMb));
  return engine;
}
