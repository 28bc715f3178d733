// An isolate stuck in a builtin's loop that does end is counted stuck only until it answers.
// The loop: `reverse` over an object whose `length` getter answers 1 to the bound's check
// (src/exec/sandbox/bounds.js) and 2 ** 30 to V8, a case the bound does not catch (docs/exec.md,
// "Limits"). V8 then visits 2 ** 30 indexes without checking for termination: ≈ 6 s here, well
// past the run's timeout and the 2 s its stopped isolate has to answer.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { collectBeforeExit } from './harness.ts';

let answered: () => void;
const answeredAtLast = new Promise<void>((resolve) => { answered = resolve; });
const noted: string[] = [];
const note = (_object: object, message?: string) => {
  noted.push(message ?? '');
  if (message?.startsWith('a stuck isolate answered at last')) answered();
};
const engine = await createEngine({ maxConcurrentExecutions: 2, logger: { info: note, warn: note, error: note, debug: note } });
after(async () => {
  await engine.close();
  collectBeforeExit();
});

describe('a stuck isolate that answers at last', () => {
  test('counts stuck from when its run gave up on it until its loop ends; the other slot serves meanwhile', async () => {
    const ran = await engine.run({
      code: 'let reads = 0; Array.prototype.reverse.call({ get length() { return reads++ === 0 ? 1 : 2 ** 30 } })',
      limits: { heapMemoryMaxMb: 16, executionTimeoutMs: 100 },
      signal: new AbortController().signal,
      onConsoleLine: () => {},
    });
    assert.equal(ran.status, 'timed_out');
    assert.equal(engine.stuckIsolates, 1, noted.join('\n'));
    const other = await engine.run({ code: '6 * 7', limits: { heapMemoryMaxMb: 16, executionTimeoutMs: 5_000 }, signal: new AbortController().signal, onConsoleLine: () => {} });
    assert.equal(other.result, '42');

    await answeredAtLast;
    assert.equal(engine.stuckIsolates, 0);
  });
});
