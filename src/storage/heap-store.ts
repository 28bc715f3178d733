// Content-addressed heap objects: the id of an object is the SHA-256 of its bytes. Every read is
// verified against its id, so a corrupt or truncated object is reported, never returned.
// Implementations: a local directory (atomic writes), S3, and S3 behind a write-through cache.
import { createHash } from 'node:crypto';
import { McpV8Error } from '../errors.ts';
import { heapIdPattern } from '../model.ts';

export interface HeapStore {
  /** Stores the bytes and answers their id (64 lowercase hex). Storing the same bytes twice is a no-op. */
  put(bytes: Uint8Array): Promise<string>;
  /** The verified bytes of `id`: HEAP_NOT_FOUND when absent, HEAP_CORRUPT when they do not hash to it. */
  get(id: string): Promise<Uint8Array>;
  has(id: string): Promise<boolean>;
  close(): Promise<void>;
  /**
   * A store that is also the session log (a cluster's Raft log): the record and its session entry
   * and tags saved in one write (one commit, not two). Answers what `SessionStore.apply` would.
   */
  putAndCommit?(bytes: Uint8Array, commit: HeapCommit): Promise<number | null>;
}

/** The heap.commit command a run's save ends with (src/storage/session-db.ts). */
export type HeapCommit = { type: 'heap.commit'; heap: string; session: string | null; entry: { input_heap: string | null; output_heap: string; code: string; timestamp: string } | null; tags: Record<string, string> | null; after?: string | null };

export type HeapStoreOptions =
  | { kind: 'directory'; path: string }
  | { kind: 's3'; bucket: string; prefix?: string; cacheDir?: string | null; cacheBytesMax?: number };

export function heapIdOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function checkHeapId(id: string): string {
  if (typeof id !== 'string' || !heapIdPattern.test(id)) {
    throw new McpV8Error('INVALID_ARGUMENT', `heap must be a 64-character lowercase hex SHA-256, got '${String(id).slice(0, 80)}'`);
  }
  return id;
}

export function verified(id: string, bytes: Uint8Array, where: string): Uint8Array {
  if (heapIdOf(bytes) !== id) {
    throw new McpV8Error('HEAP_CORRUPT', `heap ${id} is corrupt in ${where}: its bytes do not hash to its id; it cannot be resumed`);
  }
  return bytes;
}

export function heapNotFound(id: string): McpV8Error {
  return new McpV8Error('HEAP_NOT_FOUND', `No heap ${id}. Heap ids come from get_execution; check for a typo, or start fresh by omitting heap.`);
}

export async function openHeapStore(options: HeapStoreOptions): Promise<HeapStore> {
  if (options.kind === 'directory') {
    const { DirectoryHeapStore } = await import('./directory-heap-store.ts');
    return DirectoryHeapStore.open(options.path);
  }
  const { S3HeapStore } = await import('./s3-heap-store.ts');
  const s3 = S3HeapStore.fromEnvironment({ bucket: options.bucket, prefix: options.prefix ?? '' });
  if (options.cacheDir === undefined || options.cacheDir === null) return s3;
  const { CachedHeapStore } = await import('./cached-heap-store.ts');
  return CachedHeapStore.open({ backing: s3, path: options.cacheDir, ...(options.cacheBytesMax === undefined ? {} : { bytesMax: options.cacheBytesMax }) });
}
