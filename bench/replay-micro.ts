// What resuming a long history by replay costs (issue 23: a 1,000-run history within 100 ms):
// a chain of N stateful runs made live on the engine, then engine runs that start from a replay
// of all N steps (as a resume from storage does after a restart), timed and their CPU counted
// (all threads). Prints the median of the rounds: ms per replayed step, wall and CPU.
//   node --no-node-snapshot bench/replay-micro.ts [steps=1000] [rounds=5]
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createEngine } from '../src/exec/engine.ts';
import type { ReplayStep, StatefulStart } from '../src/exec/types.ts';
import { textFormatCurrent } from '../src/model.ts';

const steps = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 5);
const engine = await createEngine({ maxConcurrentExecutions: 1 });
const limits = { heapMemoryMaxMb: 32, executionTimeoutMs: 30_000 };
// Agent-like runs: bindings of every kind, a function, objects, now and then a console line and a timer.
const codeOf = (index: number): string => [
  `var total = (globalThis.total ?? 0) + ${index}; total`,
  `let item${index} = { index: ${index}, tags: ['a', 'b'], at: Date.now() }; item${index}.index`,
  `function f${index}(x) { return x * ${index}; } f${index}(2)`,
  `console.log('step', ${index}); Math.random() < 2`,
  `await new Promise((resolve) => setTimeout(resolve, 0)); ${index}`,
][index % 5]!;

const history: ReplayStep[] = [];
let start: StatefulStart = { replay: [] };
for (let index = 0; index < steps; index++) {
  const outcome = await engine.run({ code: codeOf(index), limits, signal: new AbortController().signal, stateful: start, onConsoleLine: () => {} });
  if (outcome.status !== 'completed' || !outcome.record || outcome.kept == null || outcome.source == null) throw new Error(`step ${index}: ${outcome.status} ${outcome.error}`);
  const heap = String(index).padStart(64, '0');
  history.push({ heap, code: outcome.source, limits, observed: outcome.record, outcome: { status: outcome.status, result: outcome.result, error: outcome.error }, textFormat: textFormatCurrent });
  if ('resume' in start) engine.live.drop(start.resume);
  engine.live.keep(outcome.kept, heap);
  start = { resume: heap, history: () => Promise.reject(new Error(`${heap} is not live`)) };
}
if ('resume' in start) engine.live.drop(start.resume);

/** Voluntary context switches of all threads but the main one (isolate threads waking for calls), robust to a busy machine. */
function threadWakes(): number {
  let sum = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (tid === String(process.pid)) continue;
    try { sum += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))?.[1] ?? 0); } catch { /* ended */ }
  }
  return sum;
}
const wakes: number[] = [];
const wall: number[] = [];
const cpu: number[] = [];
for (let round = 0; round < rounds; round++) {
  const wakes0 = threadWakes();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const outcome = await engine.run({ code: 'total', limits, signal: new AbortController().signal, stateful: { replay: history }, onConsoleLine: () => {} });
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu0);
  wakes.push(threadWakes() - wakes0);
  if (outcome.status !== 'completed') throw new Error(`resume: ${outcome.status} ${outcome.error}`);
  if (outcome.kept != null) engine.live.release(outcome.kept);
  wall.push(elapsed);
  cpu.push((used.user + used.system) / 1000);
}
await engine.close();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
process.stdout.write(`resume of a ${steps}-run history by replay: median ${median(wall).toFixed(1)} ms wall (${(median(wall) / steps).toFixed(3)} ms/step), ${median(cpu).toFixed(1)} ms CPU all threads (${(median(cpu) / steps).toFixed(3)} ms/step), ${(median(wakes) / steps).toFixed(2)} thread wakes/step; rounds ${wall.map((v) => v.toFixed(0)).join(' ')} ms; load average ${loadavg()[0]!.toFixed(2)}\n`);
