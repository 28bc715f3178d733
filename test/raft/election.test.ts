// Election scenarios, each named after the sentence of the Raft paper or thesis it proves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Raft } from '../../src/raft/raft.ts';
import { emptyMessage } from '../../src/raft/types.ts';
import { Harness } from './harness.ts';

test('§5.2 "a candidate wins an election if it receives votes from a majority of the servers in the full cluster for the same term"', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  assert.equal(harness.raft(1).role, 'leader');
  assert.equal(harness.raft(2).lead, 1);
  assert.equal(harness.raft(3).lead, 1);
  assert.equal(harness.raft(2).vote, 1);
});

test('§5.2 "each server will vote for at most one candidate in a given term": a second candidate of the same term is refused', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { preVote: false, checkQuorum: false } });
  harness.isolate(3);
  harness.campaign(1);
  const term = harness.raft(1).term;
  assert.equal(harness.raft(2).vote, 1);
  harness.raft(2).step({ ...emptyMessage('vote', 3, 2, term), index: 5, logTerm: term });
  harness.processAll();
  const answer = harness.sent.at(-1);
  assert.ok(answer !== undefined && answer.type === 'voteResponse' && answer.to === 3 && answer.reject);
  assert.equal(harness.raft(2).vote, 1);
});

test('§5.4.1 "the voter denies its vote if its own log is more up-to-date than that of the candidate"', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { checkQuorum: false } });
  harness.campaign(1);
  harness.isolate(3);
  harness.put(1, 'k', 'v');
  harness.stabilize();
  harness.isolate(1);
  harness.heal();
  harness.isolate(1);
  // Restarted, node 2 knows no leader: no leader lease (thesis §4.2.3) drops the request before the log check.
  harness.restart(2);
  // Node 3 missed an entry node 2 holds: node 2 must refuse it, even its pre-vote.
  harness.campaign(3);
  assert.notEqual(harness.raft(3).role, 'leader');
  harness.campaign(2);
  assert.equal(harness.raft(2).role, 'leader');
});

test('thesis §9.6 pre-vote: "a server rejoining the cluster after a partition does not disrupt the cluster" (pre-vote keeps a healthy leader)', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  const term = harness.raft(1).term;
  harness.isolate(3);
  // Node 3 times out again and again behind its partition; pre-vote never raises its term.
  harness.tick(100, [1, 2]);
  assert.equal(harness.raft(3).term, term);
  harness.heal();
  harness.tick(30);
  assert.equal(harness.raft(1).role, 'leader');
  assert.equal(harness.raft(1).term, term);
  assert.equal(harness.raft(3).lead, 1);
});

test('without pre-vote the same rejoining node does force a new term (the disruption pre-vote prevents)', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { preVote: false, checkQuorum: false } });
  harness.campaign(1);
  const term = harness.raft(1).term;
  harness.isolate(3);
  harness.tick(100, [1, 2]);
  assert.ok(harness.raft(3).term > term + 1);
  harness.heal();
  harness.tick(40);
  assert.ok(harness.raft(1).term > term, 'the healthy leader was deposed');
  // Its votes were ignored (leader lease, thesis §4.2.3); it got back by answering the leader's stale appends with its term.
  assert.equal(harness.raft(3).lead, harness.leaderId(), 'node 3 follows the new leader');
});

test('thesis §6.2 check-quorum: "a leader steps down if an election timeout elapses without a successful round of heartbeats to a majority"', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.isolate(1);
  const timeoutTicks = harness.raft(1).options.electionTimeoutTicks;
  harness.tick(timeoutTicks * 2, [2, 3]);
  assert.equal(harness.raft(1).role, 'follower');
});

test('thesis §4.2.3 leader lease: a node that heard from its leader within the election timeout ignores vote requests', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { preVote: false } });
  harness.campaign(1);
  const term = harness.raft(1).term;
  // Node 3 alone jumps ahead in term (it cannot hear the leader) and asks 2 for a vote.
  harness.cutOneWay(1, 3);
  harness.campaign(3);
  assert.equal(harness.raft(2).term, term, 'node 2 kept its term: it ignored the vote request');
  assert.equal(harness.raft(1).role, 'leader');
});

