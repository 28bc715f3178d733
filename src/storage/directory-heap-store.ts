// Heaps in a local directory, sharded by the first two hex digits of the id. A write goes to a
// temporary file in the same directory, is fsynced, renamed over the final name and the folder
// fsynced: a crash leaves either the whole object or none, never a partial one. Puts made within
// one fsync of each other share it instead, through a journal (heap-journal.ts).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { McpV8Error } from '../errors.ts';
import { checkHeapId, heapIdOf, heapNotFound, verified, type HeapStore } from './heap-store.ts';
import { HeapJournal, heapFile, type JournalTimings } from './heap-journal.ts';
import { syncPath } from './sync-path.ts';

export async function writeFileAtomic(path: string, directory: string, bytes: Uint8Array): Promise<void> {
  const temporary = join(directory, `.tmp-${randomBytes(8).toString('hex')}`);
  const file = await open(temporary, 'wx');
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncPath(directory);
}

export class DirectoryHeapStore implements HeapStore {
  readonly path: string;
  /** Group commit of puts; null when opened with `{ journal: false }` (each put syncs alone). */
  readonly journal: HeapJournal | null;
  /** Puts in flight by id: a second put of the same bytes waits for the first. */
  private readonly pending = new Map<string, Promise<string>>();

  private constructor(path: string, journal: HeapJournal | null) {
    this.path = path;
    this.journal = journal;
  }

  /** Opens (creating) the store at `path`, replaying any journal a crash left (heap-journal.ts). */
  static async open(path: string, options: { journal?: boolean; timings?: JournalTimings } = {}): Promise<DirectoryHeapStore> {
    const folders = new Set<string>();
    let journal: HeapJournal | null = null;
    try {
      await mkdir(path, { recursive: true });
      if (options.journal !== false) journal = await HeapJournal.open(path, folders, options.timings);
    } catch (error) {
      throw new McpV8Error('STORAGE_UNAVAILABLE', `cannot use heap directory ${path}: ${(error as Error).message}`, { cause: error });
    }
    const store = new DirectoryHeapStore(path, journal);
    for (const folder of folders) store.folders.add(folder);
    return store;
  }

  private locate(id: string): { directory: string; file: string } {
    return heapFile(this.path, id);
  }

  /** Shard folders known to exist: a put costs no mkdir after the first one of its folder. */
  private readonly folders = new Set<string>();

  put(bytes: Uint8Array): Promise<string> {
    const id = heapIdOf(bytes);
    const pending = this.pending.get(id);
    if (pending !== undefined) return pending;
    const put = this.putNew(id, bytes).finally(() => this.pending.delete(id));
    this.pending.set(id, put);
    return put;
  }

  private async putNew(id: string, bytes: Uint8Array): Promise<string> {
    if (await this.has(id)) return id;
    if (this.journal !== null && !this.journal.full) {
      await this.journal.put(id, bytes);
      return id;
    }
    const { directory, file } = this.locate(id);
    if (!this.folders.has(directory)) {
      mkdirSync(directory, { recursive: true });
      this.folders.add(directory);
    }
    await writeFileAtomic(file, directory, bytes);
    return id;
  }

  /**
   * Reads synchronously: heap records are small and usually in the page cache, where a blocking
   * read costs ~40 µs against ~300 µs for the four thread-pool hops of an async one, and a resume
   * reads its whole history one record after the other.
   */
  async get(id: string): Promise<Uint8Array> {
    const { file } = this.locate(checkHeapId(id));
    const held = this.journal?.held(id);
    if (held !== undefined) return held;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw heapNotFound(id);
      throw new McpV8Error('STORAGE_UNAVAILABLE', `cannot read heap ${id}: ${(error as Error).message}`, { cause: error });
    }
    return verified(id, bytes, `directory ${this.path}`);
  }

  async has(id: string): Promise<boolean> {
    if (this.journal?.held(checkHeapId(id)) !== undefined) return true;
    return statSync(this.locate(checkHeapId(id)).file, { throwIfNoEntry: false }) !== undefined;
  }

  async close(): Promise<void> {
    await this.journal?.close();
  }
}
