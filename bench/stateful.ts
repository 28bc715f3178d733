// Stateful mode micro-benchmarks (issue 3), in-process on real storage (heap directory, LevelDB),
// through the execution service as a tool call reaches it:
//   resume-live : run_js on a heap this node holds live, in turns with a fresh stateful run and a
//                 stateless run of the same code (A B C A B C …): the time resuming adds (target
//                 ≤ 1 ms), and what saving a heap costs;
//   history     : after a "restart" (new engine, empty caches), a run on the last heap of a
//                 100-run history, which replays it from storage (target ≤ 50 ms); also 10 and 50;
//   bytes       : stored bytes of the heap of a small run (target ≤ 4 KiB).
// Prints a Markdown section; `--write` appends it to bench/RESULTS.md.
import { execSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createEngine } from '../src/exec/engine.ts';
import { HeapService } from '../src/service/heaps.ts';
import { ExecutionService } from '../src/service/executions.ts';
import { Metrics } from '../src/metrics.ts';
import { DirectoryHeapStore } from '../src/storage/directory-heap-store.ts';
import { ExecutionStore } from '../src/storage/execution-store.ts';
import { SessionDb } from '../src/storage/session-db.ts';

process.env.TZ = 'UTC';
const root = mkdtempSync(join(os.tmpdir(), 'mcp-v8-bench-stateful-'));
const pairs = Number(process.env.BENCH_PAIRS ?? 300);
const historyRepeats = Number(process.env.BENCH_HISTORY_REPEATS ?? 9);

async function openNode(name: string) {
  const engine = await createEngine({ maxConcurrentExecutions: 1 });
  const store = await ExecutionStore.open({ path: join(root, `executions-${name}`) });
  const heapStore = await DirectoryHeapStore.open(join(root, 'heaps'));
  const sessions = await SessionDb.open(join(root, `sessions-${name}`));
  const heaps = new HeapService({ store: heapStore, sessions });
  const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'bench', heaps });
  // The same engine and execution store without heaps: a stateless run, the floor of a stateful one.
  const stateless = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'bench' });
  async function runStateless(code: string): Promise<number> {
    const started = performance.now();
    const id = await stateless.submit({ code, heapMemoryMaxMb: 8, executionTimeoutSecs: 30 });
    const record = await stateless.wait(id, 60_000);
    if (record.status !== 'completed') throw new Error(`${code}: ${record.status} ${record.error}`);
    return performance.now() - started;
  }
  async function run(code: string, heap: string | null = null): Promise<{ heap: string; ms: number; result: string | null }> {
    const started = performance.now();
    const id = await service.submit({ code, heapMemoryMaxMb: 8, executionTimeoutSecs: 30, stateful: { heap } });
    const record = await service.wait(id, 60_000);
    const ms = performance.now() - started;
    if (record.status !== 'completed' || record.heap === null) throw new Error(`${code}: ${record.status} ${record.error}`);
    return { heap: record.heap, ms, result: record.result };
  }
  async function close() {
    await service.close();
    await engine.close();
    await store.close();
    await sessions.close();
  }
  return { run, runStateless, close, heaps, heapStore };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.95))]!;
const f = (value: number) => value.toFixed(2);

// A notebook-like cell: defines, computes, reads the clock and randomness, awaits a timer.
function cell(index: number): string {
  return index === 0
    ? 'var rows = []; function score(row) { return row.value * 2 + row.id } class Stats { constructor() { this.n = 0 } add() { return ++this.n } } var stats = new Stats(); rows.length'
    : `rows.push({ id: ${index}, value: Math.random(), at: Date.now() }); stats.add(); ${index % 10 === 0 ? 'await new Promise((done) => setTimeout(done, 1)); ' : ''}rows.map(score).reduce((a, b) => a + b, 0) > 0`;
}

