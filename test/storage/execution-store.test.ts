// The execution store on a real LevelDB: records, interrupted runs, and output pages in both
// coordinate systems, including the edges (empty output, last page, multi-byte UTF-8).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { Level } from 'level';
import { ExecutionStore, interruptedError, type ExecutionRecord } from '../../src/storage/execution-store.ts';
import { outputIndexesMax } from '../../src/storage/output-pages.ts';
import { McpV8Error } from '../../src/errors.ts';
import { newExecutionId } from '../../src/exec/ids.ts';
import { tempDir } from '../support/server-process.ts';

function running(): ExecutionRecord {
  return { execution_id: newExecutionId('t'), status: 'running', result: null, heap: null, error: null, started_at: new Date().toISOString(), completed_at: null };
}

async function withStore<T>(body: (store: ExecutionStore, path: string) => Promise<T>, path = tempDir('store')): Promise<T> {
  const store = await ExecutionStore.open({ path });
  try {
    return await body(store, path);
  } finally {
    await store.close();
  }
}

const finished = { status: 'completed' as const, result: '1', error: null, heap: null, completed_at: new Date().toISOString() };

describe('execution store', () => {
  test('a record goes from running to its final fields, and lists newest first', async () => {
    await withStore(async (store) => {
      const first = running();
      const second = { ...running(), execution_id: newExecutionId('t', Date.now() + 5) };
      await store.create(first);
      await store.create(second);
      assert.equal((await store.get(first.execution_id))?.status, 'running');
      await store.finish(first.execution_id, finished);
      assert.deepEqual(await store.get(first.execution_id), { ...first, ...finished });
      assert.deepEqual((await store.list()).map((record) => record.execution_id), [second.execution_id, first.execution_id]);
      assert.equal(await store.get(newExecutionId('t')), undefined);
    });
  });

  test('reopening marks runs left running as interrupted and keeps their output', async () => {
    const path = tempDir('reopen');
    const record = running();
    await withStore(async (store) => {
      await store.create(record);
      store.appendOutput(record.execution_id, 'partial');
    }, path);
    await withStore(async (store) => {
      const reopened = await store.get(record.execution_id);
      assert.equal(reopened?.status, 'failed');
      assert.equal(reopened?.error, interruptedError);
      assert.equal((await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 1, lineLimit: 10 })).data, 'partial\n');
    }, path);
  });

  test('a second process on the same path is refused with a clear error', async () => {
    await withStore(async (_store, path) => {
      await assert.rejects(ExecutionStore.open({ path }), (error: unknown) => error instanceof McpV8Error && error.code === 'STORAGE_LOCKED' && error.message.includes(path));
    });
  });

  test('a path LevelDB cannot open is refused with what is in the way, not just "failed to open"', async () => {
    const path = `${tempDir('not-a-database')}/file`;
    writeFileSync(path, 'not a database');
    await assert.rejects(ExecutionStore.open({ path }), (error: unknown) =>
      error instanceof McpV8Error && error.code === 'STORAGE_UNAVAILABLE' && error.message.includes(`the execution database ${path}`) && /EEXIST|exists/.test(error.message));
    const corrupt = tempDir('corrupt-database');
    writeFileSync(`${corrupt}/CURRENT`, 'MANIFEST-missing\n');
    await assert.rejects(ExecutionStore.open({ path: corrupt }), (error: unknown) =>
      error instanceof McpV8Error && error.code === 'STORAGE_UNAVAILABLE' && error.message.includes('MANIFEST-missing'));
  });

  test('a damaged record is reported as lost, left out of lists, and neither a restart nor eviction stops at it', async () => {
    const path = tempDir('damaged');
    const base = Date.now() - 1_000_000;
    const ids = Array.from({ length: 6 }, (_, index) => newExecutionId('t', base + index));
    const store = await ExecutionStore.open({ path, recordsMax: 4 });
    for (const [index, id] of ids.slice(0, 3).entries()) {
      await store.create({ ...running(), execution_id: id });
      if (index !== 1) await store.finish(id, finished);
    }
    await store.flush();
    await store.close();
    // Two records damaged by hand: a finished one and one left running at the stop.
    const db = new Level<string, string>(path);
    await db.put(`r!${ids[0]}`, '{"execution_id": "trunc');
    await db.put(`r!${ids[1]}`, 'null');
    await db.close();

    const reopened = await ExecutionStore.open({ path, recordsMax: 4 });
    try {
      for (const id of [ids[0]!, ids[1]!]) {
        await assert.rejects(reopened.get(id), (error: unknown) => error instanceof McpV8Error && error.code === 'STORED_DATA_DAMAGED' && /cannot be read/.test(error.message) && error.message.includes(id));
      }
      assert.deepEqual((await reopened.list()).map((record) => record.execution_id), [ids[2]]);
      // Past the bound the oldest go first, damaged ones included: the store is not stuck at them.
      for (const id of ids.slice(3)) {
        await reopened.create({ ...running(), execution_id: id });
        await reopened.finish(id, finished);
        await reopened.whenEvicted();
      }
      assert.deepEqual((await reopened.list()).map((record) => record.execution_id).reverse(), ids.slice(2));
      assert.equal(await reopened.get(ids[0]!), undefined, 'the damaged records were the oldest, and were evicted');
      assert.equal(await reopened.get(ids[1]!), undefined);
    } finally {
      await reopened.close();
    }
  });

  test('empty output: one empty page with consistent coordinates', async () => {
    await withStore(async (store) => {
      const record = running();
      await store.create(record);
      const page = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 1, lineLimit: 100 });
      assert.deepEqual({ ...page, execution_id: '' }, {
        execution_id: '', data: '', start_line: 1, end_line: 0, next_line_offset: 1, total_lines: 0,
        start_byte: 0, end_byte: 0, next_byte_offset: 0, total_bytes: 0, has_more: false, status: 'running',
      });
      const bytes = await store.readOutput(record.execution_id, { mode: 'byte', byteOffset: 0, byteLimit: 10 });
      assert.equal(bytes.data, '');
      assert.equal(bytes.has_more, false);
      // Answered from memory while the store holds the run's output state, from the output index
      // once its finish is written: the same pages either way, whatever the query.
      const queries = [
        { mode: 'line', lineOffset: 1, lineLimit: 100 }, { mode: 'line', lineOffset: 5, lineLimit: 3, bytesMax: 10 },
        { mode: 'byte', byteOffset: 0, byteLimit: 10 }, { mode: 'byte', byteOffset: 7, byteLimit: 1 },
      ] as const;
      const fromMemory = await Promise.all(queries.map((query) => store.readOutput(record.execution_id, query)));
      await store.finish(record.execution_id, finished, true);
      const fromIndex = await Promise.all(queries.map((query) => store.readOutput(record.execution_id, query)));
      assert.deepEqual(fromIndex, fromMemory.map((page) => ({ ...page, status: 'completed' })));
    });
  });

  test('line pages walk the output to its last page, readable while running and after finish', async () => {
    await withStore(async (store) => {
      const record = running();
      await store.create(record);
      for (let i = 1; i <= 25; i++) store.appendOutput(record.execution_id, `line ${i}`);
      const live = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 21, lineLimit: 10 });
      assert.equal(live.data, 'line 21\nline 22\nline 23\nline 24\nline 25\n');
      assert.equal(live.end_line, 25);
      assert.equal(live.has_more, false);
      await store.finish(record.execution_id, finished);
      let offset = 1;
      const seen: string[] = [];
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: offset, lineLimit: 10 });
        seen.push(page.data);
        assert.equal(page.total_lines, 25);
        assert.equal(page.next_byte_offset, page.end_byte);
        offset = page.next_line_offset;
        if (!page.has_more) break;
      }
      assert.equal(seen.length, 3);
      assert.equal(seen.join(''), Array.from({ length: 25 }, (_, i) => `line ${i + 1}\n`).join(''));
      const past = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 40, lineLimit: 10 });
      assert.equal(past.data, '');
      assert.equal(past.has_more, false);
      assert.equal(past.start_byte, past.total_bytes);
    });
  });

  test('byte pages never cut a multi-byte character and always make progress', async () => {
    await withStore(async (store) => {
      const record = running();
      await store.create(record);
      const lines = ['héllo', '日本語', '🙂🙂', 'end'];
      for (const line of lines) store.appendOutput(record.execution_id, line);
      await store.finish(record.execution_id, finished);
      const whole = lines.map((line) => line + '\n').join('');
      const total = Buffer.byteLength(whole);
      for (const limit of [1, 2, 3, 5, 7, 64]) {
        let offset = 0;
        let text = '';
        for (let pages = 0; pages < 100 && offset < total; pages++) {
          const page = await store.readOutput(record.execution_id, { mode: 'byte', byteOffset: offset, byteLimit: limit });
          assert.ok(!page.data.includes('\uFFFD'), `limit ${limit}: no broken character at ${offset}`);
          assert.ok(page.next_byte_offset > offset, 'progress');
          assert.equal(page.end_byte - page.start_byte, Buffer.byteLength(page.data));
          text += page.data;
          offset = page.next_byte_offset;
        }
        assert.equal(text, whole, `limit ${limit} reassembles the output`);
      }
      const middle = await store.readOutput(record.execution_id, { mode: 'byte', byteOffset: 7, byteLimit: 9 });
      assert.equal(middle.data, '日本語');
      assert.equal(middle.start_line, 2);
      assert.equal(middle.end_line, 2);
      assert.equal(middle.next_line_offset, 2, 'the line is not wholly returned yet: its newline is next');
      const inside = await store.readOutput(record.execution_id, { mode: 'byte', byteOffset: 8, byteLimit: 4 });
      assert.equal(inside.start_byte, 10, 'a start inside a character moves to the next character');
    });
  });

  test('a flood of lines is group-committed and reads back in order', async () => {
    const path = tempDir('flood');
    const record = running();
    await withStore(async (store) => {
      await store.create(record);
      for (let i = 0; i < 20_000; i++) store.appendOutput(record.execution_id, `n${i}`);
      await store.finish(record.execution_id, finished);
    }, path);
    await withStore(async (store) => {
      const page = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 19_999, lineLimit: 5 });
      assert.equal(page.data, 'n19998\nn19999\n');
      assert.equal(page.total_lines, 20_000);
      const bytes = await store.readOutput(record.execution_id, { mode: 'byte', byteOffset: page.start_byte, byteLimit: 7 });
      assert.equal(bytes.data, 'n19998\n');
      assert.equal(bytes.start_line, 19_999);
    }, path);
  });
});

