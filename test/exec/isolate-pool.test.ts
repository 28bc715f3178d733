// The pool of warm isolates: a fresh context every time, bounded idle lists, and a replacement
// made in the background when an isolate is disposed.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { IsolatePool, idleIsolatesPerLimitMin } from '../../src/exec/isolate-pool.ts';

const pool = new IsolatePool({ slots: 2 });
after(() => pool.close());

describe('isolate pool', () => {
  test('an isolate is reused, its context never: the next one is fresh and already prepared', async () => {
    const first = await pool.acquire(8);
    await first.context.eval('globalThis.marker = 1');
    pool.release(first, 8);
    await pool.whenReplenished();
    assert.equal(pool.idleFor(8), 1);
    const second = await pool.acquire(8);
    assert.equal(second.isolate, first.isolate, 'the warm isolate');
    assert.notEqual(second.context, first.context);
    assert.equal(await second.context.eval('typeof marker', { copy: true }), 'undefined');
    assert.equal(second.contextsCreated, 2);
    pool.release(second, 8);
  });

  test('a discarded isolate is disposed and replaced in the background', async () => {
    while (pool.idleFor(16) > 0) pool.discard(await pool.acquire(16), 16);
    await pool.whenReplenished();
    const doomed = await pool.acquire(16);
    const idleBefore = pool.idleFor(16);
    pool.discard(doomed, 16);
    assert.equal(doomed.isolate.isDisposed, true);
    await pool.whenReplenished();
    assert.equal(pool.idleFor(16), idleBefore + 1);
    const replacement = await pool.acquire(16);
    assert.notEqual(replacement.isolate, doomed.isolate);
    pool.release(replacement, 16);
  });

  test('idle isolates per memory limit are bounded; extras are disposed', async () => {
    assert.equal(pool.idlePerLimitMax, idleIsolatesPerLimitMin, 'two slots: the minimum');
    assert.equal(new IsolatePool({ slots: 20 }).idlePerLimitMax, 20, 'one per slot when there are more slots');
    const taken = await Promise.all(Array.from({ length: pool.idlePerLimitMax + 2 }, () => pool.acquire(32)));
    for (const prepared of taken) pool.release(prepared, 32);
    await pool.whenReplenished();
    assert.equal(pool.idleFor(32), pool.idlePerLimitMax);
    assert.equal(taken.filter((prepared) => prepared.isolate.isDisposed).length, 2);
  });
});
