// The Raft core: a pure state machine. Ticks, messages and proposals go in; a Ready comes out
// (hard state and entries to persist, messages to send, entries to apply); then `advance`.
// No timers, sockets, disk or global randomness: the same inputs always give the same outputs.
// Role behaviour lives in election.ts, replication.ts, reads.ts and membership.ts; this file holds
// the state, the term check every message passes once, and the Ready/advance contract.
import { assert } from '../errors.ts';
import { RaftLog } from './log.ts';
import type { Progress } from './progress.ts';
import { campaign, handleVoteRequest, hasUnappliedConfigChange, isPromotable, reaskPreVotes, stepCandidate } from './election.ts';
import { broadcastAppend, maybeCommit, stepFollower, stepLeader, tickLeader } from './replication.ts';
import { leaseTicks, ReadTracker } from './reads.ts';
import { applyConfigChange, resetProgress } from './membership.ts';
import { emptyMessage, nodeNone, sendableBeforePersist } from './types.ts';
import type { Config, ConfigChange, Entry, HardState, Message, MessageType, NodeId, ProposalResult, RaftBoot, RaftOptions, Ready, Role, Snapshot } from './types.ts';

/** Committed entries handed out per Ready, so one Ready's apply work stays bounded. */
export const committedEntriesPerReadyMax = 1024;

export class Raft {
  readonly id: NodeId;
  readonly options: RaftOptions;
  term = 0;
  vote: NodeId = nodeNone;
  lead: NodeId = nodeNone;
  role: Role = 'follower';
  readonly log: RaftLog;
  /** Membership as of the last applied config entry (or the last restored snapshot). */
  config: Config;
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  electionElapsedTicks = 0;
  heartbeatElapsedTicks = 0;
  randomizedElectionTimeoutTicks = 0;
  leadTransferee: NodeId = nodeNone;
  /** Index of the last config entry this leader proposed; another waits until it is applied. */
  pendingConfigIndex = 0;
  /**
   * The clock of its lease: ticks this node has led in its current term, counted by tick() and by
   * elapseLeaseClock() (the ticks of real time its tick() calls missed).
   */
  leaderTicks = 0;
  /** This leader sent TimeoutNow in its term: the target may win without waiting out leases. */
  transferStarted = false;
  /** Pre-candidate: it granted another pre-candidate's pre-vote in this round, so it asks no one again (reaskPreVotes). */
  grantedPreVoteAsPreCandidate = false;
  /**
   * Pre-candidate: this round was started by leaderLooksGone(), not by the election timer. Two
   * survivors told of a dead leader at the same moment stand together; in such a round a
   * pre-candidate grants another's pre-vote only to a higher id when the logs are equal (see
   * handleVoteRequest), so exactly one of them wins instead of both splitting the vote.
   */
  preVoteOnLeaderGone = false;
  /** Campaigns this node started, by cause (pre-vote or vote rounds; shown by the cluster's /raft/status). */
  readonly campaigns = { electionTimeout: 0, leaderGone: 0 };
  /** Leader: a quorum answered within the last election timeout (checked as check-quorum does, with or without it). */
  leaderQuorumHeard = false;
  /**
   * With lease reads, a node just started does not know whether it promised a leader not to vote
   * (it may have answered a heartbeat just before it crashed): until its first election timeout it
   * refuses votes as if it had a leader.
   */
  private leaseAfterBoot: boolean;
  /** Set by proposals; the leader sends the batch of new entries once, when the Ready is built. */
  appendPending = false;
  readonly reads: ReadTracker;
  outbox: Message[] = [];
  private persistedHardState: HardState;
  private readyOutstanding = false;
  /**
   * The last committed index handed to the caller, by ready() or readyDuringWrite(); advance()
   * marks it applied. Above log.applied only while a Ready is outstanding.
   */
  private handedOutIndex = 0;
  /** The outstanding Ready applies a config entry at advance(): nothing is stepped before that (steppableDuringWrite). */
  private readyChangesConfig = false;
  /**
   * The last index stable once the outstanding Ready is written: readyDuringWrite() hands out no
   * committed entry past it. An entry proposed during the write may commit on a quorum of
   * followers before this leader wrote it; applied now, a compaction at the applied index would
   * reach past this node's own log (the sweep found it, seed 749). It is applied from the next Ready.
   */
  private writingThroughIndex = 0;

