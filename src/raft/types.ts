// The vocabulary of the Raft core: entries, messages, hard state, snapshots and the Ready batch.
// Every field that counts something carries its unit; indices and terms are plain integers.

export type NodeId = number;
/** No node: the vote not cast, the leader not known. Real node ids are positive. */
export const nodeNone: NodeId = 0;

export type EntryKind = 'normal' | 'config';

/** A log entry. `data` is opaque to the core (JSON text by convention); a config entry's data is a ConfigChange. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: string;
}

export type ConfigChangeKind = 'addVoter' | 'removeVoter' | 'addLearner' | 'promoteLearner';
export interface ConfigChange {
  readonly kind: ConfigChangeKind;
  readonly nodeId: NodeId;
}

/** Membership: voters count towards quorums, learners only receive the log. */
export interface Config {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** What must be durable before the node answers anyone (Raft paper, figure 2, "persistent state"). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface Snapshot {
  readonly index: number;
  readonly term: number;
  readonly config: Config;
  /** The state machine's own serialisation, opaque to the core. */
  readonly data: string;
}

export type MessageType =
  | 'preVote' | 'preVoteResponse'
  | 'vote' | 'voteResponse'
  | 'append' | 'appendResponse'
  | 'heartbeat' | 'heartbeatResponse'
  | 'snapshot'
  | 'timeoutNow'
  | 'readIndex' | 'readIndexResponse';

/**
 * One message shape for every type, as etcd does: fields a type does not use stay zero.
 * append: index/logTerm name the entry before `entries`; vote: they name the candidate's last entry;
 * appendResponse: index is the follower's match and logTerm its term (or the rejected index, with the hint fields).
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHintIndex: number;
  readonly rejectHintTerm: number;
  /** ReadIndex: the leader's read id in heartbeats, or a follower's read id in readIndex(Response); 0 when none. */
  readonly readContext: number;
  /** heartbeat: the leader's tick count in office when it sent it; heartbeatResponse: echoed (lease reads). */
  readonly heartbeatTick: number;
  /** Set on a vote started by leadership transfer: voters skip their leader lease. */
  readonly transfer: boolean;
  readonly snapshot: Snapshot | null;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** A read that may be served once the state machine has applied `index` (Raft paper §8, ReadIndex). */
export interface ReadState {
  readonly readContext: number;
  readonly index: number;
}

/** A read that can no longer complete on this node: it lost leadership or never had it. */
export interface ReadRejection {
  readonly readContext: number;
  readonly leaderHint: NodeId;
}

/**
 * The batch the caller must handle, in this order: persist `snapshot`, `entries` and `hardState`
 * (durably, in one write); then send `messages` (a leader's appends may go first:
 * sendableBeforePersist); then restore `snapshot` and apply
 * `committedEntries` to the state machine (with no snapshot they may be applied first: they are
 * durable on a quorum already); then call `advance(ready)`.
 */
export interface Ready {
  readonly hardState: HardState | null;
  /** Entries to append; any stored entry at or above entries[0].index is replaced. */
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  readonly readRejections: readonly ReadRejection[];
}

/**
 * The one exception to "persist, then send": a leader's appends and heartbeats may leave before
 * its own write of the same Ready (Raft thesis §10.2.1), so the followers' fsyncs overlap the
 * leader's. They promise nothing about the leader's disk: the leader counts itself towards a
 * commit only up to its stable (persisted) index, and its term and vote were persisted before it
 * could win (the vote requests left after that write). Every other message (a vote, an answer,
 * anything a follower sends) still waits for the write it depends on. The simulation sends in
 * the same order, and crashes a node between the two (test/raft/sim/cluster.ts).
 */
export function sendableBeforePersist(message: Message): boolean {
  return message.type === 'append' || message.type === 'heartbeat';
}

export type ProposalRejectReason = 'notLeader' | 'transferring' | 'overloaded' | 'configChangePending' | 'learnerBehind' | 'invalidConfigChange';

export type ProposalResult =
  | { readonly accepted: true; readonly index: number; readonly term: number }
  | { readonly accepted: false; readonly reason: ProposalRejectReason; readonly leaderHint: NodeId };

/** The only source of randomness the core sees; the simulation seeds it. */
export interface RandomSource {
  /** A uniform integer in [0, boundExclusive). */
  nextInt(boundExclusive: number): number;
}

export interface RaftOptions {
  readonly id: NodeId;
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly random: RandomSource;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Serve ReadIndex without a heartbeat round while the leader lease holds (needs checkQuorum). */
  readonly readLease: boolean;
  /**
   * Lease reads: the largest ratio between two nodes' tick rates (clock drift) the lease must
   * survive. The lease lasts (electionTimeoutTicks - 1) / clockRateRatioMax - 1 leader ticks.
   */
  readonly clockRateRatioMax: number;
  readonly entriesPerAppendMax: number;
  readonly inflightAppendsMax: number;
  readonly uncommittedEntriesMax: number;
  readonly pendingReadsMax: number;
  /** A learner is promoted only once it is within this many entries of the leader's last index. */
  readonly learnerPromotionLagEntriesMax: number;
}

/** What a restarted node recovers from its storage. */
export interface RaftBoot {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
}

export const defaultRaftOptions = {
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  preVote: true,
  checkQuorum: true,
  readLease: false,
  clockRateRatioMax: 1.2,
  entriesPerAppendMax: 64,
  inflightAppendsMax: 8,
  uncommittedEntriesMax: 4096,
  pendingReadsMax: 1024,
  learnerPromotionLagEntriesMax: 16,
} as const;

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type, from, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false,
    rejectHintIndex: 0, rejectHintTerm: 0, readContext: 0, heartbeatTick: 0, transfer: false, snapshot: null,
  };
}
