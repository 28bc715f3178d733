// Stored JSON is checked field by field when it is read back: JSON of the wrong shape is as
// damaged as JSON that does not parse, and says so (STORED_DATA_DAMAGED), rather than being
// served as a record.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Level } from 'level';
import { z } from 'zod';
import { McpV8Error } from '../../src/errors.ts';
import { newExecutionId } from '../../src/exec/ids.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { SessionDb } from '../../src/storage/session-db.ts';
import { parseStored } from '../../src/storage/stored-json.ts';
import { tempDir } from '../support/server-process.ts';

test('parseStored: not JSON, or JSON of another shape, is null', () => {
  const schema = z.object({ a: z.number() });
  assert.deepEqual(parseStored(schema, '{"a":1}'), { a: 1 });
  assert.equal(parseStored(schema, '{"a":"1"}'), null);
  assert.equal(parseStored(schema, '{"a":'), null);
  assert.equal(parseStored(schema, 'null'), null);
});

test('an execution record whose fields have the wrong types is damaged, not served', async () => {
  const path = join(tempDir('stored-json'), 'executions');
  const id = newExecutionId('test');
  const db = new Level<string, string>(path);
  const started_at = new Date().toISOString();
  await db.put(`r!${id}`, JSON.stringify({ execution_id: id, status: 'exploded', result: 7, heap: 'nope', error: null, started_at, completed_at: started_at }));
  await db.close();
  const store = await ExecutionStore.open({ path });
  try {
    await assert.rejects(store.get(id), (error: unknown) => error instanceof McpV8Error && error.code === 'STORED_DATA_DAMAGED' && error.message.includes(id));
    assert.deepEqual(await store.list(), [], 'left out of the list');
  } finally {
    await store.close();
  }
});

test('a session snapshot that is not a list of string pairs is refused and the state kept', async () => {
  const sessions = await SessionDb.open(join(tempDir('stored-json'), 'sessions'));
  try {
    await sessions.apply({ type: 'tags.set', heap: 'a'.repeat(64), tags: { team: 'x' } });
    const before = await sessions.snapshot();
    await assert.rejects(sessions.restore('[["k", 1]]'), (error: unknown) => error instanceof McpV8Error && error.code === 'STORED_DATA_DAMAGED');
    assert.equal(await sessions.snapshot(), before);
  } finally {
    await sessions.close();
  }
});

test('every field a record can carry reads back after a restart: queued (no started_at), owner, snippet, result type', async () => {
  const path = join(tempDir('stored-json'), 'executions');
  const queued = newExecutionId('test');
  const done = newExecutionId('test');
  const now = new Date().toISOString();
  const first = await ExecutionStore.open({ path });
  await first.create({ execution_id: queued, status: 'running', result: null, heap: null, error: null, started_at: null, completed_at: null, owner: 'alice', code_snippet: 'await sleep()' });
  await first.create({ execution_id: done, status: 'running', result: null, heap: null, error: null, started_at: now, completed_at: null, owner: 'bob', code_snippet: '1 + 1' });
  await first.finish(done, { status: 'completed', result: '2', result_type: 'number', error: null, heap: null, started_at: now, completed_at: now });
  await first.close();
  const store = await ExecutionStore.open({ path });
  try {
    const listed = await store.list();
    assert.deepEqual(listed.map((record) => record.execution_id).sort(), [queued, done].sort(), 'neither is left out as damaged');
    const finished = await store.get(done);
    assert.equal(finished?.owner, 'bob');
    assert.equal(finished?.result_type, 'number');
    assert.equal(finished?.code_snippet, '1 + 1');
    const interrupted = await store.get(queued);
    assert.equal(interrupted?.owner, 'alice', 'the owner survives the restart, so tenancy does');
  } finally {
    await store.close();
  }
});
