// The heap journal's two threads (src/storage/journal-writer.ts), on real files: the sync thread
// appends and makes durable what it is given, answers a failure with the system's message and
// goes on; the files thread writes each heap whole under its name and names the ones it could not.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { JournalWriter } from '../../src/storage/journal-writer.ts';
import { tempDir } from '../support/server-process.ts';

test('the sync thread appends and syncs, answers a failed append with its error, and goes on', async () => {
  const path = tempDir('journal-writer-sync');
  const writer = new JournalWriter();
  const segment = join(path, 'segment');
  const fd = openSync(segment, 'wx');
  const first = await writer.sync(fd, Buffer.from('first '), path);
  assert.equal(first.ok, true);
  // A descriptor open for reading only: the append fails (a closed one could be reused meanwhile).
  writeFileSync(join(path, 'read-only'), '');
  const readOnly = openSync(join(path, 'read-only'), 'r');
  const failed = await writer.sync(readOnly, Buffer.from('lost'), null);
  closeSync(readOnly);
  assert.equal(failed.ok, false);
  assert.match((failed as { message: string }).message, /EBADF|bad file descriptor/i);
  assert.equal(readFileSync(join(path, 'read-only'), 'utf8'), '');
  assert.equal((await writer.sync(fd, Buffer.from('second'), null)).ok, true);
  closeSync(fd);
  assert.equal(readFileSync(segment, 'utf8'), 'first second');
  await writer.close();
});

test('the files thread writes each heap whole under its name, no temporary left, and names the ones it could not write', async () => {
  const path = tempDir('journal-writer-files');
  const writer = new JournalWriter();
  const frames = Buffer.from('xxAAAAyyBBBBBB');
  writeFileSync(join(path, 'blocked'), 'a file where a folder should be');
  const answer = await writer.files(frames, [
    { directory: join(path, 'aa'), file: join(path, 'aa', 'one'), offset: 2, length: 4, makeDirectory: true },
    { directory: join(path, 'blocked'), file: join(path, 'blocked', 'two'), offset: 8, length: 6, makeDirectory: true },
    { directory: join(path, 'aa'), file: join(path, 'aa', 'three'), offset: 8, length: 6, makeDirectory: false },
  ]);
  assert.deepEqual(answer.failed.map(({ index }) => index), [1]);
  assert.equal(readFileSync(join(path, 'aa', 'one'), 'utf8'), 'AAAA');
  assert.equal(readFileSync(join(path, 'aa', 'three'), 'utf8'), 'BBBBBB');
  assert.deepEqual(readdirSync(join(path, 'aa')).sort(), ['one', 'three']);
  await writer.close();
});
