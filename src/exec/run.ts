// One run: a context's code compiled and run, the host side of its event loop (one turn per
// timer or finished piece of async work), its deadline and its stop. The engine (engine.ts) gives
// it a context and takes the context back with what the run left (`leftover`); a replay of a
// stateful history (replay.ts) drives the same turns through `ReplayHost`.
import { randomInt } from 'node:crypto';
import ivm from 'isolated-vm';
import { assert } from '../errors.ts';
import { textFormatCurrent } from '../model.ts';
import { attachAndRun, attachContext, builtinDeltaOfPrelude, seedLimit, type ControlFunction, type ControlName, type PreparedContext } from './isolate-pool.ts';
import { disposeIsolate } from './isolate-lifecycle.ts';
import { ReplayFailed, RunStopped, describeThrownValue, endOf, explainLimits, errorCharsMax, failed, sandboxText, stuckError, thrownByCode, type LimitsContext, type SandboxState, type Settled, type StopReason } from './outcome.ts';
import { catchThrown } from './catch-thrown.ts';
import { EffectsJournal, ReplayedEffects, featuresOf, liveEffects, type EffectFeatures } from './effects.ts';
import type { PolicyCapabilities } from '../policy/capabilities.ts';
import { linkImports } from './module-link.ts';
import { journaling, replaying, type ModuleJournal, type ModuleLoader } from './modules.ts';
import { replayHistory, type ReplayHost } from './replay.ts';
import { type PreparedSource, SourcePrep, awaitsIn } from './source-prep.ts';
import { originOf } from './top-level-await.ts';
import type { Ticket } from './scheduler.ts';
import { SourceError } from './typescript.ts';
import type { CheckpointStart, DeterminismRecord, ReplayStep, RunModules, RunOutcome, RunRequest } from './types.ts';
import { wasmReplayIssue, type PreloadedWasm } from './wasm-modules.ts';
import { checkpointCharsMax } from '../model.ts';

/** How often the host looks again while V8 finishes work the sandbox awaits (a wasm compile). */
export const pendingWorkPollMs = 2;

/**
 * How long a stopped run's isolate has to answer the call under way before the run ends without
 * it. Disposing answers within milliseconds; only an isolate stuck in isolated-vm's own code after
 * its termination takes longer (Run.executeBounded).
 */
export const stoppedAnswerMsMax = 2_000;

/** A plain object handed to the sandbox by copy. */
export function copied(value: object): ivm.Transferable {
  return new ivm.ExternalCopy(value).copyInto({ release: true });
}

/** The runs replayed after a restored checkpoint diverged from their records (engine.ts replays the whole history then). */
export class CheckpointDiverged extends ReplayFailed {}

/** The kind of plain data a copy made by V8's serializer is (checkpoint.js, `encodeObject`), or null. */
function kindOfCopy(copy: unknown): string | null {
  if (copy === null || typeof copy !== 'object') return null;
  if (Array.isArray(copy)) return 'array';
  if (copy instanceof Map) return 'map';
  if (copy instanceof Set) return 'set';
  if (copy instanceof Date) return 'date';
  return Object.getPrototypeOf(copy) === Object.prototype ? 'object' : null;
}

/**
 * A stateful context offers a checkpoint after every this many of its runs (replayed ones
 * counted): a resume replays at most about this many runs after restoring the newest one.
 */
export const checkpointRunsEvery = 32;
/** Appended to code run through the prelude's eval: its frames then name main.js, as a script's do. */
const oneCallSourceUrl = '\n//# sourceURL=main.js';

/** Code that needs nothing before it runs (no import, no top-level await rewrite): one call can run it. */
function runsInOneCall(prepared: PreparedSource): boolean {
  return prepared.wrapped === null && prepared.imports.length === 0 && !awaitsIn(prepared);
}
const awaitRequired = /await is only valid|Cannot use import statement|Unexpected reserved word/;
export const scriptFilename = 'main.js';

