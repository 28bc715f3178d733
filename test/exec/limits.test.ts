// Limits and scheduling: memory limits isolated-vm cannot express, many runs on one isolate,
// the FIFO queue with its counts, a queued run's timeout, and cancelling a queued run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorTexts } from '../../src/exec/types.ts';
import { engineForFile } from './harness.ts';

const { engine, run, result } = await engineForFile(1);

describe('limits and scheduling', () => {
  test('a limit below isolated-vm\'s minimum of 8 MiB runs (at 8 MiB)', async () => {
    for (const memoryMb of [1, 4]) assert.equal((await run('1 + 1', { memoryMb })).result, '2');
  });

  test('thousands of runs on warm isolates never fail from leftovers of earlier contexts', async () => {
    for (let index = 0; index < 1_500; index++) {
      const ran = await run(`[${index}, 'x'.repeat(100)].length`);
      assert.equal(ran.status, 'completed', `run ${index}: ${ran.error}`);
    }
  });

  const sleeper = 'await new Promise((resolve) => setTimeout(resolve, 300)); 1';

  test('runs beyond the slots queue in order; the counts say so; a queued run\'s timeout starts when it runs', async () => {
    // Run once first, so that their code is cached and each run joins the queue as it is
    // submitted (code a source worker must prepare joins it when ready, source-prep.test.ts).
    for (const code of [sleeper, '2', '3']) assert.equal((await run(code)).status, 'completed');
    const first = run(sleeper, { timeoutMs: 5_000 });
    const second = run('2', { timeoutMs: 100 });
    const third = run('3', { timeoutMs: 100 });
    assert.equal(engine.runningCount, 1);
    assert.equal(engine.queuedCount, 2);
    const outcomes = await Promise.all([first, second, third]);
    assert.deepEqual(outcomes.map((ran) => ran.result), ['1', '2', '3'], 'waiting 300 ms in the queue did not use the 100 ms timeouts');
    assert.equal(engine.queuedCount, 0);
    assert.equal(engine.runningCount, 0);
  });

  test('cancelling a queued run answers at once and frees its place', async () => {
    // The blocker runs until it is cancelled: the queued run's answer cannot have waited for it.
    // It spins: a run that awaits a timer gives its slot back (scheduler.ts), and holds no place.
    const stopBlocker = new AbortController();
    let blockerStarted!: () => void;
    const started = new Promise<void>((resolve) => { blockerStarted = resolve; });
    const blocker = run("console.log('started'); for (;;) {}", { signal: stopBlocker.signal, timeoutMs: 120_000, onLine: () => blockerStarted() });
    await started;
    const controller = new AbortController();
    const queued = run('2', { signal: controller.signal });
    assert.equal(engine.queuedCount, 1);
    controller.abort();
    const ran = await queued;
    assert.equal(ran.status, 'cancelled');
    assert.equal(ran.error, ErrorTexts.cancelled);
    assert.equal(engine.queuedCount, 0);
    assert.equal(engine.runningCount, 1, 'answered while the blocker still ran');
    stopBlocker.abort();
    assert.equal((await blocker).status, 'cancelled');
  });

  test('a signal aborted before submission cancels without running', async () => {
    const controller = new AbortController();
    controller.abort();
    const ran = await run("console.log('ran'); 1", { signal: controller.signal });
    assert.equal(ran.status, 'cancelled');
    assert.deepEqual(ran.lines, []);
    assert.equal(await result('1'), '1');
  });
});

describe('close', () => {
  test('close cancels running and queued runs, then later runs answer cancelled', async () => {
    const { createEngine } = await import('../../src/exec/engine.ts');
    const closing = await createEngine({ maxConcurrentExecutions: 1 });
    const submit = (code: string) => closing.run({ code, limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 }, signal: new AbortController().signal, onConsoleLine: () => {} });
    const running = submit('while (true) {}');
    const queued = submit('1');
    while (closing.runningCount === 0) await new Promise((resolve) => setImmediate(resolve));
    await closing.close();
    assert.equal((await running).status, 'cancelled');
    assert.equal((await queued).status, 'cancelled');
    assert.equal((await submit('1')).status, 'cancelled');
    assert.equal(closing.runningCount, 0);
  });
});
