// When a stateless run's isolate makes its next context (issue 23, src/exec/isolate-pool.ts
// `release`, src/exec/engine.ts `runIn`): a lone run's next context is asked for only after its
// outcome has reached the caller (in a later turn of the event loop: made during the run, its
// ≈ 0.5 ms on the isolate's thread took a core from the reply on a 2-core machine); while other
// runs wait for a lane it is sent together with the run's last call (one thread wake for both), as
// before. Either way the isolate goes back to the pool with its context made, and runs after it
// see a fresh context.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IsolatePool } from '../../src/exec/isolate-pool.ts';
import { engineForFile } from './harness.ts';

const { engine, run, result } = await engineForFile(1);

/** Counts the pool's asks for an isolate's next context (with its heap reading: `successorOf`). */
const made = { count: 0 };
const pool = IsolatePool.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
const successorOf = pool.successorOf!;
assert.equal(typeof successorOf, 'function', 'the pool makes a released isolate\'s next context in successorOf');
pool.successorOf = function counted(this: unknown, ...args: unknown[]) {
  made.count++;
  return successorOf.apply(this, args);
};

/** A turn of the event loop after this one. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the next context of a stateless isolate', () => {
  test('a lone run: asked for after its outcome is handed over, and used by the next run', async () => {
    // Warm: the pool's isolates have their contexts.
    for (let index = 0; index < 4; index++) assert.equal(await result('1 + 1'), '2');
    await nextTurn();
    for (let index = 0; index < 5; index++) {
      const before = made.count;
      const ran = await run(`globalThis.seen = (globalThis.seen ?? 0) + 1; seen + ${index}`);
      assert.equal(ran.status, 'completed', ran.error ?? '');
      assert.equal(ran.result, String(1 + index), 'every run starts in a fresh context');
      assert.equal(made.count, before, 'no context asked for before the outcome reached its caller');
      await nextTurn();
      assert.equal(made.count, before + 1, 'the next context is asked for in the turn after');
    }
    await (engine as unknown as { pool: { whenReplenished(): Promise<void> } }).pool.whenReplenished();
  });

  test('runs waiting for the lane: the next context goes with the run\'s last call', async () => {
    await nextTurn();
    const before = made.count;
    // One lane: the second and third wait while the first runs.
    const outcomes = await Promise.all([run('1 + 1'), run('2 + 2'), run('3 + 3')].map(async (running) => {
      const ran = await running;
      return { result: ran.result, madeAtOutcome: made.count - before };
    }));
    assert.deepEqual(outcomes.map((outcome) => outcome.result), ['2', '4', '6']);
    // The first run's successor was sent with its call (runs waited), before its outcome.
    assert.ok(outcomes[0]!.madeAtOutcome >= 1, `the first run's next context was asked for during it (${outcomes[0]!.madeAtOutcome})`);
    await nextTurn();
    await nextTurn();
    assert.equal(await result('typeof seen'), 'undefined', 'a fresh context after the queue drained');
  });
});
