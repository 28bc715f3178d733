// Durable Raft storage on LevelDB (the `level` package, classic-level underneath). It keeps the
// core's persistence contract: a Ready's snapshot, entries and hard state are written in one
// atomic batch with a synchronous write (fsync) before the caller sends or applies anything, so
// what a node acknowledged survives kill -9 (a Ready that only moves the commit index is not
// written at once: see save()).
//
// Format (utf8 keys, sorted): `h` hard state, `s` snapshot, `e` + 16-digit zero-padded index for
// each entry. Every value is a record: 8 hex digits of the CRC-32 of the JSON text, then the JSON.
// On open the entries are read in order; the first record that fails its checksum, is out of
// sequence or is unreadable starts a torn tail, which is deleted (never mistaken for data).
//
// A local compaction's snapshot data is not inside `s` but in a file of its own beside the
// database (`<path>-snapshots/snapshot-<index>-<term>.json`), written and fsynced before the batch
// that names it (stageSnapshot, off the driver's pass), and `s` holds its index, term, config, file
// name, length and CRC-32. So a compaction's batch is small: a snapshot of tens of megabytes does
// not go through LevelDB's write-ahead log, where every synced write queued behind it would wait
// for it, nor JSON-escaped into a record on the event loop. A snapshot installed from the leader
// goes to its file the same way (written before the batch that names it, in save()). The
// simulation's stores, which have no folder, keep the data inside `s`, as every store did before
// (and an installed snapshot did until 2026-12-07): both forms are read.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open as openFile, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Level } from 'level';
import { assert, McpV8Error } from '../errors.ts';
import { syncPath } from '../storage/sync-path.ts';
import type { Entry, HardState, RaftBoot, Ready, Snapshot } from './types.ts';

const hardStateKey = 'h';
const snapshotKey = 's';
const entryKeyPrefix = 'e';
const indexDigits = 16;
/** Entries read back per open before giving up: a log this long should have been compacted. */
export const bootEntriesMax = 10_000_000;
/** Characters of a staged snapshot encoded and written per turn of the event loop. */
const snapshotFileSliceChars = 1024 * 1024;

/** `s` when the snapshot's data is in a file: what identifies and checks that file. */
interface SnapshotFileHeader {
  readonly index: number;
  readonly term: number;
  readonly config: Snapshot['config'];
  readonly data_file: string;
  readonly data_bytes: number;
  readonly data_crc32: number;
}

const snapshotFileName = (snapshot: Pick<Snapshot, 'index' | 'term'>) => `snapshot-${snapshot.index}-${snapshot.term}.json`;

export type BatchOperation = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/**
 * The part of a LevelDB handle LevelStorage uses. In production it is `level`'s `Level`; the
 * simulation passes a stand-in that models which writes survive a crash (test/raft/sim).
 */
export interface LogStore {
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string, options: { sync: boolean }): Promise<void>;
  batch(operations: BatchOperation[], options: { sync: boolean }): Promise<void>;
  iterator(range: { gte: string; lt: string }): AsyncIterable<[string, string]>;
}

export function entryKey(index: number): string {
  assert(Number.isSafeInteger(index) && index >= 0, 'entry index is a non-negative integer');
  return entryKeyPrefix + String(index).padStart(indexDigits, '0');
}

export function encodeRecord(value: unknown): string {
  const json = JSON.stringify(value);
  return crc32(json).toString(16).padStart(8, '0') + json;
}

/**
 * An entry's JSON text, made once per entry object: the leader writes the same text into its log
 * record and into each follower's append body (src/cluster/wire.ts encodeMessages), where it once
 * escaped an entry's data three times (bench/RESULTS.md "Raft appends: CPU per append"). Entries
 * are immutable, and the core hands the same objects to storage and to its messages. Only the
 * latest entryJsonCachedMax are kept (a Ready's record and its bodies are made within a turn or
 * two): the log's entries are not held twice in memory; an older entry sent again (a follower
 * that lagged) is encoded again.
 */
export const entryJsonCachedMax = 8192;
/** A ring by log index (entryJsonCachedMax is a power of two): slot index & (max - 1) holds the entry last encoded there and its text. */
const cachedEntries: Array<Entry | undefined> = new Array<Entry | undefined>(entryJsonCachedMax).fill(undefined);
const cachedTexts: string[] = new Array<string>(entryJsonCachedMax).fill('');

export function entryJson(entry: Entry): string {
  const slot = entry.index & (entryJsonCachedMax - 1);
  if (cachedEntries[slot] === entry) return cachedTexts[slot]!;
  const json = JSON.stringify(entry);
  cachedEntries[slot] = entry;
  cachedTexts[slot] = json;
  return json;
}

/** encodeRecord(entry), from the entry's cached JSON text (the same record). */
export function encodeEntryRecord(entry: Entry): string {
  const json = entryJson(entry);
  return crc32(json).toString(16).padStart(8, '0') + json;
}