describe('execution store chunks', () => {
  test('lines across chunk boundaries (by count and by size, one line larger than a chunk) read back as printed, after a reopen too', async () => {
    const path = tempDir('chunks');
    const record = running();
    // Lines of 1 to 300 characters, two of 300 KB (each larger than a chunk's characters), an empty one.
    const lines = Array.from({ length: 2_600 }, (_, index) => (index === 1_500 || index === 1_501 ? 'w'.repeat(300_000) : index === 7 ? '' : `${index}:${'é'.repeat(index % 300)}`));
    const expect = (from: number, count: number) => lines.slice(from - 1, from - 1 + count).map((line) => line + '\n').join('');
    const offsets = [1, 7, 8, 999, 1_000, 1_001, 1_499, 1_501, 1_502, 1_503, 2_001, 2_599, 2_600];
    const check = async (store: ExecutionStore) => {
      for (const offset of offsets) {
        const page = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: offset, lineLimit: 3, bytesMax: 1024 * 1024 });
        assert.equal(page.data, expect(offset, 3), `lines from ${offset}`);
        assert.equal(page.total_lines, lines.length);
      }
    };
    await withStore(async (store) => {
      await store.create(record);
      for (const line of lines.slice(0, 1_200)) store.appendOutput(record.execution_id, line);
      await store.flush();
      for (const line of lines.slice(1_200)) store.appendOutput(record.execution_id, line);
      await check(store); // part written, part queued
      await store.finish(record.execution_id, finished);
      await check(store);
    }, path);
    await withStore(check, path);
  });

  test('output stored one line per key (by servers before chunks) is still read and evicted', async () => {
    const path = tempDir('per-line');
    const record = { ...running(), ...finished, execution_id: newExecutionId('t', Date.now() - 100_000) };
    const db = new Level<string, string>(path);
    await db.batch([
      { type: 'put', key: `r!${record.execution_id}`, value: JSON.stringify(record) },
      { type: 'put', key: `b!${record.execution_id}`, value: '12' },
      ...['one', 'two', 'six'].map((line, index) => ({ type: 'put' as const, key: `o!${record.execution_id}!${String(index + 1).padStart(10, '0')}`, value: line })),
    ]);
    await db.close();
    const store = await ExecutionStore.open({ path, recordsMax: 1 });
    const page = await store.readOutput(record.execution_id, { mode: 'line', lineOffset: 2, lineLimit: 5 });
    assert.equal(page.data, 'two\nsix\n');
    assert.equal(page.total_bytes, 12);
    // A newer record pushes it out, its per-line keys with it.
    const newer = running();
    await store.create(newer);
    await store.finish(newer.execution_id, finished);
    await store.whenEvicted();
    assert.equal(await store.get(record.execution_id), undefined);
    await store.close();
    const reopened = new Level<string, string>(path);
    const left = await reopened.keys({ gt: 'o!', lt: 'o~' }).all();
    await reopened.close();
    assert.deepEqual(left, []);
  });
});

