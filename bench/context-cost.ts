// What a new context costs (issue 23): CPU (all threads) and heap bytes per `createContext()`, on
// a plain isolate (the raw floor) and on isolates made from the prelude's snapshot of this
// checkout and, optionally, of another checkout (`--against DIR`, e.g. a main worktree), in
// turns (plain, this, other, plain, …), medians of the rounds. Heap bytes per context do not
// depend on the machine's load; CPU does: compare only figures of one run. Each checkout's snapshot
// is made and treated as its pool does (its warm-up and `withoutRehash`, where the checkout has them).
//   node --no-node-snapshot bench/context-cost.ts [--against DIR] [--rounds 11] [--contexts 300]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import ivm from 'isolated-vm';
import { preludeSource, preludeWarmUpSource, withoutRehash } from '../src/exec/isolate-pool.ts';
import { numberArg } from './lib/args.ts';
import { heapBytesPerContext } from './lib/context-bytes.ts';

const { values } = parseArgs({ options: { against: { type: 'string' }, rounds: { type: 'string' }, contexts: { type: 'string' } }, strict: true });
const rounds = numberArg('rounds', values.rounds, 11, 1);
const contexts = numberArg('contexts', values.contexts, 300, 10);
type Treat = (bytes: Uint8Array) => Uint8Array;
const fromSnapshot = (source: string, treat: Treat = (bytes) => bytes, warmUp?: string) => {
  const made = ivm.Isolate.createSnapshot([{ code: source, filename: 'mcp-v8:prelude' }], warmUp);
  return new ivm.Isolate({ memoryLimit: 128, snapshot: new ivm.ExternalCopy(treat(new Uint8Array(made.copy() as ArrayBuffer)).buffer as ArrayBuffer) });
};
const variants: Array<[string, ivm.Isolate]> = [['plain isolate (raw floor)', new ivm.Isolate({ memoryLimit: 128 })], ['prelude snapshot, this checkout', fromSnapshot(preludeSource, withoutRehash, preludeWarmUpSource)]];
if (values.against !== undefined) {
  const other = await import(resolve(values.against, 'src/exec/isolate-pool.ts')) as { preludeSource: string; withoutRehash?: Treat; preludeWarmUpSource?: string };
  variants.push([`prelude snapshot, ${values.against}`, fromSnapshot(other.preludeSource, other.withoutRehash, other.preludeWarmUpSource)]);
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;

const cpu = new Map<string, number[]>(variants.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (const [name, isolate] of variants) {
    for (let index = 0; index < 30; index++) (await isolate.createContext()).release();
    const before = process.cpuUsage();
    for (let index = 0; index < contexts; index++) (await isolate.createContext()).release();
    const used = process.cpuUsage(before);
    cpu.get(name)!.push((used.user + used.system) / 1000 / contexts);
  }
}
const floor = median(cpu.get(variants[0]![0])!);
for (const [name, isolate] of variants) {
  const list = cpu.get(name)!;
  process.stdout.write(`${name}: ${(await heapBytesPerContext(isolate) / 1024).toFixed(1)} KiB heap, ${median(list).toFixed(3)} ms CPU per context (${(median(list) / floor).toFixed(2)}× the floor; rounds ${list.map((value) => value.toFixed(3)).join(' ')})\n`);
}
if (variants.length === 3) {
  const ratios = cpu.get(variants[1]![0])!.map((value, index) => value / cpu.get(variants[2]![0])![index]!);
  process.stdout.write(`this checkout ÷ ${values.against}, per round: median ${median(ratios).toFixed(3)}\n`);
}
for (const [, isolate] of variants) isolate.dispose();
process.stdout.write(`load average ${(await import('node:os')).loadavg().map((value) => value.toFixed(2)).join(' ')}\n`);
