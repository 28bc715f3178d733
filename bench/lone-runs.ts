// Stateless runs through the engine alone, one at a time (issue 23): the case where no run waits
// for a lane, so a run's isolate is asked for its next context after the run (isolate-pool.ts,
// `release`) rather than with its last call. Process CPU (all threads) per run, and the median
// and p95 of `engine.run`, back to back and then paced; run it from two checkouts in turns:
//   node --no-node-snapshot bench/lone-runs.ts [checkout=this one] [runs=2000] [paced runs=600] [gap ms=5]
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../src/exec/types.ts';

const root = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
const backToBack = Number(process.argv[3] ?? 2000);
const paced = Number(process.argv[4] ?? 600);
const gapMs = Number(process.argv[5] ?? 5);
const warmupRuns = 300;
const { createEngine } = await import(`${root}/src/exec/engine.ts`) as { createEngine: (options: { maxConcurrentExecutions: number }) => Promise<Engine> };
const engine = await createEngine({ maxConcurrentExecutions: 2 });
const limits = { heapMemoryMaxMb: 32, executionTimeoutMs: 30_000 };
const one = () => engine.run({ code: '1 + 1', limits, signal: new AbortController().signal, onConsoleLine: () => {} });

/** `count` runs, `gap` ms apart (0: back to back): CPU per run and the runs' median and p95 (ms). */
async function block(count: number, gap: number): Promise<string> {
  const cpu0 = process.cpuUsage();
  const walls: number[] = [];
  for (let index = 0; index < count; index++) {
    const start = performance.now();
    const outcome = await one();
    walls.push(performance.now() - start);
    if (outcome.status !== 'completed') throw new Error(`a run ended ${outcome.status}: ${outcome.error ?? ''}`);
    if (gap > 0) await new Promise((done) => setTimeout(done, gap));
  }
  const cpu = process.cpuUsage(cpu0);
  walls.sort((a, b) => a - b);
  const at = (share: number) => walls[Math.min(walls.length - 1, Math.floor(share * walls.length))]!.toFixed(3);
  return `${gap === 0 ? 'back to back' : `${gap} ms apart`}: CPU per run ${((cpu.user + cpu.system) / 1000 / count).toFixed(3)} ms, run p50 ${at(0.5)} p95 ${at(0.95)} ms`;
}

for (let index = 0; index < warmupRuns; index++) await one();
const lines = [await block(backToBack, 0), await block(paced, gapMs)];
process.stdout.write(`${root}: ${lines.join('; ')}\n`);
await engine.close();
process.exit(0);
