// Log replication (Raft paper §5.3) with flow control and fast back-off: the leader pipelines up
// to inflightAppendsMax appends of at most entriesPerAppendMax entries to a follower that keeps up,
// probes one append at a time after a rejection, and skips a whole conflicting term per round trip
// using the follower's (hint index, hint term).
import { assert } from '../errors.ts';
import { campaign, isPromotable } from './election.ts';
import type { Raft } from './raft.ts';
import type { Message, NodeId } from './types.ts';
import { nodeNone } from './types.ts';
import type { Progress } from './progress.ts';

/** Send what `to` is missing; returns whether a message went out. */
export function sendAppend(raft: Raft, to: NodeId, options: { sendIfEmpty: boolean }): boolean {
  const progress = raft.progress.get(to);
  assert(progress !== undefined, `progress for ${to}`);
  if (progress.isPaused()) return false;
  const log = raft.log;
  const prevIndex = progress.next - 1;
  const prevTerm = log.term(prevIndex);
  if (prevTerm === -1) {
    // The entries the follower needs were compacted away: install the snapshot instead (§7).
    assert(prevIndex < log.snapshot.index, 'a missing term means compaction, not a gap');
    raft.send({ ...raft.message('snapshot', to), snapshot: log.snapshot });
    progress.becomeSnapshot(log.snapshot.index);
    return true;
  }
  const entries = log.slice(progress.next, log.lastIndex(), raft.options.entriesPerAppendMax);
  if (entries.length === 0 && !options.sendIfEmpty) return false;
  raft.send({ ...raft.message('append', to), index: prevIndex, logTerm: prevTerm, entries, commit: log.committed });
  progress.sentAppend(entries.length, prevIndex + entries.length);
  return true;
}

/** Fill the follower's pipeline: in replicate state several appends may go at once. */
function sendAppends(raft: Raft, to: NodeId, progress: Progress): void {
  let sent = sendAppend(raft, to, { sendIfEmpty: true });
  for (let round = 1; sent && progress.state === 'replicate' && round < raft.options.inflightAppendsMax; round++) {
    sent = sendAppend(raft, to, { sendIfEmpty: false });
  }
}

export function broadcastAppend(raft: Raft): void {
  for (const [to, progress] of raft.progress) {
    if (progress.state === 'replicate' && progress.next > raft.log.lastIndex()) continue;
    sendAppends(raft, to, progress);
  }
}

export function broadcastHeartbeat(raft: Raft): void {
  const readContext = raft.reads.lastPendingAckContext();
  for (const [to, progress] of raft.progress) {
    // Commit no further than the follower is known to hold, so its log cannot be short of it.
    const commit = Math.min(progress.match, raft.log.committed);
    raft.send({ ...raft.message('heartbeat', to), commit, readContext, heartbeatTick: raft.leaderTicks });
  }
}

/** Figure 2, "Rules for Servers": commit the highest index a quorum holds, if it is of this term. */
export function maybeCommit(raft: Raft): boolean {
  const matches: number[] = [];
  for (const voter of raft.config.voters) {
    matches.push(voter === raft.id ? raft.log.stableIndex : (raft.progress.get(voter)?.match ?? 0));
  }
  matches.sort((a, b) => b - a);
  const quorumIndex = matches[raft.quorum() - 1] ?? 0;
  // §5.4.2 and figure 8: an entry of an earlier term is committed only by one of the current term.
  if (quorumIndex <= raft.log.committed || raft.log.term(quorumIndex) !== raft.term) return false;
  raft.log.commitTo(quorumIndex);
  raft.reads.releaseAwaitingCommit(raft);
  return true;
}

export function tickLeader(raft: Raft): void {
  raft.leaderTicks++;
  raft.electionElapsedTicks++;
  raft.heartbeatElapsedTicks++;
  for (const progress of raft.progress.values()) progress.tickSnapshot(raft.options.electionTimeoutTicks);
  if (raft.electionElapsedTicks >= raft.options.electionTimeoutTicks) {
    raft.electionElapsedTicks = 0;
    raft.leaderQuorumHeard = quorumActive(raft);
    if (raft.options.checkQuorum && !raft.leaderQuorumHeard) {
      // A leader that cannot hear a majority steps down (Raft thesis §6.2, check-quorum).
      raft.becomeFollower(raft.term, nodeNone);
      return;
    }
    raft.leadTransferee = nodeNone;
  }
  if (raft.heartbeatElapsedTicks >= raft.options.heartbeatIntervalTicks) {
    raft.heartbeatElapsedTicks = 0;
    broadcastHeartbeat(raft);
  }
}

