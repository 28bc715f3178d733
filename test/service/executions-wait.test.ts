// A caller waiting for a run (run_js or get_execution with wait_ms) has its final record written
// at once, not after the store's group-commit delay, which would be part of its time to result.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { serviceForFile } from './harness.ts';

const { service, store } = await serviceForFile('service-wait');

// The real store, its finish observed: which executions' records were written as urgent.
const urgentById = new Map<string, boolean>();
const finish = store.finish.bind(store);
store.finish = (id, final, urgent = false) => {
  urgentById.set(id, urgent);
  return finish(id, final, urgent);
};

describe('waiting for a run', () => {
  test('a waited-for run\'s record is written at once; an unwaited one\'s joins the group commit', async () => {
    const waited = await service.submit({ code: '6 * 7', heapMemoryMaxMb: 8, executionTimeoutSecs: 30 });
    const record = await service.wait(waited, 20_000);
    assert.equal(record.result, '42');
    assert.equal(urgentById.get(waited), true);

    // Listening before the submit: a run starts beside its record's create write, so it may have
    // finished by the time submit answers.
    const finishedIds = new Set<string>();
    let onFinished = (): void => undefined;
    const listener = (finished: { execution_id: string }): void => { finishedIds.add(finished.execution_id); onFinished(); };
    service.on('finished', listener);
    const unwaited = await service.submit({ code: '6 * 8', heapMemoryMaxMb: 8, executionTimeoutSecs: 30 });
    // Finished without anybody waiting: a later wait finds the record, written by the group commit.
    await new Promise<void>((resolve) => {
      onFinished = () => { if (finishedIds.has(unwaited)) resolve(); };
      onFinished();
    });
    service.off('finished', listener);
    assert.equal((await service.wait(unwaited, 20_000)).result, '48');
    assert.equal(urgentById.get(unwaited), false);
  });
});
