// What live heaps cost in memory (issue 23; docs/stateful.md, "Live heaps and memory"): the
// engine alone makes one-run stateful heaps (`var counter = …`), `--parallel` at a time, each kept
// live as the service's commit would, within `--bound-mb` of resident bytes (and `--max`
// contexts); then it reports the live contexts, the process's RSS, each live isolate's heap
// statistics (physical and used, on average) and the CPU per run of the whole process.
//   node --no-node-snapshot bench/live-memory.ts [--runs 3000] [--bound-mb 1024] [--max 100000] [--parallel 8]
import { parseArgs } from 'node:util';
import { createEngine } from '../src/exec/engine.ts';
import { numberArg } from './lib/args.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, 'bound-mb': { type: 'string' }, max: { type: 'string' }, parallel: { type: 'string' } }, strict: true });
const runs = numberArg('runs', values.runs, 3000, 1);
const boundMb = numberArg('bound-mb', values['bound-mb'], 1024, 1);
const parallel = numberArg('parallel', values.parallel, 8, 1);
const engine = await createEngine({ maxConcurrentExecutions: 2, liveHeapsMax: numberArg('max', values.max, 100_000, 1), liveHeapBytesMax: boundMb * 2 ** 20 });
const limits = { heapMemoryMaxMb: 64, executionTimeoutMs: 5_000 };
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
let made = 0;

async function oneHeap(): Promise<void> {
  const outcome = await engine.run({ code: 'var counter = (globalThis.counter ?? 0) + 1; counter', limits, signal: new AbortController().signal, stateful: { replay: [] }, onConsoleLine: () => undefined });
  if (outcome.kept === undefined || outcome.kept === null) throw new Error(`a run left no live context: ${outcome.status} ${outcome.error ?? ''}`);
  engine.live.keep(outcome.kept, `heap-${made++}`);
}

const rssStartBytes = process.memoryUsage().rss;
const cpuStart = process.cpuUsage();
for (let done = 0; done < runs; done += parallel) await Promise.all(Array.from({ length: Math.min(parallel, runs - done) }, oneHeap));
const cpu = process.cpuUsage(cpuStart);
// The live contexts' isolates, read through the cache's entries (a bench may look inside).
const entries = (engine.live as unknown as { entries: Map<string, { prepared: { isolate: { getHeapStatistics(): Promise<{ total_physical_size: number; used_heap_size: number }> } } }> }).entries;
let physicalBytes = 0;
let usedBytes = 0;
for (const live of entries.values()) {
  const heap = await live.prepared.isolate.getHeapStatistics();
  physicalBytes += heap.total_physical_size;
  usedBytes += heap.used_heap_size;
}
const count = Math.max(1, engine.live.size);
process.stdout.write(`${made} heaps made, ${engine.live.size} live holding ${mib(engine.live.heapBytes)} MiB (bound ${boundMb} MiB, ${engine.live.evictions} evicted); ` +
  `per live context: heap physical ${mib(physicalBytes / count)} MiB, used ${mib(usedBytes / count)} MiB; RSS ${mib(rssStartBytes)} → ${mib(process.memoryUsage().rss)} MiB; ` +
  `CPU per run ${((cpu.user + cpu.system) / 1000 / made).toFixed(2)} ms\n`);
await engine.close();
