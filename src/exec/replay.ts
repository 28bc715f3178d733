// The replay of a stateful history (docs/stateful.md): each recorded step run again in one
// context, with its seed, its clock readings and its events in their recorded order, on a virtual
// clock (no waiting), printing nothing. Each step must end as it did; anything else is a
// divergence, and the heap cannot be rebuilt here. The run (run.ts) lends its turns through
// `ReplayHost`; nothing here holds a context or an isolate.
import type ivm from 'isolated-vm';
import { ReplayFailed, RunStopped, describeThrown, endOf, ivmOutOfMemory, type SandboxState, type StopReason } from './outcome.ts';
import type { ReplayStep } from './types.ts';

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
  /** Starts the step's run in the context ('begin', with its seed and clock readings) and counts it. */
  begin(seed: number, clockReadingsMs: number[]): Promise<SandboxState>;
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
}

type StepEnd = { status: 'completed' | 'failed'; result: string | null; error: string | null; issue: string | null };

/** Rebuilds a heap by replaying `steps`. Throws ReplayFailed, or RunStopped on cancel. */
export async function replayHistory(host: ReplayHost, steps: ReplayStep[]): Promise<void> {
  const last = steps[steps.length - 1]!;
  const budgetMs = Math.min(replayTimeoutMsMax, steps.reduce((sum, step) => sum + step.limits.executionTimeoutMs, 0));
  host.startDeadline(budgetMs);
  const cannot = (reason: string) => new ReplayFailed(`Could not resume heap ${last.heap}: ${reason}`);
  for (const [index, step] of steps.entries()) {
    const wasmIssue = host.wasmIssue(step.observed.wasmModules);
    if (wasmIssue !== null) throw cannot(`run ${index + 1} of ${steps.length} (heap ${step.heap}) cannot be replayed here: ${wasmIssue}`);
    let ended: StepEnd;
    try {
      ended = await replayStep(host, step);
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

async function replayStep(host: ReplayHost, step: ReplayStep): Promise<StepEnd> {
  await host.begin(step.observed.seed, step.observed.clockReadingsMs);
  let completion: ivm.Reference<unknown>;
  try {
    completion = await host.evaluate(step.code);
  } catch (error) {
    if (host.stopped() !== null || host.isolateDisposed() || !(error instanceof Error)) throw error;
    const state = await host.state();
    return { status: 'failed', result: null, error: describeThrown(error), issue: state.replayIssue };
  }
  let state = await host.settle(completion);
  completion.release();
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
  return { ...endOf(state), issue: state.replayIssue };
}
