// The live-heap cache alone: least recently kept go first, by count and by V8 heap bytes; a heap
// is taken by one resume, only for a run with the same isolate size; a context a run left is
// held until named or released, once; whatever leaves is freed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LiveHeapCache, type LiveContextHandle } from '../../src/exec/live-heaps.ts';

function fakeLive(heapBytes: number, memoryMb = 8): LiveContextHandle & { freed: boolean } {
  return { memoryMb, heapBytes, freed: false, get disposed() { return this.freed; }, dispose() { this.freed = true; } };
}

describe('live-heap cache', () => {
  test('bounded by count: the least recently kept is freed', () => {
    const cache = new LiveHeapCache(2, 1_000);
    const [a, b, c] = [fakeLive(10), fakeLive(10), fakeLive(10)];
    cache.put('a', a);
    cache.put('b', b);
    cache.put('c', c);
    assert.deepEqual([cache.has('a'), cache.has('b'), cache.has('c')], [false, true, true]);
    assert.deepEqual([a.freed, b.freed, c.freed], [true, false, false]);
    assert.equal(cache.heapBytes, 20);
    assert.equal(cache.evictions, 1);
  });

  test('bounded by heap bytes; a context larger than the bound is not kept', () => {
    const cache = new LiveHeapCache(100, 100);
    const big = fakeLive(60);
    const other = fakeLive(50);
    cache.put('big', big);
    cache.put('other', other);
    assert.equal(big.freed, true);
    assert.equal(cache.heapBytes, 50);
    assert.equal(cache.evictions, 1);
    const huge = fakeLive(101);
    cache.put('huge', huge);
    assert.equal(huge.freed, true);
    assert.equal(cache.has('huge'), false);
  });

  test('taken once, only for the same isolate size; clear frees everything', () => {
    const cache = new LiveHeapCache(10, 1_000);
    const live = fakeLive(10, 16);
    cache.put('h', live);
    assert.equal(cache.take('h', 8), null, 'a run with another memory limit replays instead');
    assert.equal(cache.take('h', 16), live);
    assert.equal(cache.take('h', 16), null, 'a second resume of the same heap replays');
    assert.equal(cache.heapBytes, 0);
    const kept = fakeLive(5);
    cache.put('k', kept);
    cache.clear();
    assert.equal(kept.freed, true);
    assert.equal(cache.size, 0);
  });

  test('a held context is named or released once; clear frees the held ones too', () => {
    const cache = new LiveHeapCache(10, 1_000);
    const [named, released, held] = [fakeLive(10), fakeLive(10), fakeLive(10)];
    const [a, b, c] = [cache.hold(named), cache.hold(released), cache.hold(held)];
    assert.equal(cache.unnamed, 3);
    cache.keep(a, 'heap-a');
    cache.release(b);
    assert.deepEqual([cache.has('heap-a'), named.freed, released.freed, cache.unnamed], [true, false, true, 1]);
    assert.throws(() => cache.release(b), /named or released once/);
    cache.clear();
    assert.deepEqual([named.freed, held.freed, cache.unnamed, cache.size], [true, true, 0, 0]);
    cache.keep(c, 'heap-c');
    assert.equal(cache.has('heap-c'), false, 'a commit that ends after the clear names nothing');
  });
});
