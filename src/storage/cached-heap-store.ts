// A write-through local cache in front of another heap store (S3): a put writes the backing
// store first, then the cache; a get is served from the cache when the file there verifies, and
// otherwise from the backing store, which refills the cache. A corrupt cache file is deleted and
// the object fetched again. The cache holds at most `bytesMax`; the least recently used objects
// are evicted first (access order is kept in memory and rebuilt from file times on open).
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { McpV8Error } from '../errors.ts';
import { heapIdPattern } from '../model.ts';
import { writeFileAtomic } from './directory-heap-store.ts';
import { checkHeapId, heapIdOf, type HeapStore } from './heap-store.ts';

export const cacheBytesMaxDefault = 1024 * 1024 * 1024;

export class CachedHeapStore implements HeapStore {
  private readonly backing: HeapStore;
  private readonly path: string;
  private readonly bytesMax: number;
  /** id → size of the cached file, least recently used first, bounded by their bytes. */
  private readonly entries: LRUCache<string, number>;
  /** Ids the bound pushed out, whose files `deleteEvicted` removes. */
  private evicted: string[] = [];

  private constructor(options: { backing: HeapStore; path: string; bytesMax: number }) {
    this.backing = options.backing;
    this.path = options.path;
    this.bytesMax = options.bytesMax;
    this.entries = new LRUCache<string, number>({
      maxSize: options.bytesMax,
      // lru-cache sizes are positive integers; a heap record is never empty.
      sizeCalculation: (size) => Math.max(1, size),
      dispose: (_size, id, reason) => { if (reason === 'evict') this.evicted.push(id); },
    });
  }

  static async open(options: { backing: HeapStore; path: string; bytesMax?: number }): Promise<CachedHeapStore> {
    const bytesMax = options.bytesMax ?? cacheBytesMaxDefault;
    if (!(Number.isInteger(bytesMax) && bytesMax > 0)) throw new McpV8Error('INVALID_ARGUMENT', `cache size must be positive, got ${bytesMax}`);
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
    for (const entry of found) {
      if (entry.size > this.bytesMax) await rm(join(this.path, entry.id), { force: true });
      else this.entries.set(entry.id, entry.size);
    }
    await this.deleteEvicted();
  }

  private async deleteEvicted(): Promise<void> {
    const ids = this.evicted;
    this.evicted = [];
    for (const id of ids) await rm(join(this.path, id), { force: true });
  }

  private async forget(id: string): Promise<void> {
    this.entries.delete(id);
    await rm(join(this.path, id), { force: true });
  }

  private async fill(id: string, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.bytesMax) return;
    await writeFileAtomic(join(this.path, id), this.path, bytes);
    this.entries.set(id, bytes.length);
    await this.deleteEvicted();
  }

  get cachedBytes(): number {
    return this.entries.calculatedSize;
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
          this.entries.get(id); // most recently used now
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