  constructor(options: RaftOptions, boot: RaftBoot) {
    assert(options.id !== nodeNone, 'node id is not the none id');
    assert(options.heartbeatIntervalTicks >= 1 && options.heartbeatIntervalTicks < options.electionTimeoutTicks, 'heartbeat interval below election timeout');
    assert(options.entriesPerAppendMax >= 1 && options.inflightAppendsMax >= 1, 'append bounds are positive');
    this.id = options.id;
    this.options = options;
    this.log = new RaftLog(boot.snapshot, boot.entries, boot.hardState.commit);
    this.config = boot.snapshot.config;
    this.reads = new ReadTracker(options.pendingReadsMax);
    this.persistedHardState = boot.hardState;
    this.leaseAfterBoot = options.readLease && options.checkQuorum;
    assert(!this.leaseAfterBoot || (options.clockRateRatioMax >= 1 && leaseTicks(options) >= 1), 'lease reads have a lease of at least one tick');
    this.becomeFollower(boot.hardState.term, nodeNone);
    this.vote = boot.hardState.vote;
  }

  quorum(): number {
    return Math.floor(this.config.voters.length / 2) + 1;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  send(message: Message): void {
    assert(message.to !== this.id, 'a node never messages itself');
    assert(message.term > 0 || message.type === 'preVote' || message.type === 'preVoteResponse', 'messages carry a term');
    if (message.type === 'timeoutNow') this.transferStarted = true;
    this.outbox.push(message);
  }

  message(type: MessageType, to: NodeId): Message {
    return emptyMessage(type, this.id, to, this.term);
  }

  resetElectionTimer(): void {
    this.electionElapsedTicks = 0;
    const timeoutTicks = this.options.electionTimeoutTicks;
    this.randomizedElectionTimeoutTicks = timeoutTicks + this.options.random.nextInt(timeoutTicks);
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = nodeNone;
    }
    this.lead = nodeNone;
    this.heartbeatElapsedTicks = 0;
    this.resetElectionTimer();
    this.votes.clear();
    this.progress.clear();
    this.leadTransferee = nodeNone;
    this.appendPending = false;
  }

  becomeFollower(term: number, lead: NodeId): void {
    if (lead !== this.lead || term !== this.term) this.reads.rejectAll(this, lead);
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not pre-campaign');
    // Pre-vote asks for the next term without taking it: a partitioned node does not inflate terms.
    this.votes.clear();
    this.resetElectionTimer();
    this.grantedPreVoteAsPreCandidate = false;
    this.preVoteOnLeaderGone = false;
    this.role = 'preCandidate';
    this.lead = nodeNone;
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    this.reads.rejectAll(this, nodeNone);
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.leaderTicks = 0;
    this.transferStarted = false;
    this.leaderQuorumHeard = true; // a quorum just voted for it
    resetProgress(this);
    // The empty entry of the new term lets the leader commit earlier terms' entries (§5.4.2).
    this.appendEntries([{ term: this.term, index: 0, kind: 'normal', data: '' }]);
    this.pendingConfigIndex = this.log.lastIndex();
  }

  appendEntries(entries: readonly Entry[]): void {
    const lastIndex = this.log.lastIndex();
    const stamped = entries.map((entry, i) => ({ term: this.term, index: lastIndex + 1 + i, kind: entry.kind, data: entry.data }));
    this.log.append(stamped);
    this.appendPending = true;
  }