test('thesis §4.2.3 with check-quorum off too: a cut-off node\'s higher-term votes are ignored by a follower and a leader that hear each other; a transfer still wins', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { preVote: false, checkQuorum: false } });
  harness.campaign(1);
  const term = harness.raft(1).term;
  // Node 3 stops hearing the leader, times out and asks 1 and 2 for their votes in a higher term.
  harness.cutOneWay(1, 3);
  harness.campaign(3);
  assert.ok(harness.raft(3).term > term);
  assert.ok(harness.sent.some((sent) => sent.type === 'vote' && sent.from === 3 && sent.to === 1), 'the leader was asked too');
  assert.equal(harness.raft(2).term, term, 'the follower ignored the vote request: it heard from its leader');
  assert.equal(harness.raft(1).role, 'leader');
  assert.equal(harness.raft(1).term, term, 'so did the leader: a quorum answered it within the election timeout');
  // A transfer's vote request bypasses the lease (thesis §3.10): node 1 votes for node 2 at once.
  assert.equal(harness.raft(1).transferLeadership(2), true);
  harness.tick(5, [3]);
  assert.equal(harness.raft(2).role, 'leader');
  assert.equal(harness.raft(1).lead, 2);
  // A leader that heard no quorum for an election timeout takes a vote request's term again.
  harness.isolate(2);
  const ticks = 2 * harness.raft(2).options.electionTimeoutTicks;
  for (let tick = 0; tick < ticks; tick++) harness.raft(2).tick();
  harness.processAll();
  harness.queue = [];
  const leaderTerm = harness.raft(2).term;
  harness.raft(2).step({ ...emptyMessage('vote', 1, 2, leaderTerm + 1), index: harness.raft(1).log.lastIndex(), logTerm: harness.raft(1).log.lastTerm() });
  assert.equal(harness.raft(2).term, leaderTerm + 1);
  assert.equal(harness.raft(2).role, 'follower');
});

test('thesis §3.10 leadership transfer: "the prior leader sends a TimeoutNow request to the target server", which then wins at once', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.isolate(2);
  harness.put(1, 'k', 'v');
  harness.stabilize();
  harness.heal();
  assert.equal(harness.raft(1).transferLeadership(2), true);
  const refused = harness.raft(1).propose('{}');
  assert.deepEqual(refused, { accepted: false, reason: 'transferring', leaderHint: 2 });
  // Node 2 is behind: the leader first catches it up (heartbeats resume its probe), then sends TimeoutNow.
  harness.tick(10);
  assert.equal(harness.raft(2).role, 'leader');
  assert.equal(harness.raft(1).lead, 2);
  assert.ok(harness.sent.some((message) => message.type === 'timeoutNow' && message.to === 2));
});

test('a transfer to an unreachable target is abandoned after an election timeout and proposals resume', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.isolate(3);
  assert.equal(harness.raft(1).transferLeadership(3), true);
  harness.tick(harness.raft(1).options.electionTimeoutTicks + 1, [3]);
  assert.equal(harness.raft(1).role, 'leader');
  assert.equal(harness.raft(1).propose('{"op":"put","key":"k","value":"v"}').accepted, true);
});

test('figure 2 persistence: "updated on stable storage before responding to RPCs" — a vote is in the same Ready as the answer', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  for (const ready of harness.node(2).readies) {
    const grant = ready.messages.find((message) => message.type === 'voteResponse' && !message.reject);
    if (grant === undefined) continue;
    assert.ok(ready.hardState !== null && ready.hardState.vote === 1 && ready.hardState.term === grant.term);
    return;
  }
  assert.fail('node 2 granted a vote');
});

test('a restarted node keeps its term and vote (they were durable) and may not vote twice in that term', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { preVote: false, checkQuorum: false } });
  harness.campaign(1);
  const term = harness.raft(2).term;
  harness.restart(2);
  assert.equal(harness.raft(2).term, term);
  assert.equal(harness.raft(2).vote, 1);
});

test('a proposal to a follower is refused with the leader as a hint', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  assert.deepEqual(harness.raft(2).propose('{}'), { accepted: false, reason: 'notLeader', leaderHint: 1 });
});

