// The execution store's one write queue: creates and finishes of many executions share batches,
// yet each still resolves only once written; a finished record is readable from memory before its
// write; and a reopen finds every finished record and its lines.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Level } from 'level';
import { ExecutionStore, droppedOutputLine, finishFlushDelayMs, lazyCreateDelayMs, resumedOutputLine, type ExecutionRecord } from '../../src/storage/execution-store.ts';
import { newExecutionId } from '../../src/exec/ids.ts';
import { tempDir } from '../support/server-process.ts';

function running(): ExecutionRecord {
  return { execution_id: newExecutionId('g'), status: 'running', result: null, heap: null, error: null, started_at: new Date().toISOString(), completed_at: null };
}

const completed = (result: string) => ({ status: 'completed' as const, result, error: null, heap: null, completed_at: new Date().toISOString() });

describe('execution store group commit', () => {
  test("another execution's create and finish are written ahead of a 32 MiB flood's output, which still ends in order before its own finish", async () => {
    const path = tempDir('gc-flood');
    const store = await ExecutionStore.open({ path });
    const flood = running();
    const other = running();
    const megabyte = 'm'.repeat(1024 * 1024);
    try {
      await store.create(flood);
      for (let line = 0; line < 32; line++) store.appendOutput(flood.execution_id, `${line}${megabyte}`);
      const order: string[] = [];
      // A barrier: resolves once everything queued before it, the flood's output, is written.
      const floodWritten = store.flush().then(() => order.push('flood output written'));
      await store.create(other);
      order.push('other created');
      await store.finish(other.execution_id, completed('2'), true);
      order.push('other finished');
      await floodWritten;
      assert.deepEqual(order, ['other created', 'other finished', 'flood output written']);
      store.appendOutput(flood.execution_id, 'last');
      await store.finish(flood.execution_id, completed('1'));
    } finally {
      await store.close();
    }
    const reopened = await ExecutionStore.open({ path });
    try {
      const page = await reopened.readOutput(flood.execution_id, { mode: 'line', lineOffset: 31, lineLimit: 5, bytesMax: 4 * 1024 * 1024 });
      assert.deepEqual(page.data.split('\n').map((line) => line.slice(0, 3)), ['30m', '31m', 'las', '']);
      assert.equal(page.total_lines, 33);
    } finally {
      await reopened.close();
    }
  });

  test('a finished record is readable at once, with its unwritten lines; the finish resolves once it is written, and a reopen finds it', { timeout: 60_000 }, async (t) => {
    const path = tempDir('gc-visible');
    const store = await ExecutionStore.open({ path });
    const record = running();
    try {
      await store.create(record);
      // The group-commit delay is a setTimeout: frozen, so the reads below meet the finish unwritten
      // however slow the machine is (2 ms of wall time passed between them under npm test's load).
      // Frozen before the line too: its own 5 ms timer, left running, fired at load 25 between the
      // finish and the check below and took the finish along.
      t.mock.timers.enable({ apis: ['setTimeout'] });
      store.appendOutput(record.execution_id, 'out');
      let written = false;
      const finishing = store.finish(record.execution_id, completed('1')).then(() => { written = true; });
      // What a reply from memory says, get_execution says too, before LevelDB has it.
      assert.equal((await store.get(record.execution_id))?.status, 'completed');
      assert.equal((await store.list()).find((listed) => listed.execution_id === record.execution_id)?.status, 'completed');
      assert.equal((await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 1, lineLimit: 10 })).data, 'out\n');
      assert.equal(written, false, 'the batch waits for company (finishFlushDelayMs)');
      t.mock.timers.tick(finishFlushDelayMs);
      await finishing;
    } finally {
      t.mock.timers.reset();
      await store.close();
    }
    const reopened = await ExecutionStore.open({ path });
    try {
      assert.equal((await reopened.get(record.execution_id))?.status, 'completed');
      assert.equal((await reopened.readOutput(record.execution_id, { mode: 'line', lineOffset: 1, lineLimit: 10 })).data, 'out\n');
    } finally {
      await reopened.close();
    }
  });

  test('a finish somebody waits for is written at once; any other waits for company up to the group-commit delay', { timeout: 60_000 }, async (t) => {
    const waited = await ExecutionStore.open({ path: tempDir('gc-urgent') });
    const unwaited = await ExecutionStore.open({ path: tempDir('gc-lazy') });
    try {
      const [first, second] = [running(), running()];
      await waited.create(first);
      await unwaited.create(second);
      // The group-commit delay is a setTimeout: frozen, only a finish that needs no timer lands.
      t.mock.timers.enable({ apis: ['setTimeout'] });
      let lazyWritten = false;
      const lazy = unwaited.finish(second.execution_id, completed('2')).then(() => { lazyWritten = true; });
      await waited.finish(first.execution_id, completed('1'), true);
      assert.equal((await waited.get(first.execution_id))?.status, 'completed');
      assert.equal(lazyWritten, false, 'an unwaited finish is still waiting for company');
      t.mock.timers.tick(finishFlushDelayMs);
      await lazy;
      assert.equal((await unwaited.get(second.execution_id))?.status, 'completed');
    } finally {
      t.mock.timers.reset();
      await waited.close();
      await unwaited.close();
    }
  });

  test('a lazy create (wait_ms) waits for company: its finish takes it along in one batch; alone, it is written after lazyCreateDelayMs', { timeout: 60_000 }, async (t) => {
    const path = tempDir('gc-lazy-create');
    const store = await ExecutionStore.open({ path });
    const [short, long] = [running(), running()];
    try {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const written: string[] = [];
      const shortCreated = store.create(short, false).then(() => written.push('short created'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(written.length, 0, 'not written on the next turn');
      assert.equal((await store.get(short.execution_id))?.status, 'running', 'readable at once');
      await store.finish(short.execution_id, completed('1'), true).then(() => written.push('short finished'));
      await shortCreated;
      assert.deepEqual(written, ['short created', 'short finished'], 'written with its finish, in order');
      const longCreated = store.create(long, false).then(() => written.push('long created'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(written.length, 2);
      t.mock.timers.tick(lazyCreateDelayMs);
      await longCreated;
      assert.equal(written[2], 'long created');
    } finally {
      t.mock.timers.reset();
      await store.close();
    }
    const reopened = await ExecutionStore.open({ path });
    try {
      assert.equal((await reopened.get(short.execution_id))?.status, 'completed');
      assert.equal((await reopened.get(long.execution_id))?.status, 'failed', 'created on disk, then interrupted by the stop');
    } finally {
      await reopened.close();
    }
  });

  test('a create that shares its batch with its finish is not written: one put of the final record, no running marker; a create written earlier has its marker deleted by the finish', { timeout: 60_000 }, async (t) => {
    const path = tempDir('gc-coalesce');
    const store = await ExecutionStore.open({ path });
    const batches: Array<Array<{ type: string; key: string; value?: unknown }>> = [];
    (store as unknown as { db: { on: (event: 'write', listener: (operations: Array<{ type: string; key: string; value?: unknown }>) => void) => void } }).db
      .on('write', (operations) => batches.push(operations.map(({ type, key, value }) => ({ type, key, ...(value === undefined ? {} : { value }) }))));
    const [awaited, polled] = [running(), running()];
    const fields = completed('1');
    try {
      t.mock.timers.enable({ apis: ['setTimeout'] });
      // A wait_ms run: its lazy create waits, and its urgent finish takes it along.
      const created = store.create(awaited, false);
      await store.finish(awaited.execution_id, fields, true);
      await created;
      assert.deepEqual(batches, [[{ type: 'put', key: `r!${awaited.execution_id}`, value: JSON.stringify({ ...awaited, ...fields }) }]]);
      // A polled run: its create is written at once, on its own; the finish deletes its marker.
      batches.length = 0;
      await store.create(polled);
      await store.finish(polled.execution_id, completed('2'), true);
      assert.deepEqual(batches.map((batch) => batch.map(({ type, key }) => `${type} ${key}`)), [
        [`put r!${polled.execution_id}`, `put u!${polled.execution_id}`],
        [`put r!${polled.execution_id}`, `del u!${polled.execution_id}`],
      ]);
    } finally {
      t.mock.timers.reset();
      await store.close();
    }
    const reopened = await ExecutionStore.open({ path });
    try {
      assert.deepEqual(await reopened.get(awaited.execution_id), { ...awaited, ...fields });
      assert.equal((await reopened.get(polled.execution_id))?.status, 'completed', 'finished, not marked interrupted');
    } finally {
      await reopened.close();
    }
  });

  test('list_executions shows a record whose lazy create is not written yet (a wait_ms run answered from memory)', { timeout: 60_000 }, async (t) => {
    const store = await ExecutionStore.open({ path: tempDir('gc-lazy-list') });
    const [older, newer] = [running(), running()];
    try {
      await store.create(older);
      await store.finish(older.execution_id, completed('1'), true);
      t.mock.timers.enable({ apis: ['setTimeout'] });
      const created = store.create(newer, false);
      assert.equal((await store.get(newer.execution_id))?.status, 'running', 'readable from memory');
      const listed = await store.list();
      // (Two ids made in the same millisecond have no order between them.)
      assert.deepEqual(listed.map((record) => record.execution_id).sort(), [newer.execution_id, older.execution_id].sort(), 'the unwritten one included');
      await created;
    } finally {
      t.mock.timers.reset();
      await store.close();
    }
  });

  test('concurrent creates and finishes of many executions all land, with their lines, across a reopen', async () => {
    const path = tempDir('gc-many');
    const records = Array.from({ length: 300 }, running);
    const store = await ExecutionStore.open({ path });
    await Promise.all(records.map((record) => store.create(record)));
    await Promise.all(records.map(async (record, index) => {
      for (let line = 0; line < 3; line++) store.appendOutput(record.execution_id, `${index}:${line}`);
      await store.finish(record.execution_id, completed(String(index)));
    }));
    await store.close();
    const reopened = await ExecutionStore.open({ path });
    try {
      for (const [index, record] of records.entries()) {
        const stored = await reopened.get(record.execution_id);
        assert.equal(stored?.status, 'completed', `record ${index} completed, not interrupted`);
        assert.equal(stored?.result, String(index));
        const page = await reopened.readOutput(record.execution_id, { mode: 'line', lineOffset: 1, lineLimit: 10 });
        assert.equal(page.data, `${index}:0\n${index}:1\n${index}:2\n`);
      }
    } finally {
      await reopened.close();
    }
  });

  test('a create that is not followed by a finish is marked interrupted on reopen', async () => {
    const path = tempDir('gc-interrupted');
    const done = running();
    const left = running();
    const store = await ExecutionStore.open({ path });
    await Promise.all([store.create(done), store.create(left)]);
    await store.finish(done.execution_id, completed('ok'));
    await store.close();
    const reopened = await ExecutionStore.open({ path });
    try {
      assert.equal((await reopened.get(done.execution_id))?.status, 'completed');
      assert.equal((await reopened.get(left.execution_id))?.status, 'failed');
    } finally {
      await reopened.close();
    }
  });
});

describe('lines not yet written are bounded', () => {
  type Batch = (this: Level<string, string>, ...args: unknown[]) => Promise<void>;

  test('a wait_ms run whose one batch (create and finish together) is still being written is on the list', { timeout: 60_000 }, async () => {
    const store = await ExecutionStore.open({ path: tempDir('gc-list-in-flight') });
    const original = Level.prototype.batch as unknown as Batch;
    const held: Array<() => void> = [];
    const earlier = running();
    const run = running();
    try {
      await store.create(earlier);
      await store.finish(earlier.execution_id, completed('0'), true);
      (Level.prototype as unknown as { batch: Batch }).batch = function heldBatch(this: Level<string, string>, ...args: unknown[]) {
        return new Promise<void>((resolve, reject) => held.push(() => { original.apply(this, args).then(resolve, reject); }));
      };
      const created = store.create(run, false);
      const finished = store.finish(run.execution_id, completed('1'), true);
      // The batch with the run's record is taken and in LevelDB's hands, not yet written.
      while (held.length === 0) await new Promise((resolve) => setImmediate(resolve));
      const listing = store.list();
      (Level.prototype as unknown as { batch: Batch }).batch = original;
      while (held.length > 0) held.shift()!();
      await Promise.all([created, finished]);
      assert.deepEqual((await listing).map((record) => [record.execution_id, record.result]), [[run.execution_id, '1'], [earlier.execution_id, '0']]);
    } finally {
      (Level.prototype as unknown as { batch: Batch }).batch = original;
      while (held.length > 0) held.shift()!();
      await store.close();
    }
  });

  test('while LevelDB holds every write, lines past unwrittenCharsMax are dropped with a line saying so, and the count once taken again; other runs\' records still complete', { timeout: 60_000 }, async () => {
    const path = tempDir('gc-unwritten');
    const unwrittenCharsMax = 1_000;
    const store = await ExecutionStore.open({ path, unwrittenCharsMax });
    const original = Level.prototype.batch as unknown as Batch;
    const held: Array<() => void> = [];
    const flood = running();
    const quiet = running();
    const line = (index: number) => `${index}`.padEnd(99, '.');
    try {
      await store.create(flood);
      await store.create(quiet);
      (Level.prototype as unknown as { batch: Batch }).batch = function heldBatch(this: Level<string, string>, ...args: unknown[]) {
        return new Promise<void>((resolve, reject) => held.push(() => { original.apply(this, args).then(resolve, reject); }));
      };
      // Ten lines of 100 characters (the newline counted) reach the bound; the next are dropped.
      const taken = Array.from({ length: 13 }, (_, index) => store.appendOutput(flood.execution_id, line(index)));
      assert.deepEqual(taken, [...Array.from({ length: 10 }, () => true), false, false, false]);
      assert.equal(store.appendOutput(quiet.execution_id, 'also dropped'), false);
      // What the runs hold is not lost: the writes go on once LevelDB takes them.
      (Level.prototype as unknown as { batch: Batch }).batch = original;
      while (held.length > 0) held.shift()!();
      await store.flush();
      assert.equal(store.appendOutput(flood.execution_id, 'after'), true);
      await store.finish(flood.execution_id, completed('1'));
      await store.finish(quiet.execution_id, completed('2'));
    } finally {
      (Level.prototype as unknown as { batch: Batch }).batch = original;
      while (held.length > 0) held.shift()!();
      await store.close();
    }
    const reopened = await ExecutionStore.open({ path });
    try {
      const lines = async (id: string) => (await reopened.readOutput(id, { mode: 'line', lineOffset: 1, lineLimit: 100 })).data.split('\n').slice(0, -1);
      assert.deepEqual(await lines(flood.execution_id), [...Array.from({ length: 10 }, (_, index) => line(index)), droppedOutputLine(unwrittenCharsMax), resumedOutputLine(3), 'after']);
      assert.match(droppedOutputLine(unwrittenCharsMax), /holds 1000 characters of console output not yet written to disk/);
      assert.deepEqual(await lines(quiet.execution_id), [droppedOutputLine(unwrittenCharsMax), resumedOutputLine(1)]);
      assert.equal((await reopened.get(quiet.execution_id))?.result, '2');
    } finally {
      await reopened.close();
    }
  });
});