  tick(): void {
    assert(!this.readyOutstanding, 'no input between ready() and advance()');
    if (this.role === 'leader') {
      tickLeader(this);
      return;
    }
    this.reads.tick(this);
    this.electionElapsedTicks++;
    if (this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks) {
      this.electionElapsedTicks = 0;
      this.leaseAfterBoot = false;
      if (isPromotable(this) && !hasUnappliedConfigChange(this)) {
        this.campaigns.electionTimeout++;
        campaign(this, { transfer: false, stage: 'preVote' });
      }
    } else if (this.role === 'preCandidate' && !this.grantedPreVoteAsPreCandidate && this.electionElapsedTicks % this.options.heartbeatIntervalTicks === 0) {
      reaskPreVotes(this);
    }
  }

  /**
   * The caller saw signs that `suspect` is gone (its connections to this node were reset or closed
   * by its end, a connection to it was refused): when it is this follower's leader, the follower
   * starts a pre-vote at once instead of waiting out its election timeout. Only a hint, safe even
   * when wrong: a pre-vote changes no term and no vote, and every voter that still hears a live
   * leader ignores it (inLease), as does the leader, so a live leader is not deposed; the follower
   * takes the leader back at its next heartbeat. The follower itself stops counting the leader's
   * lease, so it grants the other survivor's pre-vote and vote (a survivor told too becomes a
   * pre-candidate, out of its lease). Ignored without pre-vote (a campaign would raise the term
   * and depose a live leader) and with lease reads (this follower promised its leader no vote for
   * an election timeout after its last heartbeat; a wrong hint would let another leader serve
   * writes while the old one still serves reads under its lease). Returns whether a pre-vote began.
   */
  leaderLooksGone(suspect: NodeId): boolean {
    assert(!this.readyOutstanding, 'no input between ready() and advance()');
    if (this.role !== 'follower' || suspect === nodeNone || this.lead !== suspect) return false;
    if (!this.options.preVote || this.options.readLease) return false;
    if (!isPromotable(this) || hasUnappliedConfigChange(this)) return false;
    this.campaigns.leaderGone++;
    campaign(this, { transfer: false, stage: 'preVote' });
    if ((this.role as Role) === 'preCandidate') this.preVoteOnLeaderGone = true; // campaign() may have won outright (one voter)
    return true;
  }

  /**
   * Lease reads: `ticks` of the caller's monotonic clock that its tick() calls did not count (a
   * timer callback late or lost behind a busy or stopped event loop). Only the lease's clock moves:
   * the lease of heartbeats sent before them runs out as in real time, while elections, heartbeats
   * and check-quorum stay on tick() (a late tick only makes a timeout longer; fed a stall's worth of
   * ticks at once, check-quorum would depose a leader before it read the answers waiting for it).
   * Any time, even while a Ready is outstanding: it only shortens a lease.
   */
  elapseLeaseClock(ticks: number): void {
    assert(Number.isSafeInteger(ticks) && ticks >= 0, 'elapsed lease ticks are a whole number');
    this.leaderTicks += ticks;
  }

  /**
   * Raft thesis §4.2.3: a server that heard from a current leader within the minimum election
   * timeout ignores vote requests (neither grants nor takes their term), with or without
   * check-quorum, so a voter removed while it was behind (it never learns of its removal) cannot
   * depose the leader. The leader counts as having heard while a quorum answered within the last
   * election timeout. A transfer's vote (`transfer`) bypasses this (thesis §3.10).
   */
  inLease(): boolean {
    if (this.role === 'leader') return this.leaderQuorumHeard;
    return (this.lead !== nodeNone || this.leaseAfterBoot) && this.electionElapsedTicks < this.options.electionTimeoutTicks;
  }

  /**
   * An answer to an append or heartbeat from a node outside the configuration: its higher term is
   * not taken. A removed voter that missed its removal answers appends still in flight to it with
   * the term its ignored campaigns reached, which would depose a healthy leader (sweep seed 12864).
   */
  private isNonMemberAnswer(message: Message): boolean {
    if (message.type !== 'appendResponse' && message.type !== 'heartbeatResponse') return false;
    return !this.config.voters.includes(message.from) && !this.config.learners.includes(message.from);
  }

