// The node's view of its log: a snapshot (everything up to snapshotIndex, compacted) followed by
// the entries after it. It tracks three cursors, always ordered
//   snapshotIndex <= applied <= committed <= lastIndex and stableIndex <= lastIndex:
// what the state machine has applied, what a quorum holds, and what storage has made durable.
import { assert } from '../errors.ts';
import type { Config, Entry, Snapshot } from './types.ts';

export class RaftLog {
  snapshot: Snapshot;
  /** entries[i].index === snapshot.index + 1 + i */
  entries: Entry[];
  committed: number;
  applied: number;
  /** The last index storage has durably written (advanced by the caller's `advance`). */
  stableIndex: number;
  /** A snapshot received from the leader that the caller has not yet persisted and restored. */
  pendingSnapshot: Snapshot | null = null;
  /** Counts the times entries were removed from the log's end (a conflict) or replaced by a snapshot. */
  truncations = 0;

  constructor(snapshot: Snapshot, entries: readonly Entry[], committed: number) {
    this.snapshot = snapshot;
    this.entries = [...entries];
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === snapshot.index + 1 + i, 'boot entries are contiguous after the snapshot');
    }
    this.committed = Math.max(committed, snapshot.index);
    this.applied = snapshot.index;
    this.stableIndex = this.lastIndex();
    assert(this.committed <= this.lastIndex(), 'commit index within the log');
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** The term of the entry at `index`, or -1 when it was compacted away or does not exist yet. */
  term(index: number): number {
    if (index === this.snapshot.index) return this.snapshot.term;
    if (index < this.snapshot.index || index > this.lastIndex()) return -1;
    return this.entries[index - this.snapshot.index - 1]!.term;
  }

  entry(index: number): Entry {
    assert(index > this.snapshot.index && index <= this.lastIndex(), `entry ${index} is in the log`);
    return this.entries[index - this.snapshot.index - 1]!;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: the candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [fromIndex, toIndex], at most `countMax` of them. */
  slice(fromIndex: number, toIndex: number, countMax: number): Entry[] {
    assert(fromIndex > this.snapshot.index, 'slice starts after the snapshot');
    const last = Math.min(toIndex, this.lastIndex(), fromIndex + countMax - 1);
    if (last < fromIndex) return [];
    const offset = this.snapshot.index + 1;
    return this.entries.slice(fromIndex - offset, last - offset + 1);
  }

  /** Entries not yet durable: after the stable index, or after a snapshot still to be persisted. */
  unstableEntries(): Entry[] {
    const from = Math.max(this.stableIndex, this.snapshot.index) + 1;
    return this.slice(from, this.lastIndex(), Number.MAX_SAFE_INTEGER);
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.committed, `append at ${first} does not overwrite committed ${this.committed}`);
    assert(first <= this.lastIndex() + 1, 'append leaves no gap');
    if (first <= this.lastIndex()) this.truncations++;
    this.entries.length = first - this.snapshot.index - 1;
    for (const entry of entries) this.entries.push(entry);
    if (this.stableIndex >= first) this.stableIndex = first - 1;
  }

  /**
   * Append the leader's entries after (prevIndex, prevTerm), skipping the ones we already hold and
   * truncating at the first conflict (Raft paper, figure 2, AppendEntries step 3). Returns the last
   * new index, or -1 when prev does not match.
   */
  maybeAppend(prevIndex: number, prevTerm: number, entries: readonly Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + entries.length;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.index <= this.snapshot.index) continue;
      if (!this.matchTerm(entry.index, entry.term)) {
        this.append(entries.slice(i));
        break;
      }
    }
    return lastNew;
  }

  /** The largest index <= `index` whose term is <= `term`: the fast back-off hint (etcd's findConflictByTerm). */
  findConflictByTerm(index: number, term: number): number {
    let at = Math.min(index, this.lastIndex());
    while (at > this.snapshot.index && this.term(at) > term) at--;
    return at;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} within last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Committed entries the state machine has not applied yet, at most `countMax`. */
  nextCommittedEntries(countMax: number): Entry[] {
    if (this.pendingSnapshot !== null || this.applied >= this.committed) return [];
    return this.slice(this.applied + 1, this.committed, countMax);
  }

  appliedTo(index: number): void {
    assert(index >= this.applied && index <= this.committed, `applied ${index} within (${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** Replace the whole log by a leader's snapshot (Raft paper §7, InstallSnapshot step 7). */
  restore(snapshot: Snapshot): void {
    assert(snapshot.index > this.committed, 'a restored snapshot moves the commit index forward');
    this.truncations++;
    this.snapshot = snapshot;
    this.entries = [];
    this.committed = snapshot.index;
    this.stableIndex = Math.min(this.stableIndex, snapshot.index);
    this.pendingSnapshot = snapshot;
  }

  snapshotRestored(snapshot: Snapshot): void {
    assert(this.pendingSnapshot === snapshot, 'the restored snapshot is the pending one');
    this.pendingSnapshot = null;
    this.stableIndex = Math.max(this.stableIndex, snapshot.index);
    this.applied = Math.max(this.applied, snapshot.index);
  }

  /** Drop the entries a local snapshot at `index` covers (log compaction, Raft paper §7). */
  compact(index: number, config: Config, data: string): Snapshot {
    assert(index > this.snapshot.index && index <= this.applied, `compaction at ${index} covers only applied entries`);
    const snapshot: Snapshot = { index, term: this.term(index), config, data };
    this.entries = this.entries.slice(index - this.snapshot.index);
    this.snapshot = snapshot;
    return snapshot;
  }
}
