// One contract for every HeapStore: the directory store, S3 on a real server, S3 behind the
// write-through cache. Each implementation's test file runs it with its own store and a way
// to damage a stored object where that store keeps it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { McpV8Error } from '../../src/errors.ts';
import { heapIdOf, type HeapStore } from '../../src/storage/heap-store.ts';

export interface ContractSubject {
  store: HeapStore;
  /** Replaces the stored bytes of `id` with other bytes, behind the store's back. */
  corrupt: (id: string) => Promise<void>;
}

function isCode(code: string): (error: unknown) => boolean {
  return (error) => error instanceof McpV8Error && error.code === code;
}

export function heapStoreContract(name: string, subject: () => ContractSubject): void {
  test(`${name}: put answers the SHA-256 id and get returns the same bytes`, async () => {
    const { store } = subject();
    const bytes = randomBytes(10_000);
    const id = await store.put(bytes);
    assert.equal(id, heapIdOf(bytes));
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.deepEqual(Buffer.from(await store.get(id)), bytes);
    assert.equal(await store.has(id), true);
    assert.equal(await store.put(bytes), id, 'a second put of the same bytes is a no-op');
    const empty = await store.put(new Uint8Array());
    assert.equal((await store.get(empty)).length, 0);
  });

  test(`${name}: an unknown id is HEAP_NOT_FOUND, a malformed one INVALID_ARGUMENT`, async () => {
    const { store } = subject();
    const unknown = heapIdOf(randomBytes(8));
    await assert.rejects(store.get(unknown), isCode('HEAP_NOT_FOUND'));
    assert.equal(await store.has(unknown), false);
    for (const bad of ['', 'abc', 'A'.repeat(64), '../'.repeat(20) + 'etc/passwd']) {
      await assert.rejects(store.get(bad), isCode('INVALID_ARGUMENT'), bad);
    }
  });

  test(`${name}: corrupted bytes are HEAP_CORRUPT, never returned`, async () => {
    const { store, corrupt } = subject();
    const id = await store.put(randomBytes(4096));
    await corrupt(id);
    await assert.rejects(store.get(id), isCode('HEAP_CORRUPT'));
  });

  test(`${name}: concurrent puts of the same and different bytes all land`, async () => {
    const { store } = subject();
    const shared = randomBytes(2048);
    const distinct = Array.from({ length: 8 }, () => randomBytes(512));
    const ids = await Promise.all([...Array.from({ length: 8 }, () => store.put(shared)), ...distinct.map((bytes) => store.put(bytes))]);
    assert.equal(new Set(ids.slice(0, 8)).size, 1);
    for (const [index, bytes] of distinct.entries()) assert.deepEqual(Buffer.from(await store.get(ids[8 + index]!)), bytes);
  });
}