  /**
   * What may be stepped while the caller writes an outstanding Ready (pipelined Readies, as etcd's
   * asynchronous storage writes): a leader's acknowledgements of its own term. Stepping one only
   * moves a follower's progress and the commit index (the leader still counts itself only up to
   * log.stableIndex, which the outstanding write's advance() moves), and leaves appends to send and
   * entries to apply: readyDuringWrite() hands them out. Anything else waits for advance(), and so
   * does everything while the outstanding Ready applies a config entry: a read confirmed by a
   * quorum of the old membership would be answered under the new one (the read rule's checker).
   */
  steppableDuringWrite(message: Message): boolean {
    return this.readyOutstanding && !this.readyChangesConfig && this.role === 'leader' && message.term === this.term && message.to === this.id
      && (message.type === 'appendResponse' || message.type === 'heartbeatResponse') && this.progress.has(message.from);
  }

  /**
   * A leader may also take proposals while it writes an outstanding Ready: each is appended after
   * the entries being written (a leader's log only grows), its appends leave with the next
   * readyDuringWrite(), and it is written by the next Ready; the leader counts it once that write
   * is advanced. Not while the Ready applies a config entry (as steppableDuringWrite).
   */
  proposableDuringWrite(): boolean {
    return this.readyOutstanding && !this.readyChangesConfig && this.role === 'leader';
  }

  step(message: Message): void {
    assert(!this.readyOutstanding || this.steppableDuringWrite(message), 'no input between ready() and advance() but a leader\'s acknowledgements');
    assert(message.to === this.id, 'message addressed to this node');
    if (message.term > this.term) {
      const isVoteRequest = message.type === 'vote' || message.type === 'preVote';
      if (isVoteRequest && !message.transfer && this.inLease()) return;
      if (this.isNonMemberAnswer(message)) return;
      const keepsTerm = message.type === 'preVote' || (message.type === 'preVoteResponse' && !message.reject);
      if (!keepsTerm) {
        const fromLeader = message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot';
        this.becomeFollower(message.term, fromLeader ? message.from : nodeNone);
      }
    } else if (message.term < this.term) {
      this.answerStaleTerm(message);
      return;
    }
    const truncations = this.log.truncations;
    if (message.type === 'vote' || message.type === 'preVote') {
      handleVoteRequest(this, message);
    } else if (this.role === 'leader') {
      stepLeader(this, message);
    } else if (this.role === 'follower') {
      stepFollower(this, message);
    } else {
      stepCandidate(this, message);
    }
    if (this.log.truncations !== truncations) this.dropAcksOfRemovedEntries();
  }

  /**
   * An append acknowledged since the last Ready may name entries that a newer leader's conflicting
   * append has removed since: they will never be persisted, so the acknowledgement must not leave
   * (the old leader could count it towards a commit). An acknowledgement names (index, logTerm);
   * it stays only while the log still holds that entry, or a snapshot covers it.
   */
  private dropAcksOfRemovedEntries(): void {
    const log = this.log;
    this.outbox = this.outbox.filter((sent) => sent.type !== 'appendResponse' || sent.reject
      || sent.index <= log.snapshot.index || log.term(sent.index) === sent.logTerm);
  }

  /**
   * A message from an older term: tell a stale leader or pre-candidate the current term, drop the
   * rest. A stale leader is always told (figure 2's reply carries the term): vote requests are
   * ignored in the lease, so a member that moved to a higher term rejoins only by deposing it.
   */
  private answerStaleTerm(message: Message): void {
    if (message.type === 'append' || message.type === 'heartbeat') {
      this.send(this.message('appendResponse', message.from));
    } else if (message.type === 'preVote') {
      this.send({ ...this.message('preVoteResponse', message.from), reject: true });
    }
  }

  propose(data: string): ProposalResult {
    const refusal = this.refuseProposal();
    if (refusal !== null) return refusal;
    this.appendEntries([{ term: 0, index: 0, kind: 'normal', data }]);
    return { accepted: true, index: this.log.lastIndex(), term: this.term };
  }