/**
 * Node 1 leads, then dies; node 2 times out first and asks for pre-votes, and node 3, whose ticks
 * are late (a loaded machine), still counts itself in the dead leader's lease and ignores it.
 */
function leaderDiesAndNodeTwoStands(heartbeatIntervalTicks: number): { harness: Harness; term: number; two: Raft; three: Raft } {
  const harness = new Harness({ voters: [1, 2, 3], raft: { heartbeatIntervalTicks } });
  harness.campaign(1);
  harness.stabilize();
  const term = harness.raft(1).term;
  harness.isolate(1);
  const two = harness.raft(2);
  const three = harness.raft(3);
  while (two.role === 'follower') {
    two.tick();
    harness.processAll();
  }
  harness.stabilize();
  assert.equal(two.role, 'preCandidate', 'node 3 ignored the pre-vote: no answer came');
  assert.equal(three.lead, 1);
  assert.equal(three.term, term);
  return { harness, term, two, three };
}

test('a pre-candidate asks a voter that ignored it (in its leader lease) again every heartbeat interval, and wins once that lease ran out, before its own timer starts a new round', () => {
  const heartbeatIntervalTicks = 3;
  const { harness, term, two, three } = leaderDiesAndNodeTwoStands(heartbeatIntervalTicks);
  const asked = () => harness.sent.filter((sent) => sent.type === 'preVote' && sent.from === 2 && sent.to === 3).length;
  assert.equal(asked(), 1);
  // Ticks short of a heartbeat interval ask no one again.
  for (let tick = 1; tick < heartbeatIntervalTicks; tick++) two.tick();
  harness.stabilize();
  assert.equal(asked(), 1);
  // Node 3's lease runs out (its own election timer has not fired: it does not campaign).
  three.electionElapsedTicks = three.options.electionTimeoutTicks;
  assert.ok(three.electionElapsedTicks < three.randomizedElectionTimeoutTicks);
  assert.ok(two.electionElapsedTicks + 1 < two.randomizedElectionTimeoutTicks, 'node 2\'s next tick is not its election timeout');
  two.tick();
  harness.stabilize();
  assert.equal(asked(), 2, 'asked again at the heartbeat interval');
  assert.equal(two.role, 'leader');
  assert.equal(two.term, term + 1);
  assert.equal(three.lead, 2);
});

test('a pre-candidate does not ask again a voter that refused it (a longer log), only the one that has not answered', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { heartbeatIntervalTicks: 1 } });
  harness.campaign(1);
  // Node 2 misses an entry that node 3 holds, then the leader dies: node 3 refuses node 2's pre-vote.
  harness.isolate(2);
  harness.put(1, 'k', 'v');
  harness.stabilize();
  harness.heal();
  harness.isolate(1);
  const two = harness.raft(2);
  assert.ok(two.log.lastIndex() < harness.raft(3).log.lastIndex());
  harness.raft(3).electionElapsedTicks = harness.raft(3).options.electionTimeoutTicks; // out of its lease, its timer not fired
  while (two.role === 'follower') {
    two.tick();
    harness.processAll();
  }
  harness.stabilize();
  assert.equal(two.role, 'preCandidate');
  assert.equal(two.votes.get(3), false, 'node 3 refused');
  const sentBefore = harness.sent.length;
  two.tick();
  harness.stabilize();
  const asked = harness.sent.slice(sentBefore).filter((sent) => sent.type === 'preVote').map((sent) => sent.to);
  assert.deepEqual(asked, [1], 'only the dead leader, which never answered, is asked again');
  assert.equal(two.role, 'preCandidate');
});

