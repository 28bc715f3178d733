// What each isolate call of a stateless run costs in CPU (all threads), on the engine's own pool:
// variants add the engine's calls one at a time to the raw floor (new context, eval, copy).
//   node --no-node-snapshot bench/hops-micro.ts [runs]
import ivm from 'isolated-vm';
import { readFileSync } from 'node:fs';
import { attachContext, heapBytesOf, preludeParts, sandboxFiles, type PreparedContext } from '../src/exec/isolate-pool.ts';

const runs = Number(process.argv[2] ?? 1500);
const code = 'Math.sqrt(144)';
const read = (name: string) => readFileSync(new URL(`../src/exec/sandbox/${name}`, import.meta.url), 'utf8');
const preludeSource = sandboxFiles
  .map((name) => (name === 'prelude' ? `(function () {\n'use strict';\n${preludeParts.map((part) => read(`prelude/${part}`)).join('\n')}\n})();` : read(name)))
  .join('\n');
const snapshot = ivm.Isolate.createSnapshot([{ code: preludeSource, filename: 'mcp-v8:prelude' }]);
const snapIsolate = new ivm.Isolate({ memoryLimit: 64, snapshot });
const pool = {
  async acquire(_mb: number): Promise<PreparedContext> {
    const context = await snapIsolate.createContext();
    const log = new ivm.Callback(() => {}, { ignored: true });
    return { isolate: snapIsolate, contextsCreated: 1, context, control: null, log, runs: 0, route: { sink: null, batchesReceived: 0, onBatch: null }, successor: null };
  },
  park2: undefined as ((p: PreparedContext) => void) | undefined,
};
const floorIsolate = new ivm.Isolate({ memoryLimit: 64 });

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
    pool.park2?.(prepared);
  }],
  ['+ attach (evalClosure) sent with eval', async () => {
    const prepared = await pool.acquire(8);
    const attaching = attachContext(prepared, 1, 8);
    const evaluating = prepared.context.eval(code, { reference: true }) as Promise<ivm.Reference<unknown>>;
    await attaching; const ref = await evaluating;
    ref.release(); prepared.control!.release(); prepared.context.release();
  }],
  ['+ attach, one console callback per isolate', async () => {
    const prepared = await pool.acquire(8);
    prepared.log = sharedLog;
    const attaching = attachContext(prepared, 1, 8);
    const evaluating = prepared.context.eval(code, { reference: true }) as Promise<ivm.Reference<unknown>>;
    await attaching; const ref = await evaluating;
    ref.release(); prepared.control!.release(); prepared.context.release();
  }],
  ['+ settle', async () => {
    const prepared = await pool.acquire(8);
    const attaching = attachContext(prepared, 1, 8);
    const evaluating = prepared.context.eval(code, { reference: true }) as Promise<ivm.Reference<unknown>>;
    const control = await attaching; const ref = await evaluating;
    await control.apply(undefined, ['settle', ref.derefInto()] as never, { result: { copy: true } });
    ref.release(); control.release(); prepared.context.release();
  }],
  ['+ heap reading (engine-like)', async () => {
    const prepared = await pool.acquire(8);
    const attaching = attachContext(prepared, 1, 8);
    const evaluating = prepared.context.eval(code, { reference: true }) as Promise<ivm.Reference<unknown>>;
    const control = await attaching; const ref = await evaluating;
    const settling = control.apply(undefined, ['settle', ref.derefInto()] as never, { result: { copy: true } });
    const bytes = heapBytesOf(prepared.isolate);
    await settling; await bytes;
    ref.release(); control.release(); prepared.context.release();
  }],
];
// The pool keeps one isolate: acquire makes a context on it each time (no successor sent).
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