  refuseProposal(): ProposalResult | null {
    assert(!this.readyOutstanding || this.proposableDuringWrite(), 'no input between ready() and advance() but a leader\'s acknowledgements and proposals');
    if (this.role !== 'leader') return { accepted: false, reason: 'notLeader', leaderHint: this.lead };
    if (this.leadTransferee !== nodeNone) return { accepted: false, reason: 'transferring', leaderHint: this.leadTransferee };
    if (this.log.lastIndex() - this.log.committed >= this.options.uncommittedEntriesMax) {
      return { accepted: false, reason: 'overloaded', leaderHint: this.id };
    }
    return null;
  }

  proposeConfigChange(change: ConfigChange): ProposalResult {
    assert(!this.readyOutstanding, 'no input between ready() and advance()');
    const refusal = this.refuseProposal() ?? this.refuseConfigChange(change);
    if (refusal !== null) return refusal;
    this.appendEntries([{ term: 0, index: 0, kind: 'config', data: JSON.stringify(change) }]);
    this.pendingConfigIndex = this.log.lastIndex();
    return { accepted: true, index: this.log.lastIndex(), term: this.term };
  }

  private refuseConfigChange(change: ConfigChange): ProposalResult | null {
    // One change at a time (Raft thesis §4.1): the next waits until the previous one is applied.
    if (this.pendingConfigIndex > this.log.applied) return { accepted: false, reason: 'configChangePending', leaderHint: this.id };
    const { voters, learners } = this.config;
    const isVoter = voters.includes(change.nodeId);
    const isLearner = learners.includes(change.nodeId);
    const valid = change.kind === 'addVoter' || change.kind === 'addLearner' ? !isVoter && !isLearner
      : change.kind === 'removeVoter' ? isVoter || isLearner : isLearner;
    if (!valid || (change.kind === 'removeVoter' && isVoter && voters.length === 1)) {
      return { accepted: false, reason: 'invalidConfigChange', leaderHint: this.id };
    }
    if (change.kind === 'promoteLearner') {
      const match = this.progress.get(change.nodeId)?.match ?? 0;
      if (match + this.options.learnerPromotionLagEntriesMax < this.log.lastIndex()) return { accepted: false, reason: 'learnerBehind', leaderHint: this.id };
    }
    return null;
  }

  /** Ask for a linearizable read point (a follower asks its leader); the answer comes as a ReadState or ReadRejection. */
  requestRead(readContext: number): void {
    assert(!this.readyOutstanding, 'no input between ready() and advance()');
    assert(readContext > 0, 'read contexts are positive');
    this.reads.request(this, readContext);
  }

  /** Hand leadership to `target` once its log is current (Raft thesis §3.10). Returns whether it started. */
  transferLeadership(target: NodeId): boolean {
    assert(!this.readyOutstanding, 'no input between ready() and advance()');
    if (this.role !== 'leader' || target === this.id || !this.config.voters.includes(target)) return false;
    const progress = this.progress.get(target);
    assert(progress !== undefined, 'every voter has progress');
    this.leadTransferee = target;
    this.electionElapsedTicks = 0;
    if (progress.match === this.log.lastIndex()) this.send(this.message('timeoutNow', target));
    else broadcastAppend(this);
    return true;
  }

  /** Replace the applied prefix by the state machine's snapshot of it. The caller persists the result. */
  compact(appliedIndex: number, data: string): Snapshot {
    assert(appliedIndex === this.log.applied, 'a snapshot is taken at the applied index');
    return this.log.compact(appliedIndex, this.config, data);
  }

  /**
   * The same with a snapshot of an earlier applied index: a caller that took its view of the
   * machine (and `config`, the membership it read from `this.config` then) at `index` and
   * serialised it while later entries were applied. Entries after `index` stay in the log.
   */
  compactAt(index: number, config: Config, data: string): Snapshot {
    return this.log.compact(index, config, data);
  }

