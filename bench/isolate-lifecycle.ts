// How much of the event loop's thread making and disposing an isolate takes (issues 18, 21, 23):
// the synchronous `new ivm.Isolate({ memoryLimit, snapshot })` with the prelude's snapshot and
// `isolate.dispose()` of an idle isolate that ran code, against the patched build's
// `ivm.Isolate.createAsync` and `disposeAsync` (scripts/patch-isolated-vm.mjs), whose V8 work runs
// on libuv's thread pool. Per memory limit, in turns (sync, async, sync, …), medians of the rounds:
//   - "loop held ms": time the event loop was busy (not waiting in its poll: the active time of
//     performance.eventLoopUtilization) from the call until the isolate is usable / gone, the
//     async forms' resolution included; nothing else runs on the loop meanwhile (no probe, no
//     timer). Wall time: on a busy machine it includes waits for a core (thread CPU clocks
//     count in scheduler ticks here, too coarse for a millisecond);
//   - "done ms": wall time until the isolate is usable / gone (the promise's resolution).
//   node --no-node-snapshot bench/isolate-lifecycle.ts [--rounds 7] [--count 20] [--limits 8,64,128]
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import ivm from 'isolated-vm';
import { preludeSource, preludeWarmUpSource, withoutRehash } from '../src/exec/isolate-pool.ts';
import { numberArg } from './lib/args.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, count: { type: 'string' }, limits: { type: 'string' } }, strict: true });
const rounds = numberArg('rounds', values.rounds, 7, 1);
const count = numberArg('count', values.count, 20, 1);
const limits = (values.limits ?? '8,64,128').split(',').map((raw) => numberArg('limits', raw, 0, 8));

const made = ivm.Isolate.createSnapshot([{ code: preludeSource, filename: 'mcp-v8:prelude' }], preludeWarmUpSource);
const snapshot = new ivm.ExternalCopy(withoutRehash(new Uint8Array(made.copy() as ArrayBuffer)).buffer as ArrayBuffer);
made.release();

type Async = { createAsync?: (options: ivm.IsolateOptions) => Promise<ivm.Isolate> };
const createAsync = (ivm.Isolate as unknown as Async).createAsync;
type Disposable = ivm.Isolate & { disposeAsync: () => Promise<void> };

/** Uses an isolate as a run does: a context, some code and its garbage, so dispose has a heap to free. */
async function use(isolate: ivm.Isolate): Promise<void> {
  const context = await isolate.createContext();
  await context.eval('globalThis.kept = Array.from({ length: 20000 }, (_, i) => ({ i, s: "x" + i })); kept.length');
  context.release();
}

/** A few milliseconds, so that the isolate's thread has let go of it: dispose then tears it down on the calling thread. */
const idle = () => new Promise<void>((resolve) => { setTimeout(resolve, 3); });

/** Loop-held ms and wall ms of `work`, until its promise (if any) resolves. */
async function measure<Value>(work: () => Value | Promise<Value>): Promise<{ cpuMs: number; wallMs: number; value: Value }> {
  const before = performance.eventLoopUtilization();
  const start = performance.now();
  const value = await work();
  const wallMs = performance.now() - start;
  return { cpuMs: performance.eventLoopUtilization(before).active, wallMs, value };
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
type Row = { createCpu: number[]; createWall: number[]; disposeCpu: number[]; disposeWall: number[] };
const rows = new Map<string, Row>();

async function round(memoryLimit: number, mode: 'sync' | 'async'): Promise<void> {
  const name = `${mode} ${memoryLimit} MiB`;
  if (!rows.has(name)) rows.set(name, { createCpu: [], createWall: [], disposeCpu: [], disposeWall: [] });
  const into = rows.get(name)!;
  for (let index = 0; index < count; index++) {
    const created = await measure(() => (mode === 'sync' ? new ivm.Isolate({ memoryLimit, snapshot }) : createAsync!({ memoryLimit, snapshot })));
    into.createCpu.push(created.cpuMs);
    into.createWall.push(created.wallMs);
    await use(created.value);
    await idle();
    const disposed = await measure(() => (mode === 'sync' ? created.value.dispose() : (created.value as Disposable).disposeAsync()));
    into.disposeCpu.push(disposed.cpuMs);
    into.disposeWall.push(disposed.wallMs);
  }
}

for (let index = 0; index < rounds; index++) {
  for (const limit of limits) {
    await round(limit, 'sync');
    if (createAsync !== undefined) await round(limit, 'async');
  }
}
const fixed = (value: number) => value.toFixed(3);
process.stdout.write(`${rounds} rounds × ${count} isolates per row, medians; createAsync ${createAsync === undefined ? 'absent (unpatched build)' : 'present'}\n`);
process.stdout.write('| variant | create: loop held ms | create: done ms | dispose: loop held ms | dispose: done ms |\n|---|---|---|---|---|\n');
for (const [name, { createCpu, createWall, disposeCpu, disposeWall }] of rows) {
  process.stdout.write(`| ${name} | ${fixed(median(createCpu))} | ${fixed(median(createWall))} | ${fixed(median(disposeCpu))} | ${fixed(median(disposeWall))} |\n`);
}
process.stdout.write(`load average ${loadavg().map((value) => value.toFixed(2)).join(' ')}\n`);
snapshot.release();
