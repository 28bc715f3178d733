// Micro benchmark of one stateless execution through the engine against the floor that
// isolated-vm allows on the same machine and in the same process:
//   floor  = a new context on a warm isolate, compile and run the snippet, copy the result out;
//   engine = engine.run() with the load test's snippets (TypeScript stripping, prelude, console,
//            event loop, completion value formatting, limits, the next context prepared ahead).
// Phase 1 alternates A B A B for latency (medians, p95, ratio); phase 2 runs blocks of each to
// count the CPU a run costs in all threads (the isolates' included), the figure the 1 ms budget
// is about. Prints a Markdown section; `--write` puts it into bench/RESULTS.md.
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import ivm from 'isolated-vm';
import { createEngine } from '../src/exec/engine.ts';

const snippets = [
  '1 + 1', 'Math.sqrt(144)', 'JSON.stringify({a: 1, b: 2})',
  'Array.from({length: 10}, (_, i) => i * i).reduce((a, b) => a + b, 0)', "'hello'.repeat(3)",
  'Date.now()', 'Object.keys({x: 1, y: 2, z: 3}).length', '[1,2,3,4,5].filter(n => n % 2 === 0).map(n => n * 10)',
];
const warmupRuns = 300;
const latencyPairs = Number(process.env.BENCH_PAIRS ?? 2_000);
const cpuBlockRuns = 500;
const cpuBlocks = 4;
const limits = { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 };

const engine = await createEngine({ maxConcurrentExecutions: 1 });
// The floor's isolate gets 64 MiB: with 8 MiB a tight loop of contexts can exhaust the heap
// before V8 collects the released ones (isolated-vm issue #42). More heap only makes the floor
// cheaper (fewer collections), so the comparison stays conservative.
const floorMemoryMb = 64;
const floorIsolate = new ivm.Isolate({ memoryLimit: floorMemoryMb });

async function runFloor(code: string): Promise<unknown> {
  const context = await floorIsolate.createContext();
  const script = await floorIsolate.compileScript(code);
  const value = await script.run(context, { timeout: limits.executionTimeoutMs, copy: true });
  script.release();
  context.release();
  return value;
}

