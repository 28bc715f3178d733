// What the service holds in memory for executions in flight is bounded: a queued run keeps its
// code until it starts, and code can be 1,000,000 characters, so besides the count (100,000) the
// characters of code in flight are bounded too (512 Mi by default; small here).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import type { McpV8Error } from '../../src/errors.ts';
import { ExecutionService } from '../../src/service/executions.ts';
import { Metrics } from '../../src/metrics.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { tempDir } from '../support/server-process.ts';
import { collectBeforeExit } from '../exec/harness.ts';

const engine = await createEngine({ maxConcurrentExecutions: 1 });
const store = await ExecutionStore.open({ path: join(tempDir('service-bounds'), 'executions') });
const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'test', liveCodeCharsMax: 3_000 });
after(async () => {
  await service.close();
  await engine.close();
  await store.close();
  collectBeforeExit();
});

/** Code of exactly `chars` characters that waits on a timer (the slot stays taken until it is cancelled). */
function held(chars: number): string {
  const code = 'await new Promise((resolve) => setTimeout(resolve, 60_000))';
  return code + ' '.repeat(chars - code.length);
}
const submit = (code: string) => service.submit({ code, heapMemoryMaxMb: 8, executionTimeoutSecs: 120 });

describe('code in flight', () => {
  test('past the bound a submission is refused with what is held; once runs finish there is room again', async () => {
    const first = await submit(held(1_000));
    const queued = [await submit(held(1_000)), await submit(held(1_000))];
    await assert.rejects(submit('1'), (error: Error & { code?: string }) => {
      // Load, not a bad argument: 503 with Retry-After on HTTP.
      assert.equal(error.code, 'BUSY');
      assert.equal((error as McpV8Error).retryAfterSecs, 1);
      assert.equal(error.message, "the executions in flight hold 3000 characters of code, and this one's 1 would pass the bound of 3000; retry after some finish");
      return true;
    });
    // Cancelling frees the place as the run is recorded.
    for (const id of [first, ...queued]) await service.cancel(id);
    for (const id of [first, ...queued]) assert.equal((await service.wait(id, 10_000)).status, 'cancelled');
    const next = await submit('6 * 7');
    assert.equal((await service.wait(next, 10_000)).result, '42');
  });
});
