// The event loop kept awake while a lone run's isolate works (src/exec/loop-awake.ts), against the
// loop sleeping (the default), on the engine alone (no HTTP): one stateless run every --gap ms, time
// from engine.run to its outcome, in turns of --block runs: off, on (the load-average gate as
// shipped), forced (the gate ignored, to see what spinning does on a busy machine). Medians and
// p95 per mode (µs), pooled, with the event loop's CPU per run and the load average.
//   node --no-node-snapshot bench/engine-awake.ts [--runs 600] [--block 50] [--gap 10]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/exec/engine.ts';
import { LoopAwake } from '../src/exec/loop-awake.ts';
import { numberArg } from './lib/args.ts';
import { snippets } from './lib/snippets.ts';
import { percentile } from './lib/stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, block: { type: 'string' }, gap: { type: 'string' } }, strict: true });
const runs = numberArg('runs', values.runs, 600, 10);
const block = numberArg('block', values.block, 50, 1);
const gapMs = numberArg('gap', values.gap, 10, 0);
const limits = { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 };

const forced = new LoopAwake({ loadAverage: () => 0 });
const modes = [
  { name: 'off (the default)', engine: await createEngine({ maxConcurrentExecutions: 2, warmMemoryMb: 8 }) },
  { name: 'on (gated by load)', engine: await createEngine({ maxConcurrentExecutions: 2, warmMemoryMb: 8, loopAwake: new LoopAwake() }) },
  { name: 'forced', engine: await createEngine({ maxConcurrentExecutions: 2, warmMemoryMb: 8, loopAwake: forced }) },
];
const samples = modes.map(() => [] as number[]);
const cpuUs = modes.map(() => 0);
const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const load0 = loadavg()[0]!;
let i = 0;
for (let done = 0; done < runs; done += block) {
  for (const [index, mode] of modes.entries()) {
    for (let k = 0; k < block; k++) {
      await new Promise((resolve) => setTimeout(resolve, gapMs));
      const cpu0 = process.threadCpuUsage();
      const start = nowUs();
      const outcome = await mode.engine.run({ code: snippets[i++ % snippets.length]!, limits, signal: new AbortController().signal, onConsoleLine: () => undefined });
      samples[index]!.push(nowUs() - start);
      const cpu = process.threadCpuUsage(cpu0);
      cpuUs[index]! += cpu.user + cpu.system;
      if (outcome.status !== 'completed') throw new Error(`a run ${outcome.status}: ${outcome.error}`);
    }
  }
}
console.log(`${runs} runs per mode in blocks of ${block}, ${gapMs} ms apart; load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}; forced spin turns ${forced.turns}`);
console.log('| mode | p50 µs | p95 µs | p99 µs | event-loop CPU µs/run (to the outcome) |\n| --- | --- | --- | --- | --- |');
for (const [index, mode] of modes.entries()) {
  const sorted = samples[index]!.sort((a, b) => a - b);
  console.log(`| ${mode.name} | ${percentile(sorted, 50).toFixed(0)} | ${percentile(sorted, 95).toFixed(0)} | ${percentile(sorted, 99).toFixed(0)} | ${(cpuUs[index]! / sorted.length).toFixed(0)} |`);
}
for (const mode of modes) await mode.engine.close();
