// Group commit for the directory heap store (docs/storage.md, "One fsync for many heaps").
//
// A heap saved alone costs two fsyncs (its file, then its folder), 3–4 ms each on this kind of
// disk, on the libuv pool that LevelDB shares. Instead, the heaps saved within one fsync of each
// other are appended together to a journal segment and made durable by one fdatasync; then each
// is written to its own file (temporary name and rename, not synced), all of it on the journal's
// own two threads (journal-writer.ts), and its put answered once its file is there, so another process reading the folder
// finds every answered heap whole. Every heap file on disk is either synced or listed in a durable
// segment: a segment is deleted only after its files and folders were synced (in the background,
// once the kernel has written them back anyway), and opening the store replays what any segment
// of a process no longer running left behind.
//
// Frame: magic (4 bytes) | length (u32 BE) | sha256 (32 bytes) | bytes. A segment is read up to
// its first bad frame: a write that failed or was torn by a crash ends it (the segment is sealed
// then, so nothing is ever appended after a torn frame), and none of its frames was answered.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { McpV8Error, assert } from '../errors.ts';
import { heapIdOf } from './heap-store.ts';
import { syncPath } from './sync-path.ts';
import { JournalWriter, type GroupFile, type SyncAnswer } from './journal-writer.ts';

const frameMagic = 0x4d563848; // 'MV8H'
const frameHeaderBytes = 4 + 4 + 32;
/** `journal-<pid of the writer>-<sequence>.log`: another running process's segments are left alone. */
const segmentPattern = /^journal-(\d+)-(\d{12})\.log$/;
/** A segment takes new frames for at most this long or this many bytes, then is sealed. */
export const segmentAgeMaxMs = 5_000;
export const segmentBytesMax = 16 * 1024 * 1024;
/** A sealed segment is retired (its files synced, then it is deleted) this long after sealing. */
export const retireAfterMs = 35_000;
/** Sealed segments not retired yet, at most; past it, puts sync their own files (`full`). */
export const sealedSegmentsMax = 32;
/** Heaps (and bytes) one group commit takes, at most; the rest wait for the next fdatasync. */
export const groupEntriesMax = 512;
export const groupBytesMax = 32 * 1024 * 1024;
/** Bytes of heaps durable in the journal but not in their files yet, at most; past it, puts sync their own files (`full`). */
export const unwrittenBytesMax = 64 * 1024 * 1024;
/** Heap files written at once in the background (each on libuv's pool). */
const fileWritersMax = 4;

interface Waiting { id: string; bytes: Uint8Array; resolve: () => void; reject: (error: unknown) => void }
interface Segment { path: string; fd: number; bytes: number; openedMs: number; ids: string[]; folderSynced: boolean }
interface Sealed { path: string; ids: string[]; sealedMs: number }
/** Timings, changed by tests only. */
export interface JournalTimings { segmentAgeMaxMs: number; retireAfterMs: number; wholeFilesystemSync?: boolean }

/** Where a heap lives in the store: `<root>/<first two hex digits>/<id>`. */
export function heapFile(root: string, id: string): { directory: string; file: string } {
  const directory = join(root, id.slice(0, 2));
  return { directory, file: join(directory, id) };
}

function frameOf(id: string, bytes: Uint8Array): Buffer {
  const header = Buffer.alloc(frameHeaderBytes);
  header.writeUInt32BE(frameMagic, 0);
  header.writeUInt32BE(bytes.length, 4);
  header.write(id, 8, 'hex');
  return Buffer.concat([header, bytes]);
}

/** The frames of a segment that verify, up to the first that does not (a torn tail). */
export function framesOf(data: Buffer): Array<{ id: string; bytes: Buffer }> {
  const frames: Array<{ id: string; bytes: Buffer }> = [];
  let at = 0;
  while (at + frameHeaderBytes <= data.length && data.readUInt32BE(at) === frameMagic) {
    const length = data.readUInt32BE(at + 4);
    const id = data.toString('hex', at + 8, at + frameHeaderBytes);
    const end = at + frameHeaderBytes + length;
    if (end > data.length) break;
    const bytes = data.subarray(at + frameHeaderBytes, end);
    if (heapIdOf(bytes) !== id) break;
    frames.push({ id, bytes });
    at = end;
  }
  return frames;
}

/** Writes `bytes` to `file` through a temporary name in its folder, not synced (the journal holds them). */
function writeUnsynced(directory: string, file: string, bytes: Uint8Array): void {
  const temporary = join(directory, `.tmp-${randomBytes(8).toString('hex')}`);
  writeFileSync(temporary, bytes, { flag: 'wx' });
  renameSync(temporary, file);
}

