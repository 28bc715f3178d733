// The deadline read at the exact moment between two calls that go out together. A run's clock is
// injected (EngineOptions.clock) so the test can make time jump at any chosen reading: each
// reading in turn, over a run whose timers keep it going, until one lands on every kind of call.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';

describe('deadline between calls', () => {
  test('time running out at any reading ends the run as timed_out, and never as an unhandled rejection (which stops the server)', async () => {
    let readings = 0;
    let jumpAt = 0;
    let offsetMs = 0;
    const clock = () => {
      readings++;
      if (readings === jumpAt) offsetMs = 3_600_000;
      return Date.now() + offsetMs;
    };
    const engine = await createEngine({ maxConcurrentExecutions: 1, clock });
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => { rejections.push(reason); };
    process.on('unhandledRejection', onRejection);
    try {
      // Reading 1 starts the deadline (a jump there would move it too); from 2 on, each reading may be the late one.
      for (jumpAt = 2; jumpAt <= 16; jumpAt++) {
        readings = 0;
        offsetMs = 0;
        const outcome = await engine.run({
          code: 'setInterval(() => {}, 1)', limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 },
          signal: new AbortController().signal, onConsoleLine: () => {},
        });
        assert.equal(outcome.status, 'timed_out', `time jumped at reading ${jumpAt}: ${outcome.error}`);
        assert.match(outcome.error!, /^Execution timed out: it ran past execution_timeout_secs \(30 s\)\./, 'the timer is named only once the code has settled');
        assert.ok(readings >= jumpAt, `the run read the clock ${jumpAt} times, so time did jump`);
      }
      // A rejection nobody handled is reported once the microtasks of its turn have run.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(rejections.map(String), []);
    } finally {
      process.off('unhandledRejection', onRejection);
      await engine.close();
    }
  });
});