  /**
   * While the outstanding Ready is written: the appends and heartbeats that acknowledgements and
   * proposals taken meanwhile left (sendable before any write, as a Ready's), and the entries committed
   * since, up to the first config entry (applied by advance(), which changes the membership). The
   * caller sends the messages and applies the entries now, in order, before the next input; the
   * other messages and read states wait for the next Ready.
   */
  readyDuringWrite(): { readonly messages: readonly Message[]; readonly committedEntries: readonly Entry[] } {
    assert(this.readyOutstanding, 'readyDuringWrite runs between ready() and advance()');
    if (this.appendPending) { // proposals taken during the write
      this.appendPending = false;
      if (this.role === 'leader') broadcastAppend(this);
    }
    const messages = this.outbox.filter(sendableBeforePersist);
    if (messages.length > 0) this.outbox = this.outbox.filter((message) => !sendableBeforePersist(message));
    const through = Math.min(this.log.committed, this.writingThroughIndex);
    if (this.log.pendingSnapshot !== null || this.handedOutIndex >= through) return { messages, committedEntries: [] };
    const committed = this.log.slice(this.handedOutIndex + 1, through, committedEntriesPerReadyMax);
    const configAt = committed.findIndex((entry) => entry.kind === 'config');
    const committedEntries = configAt === -1 ? committed : committed.slice(0, configAt);
    const last = committedEntries.at(-1);
    if (last !== undefined) this.handedOutIndex = last.index;
    return { messages, committedEntries };
  }

  hasReady(): boolean {
    const hardState = this.hardState();
    const persisted = this.persistedHardState;
    return this.outbox.length > 0 || this.log.stableIndex < this.log.lastIndex() || this.log.pendingSnapshot !== null
      || this.log.applied < this.log.committed || this.appendPending || this.reads.hasOutput()
      || hardState.term !== persisted.term || hardState.vote !== persisted.vote || hardState.commit !== persisted.commit;
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'one Ready at a time');
    if (this.role === 'leader' && this.appendPending) broadcastAppend(this);
    this.appendPending = false;
    const hardState = this.hardState();
    const persisted = this.persistedHardState;
    const changed = hardState.term !== persisted.term || hardState.vote !== persisted.vote || hardState.commit !== persisted.commit;
    const ready: Ready = {
      hardState: changed ? hardState : null,
      entries: this.log.unstableEntries(),
      snapshot: this.log.pendingSnapshot,
      committedEntries: this.log.nextCommittedEntries(committedEntriesPerReadyMax),
      messages: this.outbox,
      ...this.reads.takeOutput(),
    };
    this.outbox = [];
    this.readyOutstanding = true;
    this.handedOutIndex = ready.committedEntries.at(-1)?.index ?? this.log.applied;
    this.readyChangesConfig = ready.committedEntries.some((entry) => entry.kind === 'config');
    this.writingThroughIndex = Math.max(this.log.stableIndex, ready.entries.at(-1)?.index ?? 0);
    return ready;
  }

  /** The caller has persisted, sent and applied everything in `ready`. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, 'advance follows ready');
    this.readyOutstanding = false;
    if (ready.hardState !== null) this.persistedHardState = ready.hardState;
    if (ready.snapshot !== null) this.log.snapshotRestored(ready.snapshot);
    const lastEntry = ready.entries.at(-1);
    if (lastEntry !== undefined) {
      assert(this.log.term(lastEntry.index) === lastEntry.term, 'persisted entries are still in the log');
      this.log.stableIndex = Math.max(this.log.stableIndex, lastEntry.index);
    }
    for (const entry of ready.committedEntries) {
      this.log.appliedTo(entry.index);
      if (entry.kind === 'config') applyConfigChange(this, JSON.parse(entry.data) as ConfigChange);
    }
    // Entries handed out by readyDuringWrite() follow the Ready's own (never a config entry).
    if (this.handedOutIndex > this.log.applied) this.log.appliedTo(this.handedOutIndex);
    if (this.role === 'leader' && maybeCommit(this)) broadcastAppend(this);
    if (this.role === 'leader') this.reads.releaseAwaitingCommit(this);
  }
}

