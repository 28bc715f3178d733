// Linearizable reads without log writes (Raft thesis §6.4, ReadIndex): the leader notes its commit
// index, confirms with a heartbeat round that a quorum still follows it, and then the read may be
// served once the state machine has applied that index. A leader that has not yet committed an
// entry of its own term does not know the commit index, so its reads wait for that first commit.
// A follower forwards the request to its leader and serves the read locally at the index the
// leader returns (thesis §6.4.1); a forwarded read unanswered within an election timeout, or
// outstanding when the follower's leader changes, is refused rather than left hanging.
// With `readLease` (and check-quorum) the heartbeat round is skipped while the lease holds: a
// quorum answered a heartbeat sent less than leaseTicks ago. Each of them reset its election timer
// on receipt and will not vote for anyone else for an election timeout of its own clock (check-
// quorum's leader lease); leaseTicks leaves room for clocks that run up to clockRateRatioMax
// faster. A restarted node keeps that promise too (Raft.leaseAfterBoot). A transfer ends the lease:
// its target is elected without waiting for leases to run out. The lease is counted on the
// leader's own lease clock (Raft.leaderTicks): its ticks, plus the ticks of real time a late or
// lost timer missed (Raft.elapseLeaseClock), so a stalled leader wakes with its lease run out.
import { assert } from '../errors.ts';
import type { Raft } from './raft.ts';
import { broadcastHeartbeat } from './replication.ts';
import type { Message, NodeId, RaftOptions, ReadRejection, ReadState } from './types.ts';
import { nodeNone } from './types.ts';

interface ReadRequest {
  /** The requester's own context: unique per requester, not across the cluster. */
  readonly readContext: number;
  readonly origin: NodeId;
}

interface PendingRead extends ReadRequest {
  readonly index: number;
  /** The leader's own id for this read in heartbeats, unique for the leader's lifetime. */
  readonly ackContext: number;
  readonly acknowledgers: Set<NodeId>;
}

/** How many of its ticks a leader may serve lease reads after a heartbeat a quorum answered. */
export function leaseTicks(options: Pick<RaftOptions, 'electionTimeoutTicks' | 'clockRateRatioMax'>): number {
  return Math.floor((options.electionTimeoutTicks - 1) / options.clockRateRatioMax) - 1;
}

function leaseHolds(raft: Raft): boolean {
  if (raft.leadTransferee !== nodeNone || raft.transferStarted) return false;
  const sentTicks: number[] = [];
  for (const voter of raft.config.voters) sentTicks.push(voter === raft.id ? raft.leaderTicks : (raft.progress.get(voter)?.leaseTick ?? -1));
  sentTicks.sort((a, b) => b - a);
  const quorumSentTick = sentTicks[raft.quorum() - 1] ?? -1;
  return quorumSentTick >= 0 && raft.leaderTicks - quorumSentTick < leaseTicks(raft.options);
}

export class ReadTracker {
  private readonly pendingReadsMax: number;
  /** Leader: reads waiting for a quorum's heartbeat acknowledgement, oldest first. */
  private pending: PendingRead[] = [];
  /** Leader: reads that arrived before the leader committed an entry of its own term. */
  private awaitingCommit: ReadRequest[] = [];
  /** Follower: reads forwarded to the leader → ticks waited so far. */
  private readonly forwarded = new Map<number, number>();
  private nextAckContext = 1;
  private readStates: ReadState[] = [];
  private readRejections: ReadRejection[] = [];

  constructor(pendingReadsMax: number) {
    assert(pendingReadsMax >= 1, 'at least one read may be pending');
    this.pendingReadsMax = pendingReadsMax;
  }

  request(raft: Raft, readContext: number): void {
    if (raft.role === 'leader') {
      this.requestAtLeader(raft, { readContext, origin: raft.id });
    } else if (raft.lead !== nodeNone && this.forwarded.size < this.pendingReadsMax) {
      this.forwarded.set(readContext, 0);
      raft.send({ ...raft.message('readIndex', raft.lead), readContext });
    } else {
      this.readRejections.push({ readContext, leaderHint: raft.lead });
    }
  }

