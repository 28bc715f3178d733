// Stateful runs straight on the engine: a run from a start (live context or replay), and a chain
// of runs each resuming the last, with the replay steps a heap store would hold. The context a
// run leaves is named in the engine's live heaps at once (`live`), as the service's commit does.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { textFormatCurrent } from '../../src/model.ts';
import type { Engine, LiveHeaps, ReplayStep, RunOutcome, StatefulStart } from '../../src/exec/types.ts';
import { collectBeforeExit } from './harness.ts';

/** A run's outcome and output; `live`: the name its context is kept under in the engine's live heaps, or null. */
export interface Stepped { outcome: RunOutcome; lines: string[]; step: ReplayStep | null; live: string | null }

export async function statefulHarness(): Promise<{
  runStateful: (code: string, start: StatefulStart, options?: { signal?: AbortSignal; limits?: { heapMemoryMaxMb: number; executionTimeoutMs: number }; onStarted?: () => void }) => Promise<Stepped>;
  chain: (codes: string[]) => Promise<{ steps: ReplayStep[]; last: Stepped }>;
  /** A start from the live context named `name` (a resume that finds it gone fails). */
  resume: (name: string) => StatefulStart;
  /** Frees the live context named `name`, if any. */
  drop: (name: string | null) => void;
  live: LiveHeaps;
  engine: Engine;
}> {
  const engine = await createEngine({ maxConcurrentExecutions: 2 });
  after(async () => {
    await engine.close();
    collectBeforeExit();
  });
  const limits = { heapMemoryMaxMb: 8, executionTimeoutMs: 5_000 };

  let heapCounter = 0;
  let liveCounter = 0;
  async function runStateful(code: string, start: StatefulStart, options: { signal?: AbortSignal; limits?: typeof limits; onStarted?: () => void } = {}): Promise<Stepped> {
    const lines: string[] = [];
    const outcome = await engine.run({
      code, limits: options.limits ?? limits, signal: options.signal ?? new AbortController().signal, stateful: start,
      onConsoleLine: (line) => lines.push(line), ...(options.onStarted === undefined ? {} : { onStarted: options.onStarted }),
    });
    const step = outcome.record && outcome.source && (outcome.status === 'completed' || outcome.status === 'failed')
      ? { heap: String(++heapCounter).padStart(64, '0'), code: outcome.source, limits: options.limits ?? limits, observed: outcome.record, outcome: { status: outcome.status, result: outcome.result, error: outcome.error }, textFormat: textFormatCurrent }
      : null;
    let live: string | null = null;
    if (outcome.kept !== undefined && outcome.kept !== null) {
      live = `live-${++liveCounter}`;
      engine.live.keep(outcome.kept, live);
    }
    return { outcome, lines, step, live };
  }

  const resume = (name: string): StatefulStart => ({ resume: name, history: () => Promise.reject(new Error(`${name} is not live`)) });
  const drop = (name: string | null): void => { if (name !== null) engine.live.drop(name); };

  /** Runs each code after the previous one, live; answers the steps and the last live context. */
  async function chain(codes: string[]): Promise<{ steps: ReplayStep[]; last: Stepped }> {
    const steps: ReplayStep[] = [];
    let start: StatefulStart = { replay: [] };
    let last: Stepped | null = null;
    for (const code of codes) {
      last = await runStateful(code, start);
      assert.ok(last.step !== null && last.live !== null, `run ${steps.length + 1} keeps a heap: ${last.outcome.error}`);
      steps.push(last.step);
      start = resume(last.live);
    }
    return { steps, last: last! };
  }
  return { runStateful, chain, resume, drop, live: engine.live, engine };
}
