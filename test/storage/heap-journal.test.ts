// Group commit of the directory heap store (src/storage/heap-journal.ts): heaps saved together
// share one fdatasync of a journal segment; a segment left behind is replayed on open; a segment
// is deleted only once its heaps' files are synced.
//
// A power cut cannot be made here. Its stand-in, named so: the files the store wrote without a
// sync (each heap's own file, written after its journal frame was synced) are deleted or
// truncated behind the store's back, which is the most a power cut can do to them; the journal
// segment, synced before any put answered, is left as it is.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DirectoryHeapStore } from '../../src/storage/directory-heap-store.ts';
import { framesOf } from '../../src/storage/heap-journal.ts';
import { heapIdOf } from '../../src/storage/heap-store.ts';
import { tempDir } from '../support/server-process.ts';

const segments = (path: string) => readdirSync(path).filter((name) => name.startsWith('journal-'));
const fileOf = (path: string, id: string) => join(path, id.slice(0, 2), id);

describe('heap journal', () => {
  test('heaps put at once share one fdatasync; each answered heap is in its own file', async () => {
    const path = tempDir('journal-group');
    const store = await DirectoryHeapStore.open(path);
    const objects = Array.from({ length: 50 }, () => randomBytes(2_000));
    const ids = await Promise.all(objects.map((bytes) => store.put(bytes)));
    assert.deepEqual(store.journal!.stats, { groups: 1, heaps: 50, retired: 0 });
    // Answered once in their files: another process reading the folder finds them whole.
    for (const [index, id] of ids.entries()) {
      assert.equal(id, heapIdOf(objects[index]!));
      assert.deepEqual(readFileSync(fileOf(path, id)), objects[index]);
      assert.deepEqual(Buffer.from(await store.get(id)), objects[index]);
    }
    // The segment holds every frame, verified.
    const [segment] = segments(path);
    assert.deepEqual(framesOf(readFileSync(join(path, segment!))).map((frame) => frame.id), ids);
    // The same bytes again, and at once twice: no new frame.
    await Promise.all([store.put(objects[0]!), store.put(objects[0]!)]);
    assert.equal(store.journal!.stats.heaps, 50);
    await store.close();
  });

  test('a journal left by a crash is replayed on open: heap files lost or cut short are written again', async () => {
    const path = tempDir('journal-replay');
    const first = await DirectoryHeapStore.open(path);
    const objects = Array.from({ length: 20 }, (_, index) => Buffer.from(`heap ${index} `.repeat(100)));
    const ids = await Promise.all(objects.map((bytes) => first.put(bytes)));
    await first.journal!.whenWritten();
    // The stand-in for the power cut (see the top of this file); `first` is never closed, as after kill -9.
    for (const id of ids.slice(0, 5)) unlinkSync(fileOf(path, id));
    for (const id of ids.slice(5, 10)) truncateSync(fileOf(path, id), 3);
    assert.equal(segments(path).length, 1);

    const second = await DirectoryHeapStore.open(path);
    for (const [index, id] of ids.entries()) assert.deepEqual(Buffer.from(await second.get(id)), objects[index], `heap ${index}`);
    assert.deepEqual(segments(path), [], 'a replayed segment is deleted once its files are synced');
    // The next segment does not reuse the replayed one's name.
    await second.put(Buffer.from('after the replay'));
    assert.ok(segments(path)[0]! > 'journal-000000000001.log');
    await second.close();
  });

  test('a torn frame at the end of a segment (a crash in the middle of its write) ends it; the frames before it are replayed', async () => {
    const path = tempDir('journal-torn');
    const first = await DirectoryHeapStore.open(path);
    const objects = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    const ids = await Promise.all(objects.map((bytes) => first.put(bytes)));
    await first.journal!.whenWritten();
    const [segment] = segments(path);
    const whole = readFileSync(join(path, segment!));
    appendFileSync(join(path, segment!), whole.subarray(0, whole.length - 2));
    for (const id of ids) unlinkSync(fileOf(path, id));

    const second = await DirectoryHeapStore.open(path);
    for (const [index, id] of ids.entries()) assert.deepEqual(Buffer.from(await second.get(id)), objects[index]);
    assert.deepEqual(segments(path), []);
    await second.close();
  });

  test("a running process's segments are left alone; an ended one's are replayed", async () => {
    const source = tempDir('journal-source');
    const writer = await DirectoryHeapStore.open(source);
    const id = await writer.put(Buffer.from('kept by another process'));
    const [segment] = segments(source);
    const path = tempDir('journal-shared');
    // The parent process runs (it started this one); a child that has exited does not.
    const running = join(path, `journal-${process.ppid}-000000000007.log`);
    copyFileSync(join(source, segment!), running);
    const ended = spawnSync(process.execPath, ['-e', '0']).pid!;
    copyFileSync(join(source, segment!), join(path, `journal-${ended}-000000000008.log`));
    const store = await DirectoryHeapStore.open(path);
    assert.deepEqual(segments(path), [`journal-${process.ppid}-000000000007.log`], "the running process's segment is kept, the ended one's replayed and deleted");
    assert.deepEqual(Buffer.from(await store.get(id)), Buffer.from('kept by another process'));
    // The next segment's sequence follows both.
    await store.put(Buffer.from('mine'));
    assert.ok(segments(path).includes(`journal-${process.pid}-000000000009.log`));
    await Promise.all([store.close(), writer.close()]);
  });

  test("a heap whose file cannot be written fails its put, stays readable here from the journal, and is written once it can be", async () => {
    const path = tempDir('journal-file-fails');
    const store = await DirectoryHeapStore.open(path, { timings: { segmentAgeMaxMs: 20, retireAfterMs: 0 } });
    const retired = store.journal!.whenRetired();
    const blocked = Buffer.from('its shard folder is a file');
    const id = heapIdOf(blocked);
    // Its shard folder's name taken by a file: the journal's thread cannot make the folder or the file.
    writeFileSync(join(path, id.slice(0, 2)), 'in the way');
    const other = Buffer.from('a heap of the same group, in another shard');
    const [failed, fine] = await Promise.allSettled([store.put(blocked), store.put(other)]);
    assert.equal(store.journal!.stats.groups, 1, 'one group commit carried both');
    assert.equal(failed.status, 'rejected');
    assert.match(String((failed as PromiseRejectedResult).reason), /STORAGE_UNAVAILABLE|cannot write heap/);
    assert.equal(fine.status, 'fulfilled');
    assert.deepEqual(readFileSync(fileOf(path, heapIdOf(other))), other);
    // Durable in the journal: served from it here, and listed in the segment.
    assert.deepEqual(Buffer.from(await store.get(id)), blocked);
    assert.ok(framesOf(readFileSync(join(path, segments(path)[0]!))).some((frame) => frame.id === id));
    unlinkSync(join(path, id.slice(0, 2)));
    // The segment is retired only once every heap it lists is in its file.
    await retired;
    assert.deepEqual(segments(path), []);
    assert.deepEqual(readFileSync(fileOf(path, id)), blocked);
    await store.close();
  });

  for (const wholeFilesystemSync of [true, false]) {
    test(`a sealed segment is retired once its heaps are synced (${wholeFilesystemSync ? 'syncfs' : 'file by file'}), and the store goes on`, async () => {
      const path = tempDir('journal-retire');
      const store = await DirectoryHeapStore.open(path, { timings: { segmentAgeMaxMs: 20, retireAfterMs: 0, wholeFilesystemSync } });
      const retired = store.journal!.whenRetired();
      const id = await store.put(Buffer.from('retire me'));
      await retired;
      assert.equal(store.journal!.stats.retired, 1);
      assert.deepEqual(segments(path), []);
      assert.deepEqual(Buffer.from(await store.get(id)), Buffer.from('retire me'));
      assert.equal(heapIdOf(Buffer.from('next')), await store.put(Buffer.from('next')));
      await store.close();
    });
  }
});
