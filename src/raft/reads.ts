// Linearizable reads without log writes (Raft thesis §6.4, ReadIndex): the leader notes its commit
// index, confirms with a heartbeat round that a quorum still follows it, and then the read may be
// served once the state machine has applied that index. A leader that has not yet committed an
// entry of its own term does not know the commit index, so its reads wait for that first commit.
// With `readLease` (and check-quorum) the heartbeat round is skipped: the lease stands in for it.
import { assert } from '../errors.ts';
import type { Raft } from './raft.ts';
import { broadcastHeartbeat } from './replication.ts';
import type { NodeId, ReadRejection, ReadState } from './types.ts';

interface PendingRead {
  readonly readContext: number;
  readonly index: number;
  readonly acknowledgers: Set<NodeId>;
}

export class ReadTracker {
  private readonly pendingReadsMax: number;
  /** Reads waiting for a quorum's heartbeat acknowledgement, oldest first. */
  private pending: PendingRead[] = [];
  /** Reads that arrived before the leader committed an entry of its own term. */
  private awaitingCommit: number[] = [];
  private readStates: ReadState[] = [];
  private readRejections: ReadRejection[] = [];

  constructor(pendingReadsMax: number) {
    assert(pendingReadsMax >= 1, 'at least one read may be pending');
    this.pendingReadsMax = pendingReadsMax;
  }

  request(raft: Raft, readContext: number): void {
    if (raft.role !== 'leader' || this.pending.length + this.awaitingCommit.length >= this.pendingReadsMax) {
      this.readRejections.push({ readContext, leaderHint: raft.lead });
      return;
    }
    if (raft.log.term(raft.log.committed) !== raft.term) {
      this.awaitingCommit.push(readContext);
      return;
    }
    this.admit(raft, readContext);
    if (this.pending.length > 0) broadcastHeartbeat(raft);
  }

  private admit(raft: Raft, readContext: number): void {
    const index = raft.log.committed;
    if (raft.config.voters.length === 1 || (raft.options.readLease && raft.options.checkQuorum)) {
      this.readStates.push({ readContext, index });
      return;
    }
    this.pending.push({ readContext, index, acknowledgers: new Set([raft.id]) });
  }

  releaseAwaitingCommit(raft: Raft): void {
    if (this.awaitingCommit.length === 0 || raft.log.term(raft.log.committed) !== raft.term) return;
    const contexts = this.awaitingCommit;
    this.awaitingCommit = [];
    for (const readContext of contexts) this.admit(raft, readContext);
    if (this.pending.length > 0) broadcastHeartbeat(raft);
  }

  lastPendingContext(): number {
    return this.pending.at(-1)?.readContext ?? 0;
  }

  /** A heartbeat answer for `readContext` confirms that read and every earlier one. */
  acknowledge(raft: Raft, readContext: number, from: NodeId): void {
    const position = this.pending.findIndex((read) => read.readContext === readContext);
    if (position < 0 || !raft.config.voters.includes(from)) return;
    const read = this.pending[position]!;
    read.acknowledgers.add(from);
    let votes = 0;
    for (const id of read.acknowledgers) if (raft.config.voters.includes(id)) votes++;
    if (votes < raft.quorum()) return;
    for (const released of this.pending.splice(0, position + 1)) {
      this.readStates.push({ readContext: released.readContext, index: released.index });
    }
  }

  /** Leadership is lost: no pending read can be confirmed any more. */
  rejectAll(leaderHint: NodeId): void {
    for (const read of this.pending) this.readRejections.push({ readContext: read.readContext, leaderHint });
    for (const readContext of this.awaitingCommit) this.readRejections.push({ readContext, leaderHint });
    this.pending = [];
    this.awaitingCommit = [];
  }

  hasOutput(): boolean {
    return this.readStates.length > 0 || this.readRejections.length > 0;
  }

  takeOutput(): { readStates: ReadState[]; readRejections: ReadRejection[] } {
    const output = { readStates: this.readStates, readRejections: this.readRejections };
    this.readStates = [];
    this.readRejections = [];
    return output;
  }
}