// ---- resume live vs fresh ----
const node = await openNode('a');
let live = (await node.run('var x = 0; x')).heap;
for (let index = 0; index < 50; index++) { live = (await node.run('x + 1', live)).heap; await node.run('var y = 1; y + 1'); }
const resumeMs: number[] = [];
const freshMs: number[] = [];
const statelessMs: number[] = [];
for (let index = 0; index < pairs; index++) {
  statelessMs.push(await node.runStateless('var y = 1; y + 1'));
  freshMs.push((await node.run('var y = 1; y + 1')).ms);
  const resumed = await node.run('x + 1', live);
  resumeMs.push(resumed.ms);
  live = resumed.heap;
}

// ---- bytes of a small run ----
const small = await node.run('var x = 1; x');
const smallBytes = statSync(join(root, 'heaps', small.heap.slice(0, 2), small.heap)).size;
const cellBytes = statSync(join(root, 'heaps', live.slice(0, 2), live)).size;

// ---- histories replayed from storage ----
const historyLengths = [10, 50, 100];
const tips = new Map<number, string>();
let tip: string | null = null;
for (let index = 0; index < 100; index++) {
  tip = (await node.run(cell(index), tip)).heap;
  if (historyLengths.includes(index + 1)) tips.set(index + 1, tip);
}
const lastCellBytes = statSync(join(root, 'heaps', tip!.slice(0, 2), tip!)).size;
await node.close();

const replayMs = new Map<number, number[]>(historyLengths.map((length) => [length, []]));
for (let repeat = 0; repeat < historyRepeats; repeat++) {
  for (const length of historyLengths) {
    // A restarted node: a new engine, nothing live, no record cached; the heap files are on disk.
    const restarted = await openNode(`r${repeat}-${length}`);
    // A restarted server is warm before it is measured: its first isolate and prelude compile
    // belong to startup, not to the resume.
    await restarted.run('0');
    const resumed = await restarted.run('rows.length', tips.get(length)!);
    if (resumed.result !== String(length - 1)) throw new Error(`history ${length}: rows.length ${resumed.result}`);
    replayMs.get(length)!.push(resumed.ms);
    await restarted.close();
  }
}

const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
const commit = execSync('git rev-parse --short HEAD').toString().trim();
const lines = [
  '',
  `## Stateful mode micro-benchmarks (\`npm run bench:stateful\`, commit ${commit}, ${new Date().toISOString().slice(0, 10)})`,
  `Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}; in-process through the execution service, heaps in a local directory, LevelDB sessions.`,
  '',
  '| measure | median | p95 | target |',
  '|---|---|---|---|',
  `| stateless run (\`var y = 1; y + 1\`), ms | ${f(median(statelessMs))} | ${f(p95(statelessMs))} | |`,
  `| fresh stateful run (same code, stores a heap: record written and fsynced), ms | ${f(median(freshMs))} | ${f(p95(freshMs))} | |`,
  `| resume of a live heap (\`x + 1\`, stores a heap), ms | ${f(median(resumeMs))} | ${f(p95(resumeMs))} | |`,
  `| **added by resuming live** (median of resume − median of fresh stateful, ${pairs} A/B/C rounds) | ${f(median(resumeMs) - median(freshMs))} ms | | ≤ 1 ms |`,
  `| cost of saving a heap (median of fresh stateful − median of stateless) | ${f(median(freshMs) - median(statelessMs))} ms | | |`,
  ...historyLengths.map((length) => `| resume of a ${length}-run history from storage after a restart, ms (${historyRepeats} restarts) | ${f(median(replayMs.get(length)!))} | ${f(p95(replayMs.get(length)!))} | ${length === 100 ? '≤ 50 ms' : ''} |`),
  `| stored bytes of \`var x = 1; x\` | ${smallBytes} B | | ≤ 4 KiB |`,
  `| stored bytes of a notebook cell (\`x + 1\`; the 100th history cell) | ${cellBytes} B; ${lastCellBytes} B | | |`,
  '',
];
const text = lines.join('\n');
console.log(text);
if (process.argv.includes('--write')) appendFileSync(new URL('./RESULTS.md', import.meta.url), text);
