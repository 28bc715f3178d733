// Pre-loaded WebAssembly modules (--wasm-module, --wasm-config) in the engine: the globals every
// context gets, what they record for stateful heaps, the bounds that still hold, and user code
// that replaces WebAssembly's builtins before it first touches a pre-loaded module.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { parseWasmFlags } from '../../src/wasm-config.ts';
import { repoRoot } from '../support/server-process.ts';
import { readmeSqlite, addModule, importingModule, memoryModule, writeWasmFiles } from '../support/wasm-files.ts';
import { engineForFile } from './harness.ts';

const folder = writeWasmFiles({ 'add.wasm': addModule, 'imports.wasm': importingModule, 'memory.wasm': memoryModule });
execFileSync('sh', [path.join(repoRoot, 'examples/sqlite-wasm/build.sh')], { stdio: 'ignore' });
const modules = [
  ...parseWasmFlags([`math=${folder}/add.wasm`, `needs=${folder}/imports.wasm`, `mem=${folder}/memory.wasm`], path.join(repoRoot, 'examples/sqlite-wasm/wasm-config.json')),
];
const { run } = await engineForFile(2, { wasmModules: modules });

async function completed(code: string, memoryMb = 8): Promise<{ result: string | null; used: Record<string, string> | undefined }> {
  const ran = await run(code, { memoryMb, timeoutMs: 20_000 });
  assert.equal(ran.status, 'completed', ran.error ?? '');
  return { result: ran.result, used: ran.record?.wasmModules };
}