/** What a run needs: its context, its request, and what the engine lends it. */
export interface RunOptions {
  prepared: PreparedContext;
  request: RunRequest;
  memoryMb: number;
  /** The wall clock the deadline is read from (EngineOptions.clock). */
  now: () => number;
  sources: SourcePrep;
  /** The code made ready before the run took its slot, or why it could not be. */
  code: Settled<PreparedSource>;
  /** Called right after the settle call is sent: what the host sends then shares its thread wake. */
  onSettleSent?: () => void;
  /** fetch()/fs for the sandbox (EngineOptions.capabilities); absent: neither exists. */
  capabilities?: PolicyCapabilities | null;
  /** Hears a fault of ours in a fetch/fs call (the sandbox gets "internal error"). */
  onEffectError?: (error: unknown) => void;
  /** Where imports are fetched from (modules.ts). */
  modules: ModuleLoader;
  /** Pre-loaded WebAssembly modules the context is attached with (wasm-modules.ts), or null. */
  wasm?: PreloadedWasm | null;
  /** The run's CPU lane (scheduler.ts): given back while it only awaits a timer, taken again before it runs code. */
  lane?: Pick<Ticket, 'idle' | 'busy'>;
}

/** What a run left in its context when it ended: what decides whether the context is kept, reused or discarded. */
export interface RunLeftover {
  /** The source that ran, after type stripping and the rewrites: what a replay runs again. */
  source: string | null;
  /** Timers (unref'd ones: a ref'd timer keeps the run going) still pending when the run ended. */
  timersLeft: number;
  /**
   * Async work (a WebAssembly compile) still pending at the end: its completion would reach this
   * context later, outside the run, so the isolate must not serve anybody else afterwards.
   */
  pendingWorkLeft: number;
  /** What the context holds outside the V8 heap at the end (SandboxState.offHeapBytes). */
  offHeapBytes: number;
  /** User code ran after the settle call (timers, async work). */
  ranAfterSettle: boolean;
  /** What the run imported, answered how (null: nothing): a stateful heap records it. */
  modules: RunModules | null;
}

/**
 * One execution in one context. The engine calls `executeBounded` once, may `stop` it (deadline,
 * cancel) or report its isolate parked (`parkedByV8`), and afterwards reads `leftover` and whether
 * its isolate was `abandoned`.
 */
export class Run {
  private stopReason: StopReason | null = null;
  private wake: (() => void) | null = null;
  private deadlineMs = 0;
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** Set by `stop`: gives up on the isolate's answer (`executeBounded`). */
  private abandonTimer: NodeJS.Timeout | null = null;
  private abandon: (() => void) | null = null;
  /** The run was stopped and its isolate never answered: its thread is lost (see `executeBounded`). */
  private abandonedFlag = false;
  /** Settles when the isolate has answered the calls of `execute`, abandoned or not (a thread parked after V8 ran out of memory never does). */
  private answeredPromise: Promise<void> = Promise.resolve();
  /** Whether V8 ran out of memory in this run's isolate beyond recovery (its thread is parked for good). */
  private parkedFlag = false;
  /** The code had settled and only ref'd timers kept the run going, as of its last turn. */
  private timerKeptAliveFlag = false;
  private readonly prepared: PreparedContext;
  private readonly request: RunRequest;
  private readonly memoryMb: number;
  private readonly left: RunLeftover = { source: null, timersLeft: 0, pendingWorkLeft: 0, offHeapBytes: 0, ranAfterSettle: false, modules: null };
  private readonly modules: ModuleLoader;
  private readonly wasm: PreloadedWasm | null;
  private readonly onSettleSent: (() => void) | null;
  private readonly now: () => number;
  private readonly sources: SourcePrep;
  private readonly code: Settled<PreparedSource>;
  private readonly lane: Pick<Ticket, 'idle' | 'busy'> | null;
  private readonly capabilities: PolicyCapabilities | null;
  private readonly onEffectError: (error: unknown) => void;
  /** A stateful run's fetch/fs answers, stored with its heap (effects.ts); null for a stateless run. */
  private journal: EffectsJournal | null = null;
  /** The replayed step's answers, while a history is replayed. */
  private replayed: ReplayedEffects | null = null;
  /** The first divergence of an earlier replayed step, kept when the next step begins. */
  private replayedIssue: string | null = null;
  /** fetch/fs calls of this run the host is still working on (the loop sleeps until one answers). */
  private hostCallsInFlight = 0;
  /** `onSettleSent` was called (by `runInOneCall`): once per run. */
  private successorSent = false;

