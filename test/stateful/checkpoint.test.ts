// Checkpoints through the heap service, on real storage (docs/stateful.md, "Checkpoints"): a
// session's record carries one every checkpointRunsEvery runs of a context; after a restart the
// heap resumes from the newest one, replaying only the runs after it; a checkpoint the sandbox
// refuses (a record whose hash is right but whose checkpoint is not one) is logged and the whole
// history replayed, with the same result.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { checkpointRunsEvery } from '../../src/exec/run.ts';
import { decodeHeapRecord, encodeHeapRecord } from '../../src/storage/heap-record.ts';
import { tempDir } from '../support/server-process.ts';
import { heapOf, openStack } from './stack.ts';

const root = tempDir('checkpoint');
const warnings: Array<{ fields: object; message: string }> = [];
const logger = { warn: (fields: object, message: string) => { warnings.push({ fields, message }); } };
let stack = await openStack(root, { logger });
after(() => stack.close());

describe('checkpoints on real storage', () => {
  const runs = checkpointRunsEvery + 8;
  const heaps: string[] = [];

  test(`a ${runs}-run session leaves one checkpoint, and resumes from it after a restart`, async () => {
    for (let index = 0; index < runs; index++) {
      heaps.push((await heapOf(stack, `var total = (globalThis.total ?? 0) + ${index}; let last = 'run ${index}'; total`, { session: 'long' })).heap);
    }
    const withCheckpoint: number[] = [];
    for (const [index, heap] of heaps.entries()) {
      if (decodeHeapRecord(heap, await stack.heaps.store.get(heap)).checkpoint !== undefined) withCheckpoint.push(index + 1);
    }
    assert.deepEqual(withCheckpoint, [checkpointRunsEvery]);
    await stack.close();
    stack = await openStack(root, { logger });
    const plan = await stack.heaps.replayFrom(heaps.at(-1)!);
    assert.equal(plan.checkpoint?.heap, heaps[checkpointRunsEvery - 1]);
    assert.equal(plan.replay.length, runs - checkpointRunsEvery);
    const resumed = await heapOf(stack, 'JSON.stringify([total, last])', { session: 'long' });
    assert.equal(resumed.result, JSON.stringify([(runs * (runs - 1)) / 2, `run ${runs - 1}`]));
    assert.deepEqual(warnings, []);
  });

  test('a checkpoint the sandbox refuses is logged, and the whole history replayed', async () => {
    const at = heaps[checkpointRunsEvery - 1]!;
    const record = decodeHeapRecord(at, await stack.heaps.store.get(at));
    // Stored by its own hash, so the store accepts it: only the sandbox can refuse it.
    const forged = await stack.heaps.store.put(encodeHeapRecord({ ...record, checkpoint: '{"format":2,"sequences":[0,0,0,0,0,0],"bindings":[["Map",["j",1],true,true,false]],"objects":[]}' }));
    const resumed = await heapOf(stack, 'JSON.stringify([total, last, typeof Map])', { heap: forged });
    assert.equal(resumed.result, JSON.stringify([(checkpointRunsEvery * (checkpointRunsEvery - 1)) / 2, `run ${checkpointRunsEvery - 1}`, 'function']));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /checkpoint could not be restored; resuming by replaying the whole history/);
    assert.match(JSON.stringify(warnings[0]!.fields), /named Map is defined already/);
  });
});