describe('pre-loaded WebAssembly modules', () => {
  test('a module without imports is its exports as the global of its name', async () => {
    assert.equal((await completed('math.add(21, 21)')).result, '42');
    assert.equal((await completed('math.add(2, 3) + math.add(100, 200)')).result, '305');
  });

  test('every module is also __wasm_<name>, a compiled WebAssembly.Module', async () => {
    assert.equal((await completed('[__wasm_math instanceof WebAssembly.Module, __wasm_needs instanceof WebAssembly.Module].join()')).result, 'true,true');
    assert.equal((await completed('JSON.stringify(WebAssembly.Module.imports(__wasm_needs))')).result, '[{"module":"env","name":"f","kind":"function"}]');
  });

  test('a module with imports is not instantiated; user code instantiates it with its imports', async () => {
    assert.equal((await completed('typeof needs')).result, 'undefined');
    assert.equal((await completed('new WebAssembly.Instance(__wasm_needs, { env: { f: () => 41 } }).exports.g()')).result, '42');
    assert.equal((await completed('(await WebAssembly.instantiate(__wasm_needs, { env: { f: () => 9 } })).exports.g()')).result, '10');
  });

  test('the run records the modules it used, with their hashes; a run that used none records none', async () => {
    const math = modules.find((module) => module.name === 'math')!;
    assert.deepEqual({ ...(await completed('math.add(1, 1)')).used }, { math: math.sha256 });
    assert.equal((await completed('1 + 1')).used, undefined);
  });

  test('user code may shadow a pre-loaded global, as with any global', async () => {
    assert.equal((await completed('var math = 5; math')).result, '5');
    assert.equal((await completed('globalThis.math = "mine"; math')).result, 'mine');
  });

  test('a pre-loaded memory is bounded by the run\'s memory limit like any other', async () => {
    const ran = await run('mem.memory.grow(200)', { memoryMb: 8 });
    assert.equal(ran.status, 'failed');
    assert.match(ran.error ?? '', /Maximum memory size exceeded/);
    assert.equal((await completed('mem.memory.grow(10); mem.memory.buffer.byteLength')).result, String(11 * 65536));
  });

  test('hostile code that replaces WebAssembly and Reflect before first use does not change what the globals are', async () => {
    const code = `
      const seen = [];
      const RealInstance = WebAssembly.Instance;
      const RealModule = WebAssembly.Module;
      WebAssembly.Module = function () { seen.push('Module'); throw new Error('fake Module'); };
      WebAssembly.Instance = function () { seen.push('Instance'); throw new Error('fake Instance'); };
      Object.defineProperty(RealInstance.prototype, 'exports', { get() { seen.push('exports'); return { add: () => -1 }; } });
      Reflect.construct = () => { seen.push('construct'); throw new Error('fake construct'); };
      Reflect.apply = () => { seen.push('apply'); throw new Error('fake apply'); };
      Object.defineProperty = () => { seen.push('defineProperty'); };
      Array.prototype[Symbol.iterator] = function* () { seen.push('iterator'); };
      globalThis.WebAssembly = { fake: true };
      const sum = math.add(40, 2);
      sum + ' [' + seen.join() + '] ' + (Object.getPrototypeOf(__wasm_needs) === RealModule.prototype);
    `;
    assert.equal((await completed(code)).result, '42 [] true');
  });

  test('the README\'s SQLite example, with its wrapper from --wasm-config, under the default 8 MiB limit', async () => {
    const sqlite = modules.find((module) => module.name === 'sqlite')!;
    const { result, used } = await completed(readmeSqlite, 8);
    assert.equal(result, '[{"id":1,"name":"Alice","age":30}]');
    assert.deepEqual({ ...used }, { sqlite: sqlite.sha256 });
    // The wrapper leaves nothing of the glue behind: only SQLite is new.
    assert.equal((await completed('typeof SQLite + " " + typeof initSqlJs + " " + typeof Module')).result, 'function undefined undefined');
  });

  test('SQLite\'s memory grows with its data up to the run\'s limit', async () => {
    const fill = 'var db = new SQLite(); db.exec("CREATE TABLE t (x TEXT)"); for (let i = 0; i < 60000; i++) db.exec("INSERT INTO t VALUES (\'" + "x".repeat(100) + "\')"); db.query("SELECT count(*) AS n FROM t").rows[0].n';
    // 60,000 inserts take seconds on a loaded machine: the timeout is generous so that only the
    // memory limit can end the small run.
    const small = await run(fill, { memoryMb: 8, timeoutMs: 120_000 });
    // The database file lives in emscripten's in-memory file system (typed arrays on the V8 heap),
    // SQLite's cache in its WebAssembly memory: either one reaches the limit first, and says so.
    assert.equal(small.status, 'failed', 'about 6 MiB of rows do not fit in 8 MiB');
    assert.match(small.error ?? '', /heap_memory_max_mb|out of memory|database or disk is full/i);
    const big = await run(fill, { memoryMb: 32, timeoutMs: 120_000 });
    assert.equal(big.status, 'completed', big.error ?? '');
    assert.equal(big.result, '60000');
  });

  test('the timeout stops a query that never ends', async () => {
    const ran = await run('var db = new SQLite(); db.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")', { memoryMb: 8, timeoutMs: 1_000 });
    assert.equal(ran.status, 'timed_out', ran.error ?? '');
  });

  test('SQLite that fills its memory fails inside the run, within the limit', async () => {
    const ran = await run(`var db = new SQLite(); db.exec("CREATE TABLE t (x BLOB)");
      for (let i = 0; i < 1000; i++) db.exec("INSERT INTO t VALUES (zeroblob(1048576))");`, { memoryMb: 8, timeoutMs: 20_000 });
    assert.equal(ran.status, 'failed');
    assert.match(ran.error ?? '', /memory|full/i);
  });
});

describe('pre-loaded module names against the sandbox', () => {
  test('a name that shadows a sandbox global is refused when the engine starts', async () => {
    for (const name of ['console', 'setTimeout', 'Math', 'WebAssembly']) {
      const shadowing = parseWasmFlags([`${name}=${folder}/add.wasm`], undefined);
      await assert.rejects(createEngine({ maxConcurrentExecutions: 1, wasmModules: shadowing }), (error: Error) => {
        assert.match(error.message, new RegExp(`^--wasm-module ${name}: '${name}' is already a global of the sandbox`));
        return true;
      });
    }
  });
});
