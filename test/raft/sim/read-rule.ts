// The read-release rule of ReadIndex (Raft thesis §6.4), checked from outside the core: a leader
// may serve a read (release it locally, or answer a follower's forwarded read) only after a quorum
// of its voters answered a heartbeat that it sent after the read arrived. The checker sees every
// message: a heartbeat carries the leader's read context, its answer echoes it, so an answer
// proves its sender heard the leader no earlier than the first heartbeat sent with that context.
// Lease reads (readLease with check-quorum) and single-voter groups need no heartbeat round.
import { assert } from '../../../src/errors.ts';
import type { Raft } from '../../../src/raft/raft.ts';
import type { Message, NodeId } from '../../../src/raft/types.ts';

export class ReadReleaseChecker {
  /** A logical clock: every observed event gets the next value. */
  private now = 0;
  /** `${leader}:${term}:${context}` → when a heartbeat with that context was first sent. */
  private readonly heartbeatFirstSent = new Map<string, number>();
  /** `${leader}:${term}` → voter → the latest heartbeat send time its answers prove. */
  private readonly confirmedAt = new Map<string, Map<NodeId, number>>();
  /** `${leader}:${term}:${node}:${context}` → when the read reached the leader. */
  private readonly arrivedAt = new Map<string, number>();
  releasesChecked = 0;

  /** A read requested at `raft` itself (a leader serves it; a follower forwards it). */
  requested(raft: Raft, readContext: number): void {
    this.arrivedAt.set(`${raft.id}:${raft.term}:${raft.id}:${readContext}`, ++this.now);
  }

  /** Before `receiver` steps `message`. */
  delivered(receiver: Raft, message: Message): void {
    if (receiver.role !== 'leader' || message.term !== receiver.term) return;
    const leaderTerm = `${receiver.id}:${receiver.term}`;
    if (message.type === 'readIndex') {
      // A duplicated request is served at the first arrival's confirmation: keep the first.
      const key = `${leaderTerm}:${message.from}:${message.readContext}`;
      if (!this.arrivedAt.has(key)) this.arrivedAt.set(key, ++this.now);
    }
    if (message.type !== 'heartbeatResponse' || message.readContext === 0) return;
    const sentAt = this.heartbeatFirstSent.get(`${leaderTerm}:${message.readContext}`);
    if (sentAt === undefined) return; // an answer to a heartbeat of an earlier life of this leader
    let confirmations = this.confirmedAt.get(leaderTerm);
    if (confirmations === undefined) {
      confirmations = new Map();
      this.confirmedAt.set(leaderTerm, confirmations);
    }
    confirmations.set(message.from, Math.max(confirmations.get(message.from) ?? 0, sentAt));
  }

  /** `sender` sends `message` (after saving the Ready that holds it). */
  sent(sender: Raft, message: Message): void {
    if (message.type === 'heartbeat' && message.readContext !== 0) {
      const key = `${message.from}:${message.term}:${message.readContext}`;
      if (!this.heartbeatFirstSent.has(key)) this.heartbeatFirstSent.set(key, ++this.now);
    }
    if (message.type === 'readIndexResponse' && !message.reject) this.released(sender, message.to, message.readContext, message.term);
  }

  /** A read state in `raft`'s Ready, for a read that `raft` requested while leading in `term`. */
  releasedLocally(raft: Raft, readContext: number, term: number): void {
    this.released(raft, raft.id, readContext, term);
  }

  private released(leader: Raft, origin: NodeId, readContext: number, term: number): void {
    const arrived = this.arrivedAt.get(`${leader.id}:${term}:${origin}:${readContext}`);
    if (arrived === undefined) return; // not requested at a leader (a follower's own read state)
    this.arrivedAt.delete(`${leader.id}:${term}:${origin}:${readContext}`);
    const voters = leader.config.voters;
    if (voters.length === 1 || (leader.options.readLease && leader.options.checkQuorum)) return;
    const confirmations = this.confirmedAt.get(`${leader.id}:${term}`);
    let quorumSize = voters.includes(leader.id) ? 1 : 0;
    for (const voter of voters) if (voter !== leader.id && (confirmations?.get(voter) ?? 0) > arrived) quorumSize++;
    assert(quorumSize >= Math.floor(voters.length / 2) + 1,
      `read release: leader ${leader.id} of term ${term} served read ${origin}:${readContext} without a quorum answering a heartbeat sent after it arrived`);
    this.releasesChecked++;
  }
}