export class HeapJournal {
  private readonly root: string;
  private readonly folders: Set<string>;
  private segment: Segment | null = null;
  private nextSequence: number;
  private readonly sealed: Sealed[] = [];
  private waiting: Waiting[] = [];
  private flushing = false;
  private retiring = false;
  private closed = false;
  private readonly retireTimer: NodeJS.Timeout;
  private readonly timings: JournalTimings;
  private retiredWaiters: Array<() => void> = [];
  /** Heaps durable in the journal whose files are not written yet: served from here until they are. */
  private readonly unwritten = new Map<string, Uint8Array>();
  private unwrittenBytes = 0;
  /** Ids whose files are to be written again (their group's write failed), in order; and those whose write failed, tried again at the next look. */
  private fileQueue: string[] = [];
  private fileRetries: string[] = [];
  private fileWriters = 0;
  /** Synced groups whose files the files thread is writing. */
  private fileGroups = 0;
  private drainedWaiters: Array<() => void> = [];
  /** The threads that append and sync each group, and write its files (journal-writer.ts). */
  private readonly writer = new JournalWriter();
  /** Group commits made, heaps they carried, segments retired (tests, bench). */
  readonly stats = { groups: 0, heaps: 0, retired: 0 };

  private constructor(root: string, folders: Set<string>, nextSequence: number, timings: JournalTimings) {
    this.root = root;
    this.folders = folders;
    this.nextSequence = nextSequence;
    this.timings = timings;
    this.retireTimer = setInterval(() => this.retireDue(), Math.max(10, Math.min(timings.segmentAgeMaxMs, timings.retireAfterMs))).unref();
  }

  /** Resolves when the next segment is retired (tests). */
  whenRetired(): Promise<void> {
    return new Promise((resolve) => this.retiredWaiters.push(resolve));
  }

  /**
   * Opens the journal of the store at `root` after replaying what earlier processes left: each
   * frame of each segment is written to its file unless the file there already verifies; then
   * every such file and its folder are synced and the segment deleted.
   */
  static async open(root: string, folders: Set<string>, timings: JournalTimings = { segmentAgeMaxMs, retireAfterMs }): Promise<HeapJournal> {
    let last = 0;
    const replayed: Array<{ path: string; ids: string[] }> = [];
    for (const name of readdirSync(root).sort()) {
      const match = segmentPattern.exec(name);
      if (match === null) continue;
      last = Math.max(last, Number(match[2]));
      if (Number(match[1]) !== process.pid && processRuns(Number(match[1]))) continue;
      const path = join(root, name);
      const ids = framesOf(readFileSync(path)).map(({ id, bytes }) => {
        const { directory, file } = heapFile(root, id);
        mkdirSync(directory, { recursive: true });
        folders.add(directory);
        const present = statSync(file, { throwIfNoEntry: false }) !== undefined && heapIdOf(readFileSync(file)) === id;
        if (!present) writeUnsynced(directory, file, bytes);
        return id;
      });
      replayed.push({ path, ids });
    }
    // One syncfs for them all (see `retire`), else file by file.
    const whole = replayed.length > 0 && timings.wholeFilesystemSync !== false && await syncFilesystem(root);
    for (const { path, ids } of replayed) {
      if (!whole) await syncAll(root, ids);
      unlinkSync(path);
    }
    return new HeapJournal(root, folders, last + 1, timings);
  }

  /** Resolves once every answered heap is in its file (tests). */
  whenWritten(): Promise<void> {
    if (this.fileWriters === 0 && this.fileQueue.length === 0 && this.fileGroups === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }

  /** Whether puts should bypass the journal: it is closed, or retiring or file writing cannot keep up. */
  get full(): boolean {
    return this.closed || this.sealed.length >= sealedSegmentsMax || this.unwrittenBytes >= unwrittenBytesMax;
  }

  /** The bytes of a heap answered but not in its file yet, else undefined (read the file). */
  held(id: string): Uint8Array | undefined {
    return this.unwritten.get(id);
  }

  /** Saves `bytes` (whose sha256 is `id`): resolves once they are durable and in their file. */
  put(id: string, bytes: Uint8Array): Promise<void> {
    assert(!this.closed, 'no put after the journal is closed');
    return new Promise((resolve, reject) => {
      this.waiting.push({ id, bytes, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // The next turn of the loop: the puts of this one share the fdatasync.
        setImmediate(() => void this.flush());
      }
    });
  }

  /** One group commit, then the next while puts arrived during it. */
  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      let bytes = 0;
      let count = 0;
      while (count < this.waiting.length && count < groupEntriesMax && (count === 0 || bytes + this.waiting[count]!.bytes.length <= groupBytesMax)) bytes += this.waiting[count++]!.bytes.length;
      const group = this.waiting.slice(0, count);
      this.waiting = this.waiting.slice(count);
      await this.commit(group);
    }
    this.flushing = false;
  }

