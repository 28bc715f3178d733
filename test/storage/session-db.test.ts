// Session log and tag index on a real LevelDB: order, queries from the index, concurrent
// writers, snapshot/restore for Raft, validation, and consistency after kill -9.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Level } from 'level';
import pino from 'pino';
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

  test('heap.commit with `after` is refused (SESSION_CONFLICT) once the session moved past that heap, as on a cluster', async () => {
    await withDb(async (db) => {
      const commit = (output: string, after: string | null) => db.apply({ type: 'heap.commit', heap: output, session: 'line', entry: entry('n++', after, output), tags: null, after });
      assert.equal(await commit(heap('a'), null), 0);
      assert.equal(await commit(heap('b'), heap('a')), 1);
      await assert.rejects(commit(heap('c'), heap('a')), (error: McpV8Error) => error.code === 'SESSION_CONFLICT' && /another run of session 'line' was saved first/.test(error.message));
      assert.deepEqual((await db.entries('line')).map((e) => e.output_heap), [heap('a'), heap('b')]);
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

/** Overwrites stored values by hand, with the database closed, as a bug or a hand edit would. */
async function damage(path: string, values: Record<string, string>): Promise<void> {
  const raw = new Level<string, string>(path, { valueEncoding: 'utf8' });
  await raw.open();
  await raw.batch(Object.entries(values).map(([key, value]) => ({ type: 'put' as const, key, value })));
  await raw.close();
}

describe('damaged values', () => {
  test('a damaged entry, count or tag set costs only itself, and says so', async () => {
    const path = tempDir('sessions-damaged');
    await withDb(async (db) => {
      for (let i = 0; i < 3; i++) await db.apply({ type: 'session.append', session: 'proj', entry: entry(String(i), null, heap(`p${i}`)) });
      await db.apply({ type: 'session.append', session: 'other', entry: entry('x', null, heap('o')) });
      await db.apply({ type: 'tags.set', heap: heap('t1'), tags: { project: 'x', stage: 'dev' } });
      await db.apply({ type: 'tags.set', heap: heap('t2'), tags: { project: 'x' } });
    }, path);
    await damage(path, {
      [`s!proj\u0000${'2'.padStart(12, '0')}`]: '{"index": 2, "output_he',
      [`s!proj\u0000${'0'.padStart(12, '0')}`]: '{"index": 0}',
      'n!other': 'garbage',
      [`h!${heap('t1')}`]: 'not json',
    });
    const lines: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const db = await SessionDb.open(path, logger);
    try {
      // The readable entry is listed; the two damaged ones are left out and logged.
      assert.deepEqual((await db.entries('proj')).map((e) => e.index), [1]);
      assert.equal(lines.filter((line) => line.includes('a stored session entry cannot be read')).length, 2);
      // The session's latest entry is damaged: continuing it from an older heap would skip its
      // latest state, so the caller is told what to do instead.
      await assert.rejects(db.latestHeap('proj'), (error: unknown) => error instanceof McpV8Error && error.code === 'STORED_DATA_DAMAGED' && error.message.includes("latest entry (index 2) of session 'proj'") && /run_js heap/.test(error.message));
      // Naming a heap continues the session past the damage.
      assert.equal(await db.apply({ type: 'session.append', session: 'proj', entry: entry('resumed', heap('p1'), heap('p3')) }), 3);
      assert.equal(await db.latestHeap('proj'), heap('p3'));
      // A damaged count is recomputed from the entries, never read as NaN.
      assert.equal(await db.apply({ type: 'session.append', session: 'other', entry: entry('y', heap('o'), heap('o2')) }), 1);
      assert.deepEqual((await db.entries('other')).map((e) => [e.index, e.code]), [[0, 'x'], [1, 'y']]);
      assert.ok(lines.some((line) => line.includes('entry count of a session cannot be read')));
      // Damaged tags: reading them says so; queries leave the heap out; the other heaps answer.
      await assert.rejects(db.getTags(heap('t1')), (error: unknown) => error instanceof McpV8Error && error.code === 'STORED_DATA_DAMAGED' && error.message.includes(heap('t1')) && /set_heap_tags replaces them/.test(error.message));
      assert.deepEqual(await db.queryTags({ project: 'x' }), [{ heap: heap('t2'), tags: { project: 'x' } }]);
      assert.deepEqual(await db.queryTags({}), [{ heap: heap('t2'), tags: { project: 'x' } }]);
      // Replacing them also drops their old index entries, found by searching the index.
      await db.apply({ type: 'tags.set', heap: heap('t1'), tags: { project: 'y' } });
      assert.deepEqual(await db.getTags(heap('t1')), { project: 'y' });
      assert.deepEqual((await db.queryTags({ project: 'x' })).map((r) => r.heap), [heap('t2')]);
      assert.deepEqual(await db.queryTags({ stage: 'dev' }), []);
      // delete_heap_tags on damaged tags removes them all (they cannot be kept in part).
      await db.close();
      await damage(path, { [`h!${heap('t2')}`]: '["project"]' });
      const again = await SessionDb.open(path, logger);
      try {
        await again.apply({ type: 'tags.delete', heap: heap('t2'), keys: ['other'] });
        assert.deepEqual(await again.getTags(heap('t2')), {});
        assert.deepEqual((await again.queryTags({ project: 'x' })), []);
      } finally {
        await again.close();
      }
    } finally {
      await db.close().catch(() => undefined);
    }
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
