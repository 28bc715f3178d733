// What resuming a long history by replay costs (issue 23: a 1,000-run history within 100 ms):
// a chain of N stateful runs made live on the engine, then engine runs that start from a replay
// of all N steps (as a resume from storage does after a restart), timed and their CPU counted
// (all threads). Prints the median of the rounds: ms per replayed step, wall and CPU.
//   node --no-node-snapshot bench/replay-micro.ts [steps=1000] [rounds=5] [mixed|plain|data|web]
// `plain`: a history whose globals are all primitives, `data`: agent-like plain data (objects,
// arrays, a Map, Dates; no function) (docs/stateful.md, "Checkpoints"), resumed in turns by whole
// replay (A) and from its newest checkpoint plus the runs after it (B), A B A B; `web`: plain data
// made with URL, URLSearchParams and Headers (lazily built classes: the checkpoint names their
// group, and the restore builds it again). `mixed` declares a
// function every fifth run: no checkpoint, whole replay only.
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createEngine } from '../src/exec/engine.ts';
import type { ReplayStep, StatefulStart } from '../src/exec/types.ts';
import { textFormatCurrent } from '../src/model.ts';

const steps = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 5);
const kind = process.argv[4] ?? 'mixed';
if (kind !== 'mixed' && kind !== 'plain' && kind !== 'data' && kind !== 'web') throw new Error('the history kind is mixed, plain, data or web');
const engine = await createEngine({ maxConcurrentExecutions: 1 });
const limits = { heapMemoryMaxMb: 32, executionTimeoutMs: 30_000 };
// Agent-like runs: bindings of every kind, a function, objects, now and then a console line and a timer.
const plainCodeOf = (index: number): string => [
  `var total = (globalThis.total ?? 0) + ${index}; total`,
  `let note${index} = 'step ' + ${index} + ' at ' + Date.now(); note${index}.length`,
  `const draw${index} = Math.random(); draw${index} < 2`,
  `console.log('step', ${index}); total > -1`,
  `await new Promise((resolve) => setTimeout(resolve, 0)); var waited = ${index}; waited`,
][index % 5]!;
const mixedCodeOf = (index: number): string => [
  `var total = (globalThis.total ?? 0) + ${index}; total`,
  `let item${index} = { index: ${index}, tags: ['a', 'b'], at: Date.now() }; item${index}.index`,
  `function f${index}(x) { return x * ${index}; } f${index}(2)`,
  `console.log('step', ${index}); Math.random() < 2`,
  `await new Promise((resolve) => setTimeout(resolve, 0)); ${index}`,
][index % 5]!;
const dataCodeOf = (index: number): string => [
  `var total = (globalThis.total ?? 0) + ${index}; total`,
  `let item${index} = { index: ${index}, tags: ['a', 'b'], at: new Date(Date.now()) }; item${index}.index`,
  `var seen = globalThis.seen ?? new Map(); seen.set('k' + ${index}, { n: ${index}, last: item${index - 1} }); seen.size`,
  `console.log('step', ${index}); Math.random() < 2`,
  `await new Promise((resolve) => setTimeout(resolve, 0)); var rows = [...(globalThis.rows ?? []).slice(-20), [${index}, 'row']]; rows.length`,
][index % 5]!;
const webCodeOf = (index: number): string => index === 0 ? "var base = 'https://example.com/api/'; var auth = new Headers({ Authorization: 'Bearer t' }).get('authorization'); auth.length" : [
  `var total = (globalThis.total ?? 0) + ${index}; total`,
  `let link${index} = new URL('items/' + ${index} + '?page=2', base).href; link${index}.length`,
  `var query = new URLSearchParams({ q: 'step ' + ${index}, at: String(Date.now()) }).toString(); query.length`,
  `console.log('step', ${index}); new Headers([['x', String(${index})]]).get('x')`,
  `await new Promise((resolve) => setTimeout(resolve, 0)); var rows = [...(globalThis.rows ?? []).slice(-20), [${index}, new URL(base).host]]; rows.length`,
][index % 5]!;
const codeOf = kind === 'plain' ? plainCodeOf : kind === 'data' ? dataCodeOf : kind === 'web' ? webCodeOf : mixedCodeOf;