  /**
   * Appends the group's frames and makes them durable on the journal's sync thread
   * (journal-writer.ts), then hands the group's files to its files thread and returns: the next
   * group's fdatasync runs while these files are written.
   */
  private async commit(group: Waiting[]): Promise<void> {
    let segment: Segment;
    let data: Buffer;
    let answer: SyncAnswer;
    try {
      segment = this.currentSegment();
      data = Buffer.concat(group.map(({ id, bytes }) => frameOf(id, bytes)));
      answer = await this.writer.sync(segment.fd, data, segment.folderSynced ? null : this.root);
    } catch (error) {
      answer = { ok: false, message: (error as Error).message };
    }
    if (!answer.ok) {
      // A failed or partial write: nothing more goes after it in this segment.
      this.seal();
      const failure = new McpV8Error('STORAGE_UNAVAILABLE', `cannot write the heap journal in ${this.root}: ${answer.message}`);
      for (const waiting of group) waiting.reject(failure);
      return;
    }
    // The segment's own name is durable once its first group's answer says so.
    segment!.folderSynced = true;
    segment!.bytes += data!.length;
    this.stats.groups++;
    this.stats.heaps += group.length;
    let at = 0;
    for (const { id, bytes } of group) {
      segment!.ids.push(id);
      // Our own copy (the frame's payload), not the caller's buffer: served from here until its file is there.
      this.unwritten.set(id, data!.subarray(at + frameHeaderBytes, at + frameHeaderBytes + bytes.length));
      this.unwrittenBytes += bytes.length;
      at += frameHeaderBytes + bytes.length;
    }
    this.fileGroups++;
    void this.writeGroupFiles(group, data!).finally(() => {
      this.fileGroups--;
      this.drained();
    });
  }

  /**
   * Writes a synced group's heaps to their files on the files thread, then answers each put: once
   * its file is there, or (durable in the journal all the same: its segment is kept while the file
   * is missing, and the next open writes it; served from memory here) with the failure, its file
   * tried again at the next look.
   */
  private async writeGroupFiles(group: Waiting[], data: Buffer): Promise<void> {
    const answer = await this.writer.files(data, this.filesOf(group));
    const failed = new Map(answer.failed.map(({ index, message }) => [index, message]));
    for (const [index, { id, resolve, reject }] of group.entries()) {
      const message = failed.get(index) ?? failed.get(-1);
      if (message === undefined) {
        this.folders.add(heapFile(this.root, id).directory);
        this.written(id);
        resolve();
      } else {
        this.fileRetries.push(id);
        reject(new McpV8Error('STORAGE_UNAVAILABLE', `cannot write heap ${id}: ${message}`));
      }
    }
  }

  /** A heap's file is there: it is no longer served from memory. */
  private written(id: string): void {
    const bytes = this.unwritten.get(id);
    if (bytes === undefined) return;
    this.unwritten.delete(id);
    this.unwrittenBytes -= bytes.length;
  }

  /** Answers `whenWritten` once no file is being written. */
  private drained(): void {
    if (this.fileWriters === 0 && this.fileQueue.length === 0 && this.fileGroups === 0) for (const resolve of this.drainedWaiters.splice(0)) resolve();
  }

  /** Where each heap of a group goes, and its bytes' place among the group's frames. */
  private filesOf(group: Waiting[]): GroupFile[] {
    let at = 0;
    const made = new Set<string>();
    return group.map(({ id, bytes }) => {
      const { directory, file } = heapFile(this.root, id);
      const makeDirectory = !this.folders.has(directory) && !made.has(directory);
      made.add(directory);
      const entry = { directory, file, offset: at + frameHeaderBytes, length: bytes.length, makeDirectory };
      at += frameHeaderBytes + bytes.length;
      return entry;
    });
  }

  /** Starts writing queued heap files, `fileWritersMax` at a time. */
  private writeFiles(): void {
    while (this.fileWriters < fileWritersMax && this.fileQueue.length > 0) {
      const id = this.fileQueue.shift()!;
      this.fileWriters++;
      void this.writeFile(id).finally(() => {
        this.fileWriters--;
        this.writeFiles();
        this.drained();
      });
    }
  }

