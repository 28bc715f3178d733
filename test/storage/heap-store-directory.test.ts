// The heap store contract on a local directory, plus what only a directory can show: objects are
// written whole (no temporary file is left behind) and sharded by id.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DirectoryHeapStore } from '../../src/storage/directory-heap-store.ts';
import { tempDir } from '../support/server-process.ts';
import { heapStoreContract } from './heap-store.contract.ts';

const path = tempDir('heaps');
const store = await DirectoryHeapStore.open(path);
// Each put synced on its own (what the store does when its journal cannot keep up).
const alonePath = tempDir('heaps-alone');
const alone = await DirectoryHeapStore.open(alonePath, { journal: false });

describe('directory heap store', () => {
  heapStoreContract('directory', () => ({
    store,
    // Once its file is written (a put is answered as soon as its journal frame is durable).
    corrupt: async (id) => {
      await store.journal!.whenWritten();
      await writeFile(join(path, id.slice(0, 2), id), 'not the original bytes');
    },
  }));

  heapStoreContract('directory, each put synced alone', () => ({
    store: alone,
    corrupt: (id) => writeFile(join(alonePath, id.slice(0, 2), id), 'not the original bytes'),
  }));

  test('objects sit in two-hex-digit shards with no temporary files left', async () => {
    const id = await store.put(Buffer.from('shard me'));
    await store.journal!.whenWritten();
    assert.deepEqual(await readdir(join(path, id.slice(0, 2))).then((names) => names.filter((name) => name.startsWith('.tmp-'))), []);
    assert.ok((await readdir(join(path, id.slice(0, 2)))).includes(id));
  });
});
