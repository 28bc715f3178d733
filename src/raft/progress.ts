// The leader's view of one follower (etcd's tracker.Progress): what it holds (match), what to send
// next (next), and how to send: one probe at a time, a bounded pipeline, or a snapshot.
import { assert } from '../errors.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state, one append is outstanding until a response or a heartbeat response comes. */
  probeSent = false;
  /** The snapshot index being installed while in snapshot state. */
  pendingSnapshotIndex = 0;
  snapshotElapsedTicks = 0;
  /** The leader tick of the latest heartbeat this follower answered, -1 before any (lease reads). */
  leaseTick = -1;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly isLearner: boolean;
  /** Last index of each append in flight, oldest first; never more than inflightAppendsMax. */
  private readonly inflightLastIndexes: number[] = [];
  private readonly inflightAppendsMax: number;

  constructor(options: { next: number; isLearner: boolean; inflightAppendsMax: number }) {
    assert(options.next >= 1, 'next index is positive');
    assert(options.inflightAppendsMax >= 1, 'at least one append may be in flight');
    this.next = options.next;
    this.isLearner = options.isLearner;
    this.inflightAppendsMax = options.inflightAppendsMax;
  }

  /** Whether the leader must wait before sending this follower another append. */
  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'snapshot') return true;
    return this.inflightLastIndexes.length >= this.inflightAppendsMax;
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot; resume just past it.
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshotIndex + 1) : this.match + 1;
    this.reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.reset('snapshot');
    this.pendingSnapshotIndex = snapshotIndex;
  }

  /**
   * A snapshot message may be lost: after `timeoutTicks` without an answer, go back to probing,
   * which resends it if the follower still needs it.
   */
  tickSnapshot(timeoutTicks: number): void {
    if (this.state !== 'snapshot') return;
    this.snapshotElapsedTicks++;
    if (this.snapshotElapsedTicks < timeoutTicks) return;
    this.next = this.match + 1;
    this.reset('probe');
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.snapshotElapsedTicks = 0;
    this.inflightLastIndexes.length = 0;
  }

  /**
   * A heartbeat answer proves the follower is reachable; if the pipeline is full its acks may have
   * been lost, so free one slot: the next append is either accepted or rejected into probing.
   */
  heartbeatAnswered(heartbeatTick: number): void {
    this.leaseTick = Math.max(this.leaseTick, heartbeatTick);
    this.probeSent = false;
    if (this.state === 'replicate' && this.inflightLastIndexes.length >= this.inflightAppendsMax) this.inflightLastIndexes.shift();
  }

  /** Record an append carrying entries up to `lastIndex` (or none, when lastIndex < next). */
  sentAppend(entryCount: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (entryCount === 0) return;
      assert(this.inflightLastIndexes.length < this.inflightAppendsMax, 'inflight appends within bound');
      this.next = lastIndex + 1;
      this.inflightLastIndexes.push(lastIndex);
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** The follower holds everything up to `index`. Returns whether that was news. */
  maybeUpdate(index: number): boolean {
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    this.probeSent = false;
    while (this.inflightLastIndexes.length > 0 && this.inflightLastIndexes[0]! <= index) this.inflightLastIndexes.shift();
    return true;
  }

  /**
   * The follower rejected an append at `rejectedIndex`; `hintIndex` is where to retry from.
   * Returns false for a stale rejection (one that answers an append already superseded).
   */
  maybeDecreaseTo(rejectedIndex: number, hintIndex: number): boolean {
    if (this.state === 'replicate') {
      if (rejectedIndex <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejectedIndex) return false;
    this.next = Math.max(Math.min(rejectedIndex, hintIndex + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }
}
