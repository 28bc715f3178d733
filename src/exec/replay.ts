// The replay of a stateful history (docs/stateful.md): each recorded step run again in one
// context, with its seed, its clock readings and its events in their recorded order, on a virtual
// clock (no waiting), printing nothing. Each step must end as it did; anything else is a
// divergence, and the heap cannot be rebuilt here. The run (run.ts) lends its turns through
// `ReplayHost`; nothing here holds a context or an isolate.
import type ivm from 'isolated-vm';
import { ReplayFailed, RunStopped, arrayBufferFailed, describeThrownValue, endOf, explainLimits, ivmOutOfMemory, thrownByCode, type SandboxState, type StopReason } from './outcome.ts';
import { isolateMemoryMb } from './isolate-pool.ts';
import { ErrorTexts, type EffectEntry, type ReplayStep, type RunModules } from './types.ts';

/** The longest a replay of a whole history may take (each run's own timeout counts, up to this). */
export const replayTimeoutMsMax = 300_000;

/** What a replay needs of the run it rebuilds a heap for. */
export interface ReplayHost {
  readonly memoryMb: number;
  /** Why a step that used these pre-loaded WebAssembly modules (name → sha256) cannot replay here, or null. */
  wasmIssue(recorded: Readonly<Record<string, string>> | undefined): string | null;
  /** Why the run was stopped from outside, or null. */
  stopped(): StopReason | null;
  isolateDisposed(): boolean;
  startDeadline(timeoutMs: number): void;
  /** Starts the step's run in the context ('begin', with its seed, clock readings, fetch/fs answers and text format) and counts it. */
  begin(seed: number, clockReadingsMs: number[], effects: EffectEntry[], textFormat: number): Promise<SandboxState>;
  /** Runs the step's code, its recorded imports loaded first; its completion value stays in the isolate. */
  evaluate(code: string, heap: string, modules: RunModules | undefined): Promise<ivm.Reference<unknown>>;
  state(): Promise<SandboxState>;
  settle(completion: ivm.Reference<unknown>): Promise<SandboxState>;
  /** Fires the recorded timer at its recorded time (one turn). */
  fire(timerId: number, atMs: number): Promise<SandboxState>;
  /** Hands finished work to user code at its recorded turn (`delivered` false if V8 is not done yet). */
  deliver(workId: number): Promise<SandboxState>;
  /** Waits a little for V8 to finish work of its own. */
  pollWait(): Promise<void>;
  /** How the step's fetch/fs calls differed from its recorded ones (effects.ts), or null. */
  effectsIssue(): string | null;
}

type StepEnd = { status: 'completed' | 'failed'; result: string | null; error: string | null; issue: string | null };

/**
 * A step's begin and evaluate, sent together (one thread wake). Sent right behind the previous
 * step's settle when that step has no recorded events, so that an eventless step costs one wake of
 * the isolate's thread rather than three (begin, evaluate, settle each waited for): the calls run
 * in the isolate in the same order as before, each after the last has ended, and the previous
 * step's end is still checked before anything of this one is looked at. A divergence found then
 * fails the replay, and the context it ran in is discarded.
 */
