// What the two thread hops of an isolate call cost when the machine is idle between calls (issue
// 23: at 100 runs/s each run finds the isolate's thread and the event loop asleep). One call of
// `return 1` to a warm isolate every --gap ms, round trip timed on the main thread, in turns of:
//   plain     the call, the event loop sleeping in epoll until the answer wakes it;
//   spin      the event loop kept awake (a setImmediate chain) until the answer, so only the
//             isolate's thread is woken;
//   sync      applySync on the main thread: no hop at all (the floor of the call itself).
// Medians and p95 per mode (µs), pooled over the rounds.
//   node --no-node-snapshot bench/hop-wake.ts [--calls 300] [--rounds 5] [--gap 10]
import ivm from 'isolated-vm';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { percentile } from './lib/stats.ts';

const { values } = parseArgs({ options: { calls: { type: 'string' }, rounds: { type: 'string' }, gap: { type: 'string' } }, strict: true });
const calls = numberArg('calls', values.calls, 300, 10);
const rounds = numberArg('rounds', values.rounds, 5, 1);
const gapMs = numberArg('gap', values.gap, 10, 0);
const modes = ['plain', 'spin', 'sync'] as const;

const isolate = new ivm.Isolate({ memoryLimit: 16 });
const context = await isolate.createContext();
const fn = await context.eval('(function () { return 1; })', { reference: true }) as ivm.Reference<() => number>;
const nowUs = () => Number(process.hrtime.bigint()) / 1000;

async function once(mode: typeof modes[number]): Promise<number> {
  const start = nowUs();
  if (mode === 'sync') {
    fn.applySync(undefined, []);
    return nowUs() - start;
  }
  let done = false;
  const answer = fn.apply(undefined, []).then(() => { done = true; });
  if (mode === 'spin') {
    await new Promise<void>((resolve) => {
      const tick = () => (done ? resolve() : setImmediate(tick));
      setImmediate(tick);
    });
  }
  await answer;
  return nowUs() - start;
}

const samples = new Map<string, number[]>(modes.map((mode) => [mode, []]));
const load0 = loadavg()[0]!;
for (let round = 0; round < rounds; round++) {
  for (const mode of modes) {
    for (let i = 0; i < calls; i++) {
      await new Promise((resolve) => setTimeout(resolve, gapMs));
      samples.get(mode)!.push(await once(mode));
    }
  }
}
console.log(`${calls} calls × ${rounds} rounds per mode, ${gapMs} ms apart; load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`);
console.log('| mode | p50 µs | p95 µs | p99 µs |\n| --- | --- | --- | --- |');
for (const [mode, values] of samples) {
  const sorted = values.sort((a, b) => a - b);
  console.log(`| ${mode} | ${percentile(sorted, 50).toFixed(0)} | ${percentile(sorted, 95).toFixed(0)} | ${percentile(sorted, 99).toFixed(0)} |`);
}
isolate.dispose();