async function runEngine(code: string): Promise<unknown> {
  const outcome = await engine.run({ code, limits, signal: new AbortController().signal, onConsoleLine: () => {} });
  if (outcome.status !== 'completed') throw new Error(`${code}: ${outcome.status} ${outcome.error}`);
  return outcome.result;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function timed(fn: (code: string) => Promise<unknown>, code: string): Promise<number> {
  const started = process.hrtime.bigint();
  await fn(code);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function cpuPerRunMs(fn: (code: string) => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  for (let index = 0; index < cpuBlockRuns; index++) await fn(snippets[index % snippets.length]!);
  const used = process.cpuUsage(before);
  await new Promise((resolve) => setTimeout(resolve, 20));
  return (used.user + used.system) / 1000 / cpuBlockRuns;
}

for (let index = 0; index < warmupRuns; index++) {
  await runFloor(snippets[index % snippets.length]!);
  await runEngine(snippets[index % snippets.length]!);
}
const floorMs: number[] = [];
const engineMs: number[] = [];
for (let index = 0; index < latencyPairs; index++) {
  const code = snippets[index % snippets.length]!;
  floorMs.push(await timed(runFloor, code));
  engineMs.push(await timed(runEngine, code));
}
const floorCpu: number[] = [];
const engineCpu: number[] = [];
for (let block = 0; block < cpuBlocks; block++) {
  floorCpu.push(await cpuPerRunMs(runFloor));
  engineCpu.push(await cpuPerRunMs(runEngine));
}
await engine.close();
floorIsolate.dispose();

// Phase 3: throughput with one slot per CPU, runs kept in flight as the service would.
const throughputRuns = 4_000;
const inFlightMax = 64;
const slots = os.availableParallelism();
const parallelEngine = await createEngine({ maxConcurrentExecutions: slots });
const runParallel = async (code: string) => {
  const outcome = await parallelEngine.run({ code, limits, signal: new AbortController().signal, onConsoleLine: () => {} });
  if (outcome.status !== 'completed') throw new Error(`${code}: ${outcome.status} ${outcome.error}`);
};
for (let index = 0; index < warmupRuns; index++) await runParallel(snippets[index % snippets.length]!);
const throughputCpuBefore = process.cpuUsage();
const throughputStarted = performance.now();
let submitted = 0;
await Promise.all(Array.from({ length: inFlightMax }, async () => {
  while (submitted < throughputRuns) await runParallel(snippets[submitted++ % snippets.length]!);
}));
const throughputSeconds = (performance.now() - throughputStarted) / 1000;
const throughputCpu = process.cpuUsage(throughputCpuBefore);
await parallelEngine.close();
const runsPerSecond = throughputRuns / throughputSeconds;
const throughputCpuPerRunMs = (throughputCpu.user + throughputCpu.system) / 1000 / throughputRuns;

const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
const nproc = execSync('nproc').toString().trim();
const commit = (() => {
  try {
    const dirty = execSync('git status --porcelain -- src', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '';
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() + (dirty ? ' with uncommitted changes in src/' : '');
  } catch {
    return 'unknown (not a git checkout)';
  }
})();
const medianFloor = quantile(floorMs, 0.5);
const medianEngine = quantile(engineMs, 0.5);
const medianFloorCpu = quantile(floorCpu, 0.5);
const medianEngineCpu = quantile(engineCpu, 0.5);
const fixed = (value: number) => value.toFixed(3);
const section = `## Execution engine micro-benchmark

Measured ${new Date().toISOString().slice(0, 10)} on ${nproc} CPUs (nproc), ${cpuModel}, Node ${process.version}
(1-minute load ${os.loadavg()[0]!.toFixed(2)} at the end: the machine is shared); \`npm run bench:micro\`.
${latencyPairs} runs of each, alternating floor / engine over the load test's 8 snippets, after ${warmupRuns} warm-up runs;
CPU per run (all threads, the isolates' included) is the median of ${cpuBlocks} blocks of ${cpuBlockRuns} runs.
Floor: a new context on a warm isolate (${floorMemoryMb} MiB), compile, run, copy the result (raw isolated-vm, async API).
Engine: \`engine.run()\` with 8 MiB and 30 s limits, one slot; its next context is prepared after each run (counted in CPU).
The engine's latency is below the floor's because the context is made ahead, off the request path; its CPU
is above because every run also attaches the prelude (console, timers, inspect, web globals, determinism;
the isolate starts from a V8 snapshot of it) and settles the completion value: ${fixed(medianEngineCpu - medianFloorCpu)} ms
per run in this measurement. Commit ${commit}.

| Measurement | Floor | Engine | Ratio |
| --- | ---: | ---: | ---: |
| Latency median (ms) | ${fixed(medianFloor)} | ${fixed(medianEngine)} | ${(medianEngine / medianFloor).toFixed(2)} |
| Latency p95 (ms) | ${fixed(quantile(floorMs, 0.95))} | ${fixed(quantile(engineMs, 0.95))} | ${(quantile(engineMs, 0.95) / quantile(floorMs, 0.95)).toFixed(2)} |
| CPU per run (ms) | ${fixed(medianFloorCpu)} | ${fixed(medianEngineCpu)} | ${(medianEngineCpu / medianFloorCpu).toFixed(2)} |

Throughput of the engine alone with ${slots} slots and ${inFlightMax} runs in flight (${throughputRuns} runs of the same snippets):
${Math.round(runsPerSecond)} runs/s, ${fixed(throughputCpuPerRunMs)} ms CPU per run (all threads).
`;
process.stdout.write(section);

if (process.argv.includes('--write')) {
  const path = new URL('./RESULTS.md', import.meta.url);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const heading = '## Execution engine micro-benchmark';
  const start = current.indexOf(heading);
  let next: string;
  if (start === -1) next = `${current.trimEnd()}\n\n${section}`;
  else {
    const end = current.indexOf('\n## ', start + heading.length);
    next = current.slice(0, start) + section + (end === -1 ? '' : '\n' + current.slice(end + 1));
  }
  writeFileSync(path, next);
}
