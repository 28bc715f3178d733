// The priority looks (thread-nice.ts) are for runs that execute: a run that has used lookAfterMs
// of CPU and then only awaits a timer gave its lane back and runs nothing, so the looks stop until
// it takes its lane again. They went on every sampleMs while such a run waited: a run holding
// 8,000 timers to its 5 s timeout cost 115 ms of the event loop, 45 % of it in looks
// (bench/RESULTS.md). Counted in looks, never in wall time: the run waits 500 ms, in which the
// looks every 10 ms made ≈ 50 (fewer on a loaded machine, where timers fire late, but not 3).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lookAfterMs } from '../../src/exec/thread-nice.ts';
import { engineForFile } from './harness.ts';

const { engine, run } = await engineForFile();
const looks = () => (engine as unknown as { priorityLooks: number }).priorityLooks;

test(`a run past ${lookAfterMs} ms of CPU that then awaits a timer costs no look while it waits`, async () => {
  const seen = new Map<string, number>();
  // Busy for 1.5 s of wall time: past lookAfterMs of CPU even at a load of 20 on two cores (the
  // looks then lower the thread, and it spins on at idle priority until the time is up). Then two
  // timers: the looks are counted from the first one's line to the second's, 500 ms of waiting.
  const ran = await run("const t = Date.now(); while (Date.now() < t + 1500); setTimeout(() => { console.log('a'); setTimeout(() => console.log('b'), 500); }, 10)", {
    timeoutMs: 60_000,
    onLine: (line) => seen.set(line, looks()),
  });
  assert.equal(ran.status, 'completed', ran.error ?? '');
  assert.deepEqual(ran.lines, ['a', 'b']);
  assert.ok(seen.get('a')! > 0, `the looks began while the loop ran (${seen.get('a')})`);
  assert.ok(seen.get('b')! - seen.get('a')! <= 2, `looks while the run only waited: ${seen.get('b')! - seen.get('a')!}`);
});
