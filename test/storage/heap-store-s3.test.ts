// The heap store contract against a real S3 server (Swift + s3api, started here), alone and
// behind the write-through cache; then what only the cache can show: it serves reads when S3
// cannot, heals a corrupt cached copy from S3, and keeps to its size bound.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CachedHeapStore } from '../../src/storage/cached-heap-store.ts';
import { openHeapStore } from '../../src/storage/heap-store.ts';
import { S3HeapStore } from '../../src/storage/s3-heap-store.ts';
import { startSwiftS3, type SwiftS3 } from '../fixtures/swift.ts';
import { tempDir } from '../support/server-process.ts';
import { heapStoreContract } from './heap-store.contract.ts';

const bucket = 'heaps';
let swift: SwiftS3;
let s3: S3HeapStore;
let cached: CachedHeapStore;
let cacheDir: string;

async function overwriteInBucket(id: string, prefix = ''): Promise<void> {
  const client = swift.client();
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${id}`, Body: Buffer.from('tampered') }));
  client.destroy();
}

describe('S3 heap store on a real S3 server', () => {
  before(async () => {
    swift = await startSwiftS3();
    await swift.createBucket(bucket);
    s3 = S3HeapStore.fromEnvironment({ bucket, prefix: 'plain/' }, swift.environment);
    cacheDir = tempDir('heap-cache');
    cached = await CachedHeapStore.open({ backing: S3HeapStore.fromEnvironment({ bucket, prefix: 'cached/' }, swift.environment), path: cacheDir, bytesMax: 64 * 1024 });
  });
  after(async () => {
    await s3?.close();
    await cached?.close();
    await swift?.stop();
  });

  heapStoreContract('s3', () => ({ store: s3, corrupt: (id) => overwriteInBucket(id, 'plain/') }));
  heapStoreContract('s3 + cache', () => ({
    store: cached,
    // Both copies damaged: the cache must not return its copy, and S3's must be refused too.
    corrupt: async (id) => {
      await overwriteInBucket(id, 'cached/');
      await writeFile(join(cacheDir, id), 'tampered');
    },
  }));

  test('the cache heals a corrupt cached copy from S3', async () => {
    const bytes = randomBytes(1000);
    const id = await cached.put(bytes);
    await writeFile(join(cacheDir, id), 'tampered');
    assert.deepEqual(Buffer.from(await cached.get(id)), bytes);
    assert.deepEqual(Buffer.from(await cached.get(id)), bytes, 'and the cache holds the good copy again');
  });

  test('the cache keeps to its byte bound, evicting the least recently used first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await cached.put(randomBytes(16 * 1024)));
    assert.ok(cached.cachedBytes <= 64 * 1024, `cache holds ${cached.cachedBytes} bytes`);
    const files = (await readdir(cacheDir)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    assert.ok(files.includes(ids[9]!) && !files.includes(ids[0]!), 'newest kept, oldest evicted');
    assert.equal((await cached.get(ids[0]!)).length, 16 * 1024, 'an evicted object is read back from S3');
  });

  test('openHeapStore builds S3 with a cache from the standard AWS environment', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, swift.environment);
    try {
      const store = await openHeapStore({ kind: 's3', bucket, prefix: 'factory/', cacheDir: tempDir('factory-cache') });
      const id = await store.put(Buffer.from('via the factory'));
      assert.equal(Buffer.from(await store.get(id)).toString(), 'via the factory');
      await store.close();
    } finally {
      process.env = saved;
    }
  });

  test('a bucket that does not exist is a clear STORAGE_UNAVAILABLE error', async () => {
    const missing = S3HeapStore.fromEnvironment({ bucket: 'no-such-bucket' }, swift.environment);
    await assert.rejects(missing.put(Buffer.from('x')), /S3 PutObject in bucket no-such-bucket failed/);
    await missing.close();
  });
});
