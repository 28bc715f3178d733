// Leader election (Raft paper §5.2) with pre-vote (Raft thesis §9.6): a node first asks whether it
// could win, without raising its term, so a node returning from a partition cannot depose a
// healthy leader by bumping the term.
import { assert } from '../errors.ts';
import type { Raft } from './raft.ts';
import { stepFollower } from './replication.ts';
import type { Message, NodeId } from './types.ts';
import { nodeNone } from './types.ts';

/** How far past the applied index a node looks for an unapplied config entry before campaigning. */
const configScanEntriesMax = 4096;

export function isPromotable(raft: Raft): boolean {
  return raft.config.voters.includes(raft.id);
}

/** A node does not campaign while a committed membership change is still unapplied (etcd does the same). */
export function hasUnappliedConfigChange(raft: Raft): boolean {
  const log = raft.log;
  if (log.pendingSnapshot !== null) return true;
  const last = Math.min(log.committed, log.applied + configScanEntriesMax);
  for (let index = log.applied + 1; index <= last; index++) {
    if (log.entry(index).kind === 'config') return true;
  }
  return false;
}

/** Start an election; `stage: 'preVote'` first asks whether it could win (skipped when pre-vote is off or for a transfer). */
export function campaign(raft: Raft, options: { transfer: boolean; stage: 'preVote' | 'vote' }): void {
  const usePreVote = options.stage === 'preVote' && raft.options.preVote && !options.transfer;
  if (usePreVote) raft.becomePreCandidate();
  else raft.becomeCandidate();
  const type = usePreVote ? 'preVote' : 'vote';
  const term = usePreVote ? raft.term + 1 : raft.term;
  raft.votes.set(raft.id, true);
  if (hasWon(raft)) {
    onWin(raft);
    return;
  }
  for (const voter of raft.config.voters) {
    if (voter !== raft.id) requestVote(raft, type, voter, term, options.transfer);
  }
}

/** Ask `voter` for its (pre-)vote in `term` for this node's log. */
function requestVote(raft: Raft, type: 'preVote' | 'vote', voter: NodeId, term: number, transfer: boolean): void {
  raft.send({ ...raft.message(type, voter), term, index: raft.log.lastIndex(), logTerm: raft.log.lastTerm(), transfer });
}

/**
 * A pre-candidate asks the voters that have not answered again, every heartbeat interval, until
 * its election timer starts a new round. A pre-vote is silently ignored by a voter that heard a
 * leader within the minimum election timeout (thesis §4.2.3), and after a leader dies the
 * survivors' timers drift apart (late ticks on a loaded machine, a last heartbeat heard at
 * different times): the first to time out was ignored by the other, and waited a whole new
 * randomized timeout, often past the other's own, before asking again. Asked again, the other
 * grants once its lease has run out. Asking again is safe: a pre-vote changes no one's term or
 * vote, and the pre-candidate's log and term are those of its first request. A pre-candidate
 * that has granted another's pre-vote in this round asks no one again: asked while it is a
 * pre-candidate too, the other would grant it back, both would stand in the next term, and the
 * split vote would cost an election timeout (the other wins alone: its vote request is granted).
 */
export function reaskPreVotes(raft: Raft): void {
  assert(raft.role === 'preCandidate', 'only a pre-candidate asks again');
  for (const voter of raft.config.voters) {
    if (voter !== raft.id && !raft.votes.has(voter)) requestVote(raft, 'preVote', voter, raft.term + 1, false);
  }
}

function hasWon(raft: Raft): boolean {
  let granted = 0;
  for (const [voter, vote] of raft.votes) if (vote && raft.config.voters.includes(voter)) granted++;
  return granted >= raft.quorum();
}

function hasLost(raft: Raft): boolean {
  let rejected = 0;
  for (const [voter, vote] of raft.votes) if (!vote && raft.config.voters.includes(voter)) rejected++;
  return rejected >= raft.quorum();
}

function onWin(raft: Raft): void {
  if (raft.role === 'preCandidate') campaign(raft, { transfer: false, stage: 'vote' });
  else raft.becomeLeader();
}

/** Figure 2, RequestVote receiver: one vote per term, only for a log at least as up-to-date. */
export function handleVoteRequest(raft: Raft, request: Message): void {
  const isPreVote = request.type === 'preVote';
  const canVote = raft.vote === request.from
    || (raft.vote === nodeNone && raft.lead === nodeNone)
    || (isPreVote && request.term > raft.term);
  const responseType = isPreVote ? 'preVoteResponse' : 'voteResponse';
  if (isPreVote && yieldsToNoLowerPreCandidate(raft, request)) {
    raft.send({ ...raft.message(responseType, request.from), reject: true });
    // The other is a pre-candidate too: asked (again) now, it grants this node's higher id.
    if (!raft.votes.has(request.from) && !raft.grantedPreVoteAsPreCandidate) requestVote(raft, 'preVote', request.from, raft.term + 1, false);
    return;
  }
  if (canVote && raft.log.isUpToDate(request.index, request.logTerm)) {
    // A granted pre-vote answers with the asked-for term so the pre-candidate counts it.
    raft.send({ ...raft.message(responseType, request.from), term: request.term });
    if (isPreVote && raft.role === 'preCandidate') raft.grantedPreVoteAsPreCandidate = true;
    if (!isPreVote) {
      assert(request.term === raft.term, 'a real vote is cast in the current term');
      raft.vote = request.from;
      raft.electionElapsedTicks = 0;
    }
  } else {
    raft.send({ ...raft.message(responseType, request.from), reject: true });
  }
}

/**
 * In a pre-vote round started because the leader looked gone (Raft.leaderLooksGone), a pre-vote
 * of the same round from a lower id with an equal log is refused: the survivors are told of a
 * dead leader at the same moment, and two pre-candidates granting each other would both stand in
 * the next term and split the vote (an election timeout lost). The higher id wins; the lower
 * grants it (its own rule is the usual one for a higher id). Only in such a round: a round the
 * timer started grants as usual, so an odd partition where only the lower id could win costs at
 * most one election timeout.
 */
function yieldsToNoLowerPreCandidate(raft: Raft, request: Message): boolean {
  return raft.role === 'preCandidate' && raft.preVoteOnLeaderGone && request.term === raft.term + 1 && request.from < raft.id
    && request.index === raft.log.lastIndex() && request.logTerm === raft.log.lastTerm();
}

export function stepCandidate(raft: Raft, message: Message): void {
  const expected = raft.role === 'preCandidate' ? 'preVoteResponse' : 'voteResponse';
  if (message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot') {
    // A leader of our term exists (§5.2: "the candidate recognizes the leader as legitimate").
    raft.becomeFollower(raft.term, message.from);
    stepFollower(raft, message);
    return;
  }
  if (message.type === 'readIndex' || message.type === 'readIndexResponse') {
    stepFollower(raft, message); // refuse the forwarded read / take the (late) answer
    return;
  }
  if (message.type !== expected) return;
  raft.votes.set(message.from, !message.reject);
  if (hasWon(raft)) onWin(raft);
  else if (hasLost(raft)) raft.becomeFollower(raft.term, nodeNone);
}
