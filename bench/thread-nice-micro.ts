// The cost of one look of src/exec/thread-nice.ts (sample()): read /proc/self/task and the stat
// of each isolate thread, in this process, with `--isolates` isolates made (isolated-vm's pool
// threads are made as isolates run). What it measures: CPU time (process.cpuUsage, user+system)
// per look, median of `--rounds` rounds of `--looks` looks. A look is made every sampleMs (10 ms)
// only while some run has used lookAfterMs (20 ms) of CPU, so the share of a core it costs then
// is cost ÷ sampleMs.
//   node --no-node-snapshot bench/thread-nice-micro.ts [--isolates 8 --looks 2000 --rounds 5]
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import ivm from 'isolated-vm';
import { sampleMs, ThreadNice } from '../src/exec/thread-nice.ts';
import { numberArg } from './lib/args.ts';

const { values } = parseArgs({ options: { isolates: { type: 'string' }, looks: { type: 'string' }, rounds: { type: 'string' } } });
const isolateCount = numberArg('isolates', values.isolates, 8, 1);
const looks = numberArg('looks', values.looks, 2000, 1);
const rounds = numberArg('rounds', values.rounds, 5, 1);

// Runs at once on as many pool threads as there are isolates, so the pool grows to them.
const isolates = Array.from({ length: isolateCount }, () => new ivm.Isolate({ memoryLimit: 8 }));
await Promise.all(isolates.map(async (isolate) => (await isolate.createContext()).eval('let n = 0; for (let i = 0; i < 1e7; i++) n += i; n')));
const nice = new ThreadNice({ runsCpu: () => ({ running: 0, mostMs: 0, long: 0 }), stuck: () => false });
const perLookUs: number[] = [];
for (let round = 0; round < rounds; round++) {
  const before = process.cpuUsage();
  for (let look = 0; look < looks; look++) nice.sample();
  const used = process.cpuUsage(before);
  perLookUs.push((used.user + used.system) / looks);
}
perLookUs.sort((a, b) => a - b);
const median = perLookUs[Math.floor(rounds / 2)]!;
console.log(`threads in the process: ${readdirSync('/proc/self/task').length}, isolates made: ${isolateCount}`);
console.log(`CPU per look: median ${median.toFixed(1)} µs (rounds ${perLookUs.map((us) => us.toFixed(1)).join(', ')}); at one look per ${sampleMs} ms: ${(median / (sampleMs * 10)).toFixed(2)} % of a core`);
for (const isolate of isolates) isolate.dispose();
