// What a checkpoint costs where it is paid (docs/stateful.md, "Checkpoints"). CPU of all threads,
// in turns (A B B A A B …, medians of the alternations):
//   1. a context made from the prelude's snapshot and attached (stateless), from a snapshot made
//      without the built-in record (A) and from the real one, which holds it (B): what every
//      context pays for the record, deserialized with the snapshot;
//   2. a context made and attached stateless (A) against stateful (B, which records the global
//      object and the built-ins V8 installs after the snapshot): what a stateful context pays;
//   3. a 'state' call (A) against a 'checkpoint' call (B) on a context holding `bindings` globals
//      (primitives and plain objects alternately): what a run that takes a checkpoint pays;
//   4. a context made, attached and its lazily built web classes (lazy.js: URL … FormData) built by
//      a read of URL, stateless (A) against stateful (B, which records the objects the build made):
//      what the first read of a lazy group costs a stateful context more.
//   node --no-node-snapshot bench/checkpoint-micro.ts [runs=300] [bindings=100] [alternations=5]
import { loadavg } from 'node:os';
import ivm from 'isolated-vm';
import { attachContext, builtinDeltaOfPrelude, preludeSource, type PreparedContext } from '../src/exec/isolate-pool.ts';

const runs = Number(process.argv[2] ?? 300);
const bindings = Number(process.argv[3] ?? 100);
const alternations = Number(process.argv[4] ?? 5);
const captureCall = 'captureSnapshotBuiltins();';
if (!preludeSource.includes(captureCall)) throw new Error('the prelude no longer captures its built-ins as this bench expects');
const withRecord = new ivm.Isolate({ memoryLimit: 64, snapshot: ivm.Isolate.createSnapshot([{ code: preludeSource, filename: 'mcp-v8:prelude' }]) });
const withoutRecord = new ivm.Isolate({ memoryLimit: 64, snapshot: ivm.Isolate.createSnapshot([{ code: preludeSource.replace(captureCall, ''), filename: 'mcp-v8:prelude' }]) });
const log = new ivm.Callback(() => {}, { ignored: true });
const delta = await builtinDeltaOfPrelude();
if (delta === null) throw new Error('no built-in delta');

async function prepared(isolate: ivm.Isolate): Promise<PreparedContext> {
  const context = await isolate.createContext();
  return { isolate, contextsCreated: 1, context, control: null, log, runs: 0, route: { sink: null, batchesReceived: 0, onBatch: null }, successor: null } as unknown as PreparedContext;
}

/** CPU (ms, all threads) of `body`, run `runs` times. */
async function cpuOf(body: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  for (let index = 0; index < runs; index++) await body();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const attachOf = (isolate: ivm.Isolate, builtinDelta: string | null) => async () => {
  const context = await prepared(isolate);
  (await attachContext(context, 1, 8, undefined, undefined, null, builtinDelta)).release();
  context.context.release();
};
const attachAndBuildOf = (builtinDelta: string | null) => async () => {
  const context = await prepared(withRecord);
  const control = await attachContext(context, 1, 8, undefined, undefined, null, builtinDelta);
  await context.context.eval('typeof URL');
  control.release();
  context.context.release();
};
const holding = await prepared(withRecord);
const control = await attachContext(holding, 1, 8, undefined, undefined, null, delta);
await holding.context.eval(Array.from({ length: bindings }, (_, index) => (index % 2 === 0 ? `var b${index} = 'value ${index}';` : `var b${index} = { index: ${index}, tags: ['a', 'b'], at: new Date(${index}) };`)).join('\n'));
const callOf = (method: string) => async () => { await control.apply(undefined, [method] as never, { result: { copy: true } }); };
const probe = await control.apply(undefined, ['checkpoint'] as never, { result: { copy: true } }) as { text: string | null; reason: string | null };
if (probe.text === null) throw new Error(`no checkpoint: ${probe.reason}`);

const pairs: Array<[string, () => Promise<void>, string, () => Promise<void>]> = [
  ['context + attach, snapshot without the record', attachOf(withoutRecord, null), 'context + attach, snapshot with the record', attachOf(withRecord, null)],
  ['context + attach stateless', attachOf(withRecord, null), 'context + attach stateful (records what attach changed)', attachOf(withRecord, delta)],
  ["'state' call", callOf('state'), `'checkpoint' call, ${bindings} globals`, callOf('checkpoint')],
  ['context + attach stateless + URL read (web classes built)', attachAndBuildOf(null), 'context + attach stateful + URL read (built and recorded)', attachAndBuildOf(delta)],
];
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const loads: number[] = [];
for (const [nameA, a, nameB, b] of pairs) {
  const cpuA: number[] = [];
  const cpuB: number[] = [];
  for (let round = 0; round < alternations; round++) {
    loads.push(loadavg()[0]!);
    // A B, then B A: whichever goes second pays for the garbage of the first no more often.
    if (round % 2 === 0) {
      cpuA.push(await cpuOf(a));
      cpuB.push(await cpuOf(b));
    } else {
      cpuB.push(await cpuOf(b));
      cpuA.push(await cpuOf(a));
    }
  }
  const perA = median(cpuA) / runs;
  const perB = median(cpuB) / runs;
  process.stdout.write(`A ${nameA}: ${perA.toFixed(3)} ms CPU; B ${nameB}: ${perB.toFixed(3)} ms CPU; B - A ${(perB - perA).toFixed(3)} ms, B/A ${(perB / perA).toFixed(3)} (medians of ${alternations} alternations of ${runs})\n`);
}
process.stdout.write(`checkpoint of ${bindings} globals: ${probe.text.length} characters; load average ${loads.map((v) => v.toFixed(1)).join(' ')}\n`);
control.release();
withRecord.dispose();
withoutRecord.dispose();
