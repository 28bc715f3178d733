// What one part of the prelude costs every context: CPU (all threads of this process) to create a
// context from the prelude's snapshot, with and without that part, alternating A B for N rounds.
//   node --no-node-snapshot bench/prelude-part.ts [part=streams.js] [rounds=10] [contexts per round=300]
// Contexts are created on a warm isolate of each snapshot and released at once (no attach, no run):
// the figure is the deserialization a part adds, which every run pays (isolate-pool.ts makes one
// context per run). Without the part, code that calls into it at run time would fail: only
// context creation is measured.
import ivm from 'isolated-vm';
import { readFileSync } from 'node:fs';
import { preludeParts, sandboxFiles } from '../src/exec/isolate-pool.ts';

const part = process.argv[2] ?? 'streams.js';
const rounds = Number(process.argv[3] ?? 10);
const perRound = Number(process.argv[4] ?? 300);
if (!preludeParts.includes(part)) throw new Error(`${part} is not a prelude part (${preludeParts.join(', ')})`);
const read = (name: string): string => readFileSync(new URL(`../src/exec/sandbox/${name}`, import.meta.url), 'utf8');
const source = (parts: string[]): string => sandboxFiles
  .map((name) => (name === 'prelude' ? `(function () {\n'use strict';\n${parts.map((p) => read(`prelude/${p}`)).join('\n')}\n})();` : read(name)))
  .join('\n');
const variants = [preludeParts.filter((p) => p !== part), preludeParts].map((parts, index) => {
  const snapshot = ivm.Isolate.createSnapshot([{ code: source(parts), filename: 'mcp-v8:prelude' }]);
  return { name: index === 0 ? `without ${part}` : `with ${part}`, bytes: snapshot.copy().byteLength, isolate: new ivm.Isolate({ snapshot, memoryLimit: 64 }), cpuMs: [] as number[] };
});
async function cpuPerContextMs(isolate: ivm.Isolate, count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let index = 0; index < count; index++) (await isolate.createContext()).release();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}
for (const variant of variants) await cpuPerContextMs(variant.isolate, 100);
for (let round = 0; round < rounds; round++) for (const variant of variants) variant.cpuMs.push(await cpuPerContextMs(variant.isolate, perRound));
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
for (const variant of variants) console.log(`${variant.name}: snapshot ${variant.bytes} bytes, CPU per context ${median(variant.cpuMs).toFixed(3)} ms (median of ${rounds} rounds of ${perRound}: ${variant.cpuMs.map((ms) => ms.toFixed(3)).join(' ')})`);
console.log(`ratio ${(median(variants[1]!.cpuMs) / median(variants[0]!.cpuMs)).toFixed(2)}`);
for (const variant of variants) variant.isolate.dispose();