describe('execution store output index', () => {
  test('a run that finishes after more than outputIndexesMax others were created answers its first page from memory, as the first one would', async () => {
    await withStore(async (store) => {
      // Under overload hundreds of runs wait in the queue between their create and their finish.
      const first = running();
      const others = Array.from({ length: outputIndexesMax + 50 }, () => running());
      await Promise.all([first, ...others].map((record) => store.create(record, false)));
      // Printed, not yet written: the page is answered from memory, or its index from LevelDB.
      store.appendOutput(first.execution_id, 'ab');
      store.appendOutput(first.execution_id, 'cd');
      // From here every LevelDB read the store makes is counted.
      const db = store['db'];
      let reads = 0;
      for (const name of ['iterator', 'keys', 'values', 'get', 'getMany'] as const) {
        const original = db[name].bind(db) as (...args: unknown[]) => unknown;
        (db as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => { reads++; return original(...args); };
      }
      void store.finish(first.execution_id, finished, true);
      const page = await store.readOutput(first.execution_id, { mode: 'line', lineOffset: 1, lineLimit: 1 });
      assert.equal(page.data, 'ab\n');
      assert.equal(page.total_lines, 2);
      assert.equal(page.total_bytes, 6);
      assert.equal(reads, 0, 'answered from memory');
      for (const record of others) await store.finish(record.execution_id, finished);
    });
  });
});

describe('execution store bound', () => {
  test('past recordsMax the oldest finished records go with their output; a running one stays; nothing else is touched', async () => {
    const path = tempDir('bound');
    const bound = 20;
    const base = Date.now() - 1_000_000;
    const ids: string[] = [];
    const stillRunning = 2;
    const store = await ExecutionStore.open({ path, recordsMax: bound });
    for (let index = 0; index < 3 * bound; index++) {
      const record = { ...running(), execution_id: newExecutionId('t', base + index) };
      ids.push(record.execution_id);
      await store.create(record);
      for (let line = 0; line < 3; line++) store.appendOutput(record.execution_id, `run ${index} line ${line}`);
      if (index !== stillRunning) await store.finish(record.execution_id, finished);
      await store.whenEvicted();
      assert.ok((await store.list()).length <= bound, `at most ${bound} records after run ${index}`);
    }
    const kept = new Set((await store.list()).map((record) => record.execution_id));
    assert.ok(kept.has(ids[stillRunning]!), 'the running record is never evicted');
    for (const id of ids.slice(-bound + 2)) assert.ok(kept.has(id), 'the newest records are kept');
    assert.equal(await store.get(ids[0]!), undefined, 'the oldest finished record is gone');
    await assert.rejects(store.readOutput(ids[0]!, { mode: 'line', lineOffset: 1, lineLimit: 100 }), (error: unknown) => error instanceof McpV8Error && error.code === 'EXECUTION_NOT_FOUND');
    const page = await store.readOutput(ids[ids.length - 1]!, { mode: 'line', lineOffset: 1, lineLimit: 100 });
    assert.equal(page.data, `run ${3 * bound - 1} line 0\nrun ${3 * bound - 1} line 1\nrun ${3 * bound - 1} line 2\n`);
    const runningPage = await store.readOutput(ids[stillRunning]!, { mode: 'line', lineOffset: 1, lineLimit: 100 });
    assert.equal(runningPage.total_lines, 3, 'the running record keeps its output');
    await store.close();

    // On disk: exactly the kept records and their lines, nothing of the evicted ones.
    const db = new Level<string, string>(path);
    const recordKeys: string[] = [];
    const lineIds = new Set<string>();
    const byteCountIds = new Set<string>();
    let lines = 0;
    for await (const [key, value] of db.iterator()) {
      if (key.startsWith('r!')) recordKeys.push(key.slice(2));
      if (key.startsWith('b!')) byteCountIds.add(key.slice(2));
      // Output is stored in chunks of lines joined by newlines.
      if (key.startsWith('k!')) { lines += value.split('\n').length; lineIds.add(key.slice(2, key.indexOf('!', 2))); }
    }
    await db.close();
    assert.deepEqual(new Set(recordKeys), kept);
    assert.deepEqual(lineIds, kept);
    assert.deepEqual(byteCountIds, new Set([...kept].filter((id) => id !== ids[stillRunning])), 'byte counts of finished records, kept or evicted with them');
    assert.equal(lines, 3 * kept.size);
  });

  test('past outputBytesMax the oldest finished records go with their output; the count survives a restart and an interrupted run', async () => {
    const path = tempDir('output-bound');
    const base = Date.now() - 1_000_000;
    const line = 'é'.repeat(49); // 98 bytes of UTF-8, 99 with its newline
    const lineBytes = 99;
    const bound = 10 * lineBytes * 4; // ten executions of four lines
    const ids: string[] = [];
    const store = await ExecutionStore.open({ path, outputBytesMax: bound });
    const run = async (target: ExecutionStore, index: number, options: { lines?: number; finish?: boolean } = {}) => {
      const record = { ...running(), execution_id: newExecutionId('t', base + index) };
      ids.push(record.execution_id);
      await target.create(record);
      for (let count = 0; count < (options.lines ?? 4); count++) target.appendOutput(record.execution_id, line);
      if (options.finish ?? true) await target.finish(record.execution_id, finished);
      await target.whenEvicted();
    };
    const keptIds = async (target: ExecutionStore) => (await target.list()).map((record) => record.execution_id).reverse();
    for (let index = 0; index < 10; index++) await run(store, index);
    assert.equal(store.storedOutputBytes, bound, 'at the bound, nothing is evicted');
    assert.equal((await store.list()).length, 10);
    await run(store, 10);
    // Over by one execution's output plus the chunk of 1 %: the two oldest go.
    assert.deepEqual(await keptIds(store), ids.slice(2, 11));
    assert.equal(store.storedOutputBytes, 9 * 4 * lineBytes);
    await assert.rejects(store.readOutput(ids[0]!, { mode: 'line', lineOffset: 1, lineLimit: 10 }), (error: unknown) => error instanceof McpV8Error && error.code === 'EXECUTION_NOT_FOUND');
    assert.equal((await store.readOutput(ids[10]!, { mode: 'byte', byteOffset: 0, byteLimit: 10_000 })).total_bytes, 4 * lineBytes);
    // A run left running when the process stops, with eight lines: the store is then over its
    // bound, which only the count restored from disk can tell.
    await run(store, 11, { lines: 8, finish: false });
    await store.flush();
    await store.close();

    const reopened = await ExecutionStore.open({ path, outputBytesMax: bound });
    try {
      await reopened.whenEvicted();
      assert.equal((await reopened.get(ids[11]!))?.error, interruptedError);
      assert.deepEqual(await keptIds(reopened), ids.slice(4, 12), 'the restart found the store over its bound and evicted the oldest');
      let total = 0;
      for (const id of await keptIds(reopened)) total += (await reopened.readOutput(id, { mode: 'byte', byteOffset: 0, byteLimit: 1 })).total_bytes;
      assert.equal(reopened.storedOutputBytes, total, 'the count is exactly the output of the records kept');
      for (let index = 12; index < 40; index++) await run(reopened, index);
      assert.ok(reopened.storedOutputBytes <= bound);
      assert.ok((await reopened.list()).length <= 10);
    } finally {
      await reopened.close();
    }
  });

  test('an execution that finishes while an eviction runs is looked at again when it ends', async () => {
    const path = tempDir('evict-again');
    const base = Date.now() - 1_000_000;
    const bound = 100_000;
    const store = await ExecutionStore.open({ path, outputBytesMax: bound });
    try {
      const run = async (index: number, lines: number, line: string) => {
        const id = newExecutionId('t', base + index);
        await store.create({ ...running(), execution_id: id });
        for (let count = 0; count < lines; count++) store.appendOutput(id, line);
        await store.finish(id, finished);
      };
      await run(0, 5_000, 'x'.repeat(19)); // exactly at the bound, in many lines: slow to evict
      await run(1, 1, 'y'.repeat(999)); // over it: evicting run 0 starts, and takes a while
      await run(2, 150, 'z'.repeat(999)); // finishes during that eviction, over the bound again
      await store.whenEvicted();
      assert.ok(store.storedOutputBytes <= bound, `${store.storedOutputBytes} bytes kept, bound ${bound}`);
    } finally {
      await store.close();
    }
  });
});