  constructor(options: RunOptions) {
    this.capabilities = options.capabilities ?? null;
    this.onEffectError = options.onEffectError ?? (() => {});
    this.lane = options.lane ?? null;
    this.prepared = options.prepared;
    this.request = options.request;
    this.memoryMb = options.memoryMb;
    this.now = options.now;
    this.sources = options.sources;
    this.code = options.code;
    this.onSettleSent = options.onSettleSent ?? null;
    this.modules = options.modules;
    this.wasm = options.wasm ?? null;
  }

  /** What the run left in its context; read once it has ended. */
  get leftover(): Readonly<RunLeftover> {
    return this.left;
  }

  get abandoned(): boolean {
    return this.abandonedFlag;
  }

  get parked(): boolean {
    return this.parkedFlag;
  }

  /** Settles when the isolate has answered, abandoned or not (never, for a parked thread). */
  get answered(): Promise<void> {
    return this.answeredPromise;
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

  /** The limits of this run, for the texts that name them; `timerKeptAlive` as of its last turn. */
  get limits(): LimitsContext {
    return { timeoutMs: this.request.limits.executionTimeoutMs, memoryMb: this.memoryMb, timerKeptAlive: this.timerKeptAliveFlag };
  }

  /** Ends the run from outside: the isolate is disposed, so any call into it returns at once. */
  stop(reason: StopReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    // Disposed at once (every call into it now fails); V8's teardown runs off the loop (isolate-lifecycle.ts).
    void disposeIsolate(this.prepared.isolate);
    this.wake?.();
    this.abandonTimer = setTimeout(() => this.abandon?.(), stoppedAnswerMsMax);
  }

  /**
   * V8 ran out of memory in this run's isolate beyond recovery: its thread never answers. The
   * run ends now, out of memory, or with the reason it was stopped for already (its deadline may
   * have passed while V8 went on allocating).
   */
  parkedByV8(): void {
    this.parkedFlag = true;
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
    const executing = this.execute().then((outcome) => this.withEffects(outcome));
    this.answeredPromise = executing.then(() => {}, () => {});
    return new Promise((resolve, reject) => {
      // Settling after the give-up changes nothing (a promise settles once) and is handled here.
      executing.then(resolve, reject);
      this.abandon = () => {
        this.abandonedFlag = true;
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
    if (method === 'settle' && !this.successorSent) this.onSettleSent?.();
    else if (method === 'fire' || method === 'deliver') this.left.ranAfterSettle = true;
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
    // The source worker foresaw the rewrite (V8 refuses the code, or it awaits at its top level
    // in a way V8 reads as a call): the rewrite runs. If it failed, V8 reports on the code.
    const rewritten = foreseen === null ? null : await foreseen.catch(() => null);
    if (rewritten !== null) {
      try {
        const script = await isolate.compileScript(rewritten, originOf(rewritten, scriptFilename));
        this.left.source = rewritten;
        return script;
      } catch {
        // V8's error on the code as written is the one to report (below).
      }
    }
    try {
      this.left.source = code;
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
        this.left.source = null;
        throw wrapError;
      }
      try {
        const script = await isolate.compileScript(wrapped, originOf(wrapped, scriptFilename));
        this.left.source = wrapped;
        return script;
      } catch (wrappedError) {
        if (awaitRequired.test(error.message)) throw wrappedError;
        throw error;
      }
    }
  }

  /**
   * The error to report when the code, run inside catchThrown's try statement, threw `error`: a
   * SyntaxError may be the wrapped source's compile error (no code ran), and then V8's error for
   * the code as written is the one to report, and the code as written what a replay runs.
   */
  private async compileErrorOf(code: string, error: unknown): Promise<unknown> {
    if (!(error instanceof Error) || error.name !== 'SyntaxError' || this.stopReason !== null || this.prepared.isolate.isDisposed) return error;
    try {
      (await this.prepared.isolate.compileScript(code, originOf(code, scriptFilename))).release();
      return error;
    } catch (compileError) {
      this.left.source = code;
      return compileError;
    }
  }

  /**
   * Runs the code as a classic script and keeps its completion value in the isolate. Code that
   * cannot contain top-level await is compiled and run in one call, sent right after the attach
   * call of a fresh context: one thread wake for both.
   */
  private async evaluate(prepared: PreparedSource, attaching: Promise<ControlFunction> | null): Promise<ivm.Reference<unknown>> {
    const { code, wrapped, imports } = prepared;
    if (imports.length > 0) {
      if (attaching !== null) await attaching;
      attaching = null;
      const journal: ModuleJournal = { entries: [], sources: new Map() };
      this.left.modules = { imports, journal };
      this.checkDeadline();
      // Once a module's code has run, a failure is a failed run that a replay repeats (from the
      // journal); before, nothing ran and the run leaves no heap.
      await linkImports(this.prepared.isolate, this.prepared.context, imports, journaling(this.modules, journal), () => { this.left.source = code; });
      this.checkDeadline();
    }
    if (wrapped === null && !awaitsIn(prepared)) {
      const source = catchThrown(code);
      this.left.source = source;
      this.checkDeadline();
      const evaluating = this.prepared.context.eval(source, { ...originOf(source, scriptFilename), reference: true }) as Promise<ivm.Reference<unknown>>;
      if (attaching !== null) {
        // Attaching can only fail with the isolate gone (a stop), and then the code fails too.
        evaluating.catch(() => undefined);
        await attaching;
      }
      if (source === code) return evaluating;
      try {
        return await evaluating;
      } catch (error) {
        throw await this.compileErrorOf(code, error);
      }
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

  /**
   * Sleeps until the next timer is due. Only awaiting a timer (`idle`), the run gives its lane back
   * meanwhile and takes one again before it runs code (a stop wakes it from either wait).
   * (While V8 compiles WebAssembly for it, it keeps its lane: that work uses the CPU.)
   */
  private async await(waitMs: number, idle: boolean): Promise<void> {
    if (!idle || this.lane === null) return this.sleep(waitMs);
    this.lane.idle();
    await this.sleep(waitMs);
    if (this.stopReason !== null) return;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      void this.lane!.busy().then(resolve);
    });
    this.wake = null;
  }

  async execute(): Promise<RunOutcome> {
    const start = this.request.stateful;
    if (!this.code.ok) throw this.code.error;
    const seed = this.request.environment?.seed;
    if (seed !== undefined) assert(Number.isInteger(seed) && seed >= 0 && seed < seedLimit, 'a seed is a 32-bit unsigned integer');
    // A fresh context is attached with the seed of its first run; one that ran before (a live
    // heap, a replayed history) starts a new run with 'begin'.
    // The first run of a memory limit waits while the host compiles the pre-loaded modules for it.
    if (this.prepared.control === null && this.wasm !== null && !this.wasm.isReady(this.memoryMb)) await this.wasm.prepare(this.memoryMb);
    const wasm = this.prepared.control === null && this.wasm !== null ? this.wasm.attachArguments(this.memoryMb) : null;
    const features = featuresOf(this.capabilities);
    // A stateful context records its built-ins as attached, which its checkpoints are checked against.
    const builtinDelta = this.prepared.control === null && start !== undefined ? await builtinDeltaOfPrelude() : null;
    // A stateless run of a fresh context that needs nothing before its code runs: one call (runInOneCall).
    const oneCall = this.prepared.control === null && start === undefined && this.onSettleSent !== null && runsInOneCall(this.code.value);
    let attaching = this.prepared.control === null && !oneCall ? attachContext(this.prepared, seed ?? randomInt(0, seedLimit), this.memoryMb, undefined, features, wasm, builtinDelta) : null;
    // Awaited later, after other calls that may throw first (a stop): handled from the start.
    attaching?.catch(() => undefined);
    if (start !== undefined && 'replay' in start && (start.replay.length > 0 || start.checkpoint !== undefined)) {
      if (attaching !== null) await attaching;
      attaching = null;
      const steps = start.checkpoint === undefined ? start.replay : await this.restore(start.checkpoint, start.replay);
      try {
        if (steps.length > 0) await replayHistory(this.replayHost(), steps);
      } catch (error) {
        // The runs after a restored checkpoint did not replay as recorded: the engine replays the whole history instead.
        if (start.checkpoint !== undefined && steps === start.replay && error instanceof ReplayFailed) throw new CheckpointDiverged(error.message);
        throw error;
      }
    }
    this.replayed = null;
    if (features.fetch || features.fs) {
      this.journal = start === undefined ? null : new EffectsJournal();
      const live = liveEffects(this.capabilities, this.journal, this.onEffectError);
      this.prepared.route.effect = async (kind, request) => {
        this.hostCallsInFlight++;
        try {
          return await live(kind, request);
        } finally {
          this.hostCallsInFlight--;
          // The answer goes to the isolate right behind this: a turn then finds the work done.
          setImmediate(() => this.wake?.());
        }
      };
    }
    this.startDeadline(this.request.limits.executionTimeoutMs);
    if (attaching === null && !oneCall) await this.call('begin', [copied({ seed: seed ?? randomInt(0, seedLimit) })]);
    this.prepared.runs++;
    if (oneCall) {
      const state = await this.runInOneCall(seed ?? randomInt(0, seedLimit), features, wasm);
      // Code V8 would not compile ran not at all: it runs as a script, for V8's own error.
      if (state !== null) return 'status' in state ? state : this.loop(state);
    }
    let completion: ivm.Reference<unknown>;
    try {
      completion = await this.evaluate(this.code.value, attaching);
    } catch (error) {
      if (this.stopReason !== null || this.prepared.isolate.isDisposed || !thrownByCode(error)) throw error;
      // A throw from the top level of the code: the run fails with the sandbox's own stack,
      // after the lines it printed before throwing. (A rewrite that failed, SourceError, already
      // has its text: describing it again would say "SyntaxError: SyntaxError: …".)
      const state = await this.call('state');
      await this.drainOutput(state);
      this.left.pendingWorkLeft = state.pendingWork;
      this.left.offHeapBytes = state.offHeapBytes;
      return failed(error instanceof SourceError ? error.message : explainLimits(describeThrownValue(error, textFormatCurrent), this.memoryMb), await this.call<DeterminismRecord>('record'));
    }
    let outcome: RunOutcome;
    try {
      outcome = await this.loop(await this.settle(completion));
    } finally {
      completion.release();
    }
    if (start !== undefined && outcome.status === 'completed' && outcome.record != null && this.prepared.runs % checkpointRunsEvery === 0) {
      outcome.checkpoint = await this.checkpoint();
    }
    return outcome;
  }

  /**
   * The whole run of a fresh stateless context in one thread wake of its isolate (isolate-pool.ts,
   * `attachAndRun`): attach, evaluation, settle and the state after the code's microtasks, with the
   * pool's heap reading and next context sent right behind. Null when V8 did not compile the
   * code (nothing ran): the caller runs it as a script then. The code runs through the prelude's
   * indirect eval, as a script would at global scope (docs/exec.md, "One call per run").
   */
  private async runInOneCall(seed: number, features: EffectFeatures, wasm: [unknown, ivm.ExternalCopy<unknown>] | null): Promise<SandboxState | RunOutcome | null> {
    assert(this.code.ok, 'code made ready');
    const { code } = this.code.value;
    this.left.source = code;
    this.checkDeadline();
    const { attached, state } = attachAndRun(this.prepared, seed, this.memoryMb, features, wasm, code + oneCallSourceUrl);
    // Both are awaited below, after the other may reject (the isolate disposed): handled from the start.
    attached.catch(() => undefined);
    state.catch(() => undefined);
    this.successorSent = true;
    this.onSettleSent?.();
    try {
      await attached;
    } catch (error) {
      if (this.stopReason !== null || this.prepared.isolate.isDisposed || !thrownByCode(error)) throw error;
      // An Error thrown at the top level, as a script's: the state behind it carries the record.
      const ended = await state as SandboxState;
      await this.drainOutput(ended);
      this.left.pendingWorkLeft = ended.pendingWork;
      this.left.offHeapBytes = ended.offHeapBytes;
      return failed(explainLimits(describeThrownValue(error, textFormatCurrent), this.memoryMb), ended.record);
    }
    const answer = await state as SandboxState;
    if (answer.compileFailed !== true) return answer;
    // The successor's heap reading was sent before the script runs: read it again at release.
    this.left.ranAfterSettle = true;
    return null;
  }

  /**
   * Restores a checkpoint into the fresh context and answers the runs to replay after it; a
   * checkpoint the sandbox refuses changed nothing there (it checks all before it defines a
   * binding), and the whole history is replayed instead.
   */
  private async restore(checkpoint: CheckpointStart, after: ReplayStep[]): Promise<ReplayStep[]> {
    // Within the run's own time (the replay after it has its own budget).
    this.startDeadline(this.request.limits.executionTimeoutMs);
    try {
      await this.call('restore', [checkpoint.state]);
      return after;
    } catch (error) {
      if (this.stopReason !== null || this.prepared.isolate.isDisposed || !(error instanceof Error)) throw error;
      return checkpoint.fallback(describeThrownValue(error, textFormatCurrent));
    }
  }

  /**
   * The checkpoint of the state this run left, or null when it is not plain data (checkpoint.js).
   * The answer's copy is made by V8's serializer, which sees what JavaScript cannot: each object
   * the checkpoint encodes must arrive as the kind the sandbox named (a Map given a plain
   * object's prototype arrives as a Map, a promise or a generator cannot be copied at all).
   */
  private async checkpoint(): Promise<string | null> {
    let answer: unknown;
    try {
      answer = await this.call<unknown>('checkpoint');
    } catch {
      // The run completed: whatever became of the checkpoint (a copy V8 refused, its time or the
      // isolate's memory running out), the outcome and record stand, and the engine keeps the
      // context only if it is still fit (engine.ts, `execute`).
      return null;
    }
    // Nothing from the isolate is trusted for its type or size.
    if (answer === null || typeof answer !== 'object') return null;
    const { text, originals, kinds } = answer as { text?: unknown; originals?: unknown; kinds?: unknown };
    if (typeof text !== 'string' || text.length > checkpointCharsMax || !Array.isArray(originals) || !Array.isArray(kinds) || originals.length !== kinds.length) return null;
    for (let index = 0; index < originals.length; index++) {
      if (kindOfCopy(originals[index]) !== kinds[index]) return null;
    }
    return text;
  }

  /** The turns a replay drives (replay.ts), lent without making them part of the run's surface. */
  private replayHost(): ReplayHost {
    return {
      memoryMb: this.memoryMb,
      wasmIssue: (recorded) => (this.wasm === null ? wasmReplayIssue([], recorded) : this.wasm.replayIssue(recorded)),
      stopped: () => this.stopReason,
      isolateDisposed: () => this.prepared.isolate.isDisposed,
      startDeadline: (timeoutMs) => this.startDeadline(timeoutMs),
      begin: async (seed, clockReadingsMs, effects, textFormat) => {
        // Every fetch/fs call of the replayed run is answered from its record, never performed.
        // A step begun behind an eventless one (replay.ts) must not hide that one's divergence.
        this.replayedIssue ??= this.replayed?.issue ?? null;
        this.replayed = new ReplayedEffects(effects);
        this.prepared.route.effect = this.replayed.handler;
        const begun = await this.call('begin', [copied({ seed, clockReadingsMs, textFormat })]);
        this.prepared.runs++;
        return begun;
      },
      evaluate: async (code, heap, modules) => {
        if (modules !== undefined && modules.imports.length > 0) {
          this.checkDeadline();
          await linkImports(this.prepared.isolate, this.prepared.context, modules.imports, replaying(heap, modules.journal));
        }
        this.checkDeadline();
        return this.prepared.context.eval(code, { ...originOf(code, scriptFilename), reference: true }) as Promise<ivm.Reference<unknown>>;
      },
      state: () => this.call('state'),
      settle: (completion) => this.settle(completion),
      fire: (timerId, atMs) => this.turn('fire', [copied({ timerId, atMs })]),
      deliver: (workId) => this.turn('deliver', [workId], false),
      pollWait: () => this.sleep(pendingWorkPollMs),
      effectsIssue: () => this.replayedIssue ?? this.replayed?.issue ?? null,
    };
  }

  /** A stateful run's record carries its fetch/fs answers (absent when it made no call: heap ids stay as they were). */
  private withEffects(outcome: RunOutcome): RunOutcome {
    const entries = this.journal?.entries ?? [];
    if (entries.length === 0 || outcome.record === undefined || outcome.record === null) return outcome;
    // A copy: an answer that comes after the run ended must not change a record already made.
    return { ...outcome, record: { ...outcome.record, effects: entries.map((entry) => ({ ...entry })) } };
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
      this.timerKeptAliveFlag = state.settled && state.refTimers > 0 && state.pendingHostCalls === 0;
      this.left.offHeapBytes = state.offHeapBytes;
      await this.drainOutput(state);
      if (state.fatal !== null) {
        this.left.pendingWorkLeft = state.pendingWork;
        return failed(explainLimits(sandboxText(state.fatal, errorCharsMax), this.memoryMb), state.record);
      }
      if (state.settled && state.refTimers === 0 && state.pendingHostCalls === 0) break;
      if (state.nextDueInMs === null && state.pendingWork === 0) {
        if (!state.settled) return failed(stuckError, state.record);
        break;
      }
      // While V8 finishes work of its own (an async WebAssembly compile), poll for it. Work that is
      // only fetch/fs calls still with the host needs no polling: their answer wakes the loop.
      const onlyHostCalls = state.pendingWork > 0 && state.pendingWork <= this.hostCallsInFlight;
      const waitMs = onlyHostCalls ? (state.nextDueInMs ?? this.deadlineMs - this.now())
        : state.pendingWork > 0 ? Math.min(state.nextDueInMs ?? pendingWorkPollMs, pendingWorkPollMs) : state.nextDueInMs!;
      if (waitMs > 0) await this.await(waitMs, state.pendingWork === 0 || onlyHostCalls);
      if (this.stopReason !== null) throw new RunStopped(this.stopReason);
      state = await this.turn('fire');
    }
    this.left.timersLeft = state.timers;
    this.left.pendingWorkLeft = state.pendingWork;
    const end = endOf(state);
    return { ...end, error: end.error === null ? null : explainLimits(end.error, this.memoryMb), record: state.record };
  }
}
