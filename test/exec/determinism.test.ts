// The determinism hooks: randomness from a per-run seed, clock readings and macrotask order
// logged in the outcome's record, so that a replayer (next issue) has what it needs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { run, result } = await engineForFile();

describe('determinism hooks', () => {
  test('the same seed gives the same Math.random, getRandomValues and randomUUID; the record names the seed', async () => {
    const code = "[Math.random(), Math.random(), crypto.getRandomValues(new Uint8Array(6)).join('.'), crypto.randomUUID()].join(' ')";
    const first = await run(code, { environment: { seed: 1234 } });
    const second = await run(code, { environment: { seed: 1234 } });
    const other = await run(code, { environment: { seed: 1235 } });
    assert.equal(first.status, 'completed', first.error ?? '');
    assert.equal(first.result, second.result);
    assert.notEqual(first.result, other.result);
    assert.equal(first.record?.seed, 1234);
    assert.match(first.result!.split(' ')[3]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('without a seed every run gets a fresh one, reported in its record', async () => {
    const first = await run('Math.random()');
    const second = await run('Math.random()');
    assert.notEqual(first.result, second.result);
    assert.notEqual(first.record?.seed, second.record?.seed);
    assert.ok(Number.isInteger(first.record?.seed));
  });

  test('Math.random is uniform enough: 10 000 draws in [0, 1) with a mean near 0.5', async () => {
    const mean = Number(await result('let sum = 0; for (let i = 0; i < 10000; i++) { const r = Math.random(); if (!(r >= 0 && r < 1)) throw new Error(String(r)); sum += r; } sum / 10000'));
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  });

  test('every clock reading user code makes is logged in order; Date still behaves like Date', async () => {
    const ran = await run(`
      const a = Date.now(); const b = new Date(); const c = performance.now(); const d = Date();
      const fixed = new Date(0);
      [typeof a, b instanceof Date, typeof c, typeof d, fixed.toISOString(), Date.UTC(2020, 0, 1), Date.name, new Date(5).getTime()].join()`);
    assert.equal(ran.result, 'number,true,number,string,1970-01-01T00:00:00.000Z,1577836800000,Date,5');
    const readings = ran.record!.clockReadingsMs;
    assert.equal(readings.length, 5, 'Date.now, new Date(), performance.now (origin + reading), Date()');
    assert.ok(readings.every((reading, index) => index === 0 || reading >= readings[index - 1]!));
    assert.ok(Math.abs(readings[0]! - Date.now()) < 60_000);
    assert.equal(ran.record!.complete, true);
  });

  test('timer deliveries are logged in the order the event loop made them', async () => {
    const ran = await run(`
      const order = [];
      const slow = setTimeout(() => order.push('slow'), 20);
      const fast = setTimeout(() => order.push('fast'), 1);
      await new Promise((resolve) => setTimeout(resolve, 30));
      [+fast, +slow, order.join()].join(' ')`);
    const [fastId, slowId, order] = ran.result!.split(' ');
    assert.equal(order, 'fast,slow');
    const timerIds = ran.record!.events.map((event) => (event.kind === 'timer' ? event.timerId : -1));
    assert.deepEqual(timerIds.slice(0, 2), [Number(fastId), Number(slowId)]);
    assert.equal(timerIds.length, 3, 'fast, slow, then the resolve of the awaited timer');
    assert.ok(ran.record!.events.every((event) => event.kind === 'timer' && event.atMs > 0));
  });

  test('a record is bounded: a busy clock loop marks it incomplete instead of growing without end', async () => {
    const ran = await run('for (let i = 0; i < 200000; i++) Date.now(); 1');
    assert.equal(ran.record!.complete, false);
    assert.ok(ran.record!.clockReadingsMs.length <= 100_000);
  });

  test('failed runs carry a record (replay can reproduce a throw); timed out and cancelled runs do not', async () => {
    const thrown = await run("Math.random(); throw new Error('boom')", { environment: { seed: 7 } });
    assert.equal(thrown.status, 'failed');
    assert.equal(thrown.record?.seed, 7);
    const timedOut = await run('while (true) {}', { timeoutMs: 100 });
    assert.equal(timedOut.status, 'timed_out');
    assert.equal(timedOut.record ?? null, null);
  });
});
