// What pre-loaded WebAssembly modules (--wasm-module, --wasm-config) add to a run: two engines in
// one process, one without modules and one with the add module and SQLite (the wasm-config of
// examples/sqlite-wasm), run in turns (A B A B …, one run at a time) on the same snippet.
//   trivial:  '1 + 1', which reads no pre-loaded global: what every run pays (the accessors made at attach);
//   add:      math.add(20, 22) on engine B: first use of a module without imports (copy in, instantiate);
//   sqlite:   the README's SQLite example on engine B (instance and its memory, wrapper evaluated, queries).
// Each figure: median wall time of engine.run() in ms over the runs, and B/A for the trivial run.
//   node --no-node-snapshot bench/wasm-preload.ts   (BENCH_PAIRS=2000 by default)
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createEngine } from '../src/exec/engine.ts';
import { parseWasmFlags } from '../src/wasm-config.ts';
import { addModule, writeWasmFiles } from '../test/support/wasm-files.ts';

const root = path.join(import.meta.dirname, '..');
execFileSync('sh', [path.join(root, 'examples/sqlite-wasm/build.sh')], { stdio: 'ignore' });
const folder = writeWasmFiles({ 'add.wasm': addModule });
const modules = parseWasmFlags([`math=${folder}/add.wasm`], path.join(root, 'examples/sqlite-wasm/wasm-config.json'));
const pairs = Number(process.env.BENCH_PAIRS ?? 2_000);
const limits = { heapMemoryMaxMb: 32, executionTimeoutMs: 30_000 };
const plain = await createEngine({ maxConcurrentExecutions: 1, warmMemoryMb: 32 });
const preloaded = await createEngine({ maxConcurrentExecutions: 1, warmMemoryMb: 32, wasmModules: modules });
const sqlite = `var db = new SQLite(); db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
db.exec("INSERT INTO users (name, age) VALUES ('Alice', 30)"); var result = db.query("SELECT * FROM users"); db.close(); JSON.stringify(result.rows);`;

async function timed(engine: typeof plain, code: string): Promise<number> {
  const start = performance.now();
  const outcome = await engine.run({ code, limits, signal: new AbortController().signal, onConsoleLine: () => undefined });
  const ms = performance.now() - start;
  if (outcome.status !== 'completed') throw new Error(`${code.slice(0, 40)}: ${outcome.status} ${outcome.error}`);
  return ms;
}
const median = (values: number[]) => { const sorted = [...values].sort((a, b) => a - b); return sorted[Math.floor(sorted.length / 2)]!; };

for (let round = 0; round < 200; round++) { await timed(plain, '1 + 1'); await timed(preloaded, '1 + 1'); }
const trivialA: number[] = [];
const trivialB: number[] = [];
const add: number[] = [];
for (let round = 0; round < pairs; round++) {
  trivialA.push(await timed(plain, '1 + 1'));
  trivialB.push(await timed(preloaded, '1 + 1'));
  if (round % 10 === 0) add.push(await timed(preloaded, 'math.add(20, 22)'));
}
const sqliteRuns: number[] = [];
for (let round = 0; round < 40; round++) sqliteRuns.push(await timed(preloaded, sqlite));
const a = median(trivialA);
const b = median(trivialB);
console.log(`| run | engine | median ms | runs |\n|---|---|---|---|`);
console.log(`| '1 + 1' | no modules (A) | ${a.toFixed(3)} | ${trivialA.length} |`);
console.log(`| '1 + 1' | add + SQLite pre-loaded (B) | ${b.toFixed(3)} | ${trivialB.length} |`);
console.log(`| math.add(20, 22) | B | ${median(add).toFixed(3)} | ${add.length} |`);
console.log(`| README SQLite example | B | ${median(sqliteRuns).toFixed(2)} | ${sqliteRuns.length} |`);
console.log(`\nB/A for '1 + 1': ${(b / a).toFixed(3)} (${((b - a) * 1000).toFixed(0)} µs)`);
await plain.close();
await preloaded.close();
