// RaftDriver on real LevelDB storage: three in-process nodes joined by an asynchronous transport
// elect a leader, apply proposals with results, refuse proposals at followers with a leader hint,
// serve linearizable read barriers, and a node reopened from its LevelDB log replays its state.
// The scenario (fixtures/driver-cluster.ts) runs in a worker thread: a driver bug that loops
// without yielding (a Ready that never drains, say) would starve this thread's timers, so the
// test's own timeout could not fire; a worker can be terminated from here in any state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

/** The scenario takes seconds; a run this long is hung. */
const scenarioMsMax = 120_000;

test('three drivers on LevelDB: proposals apply with results, followers refuse with a hint, reads are linearizable, restarts replay', async () => {
  const worker = new Worker(new URL('./fixtures/driver-cluster.ts', import.meta.url));
  let hung = false;
  const deadline = setTimeout(() => {
    hung = true;
    void worker.terminate();
  }, scenarioMsMax);
  let failure: unknown = null;
  worker.on('error', (error) => {
    failure = error;
  });
  const exitCode = await new Promise<number>((resolve) => worker.on('exit', resolve));
  clearTimeout(deadline);
  assert.equal(hung, false, `the driver scenario did not finish within ${scenarioMsMax} ms: stopped`);
  if (failure !== null) throw failure;
  assert.equal(exitCode, 0);
});
