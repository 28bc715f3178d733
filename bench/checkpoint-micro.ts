// What a checkpoint costs where it is paid (docs/stateful.md, "Checkpoints"): attaching a stateful
// context records its built-ins (every attach of a stateful context, not of a stateless one), and
// taking a checkpoint checks them and encodes the globals (one run in checkpointRunsEvery). CPU of
// all threads, in turns (A B A B): attach stateless against stateful; a 'state' call against a
// 'checkpoint' call on a context holding `bindings` primitive globals.
//   node --no-node-snapshot bench/checkpoint-micro.ts [runs=300] [bindings=100]
import { loadavg } from 'node:os';
import ivm from 'isolated-vm';
import { attachContext, preludeSource, type PreparedContext } from '../src/exec/isolate-pool.ts';

const runs = Number(process.argv[2] ?? 300);
const bindings = Number(process.argv[3] ?? 100);
const snapshot = ivm.Isolate.createSnapshot([{ code: preludeSource, filename: 'mcp-v8:prelude' }]);
const isolate = new ivm.Isolate({ memoryLimit: 64, snapshot });
const log = new ivm.Callback(() => {}, { ignored: true });

async function prepared(): Promise<PreparedContext> {
  const context = await isolate.createContext();
  return { isolate, contextsCreated: 1, context, control: null, log, runs: 0, route: { sink: null, batchesReceived: 0, onBatch: null }, successor: null };
}

/** CPU (ms, all threads) of `body`, run `runs` times. */
async function cpuOf(body: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  for (let index = 0; index < runs; index++) await body();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const attachOf = (stateful: boolean) => async () => {
  const context = await prepared();
  (await attachContext(context, 1, 8, undefined, undefined, null, stateful)).release();
  context.context.release();
};
const holding = await prepared();
const control = await attachContext(holding, 1, 8, undefined, undefined, null, true);
await holding.context.eval(Array.from({ length: bindings }, (_, index) => `var b${index} = 'value ${index}';`).join('\n'));
const callOf = (method: string) => async () => { await control.apply(undefined, [method] as never, { result: { copy: true } }); };
const probe = await control.apply(undefined, ['checkpoint'] as never, { result: { copy: true } }) as { text: string | null; reason: string | null };
if (probe.text === null) throw new Error(`no checkpoint: ${probe.reason}`);

const pairs: Array<[string, () => Promise<void>, string, () => Promise<void>]> = [
  ['attach stateless', attachOf(false), 'attach stateful (records the built-ins)', attachOf(true)],
  ["'state' call", callOf('state'), `'checkpoint' call, ${bindings} globals`, callOf('checkpoint')],
];
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const loads: number[] = [];
for (const [nameA, a, nameB, b] of pairs) {
  const cpuA: number[] = [];
  const cpuB: number[] = [];
  for (let round = 0; round < 5; round++) {
    loads.push(loadavg()[0]!);
    cpuA.push(await cpuOf(a));
    cpuB.push(await cpuOf(b));
  }
  const perA = median(cpuA) / runs;
  const perB = median(cpuB) / runs;
  process.stdout.write(`A ${nameA}: ${perA.toFixed(3)} ms CPU; B ${nameB}: ${perB.toFixed(3)} ms CPU; B - A ${(perB - perA).toFixed(3)} ms (medians of 5 alternations of ${runs})\n`);
}
process.stdout.write(`checkpoint of ${bindings} globals: ${probe.text.length} characters; load average ${loads.map((v) => v.toFixed(1)).join(' ')}\n`);
control.release();
isolate.dispose();
