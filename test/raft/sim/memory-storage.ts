// The simulation's durable storage: what survives a simulated crash. It follows the same contract as
// LevelStorage (src/raft/level-storage.ts), synchronously: a Ready's snapshot, entries and hard
// state are written together, entries replace any stored suffix from their first index.
import { assert } from '../../../src/errors.ts';
import type { Entry, HardState, RaftBoot, Ready, Snapshot } from '../../../src/raft/types.ts';
import type { DurableView } from './invariants.ts';

export class MemoryStorage implements DurableView {
  private hardState: HardState;
  private snapshot: Snapshot;
  private entries: Entry[] = [];

  constructor(bootstrap: Snapshot) {
    this.snapshot = bootstrap;
    this.hardState = { term: 0, vote: 0, commit: bootstrap.index };
  }

  lastIndex(): number {
    return this.snapshot.index + this.entries.length;
  }

  save(ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): void {
    if (ready.snapshot !== null) {
      // An installed snapshot replaces the whole log.
      this.snapshot = ready.snapshot;
      this.entries = [];
    }
    const first = ready.entries[0];
    if (first !== undefined) {
      assert(first.index > this.snapshot.index && first.index <= this.lastIndex() + 1, 'stored log stays contiguous');
      this.entries.length = first.index - this.snapshot.index - 1;
      for (const entry of ready.entries) this.entries.push(entry);
    }
    if (ready.hardState !== null) this.hardState = ready.hardState;
    assert(this.hardState.commit <= this.lastIndex(), 'stored commit index within the stored log');
  }

  /** Local compaction: keep the snapshot, drop the entries it covers. */
  compact(snapshot: Snapshot): void {
    assert(snapshot.index > this.snapshot.index && snapshot.index <= this.lastIndex(), 'compaction within the stored log');
    this.entries = this.entries.slice(snapshot.index - this.snapshot.index);
    this.snapshot = snapshot;
  }

  durableHardState(): HardState {
    return this.hardState;
  }

  durableLastIndex(): number {
    return this.lastIndex();
  }

  boot(): RaftBoot {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}