function quorumActive(raft: Raft): boolean {
  let active = raft.config.voters.includes(raft.id) ? 1 : 0;
  for (const [id, progress] of raft.progress) {
    if (progress.recentActive && raft.config.voters.includes(id)) active++;
    progress.recentActive = false;
  }
  return active >= raft.quorum();
}

export function stepLeader(raft: Raft, message: Message): void {
  if (message.type === 'readIndex') {
    raft.reads.handleForwarded(raft, message); // from any node, member or not
    return;
  }
  const progress = raft.progress.get(message.from);
  if (progress === undefined) return;
  progress.recentActive = true;
  if (message.type === 'appendResponse') handleAppendResponse(raft, message, progress);
  else if (message.type === 'heartbeatResponse') {
    progress.heartbeatAnswered(message.heartbeatTick);
    if (progress.match < raft.log.lastIndex()) sendAppends(raft, message.from, progress);
    if (message.readContext !== 0) raft.reads.acknowledge(raft, message.readContext, message.from);
  }
}

function handleAppendResponse(raft: Raft, message: Message, progress: Progress): void {
  if (message.reject) {
    // The hint names where the follower's log might still agree; skip the conflicting term at once.
    const hintIndex = message.rejectHintTerm > 0
      ? raft.log.findConflictByTerm(message.rejectHintIndex, message.rejectHintTerm)
      : message.rejectHintIndex;
    if (progress.maybeDecreaseTo(message.index, hintIndex)) {
      if (progress.state === 'replicate') progress.becomeProbe();
      sendAppends(raft, message.from, progress);
    }
    return;
  }
  const updated = progress.maybeUpdate(message.index);
  // A probe accepted at the index already matched also proves the follower agrees: replicate again.
  const probeConfirmed = progress.state === 'probe' && progress.match === message.index;
  if (!updated && !probeConfirmed) return;
  if (progress.state === 'probe') progress.becomeReplicate();
  else if (progress.state === 'snapshot' && progress.match >= progress.pendingSnapshotIndex) progress.becomeReplicate();
  if (maybeCommit(raft)) broadcastAppend(raft);
  else sendAppends(raft, message.from, progress);
  if (message.from === raft.leadTransferee && progress.match === raft.log.lastIndex()) {
    raft.send(raft.message('timeoutNow', message.from));
  }
}

export function stepFollower(raft: Raft, message: Message): void {
  if (message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot') {
    raft.electionElapsedTicks = 0;
    raft.lead = message.from;
  }
  if (message.type === 'append') handleAppend(raft, message);
  else if (message.type === 'heartbeat') {
    raft.log.commitTo(Math.min(message.commit, raft.log.lastIndex()));
    raft.send({ ...raft.message('heartbeatResponse', message.from), readContext: message.readContext, heartbeatTick: message.heartbeatTick });
  } else if (message.type === 'snapshot') handleSnapshot(raft, message);
  else if (message.type === 'timeoutNow' && isPromotable(raft)) campaign(raft, { transfer: true, stage: 'vote' });
  else if (message.type === 'readIndex') raft.reads.handleForwarded(raft, message);
  else if (message.type === 'readIndexResponse') raft.reads.handleResponse(raft, message);
}

/** Figure 2, AppendEntries receiver. A rejection carries the hint that makes back-off fast. */
function handleAppend(raft: Raft, message: Message): void {
  const log = raft.log;
  const response = raft.message('appendResponse', message.from);
  if (message.index < log.committed) {
    raft.send({ ...response, index: log.committed, logTerm: log.term(log.committed) });
    return;
  }
  const lastNewIndex = log.maybeAppend(message.index, message.logTerm, message.entries);
  if (lastNewIndex >= 0) {
    log.commitTo(Math.min(message.commit, lastNewIndex));
    raft.send({ ...response, index: lastNewIndex, logTerm: log.term(lastNewIndex) });
    return;
  }
  const hintIndex = log.findConflictByTerm(Math.min(message.index, log.lastIndex()), message.logTerm);
  raft.send({ ...response, index: message.index, reject: true, rejectHintIndex: hintIndex, rejectHintTerm: Math.max(log.term(hintIndex), 0) });
}

/** §7, InstallSnapshot receiver: keep the log if it already holds the snapshot's last entry. */
function handleSnapshot(raft: Raft, message: Message): void {
  const snapshot = message.snapshot;
  assert(snapshot !== null, 'a snapshot message carries a snapshot');
  const log = raft.log;
  const response = raft.message('appendResponse', message.from);
  if (snapshot.index <= log.committed) {
    raft.send({ ...response, index: log.committed });
    return;
  }
  if (log.matchTerm(snapshot.index, snapshot.term)) {
    log.commitTo(snapshot.index);
  } else {
    log.restore(snapshot);
    raft.config = snapshot.config;
  }
  raft.send({ ...response, index: snapshot.index, logTerm: snapshot.term });
}
