// The engine alone under a steady stream of stateless runs (issue 23): CPU of all threads per run
// and runs/s, with nothing else in the process, and a pause point for a profiler:
//   RUNS=2000 SLOTS=2 node --no-node-snapshot bench/engine-cpu.ts
// It prints `READY <pid>` once warm (then `perf record -g -p <pid>` sees only the measured runs),
// then `runs N cpu/run X ms, Y runs/s`. The snippets are the load test's; limits as bench:micro's
// (8 MiB, so an isolate is retired every ≈ 15 runs; HEAP_MB=32 for the server's default).
import { createEngine } from '../src/exec/engine.ts';

const snippets = [
  '1 + 1', 'Math.sqrt(144)', 'JSON.stringify({a: 1, b: 2})',
  'Array.from({length: 10}, (_, i) => i * i).reduce((a, b) => a + b, 0)', "'hello'.repeat(3)",
  'Date.now()', 'Object.keys({x: 1, y: 2, z: 3}).length', '[1,2,3,4,5].filter(n => n % 2 === 0).map(n => n * 10)',
];
const limits = { heapMemoryMaxMb: Number(process.env.HEAP_MB ?? 8), executionTimeoutMs: 30_000 };
const slots = Number(process.env.SLOTS ?? 2);
const runs = Number(process.env.RUNS ?? 2000);
const warmupRuns = 500;
const engine = await createEngine({ maxConcurrentExecutions: slots });

let next = 0;
async function stream(until: number): Promise<void> {
  while (next < until) {
    const code = snippets[next++ % snippets.length]!;
    const outcome = await engine.run({ code, limits, signal: new AbortController().signal, onConsoleLine: () => {} });
    if (outcome.status !== 'completed') throw new Error(`${code}: ${outcome.status} ${outcome.error}`);
  }
}
await Promise.all(Array.from({ length: slots }, () => stream(warmupRuns)));
process.stderr.write(`READY ${process.pid}\n`);
const before = process.cpuUsage();
const started = performance.now();
await Promise.all(Array.from({ length: slots }, () => stream(warmupRuns + runs)));
const used = process.cpuUsage(before);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`runs ${runs} cpu/run ${((used.user + used.system) / 1000 / runs).toFixed(3)} ms, ${(runs / seconds).toFixed(0)} runs/s\n`);
await engine.close();
process.exit(0);
