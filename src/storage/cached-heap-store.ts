// A write-through local cache in front of another heap store (S3): a put writes the backing
// store first, then the cache; a get is served from the cache when the file there verifies, and
// otherwise from the backing store, which refills the cache. A corrupt cache file is deleted and
// the object fetched again. The cache holds at most `bytesMax`; the least recently used objects
// are evicted first (access order is kept in memory and rebuilt from file times on open).
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { McpV8Error } from '../errors.ts';
import { heapIdPattern } from '../model.ts';
import { writeFileAtomic } from './directory-heap-store.ts';
import { checkHeapId, heapIdOf, type HeapStore } from './heap-store.ts';

export const cacheBytesMaxDefault = 1024 * 1024 * 1024;

export class CachedHeapStore implements HeapStore {
  private readonly backing: HeapStore;
  private readonly path: string;
  private readonly bytesMax: number;
  /** id → size, in access order (oldest first). */
  private readonly entries = new Map<string, number>();
  private bytes = 0;

  private constructor(options: { backing: HeapStore; path: string; bytesMax: number }) {
    this.backing = options.backing;
    this.path = options.path;
    this.bytesMax = options.bytesMax;
  }

  static async open(options: { backing: HeapStore; path: string; bytesMax?: number }): Promise<CachedHeapStore> {
    const bytesMax = options.bytesMax ?? cacheBytesMaxDefault;
    if (!(bytesMax > 0)) throw new McpV8Error('INVALID_ARGUMENT', `cache size must be positive, got ${bytesMax}`);
    try {
      await mkdir(options.path, { recursive: true });
    } catch (error) {
      throw new McpV8Error('STORAGE_UNAVAILABLE', `cannot use cache directory ${options.path}: ${(error as Error).message}`, { cause: error });
    }
    const store = new CachedHeapStore({ ...options, bytesMax });
    await store.loadEntries();
    return store;
  }

  private async loadEntries(): Promise<void> {
    const found: Array<{ id: string; size: number; usedMs: number }> = [];
    for (const name of await readdir(this.path)) {
      if (!heapIdPattern.test(name)) {
        if (name.startsWith('.tmp-')) await rm(join(this.path, name), { force: true });
        continue;
      }
      const info = await stat(join(this.path, name));
      found.push({ id: name, size: info.size, usedMs: info.atimeMs > info.mtimeMs ? info.atimeMs : info.mtimeMs });
    }
    found.sort((left, right) => left.usedMs - right.usedMs);
    for (const entry of found) this.remember(entry.id, entry.size);
    await this.evict();
  }

  private remember(id: string, size: number): void {
    const previous = this.entries.get(id);
    if (previous !== undefined) {
      this.entries.delete(id);
      this.bytes -= previous;
    }
    this.entries.set(id, size);
    this.bytes += size;
  }

  private async forget(id: string): Promise<void> {
    const size = this.entries.get(id);
    if (size !== undefined) {
      this.entries.delete(id);
      this.bytes -= size;
    }
    await rm(join(this.path, id), { force: true });
  }

  private async evict(): Promise<void> {
    while (this.bytes > this.bytesMax && this.entries.size > 0) {
      await this.forget(this.entries.keys().next().value!);
    }
  }

  private async fill(id: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.bytesMax) return;
    await writeFileAtomic(join(this.path, id), this.path, bytes);
    this.remember(id, bytes.length);
    await this.evict();
  }

  get cachedBytes(): number {
    return this.bytes;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const id = await this.backing.put(bytes);
    await this.fill(id, bytes);
    return id;
  }

  async get(id: string): Promise<Uint8Array> {
    checkHeapId(id);
    if (this.entries.has(id)) {
      try {
        const bytes = await readFile(join(this.path, id));
        if (heapIdOf(bytes) === id) {
          this.remember(id, bytes.length);
          return bytes;
        }
      } catch {
        // Missing or unreadable cache file: the backing store answers below.
      }
      await this.forget(id);
    }
    const bytes = await this.backing.get(id);
    await this.fill(id, bytes);
    return bytes;
  }

  async has(id: string): Promise<boolean> {
    return this.entries.has(checkHeapId(id)) || this.backing.has(id);
  }

  async close(): Promise<void> {
    await this.backing.close();
  }
}