test('a pre-candidate that granted another pre-candidate\'s pre-vote asks no one again in its round: the other wins alone, no split vote', () => {
  const heartbeatIntervalTicks = 2;
  const { harness, term, two, three } = leaderDiesAndNodeTwoStands(heartbeatIntervalTicks);
  // Node 3's own timer fires before node 2 asks again: it asks node 2, which grants (its log is no longer).
  while (three.role === 'follower') {
    three.tick();
    harness.processAll();
  }
  assert.equal(three.role, 'preCandidate');
  const toTwo = harness.queue.filter((message) => message.type === 'preVote' && message.to === 2);
  harness.queue = harness.queue.filter((message) => !toTwo.includes(message));
  for (const message of toTwo) two.step(message);
  harness.process(2);
  assert.equal(two.role, 'preCandidate');
  // Node 2's heartbeat interval comes before node 3's answers are delivered: it asks no one again.
  const sentBefore = harness.sent.length;
  while (two.electionElapsedTicks % heartbeatIntervalTicks !== heartbeatIntervalTicks - 1) two.tick();
  two.tick();
  harness.process(2);
  assert.deepEqual(harness.sent.slice(sentBefore).filter((sent) => sent.type === 'preVote'), [], 'node 2 asked no one again');
  harness.stabilize();
  assert.equal(three.role, 'leader');
  assert.equal(three.term, term + 1, 'won in the first term asked for: no split vote');
  assert.equal(two.lead, 3);
});

// ---- leaderLooksGone: the transport's sign of a dead leader starts a pre-vote at once ----

/** Node 1 leads three voters, then dies (isolated); no node has ticked since its last heartbeat. */
function leaderDied(raft: Partial<Raft['options']> = {}): { harness: Harness; term: number; two: Raft; three: Raft } {
  const harness = new Harness({ voters: [1, 2, 3], raft });
  harness.campaign(1);
  harness.stabilize();
  const term = harness.raft(1).term;
  harness.isolate(1);
  return { harness, term, two: harness.raft(2), three: harness.raft(3) };
}

/** `node` is told its leader (node 1) looks gone; the pre-vote it starts and all that follows is delivered. */
function tellLeaderGone(harness: Harness, node: Raft): void {
  assert.equal(node.leaderLooksGone(1), true);
  harness.processAll();
  harness.stabilize();
}

test('leaderLooksGone: both survivors told at once elect one leader in the next term without a tick (no election timeout waited out, no split vote: the higher id wins)', () => {
  const { harness, term, two, three } = leaderDied();
  assert.equal(two.leaderLooksGone(1), true);
  tellLeaderGone(harness, three);
  assert.equal(three.role, 'leader');
  assert.equal(three.term, term + 1, 'won in the first term asked for');
  assert.equal(two.role, 'follower');
  assert.equal(two.lead, 3);
  assert.equal(two.term, term + 1);
  assert.deepEqual(two.campaigns, { electionTimeout: 0, leaderGone: 1 });
  assert.deepEqual(three.campaigns, { electionTimeout: 0, leaderGone: 1 });
  // Either order of delivery: node 2's pre-vote reached node 3 first here; it was refused and asked again.
  assert.ok(harness.sent.some((sent) => sent.type === 'preVoteResponse' && sent.from === 3 && sent.to === 2 && sent.reject), 'node 3 refused the lower id in a round started on the hint');
});

test('leaderLooksGone: told first, the lower id stands and is granted once the higher is told too, with no tick', () => {
  const { harness, term, two, three } = leaderDied();
  tellLeaderGone(harness, two);
  assert.equal(two.role, 'preCandidate', 'node 3 still counts the dead leader\'s lease: it ignored the pre-vote');
  assert.equal(three.lead, 1);
  tellLeaderGone(harness, three);
  assert.equal(harness.leaderId(), 3);
  assert.equal(three.term, term + 1);
  assert.equal(two.lead, 3);
});

test('leaderLooksGone: told first, a survivor wins as soon as the other\'s lease runs out (asked again every heartbeat), before either election timer fires', () => {
  const { harness, term, two, three } = leaderDied({ heartbeatIntervalTicks: 1 });
  tellLeaderGone(harness, three);
  assert.equal(three.role, 'preCandidate');
  while ((three.role as string) !== 'leader') {
    assert.equal(two.campaigns.electionTimeout, 0, 'node 2 did not time out first');
    two.tick();
    three.tick();
    harness.processAll();
    harness.stabilize();
  }
  assert.equal(three.term, term + 1);
  assert.equal(three.campaigns.electionTimeout, 0, 'node 3 won in the round the hint started');
  assert.equal(two.lead, 3);
});