  /** A follower's forwarded request arrives; answered with readIndexResponse. */
  handleForwarded(raft: Raft, message: Message): void {
    if (raft.role !== 'leader') {
      raft.send({ ...raft.message('readIndexResponse', message.from), readContext: message.readContext, reject: true });
      return;
    }
    this.requestAtLeader(raft, { readContext: message.readContext, origin: message.from });
  }

  /** The leader's answer to a forwarded read. */
  handleResponse(raft: Raft, message: Message): void {
    if (!this.forwarded.delete(message.readContext)) return; // answered late: already refused
    if (message.reject) this.readRejections.push({ readContext: message.readContext, leaderHint: raft.lead });
    else this.readStates.push({ readContext: message.readContext, index: message.index });
  }

  private requestAtLeader(raft: Raft, request: ReadRequest): void {
    if (this.pending.length + this.awaitingCommit.length >= this.pendingReadsMax) {
      this.refuse(raft, request, raft.id);
      return;
    }
    if (raft.log.term(raft.log.committed) !== raft.term) {
      this.awaitingCommit.push(request);
      return;
    }
    this.admit(raft, request);
    if (this.pending.length > 0) broadcastHeartbeat(raft);
  }

  private admit(raft: Raft, request: ReadRequest): void {
    const index = raft.log.committed;
    if (raft.config.voters.length === 1 || (raft.options.readLease && raft.options.checkQuorum && leaseHolds(raft))) {
      this.release(raft, request, index);
      return;
    }
    this.pending.push({ ...request, index, ackContext: this.nextAckContext++, acknowledgers: new Set([raft.id]) });
  }

  private release(raft: Raft, request: ReadRequest, index: number): void {
    if (request.origin === raft.id) this.readStates.push({ readContext: request.readContext, index });
    else raft.send({ ...raft.message('readIndexResponse', request.origin), readContext: request.readContext, index });
  }

  private refuse(raft: Raft, request: ReadRequest, leaderHint: NodeId): void {
    if (request.origin === raft.id) this.readRejections.push({ readContext: request.readContext, leaderHint });
    else raft.send({ ...raft.message('readIndexResponse', request.origin), readContext: request.readContext, reject: true });
  }

  releaseAwaitingCommit(raft: Raft): void {
    if (this.awaitingCommit.length === 0 || raft.log.term(raft.log.committed) !== raft.term) return;
    const requests = this.awaitingCommit;
    this.awaitingCommit = [];
    for (const request of requests) this.admit(raft, request);
    if (this.pending.length > 0) broadcastHeartbeat(raft);
  }

  lastPendingAckContext(): number {
    return this.pending.at(-1)?.ackContext ?? 0;
  }

  /** A heartbeat answer for `ackContext` confirms that read and every earlier one. */
  acknowledge(raft: Raft, ackContext: number, from: NodeId): void {
    const position = this.pending.findIndex((read) => read.ackContext === ackContext);
    if (position < 0 || !raft.config.voters.includes(from)) return;
    const read = this.pending[position]!;
    read.acknowledgers.add(from);
    let votes = 0;
    for (const id of read.acknowledgers) if (raft.config.voters.includes(id)) votes++;
    if (votes < raft.quorum()) return;
    for (const released of this.pending.splice(0, position + 1)) this.release(raft, released, released.index);
  }

  /** A forwarded read unanswered for an election timeout is refused: the answer may never come. */
  tick(raft: Raft): void {
    for (const [readContext, waitedTicks] of this.forwarded) {
      if (waitedTicks + 1 < raft.options.electionTimeoutTicks) {
        this.forwarded.set(readContext, waitedTicks + 1);
        continue;
      }
      this.forwarded.delete(readContext);
      this.readRejections.push({ readContext, leaderHint: raft.lead });
    }
  }

  /** Leadership (or the leader followed) changes: no outstanding read can be trusted to complete. */
  rejectAll(raft: Raft, leaderHint: NodeId): void {
    for (const request of [...this.pending, ...this.awaitingCommit]) this.refuse(raft, request, leaderHint);
    for (const readContext of this.forwarded.keys()) this.readRejections.push({ readContext, leaderHint });
    this.pending = [];
    this.awaitingCommit = [];
    this.forwarded.clear();
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