/** The decoded value, or null when the checksum does not match (a torn or corrupt record). */
export function decodeRecord(record: string): unknown {
  if (record.length < 8) return null;
  const json = record.slice(8);
  if (crc32(json).toString(16).padStart(8, '0') !== record.slice(0, 8)) return null;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return null;
  }
}

function isEntry(value: unknown, index: number): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return entry.index === index && typeof entry.term === 'number' && typeof entry.data === 'string' && (entry.kind === 'normal' || entry.kind === 'config');
}

export class LevelStorage {
  private readonly db: LogStore;
  private hardState: HardState;
  private snapshot: Snapshot;
  private entries: Entry[];
  /** Records dropped at open because they failed their checksum or broke the sequence. */
  readonly truncatedRecordCount: number;
  /** Writes are serial: the in-memory view is updated before the batch lands, so one may run at a time. */
  private writing = false;
  /** `hardState` moved (its commit index only) since it was last written: the next batch carries it. */
  private hardStateUnwritten = false;
  /** Where snapshot data files live (null: a store without a folder keeps data inside `s`). */
  private readonly snapshotDir: string | null;
  /** The file the stored `s` names, if any; a snapshot written and fsynced by stageSnapshot, not yet named by `s`. */
  private snapshotFile: string | null;
  private staged: SnapshotFileHeader | null = null;

  private constructor(db: LogStore, boot: RaftBoot, truncatedRecordCount: number, snapshotDir: string | null, snapshotFile: string | null) {
    this.db = db;
    this.snapshotDir = snapshotDir;
    this.snapshotFile = snapshotFile;
    this.hardState = boot.hardState;
    this.snapshot = boot.snapshot;
    this.entries = [...boot.entries];
    this.truncatedRecordCount = truncatedRecordCount;
  }

