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
import { engineForFile } from './harness.ts';

const { result } = await engineForFile(1);

describe('what a new context holds', () => {
  test('the prelude adds few maps to a plain context (internal objects are dictionaries)', async () => {
    const plain = await contextCensus();
    const ours = await contextCensus(preludeSnapshotLikeThePool(preludeSource, preludeWarmUpSource, withoutRehash));
    // 353 maps plain and 416 ours when the first objects were made dictionaries (530 before the dictionaries, 399 after); the bound leaves room for a few objects more.
    assert.ok(ours.maps - plain.maps <= 100, `a new context holds ${ours.maps} maps, a plain one ${plain.maps}: an object literal with a prototype and many properties in the prelude? (bench/context-census.ts --maps)`);
  });

  test('console is an ordinary object of Object.prototype with its methods as own properties, in order', async () => {
    const shape = await result("JSON.stringify([Object.getPrototypeOf(console) === Object.prototype, console.hasOwnProperty('log'), Object.keys(console), typeof console.log, console.toString(), String(console.log)])");
    assert.deepEqual(JSON.parse(shape!), [true, true,
      ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir', 'table', 'assert', 'count', 'countReset', 'time', 'timeEnd', 'timeLog', 'group', 'groupEnd', 'groupCollapsed'],
      'function', '[object Object]', 'function log() { [native code] }']);
  });
});