  /**
   * Writes again a heap durable in the journal whose file could not be written with its group,
   * not synced (the journal holds it), through a temporary name (a reader sees the whole file or none).
   */
  private async writeFile(id: string): Promise<void> {
    const bytes = this.unwritten.get(id);
    if (bytes === undefined) return;
    const { directory, file } = heapFile(this.root, id);
    try {
      if (!this.folders.has(directory)) {
        await mkdir(directory, { recursive: true });
        this.folders.add(directory);
      }
      const temporary = join(directory, `.tmp-${randomBytes(8).toString('hex')}`);
      await writeFile(temporary, bytes, { flag: 'wx' });
      await rename(temporary, file);
    } catch {
      this.fileRetries.push(id); // Tried again at the next look.
      return;
    }
    this.written(id);
  }

  /** The segment frames go to now: a new one when there is none or the current one is old or big. */
  private currentSegment(): Segment {
    const current = this.segment;
    if (current !== null && current.bytes < segmentBytesMax && Date.now() - current.openedMs < this.timings.segmentAgeMaxMs) return current;
    this.seal();
    const path = join(this.root, `journal-${process.pid}-${String(this.nextSequence++).padStart(12, '0')}.log`);
    const segment: Segment = { path, fd: openSync(path, 'wx'), bytes: 0, openedMs: Date.now(), ids: [], folderSynced: false };
    this.segment = segment;
    return segment;
  }

  private seal(): void {
    const segment = this.segment;
    if (segment === null) return;
    this.segment = null;
    closeSync(segment.fd);
    this.sealed.push({ path: segment.path, ids: segment.ids, sealedMs: Date.now() });
  }

  /** Retires the sealed segments old enough, one after the other, in the background. */
  private retireDue(): void {
    if (this.retiring) return;
    const segment = this.segment;
    // A segment idle past its age is sealed here too, or a quiet store would never retire it.
    if (segment !== null && !this.flushing && Date.now() - segment.openedMs >= this.timings.segmentAgeMaxMs) this.seal();
    if (this.fileRetries.length > 0) {
      this.fileQueue.push(...this.fileRetries.splice(0));
      this.writeFiles();
    }
    const due = this.sealed.filter((sealed) => Date.now() - sealed.sealedMs >= this.timings.retireAfterMs && sealed.ids.every((id) => !this.unwritten.has(id)));
    if (due.length === 0) return;
    this.retiring = true;
    void this.retire(due).finally(() => { this.retiring = false; });
  }

  /**
   * Makes the files of the `due` segments durable, then deletes the segments. One syncfs(2) of the
   * store's filesystem (coreutils `sync -f`, 20–40 ms here) covers every file and folder at once:
   * an fdatasync per file costs ≈ 3 ms even for a file the kernel has written back (the disk's
   * cache flush), so at 400 heaps/s one thread syncing them one by one could not keep up. Where
   * `sync -f` is missing or fails, each file and folder is synced, one after the other.
   */
  private async retire(due: Sealed[]): Promise<void> {
    const whole = this.timings.wholeFilesystemSync !== false && await syncFilesystem(this.root);
    for (const sealed of due) {
      try {
        if (!whole) await syncAll(this.root, sealed.ids);
        unlinkSync(sealed.path);
      } catch {
        return; // Kept: retried at the next look, or replayed by the next open.
      }
      this.sealed.splice(this.sealed.indexOf(sealed), 1);
      this.stats.retired++;
      for (const resolve of this.retiredWaiters.splice(0)) resolve();
    }
  }

  /** Waits for the group commit in flight and the file writes, and stops taking puts; segments left are replayed by the next open. */
  async close(): Promise<void> {
    clearInterval(this.retireTimer);
    while (this.flushing) await new Promise((resolve) => setImmediate(resolve));
    await this.whenWritten();
    this.closed = true;
    this.seal();
    await this.writer.close();
  }
}

/** Whether a process with this id runs (signal 0 checks without sending anything). */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** syncfs(2) of the filesystem holding `path`, through coreutils' `sync -f`: whether it succeeded. */
function syncFilesystem(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sync', ['-f', path], { timeout: 60_000 }, (error) => resolve(error === null));
  });
}

/** Syncs every listed heap file, then each of their folders once. */
async function syncAll(root: string, ids: string[]): Promise<void> {
  const folders = new Set<string>();
  for (const id of ids) {
    const { directory, file } = heapFile(root, id);
    await syncPath(file);
    folders.add(directory);
  }
  for (const folder of folders) await syncPath(folder);
}