  /**
   * Open (or create with `bootstrap`) the log at `path`, truncating a torn tail. `store` replaces
   * the LevelDB database at `path` (the simulation's crash model); `path` then only names it.
   */
  static async open(path: string, bootstrap: Snapshot, store?: LogStore): Promise<LevelStorage> {
    const db: LogStore = store ?? new Level<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    const snapshotDir = store === undefined ? `${path}-snapshots` : null;
    await db.open();
    try {
      const stored = await LevelStorage.readRecord(db, snapshotKey) as Snapshot | SnapshotFileHeader | null;
      const snapshot = stored === null ? bootstrap : 'data_file' in stored ? await LevelStorage.readSnapshotFile(snapshotDir, stored) : stored;
      const snapshotFile = stored !== null && 'data_file' in stored ? stored.data_file : null;
      if (snapshotDir !== null) await LevelStorage.removeSnapshotFilesBut(snapshotDir, snapshotFile);
      const hardState = (await LevelStorage.readRecord(db, hardStateKey) as HardState | null) ?? { term: 0, vote: 0, commit: snapshot.index };
      const { entries, tornKeys, staleKeys } = await LevelStorage.readEntries(db, snapshot, hardState.term);
      const deletions = [...tornKeys, ...staleKeys];
      if (deletions.length > 0) await db.batch(deletions.map((key) => ({ type: 'del' as const, key })), { sync: true });
      const lastIndex = snapshot.index + entries.length;
      if (hardState.commit > lastIndex) {
        throw new McpV8Error('STORAGE_UNAVAILABLE', `raft log at ${path} ends at ${lastIndex} but commit is ${hardState.commit}: acknowledged entries are missing`);
      }
      return new LevelStorage(db, { hardState, snapshot, entries }, tornKeys.length, snapshotDir, snapshotFile);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  private static async readRecord(db: LogStore, key: string): Promise<unknown> {
    const record = await db.get(key);
    if (record === undefined) return null;
    const value = decodeRecord(record);
    // The hard state and snapshot are only ever written inside synced batches: a bad one is corruption.
    if (value === null) throw new McpV8Error('STORAGE_UNAVAILABLE', `raft storage record ${key} fails its checksum`);
    return value;
  }

  /** The snapshot `s` names by file, its data read back and checked against the length and CRC-32 `s` holds. */
  private static async readSnapshotFile(snapshotDir: string | null, header: SnapshotFileHeader): Promise<Snapshot> {
    const path = snapshotDir === null ? header.data_file : join(snapshotDir, header.data_file);
    let bytes: Buffer;
    try {
      if (snapshotDir === null || header.data_file !== snapshotFileName(header)) throw new Error('not a snapshot file of this store');
      bytes = await readFile(path);
    } catch (error) {
      throw new McpV8Error('STORAGE_UNAVAILABLE', `raft snapshot ${header.index} names its data file ${path}, which cannot be read (${(error as Error).message})`);
    }
    if (bytes.length !== header.data_bytes || crc32(bytes) !== header.data_crc32) {
      throw new McpV8Error('STORAGE_UNAVAILABLE', `raft snapshot file ${path} is damaged: ${bytes.length} bytes, CRC-32 ${crc32(bytes)}, where its record says ${header.data_bytes} bytes, CRC-32 ${header.data_crc32}`);
    }
    return { index: header.index, term: header.term, config: header.config, data: bytes.toString('utf8') };
  }

  /** Every file in the snapshot folder but `keep`: a staged file no compaction named, a replaced one a crash left behind. */
  private static async removeSnapshotFilesBut(snapshotDir: string, keep: string | null): Promise<void> {
    mkdirSync(snapshotDir, { recursive: true });
    for (const name of await readdir(snapshotDir)) if (name !== keep) await rm(join(snapshotDir, name), { force: true });
  }

  /**
   * Entries after the snapshot, in order. From the first bad record on (checksum, sequence, or a
   * term that goes backwards or beyond the durable term), every key is part of the torn tail.
   */
  private static async readEntries(db: LogStore, snapshot: Snapshot, termMax: number): Promise<{ entries: Entry[]; tornKeys: string[]; staleKeys: string[] }> {
    const entries: Entry[] = [];
    const tornKeys: string[] = [];
    const staleKeys: string[] = [];
    let previousTerm = snapshot.term;
    for await (const [key, record] of db.iterator({ gte: entryKey(0), lt: `${entryKeyPrefix}~` })) {
      const index = Number(key.slice(entryKeyPrefix.length));
      if (index <= snapshot.index) {
        staleKeys.push(key); // covered by the snapshot; a compaction deletes these in the same batch
        continue;
      }
      if (tornKeys.length === 0) {
        const value = decodeRecord(record);
        if (isEntry(value, snapshot.index + entries.length + 1) && value.term >= previousTerm && value.term <= termMax) {
          assert(entries.length < bootEntriesMax, 'boot entries within bootEntriesMax');
          entries.push(value);
          previousTerm = value.term;
          continue;
        }
      }
      tornKeys.push(key);
    }
    return { entries, tornKeys, staleKeys };
  }

  boot(): RaftBoot {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  /**
   * Persist a Ready's durable part in one synchronous batch. If it throws, the durable state is
   * unknown: discard this instance and reopen (RaftDriver stops on the error for that reason).
   */
  async save(ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> {
    assert(!this.writing, 'one LevelStorage write at a time');
    const operations: BatchOperation[] = [];
    let replaced: string | null = null;
    let installed: Snapshot | null = null;
    if (ready.snapshot !== null) {
      // An installed snapshot replaces the whole log. With a folder its data goes to a file of its
      // own (written below, before the batch names it), as a compaction's does.
      for (let index = this.snapshot.index + 1; index <= this.lastIndex(); index++) operations.push({ type: 'del', key: entryKey(index) });
      if (this.snapshotDir === null) operations.push({ type: 'put', key: snapshotKey, value: encodeRecord(ready.snapshot) });
      else installed = ready.snapshot;
      this.snapshot = ready.snapshot;
      this.entries = [];
      replaced = this.snapshotFile;
      this.snapshotFile = null;
    }
    const first = ready.entries[0];
    if (first !== undefined) {
      assert(first.index > this.snapshot.index && first.index <= this.lastIndex() + 1, 'stored log stays contiguous');
      const newLast = ready.entries.at(-1)!.index;
      for (let index = newLast + 1; index <= this.lastIndex(); index++) operations.push({ type: 'del', key: entryKey(index) });
      this.entries.length = first.index - this.snapshot.index - 1;
      for (const entry of ready.entries) {
        operations.push({ type: 'put', key: entryKey(entry.index), value: encodeEntryRecord(entry) });
        this.entries.push(entry);
      }
    }
    // A batch with entries, a snapshot, a new term or a vote is synced before anything is sent or
    // applied. A Ready that only moves the commit index is not written at all: the hard state
    // rides in the next batch (etcd's MustSync, one step further). A commit index lost in a crash
    // is learnt again (what it names is already on a quorum, and a leader commits its log again
    // with its first entry of a new term), so nothing depends on it being stored; not writing it
    // saves each commit a LevelDB batch and a thread-pool round trip between a quorum's
    // acknowledgement and applying (answering) the write, on every node.
    let sync = operations.length > 0 || installed !== null;
    if (ready.hardState !== null) {
      sync ||= ready.hardState.term !== this.hardState.term || ready.hardState.vote !== this.hardState.vote;
      this.hardState = ready.hardState;
      this.hardStateUnwritten = true;
    }
    assert(this.hardState.commit <= this.lastIndex(), 'stored commit index within the stored log');
    if (installed !== null) {
      // Not JSON-escaped into one LevelDB record (≈ 2.3 × the text in memory, through the write-ahead log): a megabyte at a time to its file.
      const header = await this.writeSnapshotFile(installed);
      if (this.staged?.data_file === header.data_file) this.staged = null;
      this.snapshotFile = header.data_file;
      operations.push({ type: 'put', key: snapshotKey, value: encodeRecord(header) });
    }
    if (sync) await this.write(operations);
    await this.removeSnapshotFile(replaced);
  }

  /** A batch of `operations` with the hard state when it moved since it was written. */
  private withHardState(operations: BatchOperation[]): BatchOperation[] {
    if (this.hardStateUnwritten) operations.push({ type: 'put', key: hardStateKey, value: encodeRecord(this.hardState) });
    return operations;
  }

  /** One synced batch of `operations` (and the hard state, if it moved). */
  private async write(operations: BatchOperation[]): Promise<void> {
    assert(!this.writing, 'one LevelStorage write at a time');
    this.writing = true;
    try {
      await this.db.batch(this.withHardState(operations), { sync: true });
      this.hardStateUnwritten = false;
    } finally {
      this.writing = false;
    }
  }

  /**
   * Local compaction: store the snapshot and drop the entries it covers, atomically. A snapshot
   * staged by stageSnapshot is named by its file; any other is stored inside `s`.
   */
  async compact(snapshot: Snapshot): Promise<void> {
    assert(!this.writing, 'one LevelStorage write at a time');
    assert(snapshot.index > this.snapshot.index && snapshot.index <= this.lastIndex(), 'compaction within the stored log');
    const staged = this.staged;
    this.staged = null;
    const named = staged !== null && staged.index === snapshot.index && staged.term === snapshot.term ? staged : null;
    if (staged !== null && named === null) await this.removeSnapshotFile(staged.data_file);
    const operations: BatchOperation[] = [{ type: 'put', key: snapshotKey, value: encodeRecord(named ?? snapshot) }];
    for (let index = this.snapshot.index + 1; index <= snapshot.index; index++) operations.push({ type: 'del', key: entryKey(index) });
    this.entries = this.entries.slice(snapshot.index - this.snapshot.index);
    this.snapshot = snapshot;
    const replaced = this.snapshotFile;
    this.snapshotFile = named?.data_file ?? null;
    await this.write(operations);
    await this.removeSnapshotFile(replaced);
  }

  /**
   * Write `snapshot`'s data to its file, fsynced (file and folder), for the compact() that follows
   * to name: a megabyte at a time with a turn of the event loop between, so neither the encoding
   * nor the write holds the loop. It may run while save() writes (another file). Without a folder
   * (the simulation's stores) it does nothing, and compact() stores the data inside `s`.
   */
  async stageSnapshot(snapshot: Snapshot): Promise<void> {
    if (this.snapshotDir === null) return;
    const header = await this.writeSnapshotFile(snapshot);
    if (this.staged !== null && this.staged.data_file !== header.data_file) await this.removeSnapshotFile(this.staged.data_file);
    this.staged = header;
  }

  /** `snapshot`'s data in its file under the snapshot folder, fsynced and renamed into place (the folder fsynced too); the header `s` names it by. */
  private async writeSnapshotFile(snapshot: Snapshot): Promise<SnapshotFileHeader> {
    assert(this.snapshotDir !== null, 'snapshot files only in a store with a folder');
    const name = snapshotFileName(snapshot);
    const temporary = join(this.snapshotDir, `${name}.${randomUUID()}.tmp`);
    const file = await openFile(temporary, 'w');
    let bytes = 0;
    let crc = 0;
    try {
      for (let start = 0; start < snapshot.data.length;) {
        let end = Math.min(snapshot.data.length, start + snapshotFileSliceChars);
        // A surrogate pair is never cut: a lone half would be written as U+FFFD.
        if (end < snapshot.data.length && isHighSurrogate(snapshot.data.charCodeAt(end - 1))) end++;
        const slice = Buffer.from(snapshot.data.slice(start, end), 'utf8');
        crc = crc32(slice, crc);
        bytes += slice.length;
        await file.write(slice);
        start = end;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, join(this.snapshotDir, name));
    await syncPath(this.snapshotDir);
    return { index: snapshot.index, term: snapshot.term, config: snapshot.config, data_file: name, data_bytes: bytes, data_crc32: crc };
  }

  /** Remove a snapshot file no record names any more (a crash before this leaves it to the next open). */
  private async removeSnapshotFile(name: string | null): Promise<void> {
    if (name === null || this.snapshotDir === null || name === this.snapshotFile) return;
    await rm(join(this.snapshotDir, name), { force: true });
  }

  /** Raw access for the torn-tail test: write a record exactly as given. */
  async writeRawForTest(key: string, value: string): Promise<void> {
    await this.db.put(key, value, { sync: true });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

