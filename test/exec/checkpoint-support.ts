// Helpers the checkpoint tests share (test/exec/checkpoint*.test.ts), on a stateful harness.
import assert from 'node:assert/strict';
import type { ReplayStep, StatefulStart } from '../../src/exec/types.ts';
import type { statefulHarness } from './stateful-harness.ts';

type Harness = Awaited<ReturnType<typeof statefulHarness>>;

export function checkpointHelpers({ runStateful, resume, drop }: Harness): {
  /** Runs `codes` one after the other from `start`; answers their results. */
  resumeAndRun: (start: StatefulStart, codes: string[]) => Promise<string[]>;
  /** Asserts that `probe` answers the same on the live context `live` and on a whole replay of `steps`; frees both. */
  liveEqualsReplayed: (steps: ReplayStep[], live: string | null, probe: string) => Promise<void>;
} {
  async function resumeAndRun(start: StatefulStart, codes: string[]): Promise<string[]> {
    const results: string[] = [];
    let next = start;
    for (const code of codes) {
      const ran = await runStateful(code, next);
      assert.equal(ran.outcome.status, 'completed', `${code}: ${ran.outcome.error}`);
      results.push(ran.outcome.result!);
      if ('resume' in next) drop(next.resume);
      next = resume(ran.live!);
    }
    if ('resume' in next) drop(next.resume);
    return results;
  }
  async function liveEqualsReplayed(steps: ReplayStep[], live: string | null, probe: string): Promise<void> {
    const fromLive = await runStateful(probe, resume(live!));
    const replayed = await runStateful(probe, { replay: steps });
    assert.equal(fromLive.outcome.result, replayed.outcome.result);
    drop(fromLive.live);
    drop(replayed.live);
  }
  return { resumeAndRun, liveEqualsReplayed };
}
