// TypeScript stripping: types vanish in place (positions kept), TypeScript-only syntax that needs
// a transform still works, errors are SyntaxErrors, and the cache is bounded and LRU.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type * as SwcWasm from '@swc/wasm';
import { setImmediate as turn } from 'node:timers/promises';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WasmPackage, swcParser, swcTypescript } from '../../src/exec/swc.ts';
import { wrapTopLevelAwait } from '../../src/exec/top-level-await.ts';
import { SourceCache, SourceError, stripTypes, strippedCacheEntriesMax, strippedCacheState } from '../../src/exec/typescript.ts';
import { engineForFile, type Ran } from './harness.ts';

const { engine, run, result } = await engineForFile();

describe('TypeScript', () => {
  test('annotations, interfaces, type aliases, generics, as, satisfies, non-null, declare', async () => {
    assert.equal(await result('const x: number = 5; x'), '5');
    const code = `
      interface Point { x: number; y?: number }
      type Pair<T> = [T, T];
      declare const never: string;
      function first<T>(pair: Pair<T>): T { return pair[0]; }
      const p = { x: 1 } satisfies Point;
      const q = (p as Point).x! + first<number>([2, 3]);
      q`;
    assert.equal(await result(code), '3');
  });

  test('enums and parameter properties need a transform, and get one', async () => {
    assert.equal(await result('enum Color { Red, Green }\nColor.Green'), '1');
    assert.equal(await result('class P { constructor(public x: number) {} }\nnew P(4).x'), '4');
  });

  test('stripping keeps lines and columns, so stacks point at the code as written', async () => {
    const ran = await run('const a: string = "x";\nconst b: Array<number> = [];\nthrow new Error(a)');
    assert.match(ran.error!, /^Error: x\n\s+at .*main\.js:3:7/);
    assert.equal(stripTypes('let v: number = 1;').length, 'let v: number = 1;'.length);
  });

  test('code nested deeper than swc\'s stack costs swc its instance, not the server its TypeScript', async () => {
    // A 3,000-deep parenthesis (6 KB) overflows swc's WebAssembly stack; the instance it ran on
    // used to fail every later call ("memory access out of bounds"), for every run.
    const deep = '('.repeat(3_000) + '41' + ')'.repeat(3_000);
    // Through the engine (swc in its source worker):
    assert.equal(await result(`${deep} + 1`), '42', 'the code runs as written (V8 parses it)');
    assert.equal(await result('const a: number = 41; a + 1'), '42', 'types are stripped after it');
    const rewrite = await run(`await 0;\n${deep}`);
    assert.equal(rewrite.status, 'failed');
    assert.match(rewrite.error!, /^SyntaxError: the top-level await rewrite could not parse this code \(swc failed: .+; code nested thousands deep does this\)/);
    assert.equal(await result('const b: number = await Promise.resolve(2); b'), '2', 'top-level await is rewritten after it');
    // On this thread, where the instances can be counted:
    const stripsBefore = swcTypescript.replaced;
    assert.equal(stripTypes(`${deep} + 2`), `${deep} + 2`, 'given back as written');
    assert.equal(swcTypescript.replaced, stripsBefore + 1, 'swc faulted, and its instance was replaced');
    assert.equal(stripTypes('const c: number = 1'), 'const c         = 1');
    const parsesBefore = swcParser.replaced;
    assert.throws(() => wrapTopLevelAwait(`await 0;\n${deep}`), SourceError);
    assert.equal(swcParser.replaced, parsesBefore + 1);
    assert.match(wrapTopLevelAwait('await 1; 2'), /return \(2\);/);
  });

  test('a million characters with top-level await are prepared off the main thread, which stays responsive', async () => {
    // On the main thread, stripping this took ≈ 0.3 s and the top-level await rewrite ≈ 1.75 s,
    // during which no other run, poll or timer of the server moved. Counted, not timed: the main
    // thread takes turns while the run waits for its code (it is queued, preparing), and serves a
    // short run submitted then.
    const huge = 'await 0;\n' + 'a = 1;'.repeat(166_000) + '\na';
    let finished = false;
    const running = run(huge, { timeoutMs: 30_000 }).finally(() => { finished = true; });
    let turnsWhilePreparing = 0;
    let short: Ran | null = null;
    while (!finished && short === null) {
      await turn();
      if (engine.queuedCount !== 1 || finished) continue;
      turnsWhilePreparing++;
      short = await run('6 * 7');
    }
    const ran = await running;
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, '1');
    assert.equal(turnsWhilePreparing, 1, 'the main thread took a turn while the code was prepared');
    assert.equal(short?.result, '42');
  });

  test('swc\'s parser, which keeps every source it parsed, is renewed after enough input, and the old instance is freed', async () => {
    const parser = new WasmPackage<typeof SwcWasm>('@swc/wasm', { renewAfterChars: 1_000 });
    const parse = (code: string) => parser.call(code.length, (swc) => swc.parseSync(code, { syntax: 'ecmascript', target: 'es2022' })) as unknown as { body: unknown[] };
    const first = new WeakRef(parser.instance as object);
    assert.equal(parse('a; b; c;'.repeat(100)).body.length, 300);
    assert.equal(parser.renewed, 0);
    assert.equal(parse('d;'.repeat(200)).body.length, 200, 'parsed by a fresh instance');
    assert.equal(parser.renewed, 1, '800 + 400 characters passed the 1,000');
    assert.notEqual(parser.instance, first.deref());
    await turn(); // a WeakRef holds its target until the end of the job that made it
    v8.setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    assert.equal(first.deref(), undefined, 'nothing keeps the old instance (and its memory) alive');
  });

  test('invalid code is a SyntaxError; the cache is an LRU by hash with a bound', () => {
    assert.throws(() => stripTypes('let x: = 1'), (error: unknown) => error instanceof SourceError && /^SyntaxError/.test(error.message));
    const kept = 'const kept: number = 1';
    const dropped = 'const dropped: number = 2';
    stripTypes(dropped);
    stripTypes(kept);
    for (let index = 0; index < strippedCacheEntriesMax - 1; index++) {
      stripTypes(`const filler${index}: number = ${index}`);
      if (index % 100 === 0) stripTypes(kept);
    }
    assert.equal(strippedCacheState(kept).cached, true, 'recently used: kept');
    assert.equal(strippedCacheState(dropped).cached, false, 'least recently used: evicted');
    assert.equal(strippedCacheState(kept).entries, strippedCacheEntriesMax);
  });

  test('a source cache is bounded by the characters it keeps as well as by entries', () => {
    const cache = new SourceCache<string>(10, (value) => value.length, 100);
    cache.set('one', 'a'.repeat(40));
    cache.set('two', 'b'.repeat(40));
    assert.equal(cache.get('one'), 'a'.repeat(40), 'both fit in 100 characters');
    cache.set('three', 'c'.repeat(40));
    assert.equal(cache.get('two'), undefined, '120 characters: the least recently used went');
    assert.equal(cache.size, 2);
    cache.set('one', 'd'.repeat(50));
    assert.equal(cache.get('three'), 'c'.repeat(40), 'a replaced value counts once');
    cache.set('big', 'e'.repeat(101));
    assert.equal(cache.size, 0, 'a value past the bound is not kept, and pushed out the rest');
  });
});
