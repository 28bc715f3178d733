// The replay of a stateful history (docs/stateful.md): each recorded step run again in one
// context, with its seed, its clock readings and its events in their recorded order, on a virtual
// clock (no waiting), printing nothing. Each step must end as it did; anything else is a
// divergence, and the heap cannot be rebuilt here. The run (run.ts) lends its turns through
// `ReplayHost`; nothing here holds a context or an isolate.
import type ivm from 'isolated-vm';
import { ReplayFailed, RunStopped, describeThrown, endOf, ivmOutOfMemory, type SandboxState, type StopReason } from './outcome.ts';
import type { EffectEntry, ReplayStep } from './types.ts';

/** The longest a replay of a whole history may take (each run's own timeout counts, up to this). */
export const replayTimeoutMsMax = 300_000;

/** What a replay needs of the run it rebuilds a heap for. */
export interface ReplayHost {
  readonly memoryMb: number;
  /** Why the run was stopped from outside, or null. */
  stopped(): StopReason | null;
  isolateDisposed(): boolean;
  startDeadline(timeoutMs: number): void;
  /** Starts the step's run in the context ('begin', with its seed and clock readings) and counts it. */
  begin(seed: number, clockReadingsMs: number[], effects: EffectEntry[]): Promise<SandboxState>;
  /** Runs the step's code; its completion value stays in the isolate. */
  evaluate(code: string): Promise<ivm.Reference<unknown>>;
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
    const begun = host.begin(step.observed.seed, step.observed.clockReadingsMs, step.observed.effects ?? []);
    begun.catch(() => undefined);
    evaluating = host.evaluate(step.code);
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
    let ended: StepEnd;
    try {
      const evaluating = next ?? startStep(host, step);
      next = null;
      const following = steps[index + 1];
      ended = await replayStep(host, step, evaluating, following === undefined ? null : () => { next = startStep(host, following); });
    } catch (error) {
      if (host.stopped() === 'cancelled') throw new RunStopped('cancelled');
      const message = error instanceof Error ? error.message : String(error);
      if (message === ivmOutOfMemory || (host.isolateDisposed() && host.stopped() === null)) {
        throw cannot(`replaying its history (run ${index + 1} of ${steps.length}) ran out of memory under heap_memory_max_mb=${host.memoryMb}; resume it with a larger heap_memory_max_mb`);
      }
      if (host.stopped() === 'timeout') throw cannot(`replaying its history (${steps.length} runs) took longer than ${budgetMs / 1000} s`);
      throw cannot(`replaying run ${index + 1} of ${steps.length} (heap ${step.heap}) failed: ${message}`);
    }
    const expected = step.outcome;
    const issue = ended.issue ?? (ended.status !== expected.status || ended.result !== expected.result || ended.error !== expected.error
      ? `it ended ${ended.status} (${(ended.result ?? ended.error ?? '').slice(0, 200)}), the recorded run ${expected.status} (${(expected.result ?? expected.error ?? '').slice(0, 200)})`
      : null);
    if (issue !== null) throw cannot(`replaying run ${index + 1} of ${steps.length} (heap ${step.heap}) diverged from its record: ${issue}`);
  }
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
    if (host.stopped() !== null || host.isolateDisposed() || !(error instanceof Error)) throw error;
    const state = await host.state();
    return { status: 'failed', result: null, error: describeThrown(error), issue: state.replayIssue ?? host.effectsIssue() };
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
