// One owner frees every context: after a run ends, however it ends (completed, thrown, a syntax
// error, timed out, cancelled while running or while queued, out of memory), the engine holds no
// context for it, and a stateful run's context is held only until its commit names or releases
// it. Counted by the engine itself (`contextsInUse`, the live heaps' `unnamed`).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';
import { statefulHarness } from './stateful-harness.ts';

const { engine, run } = await engineForFile(1);
const stateful = await statefulHarness();

/** Runs `code` until it prints its first line, then cancels it; answers the contexts held meanwhile. */
async function cancelWhileRunning(code: string): Promise<{ status: string; heldWhileRunning: number }> {
  const abort = new AbortController();
  let heldWhileRunning = -1;
  const ran = await run(code, { signal: abort.signal, onLine: () => { heldWhileRunning = engine.contextsInUse; abort.abort(); } });
  return { status: ran.status, heldWhileRunning };
}

describe('context ownership', () => {
  test('a stateless run holds its context while it runs and none once it ended, on every path', async () => {
    const outcomes = [
      (await run('1 + 1')).status,
      (await run('throw new Error("boom")')).status,
      (await run('let = ;')).status,
      (await run('while (true) {}', { timeoutMs: 200 })).status,
      (await run('const a = []; for (;;) a.push(new Array(10000).fill(1))')).status,
    ];
    assert.deepEqual(outcomes, ['completed', 'failed', 'failed', 'timed_out', 'failed']);
    assert.equal(engine.contextsInUse, 0);
    const cancelled = await cancelWhileRunning('console.log("started"); await new Promise((resolve) => setTimeout(resolve, 60_000))');
    assert.deepEqual(cancelled, { status: 'cancelled', heldWhileRunning: 1 });
    assert.equal(engine.contextsInUse, 0);
  });

  test('a run cancelled while queued behind another never takes a context', async () => {
    const busy = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((resolve) => { started = resolve; });
    // Spinning: a run that awaits a timer gives its slot back (scheduler.ts), and blocks nothing.
    const blocker = run('console.log("busy"); for (;;) {}', { signal: busy.signal, timeoutMs: 120_000, onLine: () => started() });
    await running;
    const queued = new AbortController();
    const waiting = run('1', { signal: queued.signal });
    assert.equal(engine.queuedCount, 1, 'queued behind the spinner');
    queued.abort();
    assert.equal((await waiting).status, 'cancelled');
    assert.equal(engine.contextsInUse, 1, 'only the running one');
    busy.abort();
    assert.equal((await blocker).status, 'cancelled');
    assert.equal(engine.contextsInUse, 0);
  });

  test('a stateful run\'s context is held for its commit, and freed on every other path', async () => {
    const { runStateful, resume, drop, live, engine: statefulEngine } = stateful;
    const kept = await runStateful('var x = 1; x', { replay: [] });
    assert.ok(kept.live !== null);
    const ended = [
      await runStateful('while (true) {}', resume(kept.live), { limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 200 } }),
      await runStateful('throw new Error("boom")', { replay: [] }),
      await runStateful('const a = []; for (;;) a.push(new Array(10000).fill(1))', { replay: [] }),
      await runStateful("import fs from 'fs'\nawait fs.promises.readFile('x')", { replay: [] }),
    ];
    assert.deepEqual(ended.map((step) => step.outcome.status), ['timed_out', 'failed', 'failed', 'failed']);
    assert.equal(ended[0]!.live, null, 'a timed-out resume leaves nothing live');
    for (const step of ended) drop(step.live);
    assert.equal(statefulEngine.contextsInUse, 0);
    assert.equal(live.unnamed, 0, 'every context a run left was named or released');
    assert.equal(live.size, 0);
  });
});