test('leaderLooksGone on a live leader (a wrong hint) deposes no one: the leader keeps its term, the follower takes it back at the next heartbeat', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.stabilize();
  const term = harness.raft(1).term;
  const two = harness.raft(2);
  assert.equal(two.leaderLooksGone(1), true);
  assert.equal(two.role, 'preCandidate');
  harness.processAll();
  harness.stabilize();
  assert.equal(harness.raft(1).role, 'leader');
  assert.equal(harness.raft(1).term, term);
  assert.equal(harness.raft(3).lead, 1);
  while ((two.role as string) !== 'follower') {
    harness.raft(1).tick();
    harness.processAll();
    harness.stabilize();
  }
  assert.equal(two.lead, 1);
  assert.equal(two.term, term);
  harness.put(1, 'k', 'v');
  harness.stabilize();
  harness.tick(1); // the heartbeat that carries the commit index
  assert.equal(harness.node(2).machine.get('k'), 'v', 'the leader still commits through node 2');
});

test('leaderLooksGone is ignored for a node that is not this follower\'s leader, by the leader, without pre-vote, and with lease reads', () => {
  const cases: Array<{ raft: Partial<Raft['options']>; at: number; suspect: number; why: string }> = [
    { raft: {}, at: 2, suspect: 3, why: 'not the leader' },
    { raft: {}, at: 2, suspect: 0, why: 'no node' },
    { raft: {}, at: 1, suspect: 1, why: 'the leader itself' },
    { raft: { preVote: false }, at: 2, suspect: 1, why: 'without pre-vote a campaign raises the term' },
    { raft: { readLease: true }, at: 2, suspect: 1, why: 'with lease reads the follower promised no vote for an election timeout' },
  ];
  for (const { raft, at, suspect, why } of cases) {
    const harness = new Harness({ voters: [1, 2, 3], raft });
    // With lease reads a node just started refuses votes for its first election timeout.
    if (raft.readLease === true) harness.tick(harness.raft(2).options.electionTimeoutTicks, [1]);
    harness.campaign(1);
    harness.stabilize();
    assert.equal(harness.raft(1).role, 'leader', why);
    const node = harness.raft(at);
    const role = node.role;
    assert.equal(node.leaderLooksGone(suspect), false, why);
    assert.equal(node.role, role, why);
    assert.equal(node.campaigns.leaderGone, 0, why);
    assert.equal(harness.raft(1).role, 'leader', why);
  }
});

test('leaderLooksGone: the higher id told first is asked by the lower once that is told; it refuses, asks the lower again at once and wins with no tick', () => {
  const { harness, term, two, three } = leaderDied();
  tellLeaderGone(harness, three);
  assert.equal(three.role, 'preCandidate', 'node 2 still counts the dead leader\'s lease: it ignored the pre-vote');
  const sentBefore = harness.sent.length;
  tellLeaderGone(harness, two);
  const reasked = harness.sent.slice(sentBefore).filter((sent) => sent.type === 'preVote' && sent.from === 3 && sent.to === 2);
  assert.equal(reasked.length, 1, 'node 3 asked node 2 again on its refusal');
  assert.equal(three.role, 'leader');
  assert.equal(three.term, term + 1);
  assert.equal(two.lead, 3);
});

test('in a round its election timer started, a pre-candidate grants a lower id\'s pre-vote as usual (the hint round\'s rule stays in hint rounds)', () => {
  const { harness, term, two, three } = leaderDied();
  while (three.role === 'follower') three.tick();
  harness.process(3);
  harness.stabilize();
  assert.equal(three.role, 'preCandidate', 'node 2 ignored the pre-vote in its lease');
  assert.equal(three.preVoteOnLeaderGone, false);
  // Node 2's lease runs out and its own timer fires; node 3 does not tick (it does not ask again).
  while (two.role === 'follower') two.tick();
  harness.process(2);
  harness.stabilize();
  assert.equal(two.role, 'leader', 'node 3 granted the lower id');
  assert.equal(two.term, term + 1);
  assert.equal(three.lead, 2);
});