const history: ReplayStep[] = [];
let start: StatefulStart = { replay: [] };
/** The newest checkpoint the chain left: the run it follows, and its state. */
let newest: { index: number; state: string } | null = null;
for (let index = 0; index < steps; index++) {
  const outcome = await engine.run({ code: codeOf(index), limits, signal: new AbortController().signal, stateful: start, onConsoleLine: () => {} });
  if (outcome.status !== 'completed' || !outcome.record || outcome.kept == null || outcome.source == null) throw new Error(`step ${index}: ${outcome.status} ${outcome.error}`);
  const heap = String(index).padStart(64, '0');
  if (typeof outcome.checkpoint === 'string') newest = { index, state: outcome.checkpoint };
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
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
type Series = { wakes: number[]; wall: number[]; cpu: number[]; results: string[] };
const series = (): Series => ({ wakes: [], wall: [], cpu: [], results: [] });
const replayed = series();
const restored = series();
/** One timed resume, then `total` read. */
async function resume(into: Series, stateful: StatefulStart): Promise<void> {
  const wakes0 = threadWakes();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const outcome = await engine.run({ code: 'total', limits, signal: new AbortController().signal, stateful, onConsoleLine: () => {} });
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu0);
  into.wakes.push(threadWakes() - wakes0);
  if (outcome.status !== 'completed') throw new Error(`resume: ${outcome.status} ${outcome.error}`);
  if (outcome.kept != null) engine.live.release(outcome.kept);
  into.wall.push(elapsed);
  into.cpu.push((used.user + used.system) / 1000);
  into.results.push(outcome.result ?? '');
}
const checkpointed = newest;
if (kind !== 'mixed' && checkpointed === null) throw new Error(`the ${kind} history left no checkpoint`);
const loads: number[] = [];
for (let round = 0; round < rounds; round++) {
  loads.push(loadavg()[0]!);
  await resume(replayed, { replay: history });
  if (checkpointed !== null) {
    await resume(restored, {
      replay: history.slice(checkpointed.index + 1),
      checkpoint: { heap: history[checkpointed.index]!.heap, state: checkpointed.state, fallback: () => { throw new Error('the checkpoint was refused'); } },
    });
  }
}
await engine.close();
const report = (what: string, values: Series, replayedSteps: number) => `${what}: median ${median(values.wall).toFixed(1)} ms wall, ${median(values.cpu).toFixed(1)} ms CPU all threads (${(median(values.cpu) / steps).toFixed(3)} ms per recorded run), ${(median(values.wakes) / Math.max(1, replayedSteps)).toFixed(2)} thread wakes per replayed run; rounds ${values.cpu.map((v) => v.toFixed(0)).join(' ')} ms CPU`;
process.stdout.write(`${kind} history of ${steps} runs; load average ${loads.map((v) => v.toFixed(2)).join(' ')}\n`);
process.stdout.write(`  A ${report('whole replay', replayed, steps)}\n`);
if (checkpointed !== null) {
  if (restored.results.some((result) => result !== replayed.results[0])) throw new Error(`the resumed states differ: ${replayed.results[0]} against ${restored.results.join(', ')}`);
  process.stdout.write(`  B ${report(`checkpoint after run ${checkpointed.index + 1} and ${steps - checkpointed.index - 1} runs replayed`, restored, steps - checkpointed.index - 1)}\n`);
  process.stdout.write(`  B/A CPU ${(median(restored.cpu) / median(replayed.cpu)).toFixed(3)}, wall ${(median(restored.wall) / median(replayed.wall)).toFixed(3)}\n`);
}
