// What every new context holds (issue 23): V8 copies each object of the snapshot's context into
// every new context, and the maps (hidden classes) and functions are what that copy costs most per
// object (bench/RESULTS.md, "What a context holds"). An object literal with a prototype leaves a
// map per property in every context (its transition chain); the prelude's internal objects are
// dictionaries (`__proto__: null`), one shared map. These bounds catch an object that brings the
// chains back; the console, made the same way, still looks to a run like V8's own.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { preludeSource, preludeWarmUpSource, withoutRehash } from '../../src/exec/isolate-pool.ts';
import { contextCensus, preludeSnapshotLikeThePool } from '../../bench/lib/context-census.ts';
import { format, inspect } from 'node:util';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { result, run } = await engineForFile(1);

describe('what a new context holds', () => {
  test('the prelude adds few maps and functions to a plain context (internal objects are dictionaries)', async () => {
    const plain = await contextCensus();
    const ours = await contextCensus(preludeSnapshotLikeThePool(preludeSource, preludeWarmUpSource, withoutRehash));
    // When written: 353 maps plain; ours 530 before the prelude's literals were dictionaries, 399 after. The bound leaves room for a few objects more.
    assert.ok(ours.maps - plain.maps <= 100, `a new context holds ${ours.maps} maps, a plain one ${plain.maps}: an object literal with a prototype and many properties in the prelude? (bench/context-census.ts --maps)`);
    // 774 closures plain, 1,269 ours before inspect's formatting functions were made on first use, 1,250 after.
    assert.ok(ours.closures - plain.closures <= 520, `a new context holds ${ours.closures} closures, a plain one ${plain.closures} (bench/context-census.ts)`);
  });

  test('primitive results and string-only console lines, made without the formatting functions, read as Node prints them', async () => {
    for (const value of ['1 + 1', '-0', 'NaN', '-Infinity', '0.1 + 0.2', 'true', 'null', 'undefined', '2n ** 70n', "'text'"]) {
      const expected = eval(value) as unknown;
      assert.equal(await result(value), typeof expected === 'string' ? expected : inspect(expected), value);
    }
    const lists = [`'a'`, `'a', 'b c', ''`, `'100%'`, `'100%', 'x'`, `'%s!', 'x'`, `'%d', '7'`, `'a', 1`, `'a', -0, 'b'`, ``];
    const code = lists.map((list) => `console.log(${list});`).join('\n');
    const expected = lists.map((list) => format(...(new Function(`return [${list}]`)() as unknown[])));
    assert.deepEqual((await run(code)).lines, expected);
    // The same after a run replaced every builtin: the first format that needs the functions makes them then.
    const vandal = await run(`const ReflectApply = Reflect.apply;\nconst lists = [${lists.map((list) => `[${list}]`).join(', ')}];\n${vandalSource}\nfor (let i = 0; i < lists.length; i++) ReflectApply(console.log, console, lists[i]);\nconsole.log({ a: [1, { b: 2 }] });`);
    assert.equal(vandal.status, 'completed', vandal.error ?? '');
    assert.deepEqual(vandal.lines, [...expected, format({ a: [1, { b: 2 }] })]);
  });

  test('console is an ordinary object of Object.prototype with its methods as own properties, in order', async () => {
    const shape = await result("JSON.stringify([Object.getPrototypeOf(console) === Object.prototype, console.hasOwnProperty('log'), Object.keys(console), typeof console.log, console.toString(), String(console.log)])");
    assert.deepEqual(JSON.parse(shape!), [true, true,
      ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table', 'assert', 'count', 'countReset', 'time', 'timeEnd', 'timeLog', 'group', 'groupEnd', 'groupCollapsed'],
      'function', '[object Object]', 'function log() { [native code] }']);
  });
});
