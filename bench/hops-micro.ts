// What each isolate call of a stateless run costs in CPU (all threads), on the engine's own pool:
// variants add the engine's calls one at a time to the raw floor (new context, eval, copy).
//   node --no-node-snapshot bench/hops-micro.ts [runs]
import ivm from 'isolated-vm';
import { attachAndRun, attachContext, heapBytesOf, preludeSource, type PreparedContext } from '../src/exec/isolate-pool.ts';

const runs = Number(process.argv[2] ?? 1500);
const code = 'Math.sqrt(144)';
const snapshot = ivm.Isolate.createSnapshot([{ code: preludeSource, filename: 'mcp-v8:prelude' }]);
const snapIsolate = new ivm.Isolate({ memoryLimit: 64, snapshot });
const pool = {
  async acquire(_mb: number): Promise<PreparedContext> {
    const context = await snapIsolate.createContext();
    const log = new ivm.Callback(() => {}, { ignored: true });
    return { isolate: snapIsolate, contextsCreated: 1, context, control: null, log, runs: 0, route: { sink: null, batchesReceived: 0, onBatch: null }, successor: null };
  },
};
const floorIsolate = new ivm.Isolate({ memoryLimit: 64 });

/** A context attached (with `log`) and the snippet evaluated, sent together as a run sends them. */
async function attachedRun(log?: ivm.Callback): Promise<{ prepared: PreparedContext; control: NonNullable<PreparedContext['control']>; completion: ivm.Reference<unknown> }> {
  const prepared = await pool.acquire(8);
  if (log !== undefined) prepared.log = log;
  const attaching = attachContext(prepared, 1, 8);
  const evaluating = prepared.context.eval(code, { reference: true }) as Promise<ivm.Reference<unknown>>;
  const control = await attaching;
  return { prepared, control, completion: await evaluating };
}
function releaseRun({ prepared, control, completion }: Awaited<ReturnType<typeof attachedRun>>): void {
  completion.release();
  control.release();
  prepared.context.release();
}
const settle = ({ control, completion }: Awaited<ReturnType<typeof attachedRun>>) =>
  control.apply(undefined, ['settle', completion.derefInto()] as never, { result: { copy: true } });
const sharedLog = new ivm.Callback(() => {}, { ignored: true });
type Variant = [string, () => Promise<void>];
const variants: Variant[] = [
  ['raw floor: createContext, eval copy', async () => {
    const context = await floorIsolate.createContext();
    await context.eval(code, { copy: true });
    context.release();
  }],
  ['snapshot isolate: createContext, eval copy', async () => {
    const prepared = await pool.acquire(8);
    await prepared.context.eval(code, { copy: true });
    prepared.context.release();
  }],
  ['+ attach (evalClosure) sent with eval', async () => releaseRun(await attachedRun())],
  ['+ attach, one console callback per isolate', async () => releaseRun(await attachedRun(sharedLog))],
  ['+ settle', async () => {
    const run = await attachedRun();
    await settle(run);
    releaseRun(run);
  }],
  ['+ heap reading (engine-like)', async () => {
    const run = await attachedRun();
    const settling = settle(run);
    const bytes = heapBytesOf(run.prepared.isolate);
    await settling;
    await bytes;
    releaseRun(run);
  }],
  ['one call: attach, eval, settle in one call, state behind it, heap reading (the engine now)', async () => {
    const prepared = await pool.acquire(8);
    prepared.runs = 1;
    const { attached, state } = attachAndRun(prepared, 1, 8, { fetch: false, fs: false, fetchRequestBytesMax: 0, fsWriteBytesMax: 0 }, null, `${code}\n//# sourceURL=main.js`);
    const bytes = heapBytesOf(prepared.isolate);
    const control = await attached;
    await state;
    await bytes;
    control.release();
    prepared.context.release();
  }],
];
const results = new Map<string, number[]>();
const mainResults = new Map<string, number[]>();
for (let round = 0; round < 5; round++) {
  for (const [name, fn] of variants) {
    for (let i = 0; i < 100; i++) await fn();
    const before = process.cpuUsage();
    const mainBefore = process.threadCpuUsage();
    for (let i = 0; i < runs; i++) await fn();
    const cpu = process.cpuUsage(before);
    const main = process.threadCpuUsage(mainBefore);
    const list = results.get(name) ?? [];
    list.push((cpu.user + cpu.system) / 1000 / runs);
    results.set(name, list);
    const mainList = mainResults.get(name) ?? [];
    mainList.push((main.user + main.system) / 1000 / runs);
    mainResults.set(name, mainList);
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
for (const [name, list] of results) process.stdout.write(`${median(list).toFixed(3)} ms CPU/run (main thread ${median(mainResults.get(name)!).toFixed(3)})  ${name}  (rounds ${list.map((v) => v.toFixed(3)).join(' ')})\n`);
// Heap bytes a new context takes (the part of its cost that does not depend on the machine's load).
async function bytesPerContext(isolate: ivm.Isolate): Promise<number> {
  const held: ivm.Context[] = [await isolate.createContext()];
  const before = await isolate.getHeapStatistics();
  for (let i = 0; i < 40; i++) held.push(await isolate.createContext());
  const after = await isolate.getHeapStatistics();
  for (const context of held) context.release();
  return (after.used_heap_size - before.used_heap_size) / 40 / 1024;
}
process.stdout.write(`heap per new context: plain ${(await bytesPerContext(new ivm.Isolate({ memoryLimit: 128 }))).toFixed(1)} KiB, from the prelude's snapshot ${(await bytesPerContext(new ivm.Isolate({ memoryLimit: 128, snapshot }))).toFixed(1)} KiB\n`);
process.exit(0);