function startStep(host: ReplayHost, step: ReplayStep): Promise<ivm.Reference<unknown>> {
  let evaluating: Promise<ivm.Reference<unknown>>;
  try {
    const begun = host.begin(step.observed.seed, step.observed.clockReadingsMs, step.observed.effects ?? [], step.textFormat);
    begun.catch(() => undefined);
    evaluating = host.evaluate(step.code, step.heap, step.modules);
    evaluating.catch(() => undefined);
    // Handled from the start: a replay that fails before it awaits this step must not leave an
    // unhandled rejection behind (Node would stop the server); whoever awaits it still gets it.
    const both = begun.then(() => evaluating);
    both.catch(() => undefined);
    return both;
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Rebuilds a heap by replaying `steps`. Throws ReplayFailed, or RunStopped on cancel. */
export async function replayHistory(host: ReplayHost, steps: ReplayStep[]): Promise<void> {
  const last = steps[steps.length - 1]!;
  const budgetMs = Math.min(replayTimeoutMsMax, steps.reduce((sum, step) => sum + step.limits.executionTimeoutMs, 0));
  host.startDeadline(budgetMs);
  const cannot = (reason: string) => new ReplayFailed(`Could not resume heap ${last.heap}: ${reason}`);
  let next: Promise<ivm.Reference<unknown>> | null = null;
  for (const [index, step] of steps.entries()) {
    const wasmIssue = host.wasmIssue(step.observed.wasmModules);
    if (wasmIssue !== null) throw cannot(`run ${index + 1} of ${steps.length} (heap ${step.heap}) cannot be replayed here: ${wasmIssue}`);
    let ended: StepEnd;
    try {
      const evaluating = next ?? startStep(host, step);
      next = null;
      const following = steps[index + 1];
      // A step with imports links them with calls of its own: it is not sent ahead.
      ended = await replayStep(host, step, evaluating, following === undefined || following.modules !== undefined ? null : () => { next = startStep(host, following); });
    } catch (error) {
      if (host.stopped() === 'cancelled') throw new RunStopped('cancelled');
      const message = error instanceof Error ? error.message : String(error);
      if (message === ivmOutOfMemory || host.stopped() === 'out-of-memory' || (host.isolateDisposed() && host.stopped() === null)) {
        throw new ReplayFailed(ErrorTexts.replayOutOfMemory(last.heap, index + 1, steps.length, host.memoryMb));
      }
      if (host.stopped() === 'timeout') throw new ReplayFailed(ErrorTexts.replayTimeout(last.heap, steps.length, budgetMs / 1000, replayTimeoutMsMax / 1000));
      throw cannot(`replaying run ${index + 1} of ${steps.length} (heap ${step.heap}) failed: ${message}`);
    }
    const expected = step.outcome;
    // V8 refuses an ArrayBuffer under a smaller limit with a RangeError, not by running out.
    if (ended.status === 'failed' && expected.status !== 'failed' && arrayBufferFailed.test(ended.error ?? '')) {
      throw new ReplayFailed(ErrorTexts.replayOutOfMemory(last.heap, index + 1, steps.length, host.memoryMb));
    }
    const issue = ended.issue ?? (ended.status !== expected.status || ended.result !== expected.result || !sameError(ended.error, expected.error, step)
      ? `it ended ${ended.status} (${(ended.result ?? ended.error ?? '').slice(0, 200)}), the recorded run ${expected.status} (${(expected.result ?? expected.error ?? '').slice(0, 200)})`
      : null);
    if (issue !== null) throw cannot(`replaying run ${index + 1} of ${steps.length} (heap ${step.heap}) diverged from its record: ${issue}`);
  }
}

/**
 * Whether the replayed error is the recorded one. A live run adds the limit to V8's "Array buffer
 * allocation failed" (explainLimits); records made before it did, and replays, have V8's text alone.
 */
function sameError(replayed: string | null, recorded: string | null, step: ReplayStep): boolean {
  return replayed === recorded || (replayed !== null && explainLimits(replayed, isolateMemoryMb(step.limits.heapMemoryMaxMb)) === recorded);
}

/**
 * One step, its begin and evaluate already sent (`evaluating`). `sendNext` sends the next step's,
 * right behind this step's settle, when this step has no recorded events or fetch/fs calls to
 * drive or answer after it (those are answered from this step's journal while it settles).
 */
async function replayStep(host: ReplayHost, step: ReplayStep, evaluating: Promise<ivm.Reference<unknown>>, sendNext: (() => void) | null): Promise<StepEnd> {
  let completion: ivm.Reference<unknown>;
  try {
    completion = await evaluating;
  } catch (error) {
    if (host.stopped() !== null || host.isolateDisposed() || !thrownByCode(error) || error instanceof ReplayFailed) throw error;
    const state = await host.state();
    return { status: 'failed', result: null, error: describeThrownValue(error, step.textFormat), issue: state.replayIssue ?? host.effectsIssue() };
  }
  const settling = host.settle(completion);
  if (step.observed.events.length === 0 && (step.observed.effects ?? []).length === 0) sendNext?.();
  let state: SandboxState;
  try {
    state = await settling;
  } finally {
    completion.release();
  }
  for (const event of step.observed.events) {
    if (state.fatal !== null) break;
    if (event.kind === 'timer') {
      state = await host.fire(event.timerId, event.atMs);
      continue;
    }
    // Work V8 finishes on its own time (a WebAssembly compile): wait for it, then deliver it.
    for (;;) {
      state = await host.deliver(event.workId);
      if (state.delivered) break;
      await host.pollWait();
      const stopped = host.stopped();
      if (stopped !== null) throw new RunStopped(stopped);
    }
  }
  return { ...endOf(state), issue: state.replayIssue ?? host.effectsIssue() };
}
