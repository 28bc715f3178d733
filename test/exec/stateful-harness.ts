// Stateful runs straight on the engine: a run from a start (live context or replay), and a chain
// of runs each resuming the last, with the replay steps a heap store would hold.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { textFormatCurrent } from '../../src/model.ts';
import type { ReplayStep, RunOutcome, StatefulStart } from '../../src/exec/types.ts';
import { collectBeforeExit } from './harness.ts';

export interface Stepped { outcome: RunOutcome; lines: string[]; step: ReplayStep | null }

export async function statefulHarness(): Promise<{
  runStateful: (code: string, start: StatefulStart, options?: { signal?: AbortSignal; limits?: { heapMemoryMaxMb: number; executionTimeoutMs: number } }) => Promise<Stepped>;
  chain: (codes: string[]) => Promise<{ steps: ReplayStep[]; last: Stepped }>;
}> {
  const engine = await createEngine({ maxConcurrentExecutions: 2 });
  after(async () => {
    await engine.close();
    collectBeforeExit();
  });
  const limits = { heapMemoryMaxMb: 8, executionTimeoutMs: 5_000 };

  let heapCounter = 0;
  async function runStateful(code: string, start: StatefulStart, options: { signal?: AbortSignal; limits?: typeof limits } = {}): Promise<Stepped> {
    const lines: string[] = [];
    const outcome = await engine.run({
      code, limits: options.limits ?? limits, signal: options.signal ?? new AbortController().signal, stateful: start,
      onConsoleLine: (line) => lines.push(line),
    });
    const step = outcome.record && outcome.source && (outcome.status === 'completed' || outcome.status === 'failed')
      ? { heap: String(++heapCounter).padStart(64, '0'), code: outcome.source, limits: options.limits ?? limits, observed: outcome.record, outcome: { status: outcome.status, result: outcome.result, error: outcome.error }, textFormat: textFormatCurrent }
      : null;
    return { outcome, lines, step };
  }

  /** Runs each code after the previous one, live; answers the steps and the last live context. */
  async function chain(codes: string[]): Promise<{ steps: ReplayStep[]; last: Stepped }> {
    const steps: ReplayStep[] = [];
    let start: StatefulStart = { replay: [] };
    let last: Stepped | null = null;
    for (const code of codes) {
      last = await runStateful(code, start);
      assert.ok(last.step !== null && last.outcome.live, `run ${steps.length + 1} keeps a heap: ${last.outcome.error}`);
      steps.push(last.step);
      start = { live: last.outcome.live };
    }
    return { steps, last: last! };
  }
  return { runStateful, chain };
}
