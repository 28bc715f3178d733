// CrashStore: an in-memory stand-in for a LevelDB database on a file system, for running the real
// LevelStorage inside the simulation. It is not LevelDB; it models the one thing a crash test of
// LevelStorage needs from LevelDB and the disk under it: which writes survive a power loss.
// - A batch is atomic (LevelDB writes it as one checksummed log record).
// - A batch written with `sync: true` is durable once its promise resolves (fsync returned); so is
//   every batch before it (the log is one file, synced up to that point).
// - A batch written with `sync: false`, or a synced one whose promise has not resolved yet, sits
//   in the page cache. At a crash a random prefix of these survives (the kernel flushed that
//   much of the log file) and the next one is torn: LevelDB's log reader drops a torn record
//   whole, so the torn batch and everything after it are lost.
// A crash also ends the process: promises of writes in flight never resolve.
import { assert } from '../../../src/errors.ts';
import type { BatchOperation, LogStore } from '../../../src/raft/level-storage.ts';
import type { SeededRandom } from './random.ts';

/** Writes waiting in the page cache at most, a bound that keeps a runaway test visible. */
export const unsyncedBatchesMax = 100_000;

function applyBatch(target: Map<string, string>, operations: readonly BatchOperation[]): void {
  for (const operation of operations) {
    if (operation.type === 'put') target.set(operation.key, operation.value);
    else target.delete(operation.key);
  }
}

export class CrashStore implements LogStore {
  /** What a reopen after a crash would find. */
  private readonly durable = new Map<string, string>();
  /** What reads see now: the durable state with the page cache applied. */
  private visible = new Map<string, string>();
  private unsynced: (readonly BatchOperation[])[] = [];
  private readonly random: SeededRandom;
  /** Bumped by every crash: writes of an earlier life never complete. */
  private life = 0;
  crashCount = 0;
  tornBatchCount = 0;

  constructor(random: SeededRandom) {
    this.random = random;
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {}

  async get(key: string): Promise<string | undefined> {
    return this.visible.get(key);
  }

  async put(key: string, value: string, options: { sync: boolean }): Promise<void> {
    await this.batch([{ type: 'put', key, value }], options);
  }

  async batch(operations: BatchOperation[], options: { sync: boolean }): Promise<void> {
    assert(this.unsynced.length < unsyncedBatchesMax, 'unsynced batches within unsyncedBatchesMax');
    const copy = operations.map((operation) => ({ ...operation }));
    applyBatch(this.visible, copy);
    this.unsynced.push(copy);
    const life = this.life;
    await Promise.resolve(); // the write is in flight: a crash now may lose it
    if (life !== this.life) return new Promise(() => {}); // the process died: never resolves
    if (options.sync) this.sync();
  }

  /** fsync: everything written so far is durable. */
  private sync(): void {
    for (const operations of this.unsynced) applyBatch(this.durable, operations);
    this.unsynced = [];
  }

  async *iterator(range: { gte: string; lt: string }): AsyncIterable<[string, string]> {
    const keys = [...this.visible.keys()].filter((key) => key >= range.gte && key < range.lt).sort();
    for (const key of keys) {
      const value = this.visible.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Power loss: a random prefix of the page cache reaches the disk, the rest is lost. */
  crash(): void {
    this.life++;
    this.crashCount++;
    const surviving = this.random.nextInt(this.unsynced.length + 1);
    if (surviving < this.unsynced.length) this.tornBatchCount++;
    for (const operations of this.unsynced.slice(0, surviving)) applyBatch(this.durable, operations);
    this.unsynced = [];
    this.visible = new Map(this.durable);
  }

  /** Whether every write so far is durable (nothing would be lost by a crash now). */
  isSynced(): boolean {
    return this.unsynced.length === 0;
  }

  /** The durable value at `key`: what a reopen would read. */
  durableValue(key: string): string | undefined {
    return this.durable.get(key);
  }
}
