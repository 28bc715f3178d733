// What the two thread hops of an isolate call cost when the machine is idle between calls (issue
// 23: at 100 runs/s each run finds the isolate's thread and the event loop asleep). One call of
// `return 1` to a warm isolate every --gap ms, round trip timed on the main thread, in turns of:
//   plain     the call, the event loop sleeping in epoll until the answer wakes it;
//   spin      the event loop kept awake (a setImmediate chain) until the answer, so only the
//             isolate's thread is woken;
//   prewake   before its --work, the host sends the isolate a task that spins (bounded) on a shared
//             flag; the call is sent behind it and the flag set: the call finds the thread awake;
//   sync      applySync on the main thread: no hop at all (the floor of the call itself).
// Each call is preceded by --work µs of main-thread work (what a request's parse and submit cost
// before its run is sent), timed from its start, as a request's would be.
// Medians and p95 per mode (µs), pooled over the rounds.
//   node --no-node-snapshot bench/hop-wake.ts [--calls 300] [--rounds 5] [--gap 10]
import ivm from 'isolated-vm';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { percentile } from './lib/stats.ts';

const { values } = parseArgs({ options: { calls: { type: 'string' }, rounds: { type: 'string' }, gap: { type: 'string' }, work: { type: 'string' } }, strict: true });
const calls = numberArg('calls', values.calls, 300, 10);
const rounds = numberArg('rounds', values.rounds, 5, 1);
const gapMs = numberArg('gap', values.gap, 10, 0);
const workUs = numberArg('work', values.work, 200, 0);
const modes = ['plain', 'spin', 'prewake', 'sync'] as const;

const isolate = new ivm.Isolate({ memoryLimit: 16 });
const context = await isolate.createContext();
const fn = await context.eval('(function () { return 1; })', { reference: true }) as ivm.Reference<() => number>;
const nowUs = () => Number(process.hrtime.bigint()) / 1000;
const flag = new Int32Array(new SharedArrayBuffer(4));
const spinner = await context.eval(`(function (flag, untilMs) { const view = new Int32Array(flag); while (Atomics.load(view, 0) === 0 && Date.now() < untilMs) {} })`, { reference: true }) as ivm.Reference<(flag: unknown, untilMs: number) => void>;
const flagCopy = new ivm.ExternalCopy(flag.buffer);
function work(start: number): void {
  while (nowUs() - start < workUs) { /* the request's own main-thread work */ }
}

async function once(mode: typeof modes[number]): Promise<number> {
  const start = nowUs();
  let spun: Promise<unknown> | null = null;
  if (mode === 'prewake') {
    Atomics.store(flag, 0, 0);
    spun = spinner.apply(undefined, [flagCopy.copyInto(), Date.now() + 2]);
  }
  work(start);
  if (mode === 'sync') {
    fn.applySync(undefined, []);
    return nowUs() - start;
  }
  let done = false;
  const answer = fn.apply(undefined, []).then(() => { done = true; });
  if (spun !== null) Atomics.store(flag, 0, 1);
  if (mode === 'spin') {
    await new Promise<void>((resolve) => {
      const tick = () => (done ? resolve() : setImmediate(tick));
      setImmediate(tick);
    });
  }
  await answer;
  const took = nowUs() - start;
  await spun;
  return took;
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
console.log(`${calls} calls × ${rounds} rounds per mode, ${gapMs} ms apart, ${workUs} µs of work before each; load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`);
console.log('| mode | p50 µs | p95 µs | p99 µs |\n| --- | --- | --- | --- |');
for (const [mode, values] of samples) {
  const sorted = values.sort((a, b) => a - b);
  console.log(`| ${mode} | ${percentile(sorted, 50).toFixed(0)} | ${percentile(sorted, 95).toFixed(0)} | ${percentile(sorted, 99).toFixed(0)} |`);
}
isolate.dispose();
