// Session log and tag index on a real LevelDB: order, queries from the index, concurrent
// writers, snapshot/restore for Raft, validation, and consistency after kill -9.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { McpV8Error } from '../../src/errors.ts';
import { SessionDb } from '../../src/storage/session-db.ts';
import { repoRoot, tempDir } from '../support/server-process.ts';

const heap = (seed: string) => createHash('sha256').update(seed).digest('hex');
const entry = (code: string, input: string | null, output: string) => ({ input_heap: input, output_heap: output, code, timestamp: new Date().toISOString() });

async function withDb<T>(body: (db: SessionDb) => Promise<T>, path = tempDir('sessions')): Promise<T> {
  const db = await SessionDb.open(path);
  try {
    return await body(db);
  } finally {
    await db.close();
  }
}

describe('session log', () => {
  test('entries are kept in order per session; the latest heap continues the session', async () => {
    await withDb(async (db) => {
      assert.equal(await db.apply({ type: 'session.append', session: 'proj', entry: entry('var x = 1', null, heap('a')) }), 0);
      assert.equal(await db.apply({ type: 'session.append', session: 'proj', entry: entry('x++', heap('a'), heap('b')) }), 1);
      await db.apply({ type: 'session.append', session: 'other', entry: entry('0', null, heap('c')) });
      assert.deepEqual(await db.listSessions(), ['other', 'proj']);
      assert.deepEqual((await db.entries('proj')).map((e) => [e.index, e.code, e.input_heap, e.output_heap]), [[0, 'var x = 1', null, heap('a')], [1, 'x++', heap('a'), heap('b')]]);
      assert.equal(await db.latestHeap('proj'), heap('b'));
      assert.equal(await db.latestHeap('nobody'), undefined);
      assert.deepEqual(await db.entries('nobody'), []);
    });
  });

  test('concurrent appends to one session lose nothing and get distinct indexes', async () => {
    await withDb(async (db) => {
      const indexes = await Promise.all(Array.from({ length: 50 }, (_, i) => db.apply({ type: 'session.append', session: 's', entry: entry(String(i), null, heap(String(i))) })));
      assert.deepEqual([...indexes].sort((a, b) => a! - b!), Array.from({ length: 50 }, (_, i) => i));
      assert.equal((await db.entries('s')).length, 50);
    });
  });

  test('bad names are refused with a message naming the field', async () => {
    await withDb(async (db) => {
      for (const bad of ['', 'a\u0000b', 'x'.repeat(257)]) {
        await assert.rejects(db.apply({ type: 'session.append', session: bad, entry: entry('1', null, heap('z')) }), (error: unknown) => error instanceof McpV8Error && /session must be/.test(error.message));
      }
    });
  });
});

describe('tag index', () => {
  test('set replaces, delete removes some keys or all, query needs every pair', async () => {
    await withDb(async (db) => {
      await db.apply({ type: 'tags.set', heap: heap('1'), tags: { project: 'x', stage: 'dev' } });
      await db.apply({ type: 'tags.set', heap: heap('2'), tags: { project: 'x', stage: 'prod' } });
      await db.apply({ type: 'tags.set', heap: heap('3'), tags: { project: 'y' } });
      assert.deepEqual((await db.queryTags({ project: 'x' })).map((r) => r.heap).sort(), [heap('1'), heap('2')].sort());
      assert.deepEqual(await db.queryTags({ project: 'x', stage: 'prod' }), [{ heap: heap('2'), tags: { project: 'x', stage: 'prod' } }]);
      assert.deepEqual(await db.queryTags({ project: 'z' }), []);
      await db.apply({ type: 'tags.set', heap: heap('2'), tags: { owner: 'me' } });
      assert.deepEqual(await db.queryTags({ project: 'x', stage: 'prod' }), [], 'set replaced the old tags and their index entries');
      await db.apply({ type: 'tags.delete', heap: heap('1'), keys: ['stage'] });
      assert.deepEqual(await db.getTags(heap('1')), { project: 'x' });
      await db.apply({ type: 'tags.delete', heap: heap('1'), keys: null });
      assert.deepEqual(await db.getTags(heap('1')), {});
      assert.deepEqual(await db.queryTags({ project: 'x' }), []);
      assert.deepEqual(await db.getTags(heap('never')), {});
    });
  });

  test('concurrent writers to one heap lose nothing: the last write wins whole', async () => {
    await withDb(async (db) => {
      await Promise.all(Array.from({ length: 30 }, (_, i) => db.apply({ type: 'tags.set', heap: heap('h'), tags: { n: String(i), even: String(i % 2 === 0) } })));
      assert.deepEqual(await db.getTags(heap('h')), { n: '29', even: 'false' });
      assert.equal((await db.queryTags({ n: '3' })).length, 0, 'no stale index entry survives');
      assert.equal((await db.queryTags({ n: '29' })).length, 1);
    });
  });

  test('invalid heaps and tags are refused', async () => {
    await withDb(async (db) => {
      await assert.rejects(db.apply({ type: 'tags.set', heap: 'nothex', tags: {} }), /heap must be a 64-character/);
      await assert.rejects(db.apply({ type: 'tags.set', heap: heap('x'), tags: { '': 'v' } }), /tag key/);
      await assert.rejects(db.apply({ type: 'tags.set', heap: heap('x'), tags: { k: 1 as unknown as string } }), /tag 'k'/);
      await assert.rejects(db.apply({ type: 'tags.set', heap: heap('x'), tags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, ''])) }), /at most 64 tags/);
    });
  });

  test('snapshot and restore carry the whole state, for Raft', async () => {
    const snapshot = await withDb(async (db) => {
      await db.apply({ type: 'session.append', session: 's', entry: entry('1', null, heap('a')) });
      await db.apply({ type: 'tags.set', heap: heap('a'), tags: { k: 'v' } });
      return db.snapshot();
    });
    await withDb(async (db) => {
      await db.apply({ type: 'tags.set', heap: heap('old'), tags: { gone: 'yes' } });
      await db.restore(snapshot);
      assert.deepEqual(await db.listSessions(), ['s']);
      assert.deepEqual(await db.queryTags({ k: 'v' }), [{ heap: heap('a'), tags: { k: 'v' } }]);
      assert.deepEqual(await db.queryTags({ gone: 'yes' }), []);
    });
  });
});

describe('crash safety', () => {
  test('kill -9 during writes leaves tags and their index consistent, and the log gap-free', async () => {
    const path = tempDir('sessions-kill');
    const script = `
      import { SessionDb } from ${JSON.stringify(join(repoRoot, 'src/storage/session-db.ts'))};
      import { createHash } from 'node:crypto';
      const db = await SessionDb.open(${JSON.stringify(path)});
      const heap = (seed) => createHash('sha256').update(String(seed)).digest('hex');
      for (let i = 0; ; i++) {
        await db.apply({ type: 'tags.set', heap: heap(i % 10), tags: { round: String(i), parity: String(i % 2) } });
        await db.apply({ type: 'session.append', session: 'crash', entry: { input_heap: null, output_heap: heap(i), code: String(i), timestamp: '' } });
        if (i === 200) process.stdout.write('busy\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await withDb(async (db) => {
      const entries = await db.entries('crash');
      assert.ok(entries.length > 200);
      assert.deepEqual(entries.map((e) => e.index), entries.map((_, i) => i), 'indexes 0..n-1 with no gap');
      for (const result of await db.queryTags({})) {
        const found = await db.queryTags({ round: result.tags.round!, parity: result.tags.parity! });
        assert.deepEqual(found, [result], 'the index agrees with the tags');
      }
    }, path);
  });
});
