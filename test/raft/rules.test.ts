// One test per rule, in the style of etcd-io/raft's paper-section tests (raft_paper_test.go): a
// node is built in a given state, one message or call goes in, and the test checks what comes out
// (the Ready: hard state, messages, read states) and the state left behind. Each test fails when
// its rule alone is broken: `npm run raft:mutants -- --files rules.test.ts` applies the edits that
// break them (scripts/raft-mutants.ts names each test's rule) and must catch every one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LevelStorage } from '../../src/raft/level-storage.ts';
import { Raft } from '../../src/raft/raft.ts';
import type { Entry, HardState, Message, RaftOptions, Ready, Snapshot } from '../../src/raft/types.ts';
import { defaultRaftOptions, emptyMessage } from '../../src/raft/types.ts';
import { leaseTicks } from '../../src/raft/reads.ts';
import { Harness } from './harness.ts';
import { CrashStore } from './sim/crash-store.ts';
import { SeededRandom } from './sim/random.ts';

const voters = [1, 2, 3];

/** Entries at indexes 1.. with the given terms. */
function entries(terms: number[]): Entry[] {
  return terms.map((term, i) => ({ term, index: i + 1, kind: 'normal', data: `e${i + 1}` }));
}

function node(options: { id: number; hardState: HardState; terms?: number[]; raft?: Partial<RaftOptions>; snapshot?: Snapshot }): Raft {
  const snapshot = options.snapshot ?? { index: 0, term: 0, config: { voters, learners: [] }, data: '' };
  return new Raft({ ...defaultRaftOptions, ...options.raft, id: options.id, random: new SeededRandom(options.id) }, {
    hardState: options.hardState, snapshot, entries: entries(options.terms ?? []),
  });
}

/** Take the node's Ready and advance past it, as a caller that persisted and sent it would. */
function drain(raft: Raft): Ready {
  const ready = raft.ready();
  raft.advance(ready);
  return ready;
}

function message(type: Message['type'], from: number, to: number, term: number, fields: Partial<Message> = {}): Message {
  return { ...emptyMessage(type, from, to, term), ...fields };
}

test('figure 2 AppendEntries 5: "if leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)", not the last index of a longer stale log', () => {
  // etcd TestHandleMsgApp: the follower holds a suffix the leader did not send (yet).
  const cases: { prevIndex: number; sent: Entry[]; commit: number; want: number }[] = [
    { prevIndex: 1, sent: [], commit: 3, want: 1 },
    { prevIndex: 1, sent: entries([1, 2]).slice(1), commit: 3, want: 2 },
    { prevIndex: 2, sent: [], commit: 3, want: 2 },
    { prevIndex: 3, sent: [], commit: 3, want: 3 },
  ];
  for (const { prevIndex, sent, commit, want } of cases) {
    const follower = node({ id: 2, hardState: { term: 2, vote: 0, commit: 0 }, terms: [1, 2, 2] });
    follower.step(message('append', 1, 2, 2, { index: prevIndex, logTerm: follower.log.term(prevIndex), entries: sent, commit }));
    assert.equal(follower.log.committed, want, `append after ${prevIndex} with ${sent.length} entries, leader commit ${commit}`);
  }
});

test('figure 2 persistent state: a vote that changes only the vote (same term) is in the Ready\'s hard state, with its grant', () => {
  const voter = node({ id: 2, hardState: { term: 2, vote: 0, commit: 0 }, terms: [1] });
  drain(voter);
  voter.step(message('vote', 3, 2, 2, { index: 1, logTerm: 1 }));
  const ready = drain(voter);
  const grant = ready.messages.find((sent) => sent.type === 'voteResponse');
  assert.ok(grant !== undefined && !grant.reject, 'the vote was granted');
  assert.deepEqual(ready.hardState, { term: 2, vote: 3, commit: 0 }, 'the vote is persisted before the grant is sent');
});

test('thesis §9.6: a pre-vote request does not change the receiver\'s term, even with check-quorum off', () => {
  // Just restarted: no leader heard, so no leader lease (thesis §4.2.3) keeps the request from the rule.
  const follower = node({ id: 1, hardState: { term: 2, vote: 2, commit: 1 }, terms: [1, 2], raft: { preVote: true, checkQuorum: false } });
  drain(follower);
  // A node that was cut off asks for term 3; its log is behind (it lacks entry 2).
  follower.step(message('preVote', 3, 1, 3, { index: 1, logTerm: 1 }));
  assert.equal(follower.term, 2);
  const ready = drain(follower);
  assert.equal(ready.hardState, null);
  assert.deepEqual(ready.messages.map((sent) => [sent.type, sent.term, sent.reject]), [['preVoteResponse', 2, true]]);
  // The leader's next append is still accepted: the rejoining node deposed no one.
  follower.step(message('append', 2, 1, 2, { index: 2, logTerm: 2, commit: 2 }));
  assert.deepEqual(drain(follower).messages.map((sent) => [sent.type, sent.term, sent.reject]), [['appendResponse', 2, false]]);
});

test('thesis §6.4.1: with check-quorum off a lease is no proof of leadership, so readLease falls back to a heartbeat round', () => {
  const harness = new Harness({ voters, raft: { readLease: true, checkQuorum: false } });
  harness.campaign(1);
  harness.tick(2); // heartbeats answered just now: a lease, were there one, would hold
  harness.raft(1).requestRead(5);
  harness.processAll();
  const released = (): boolean => harness.node(1).readies.some((ready) => ready.readStates.some((read) => read.readContext === 5));
  assert.equal(released(), false, 'no read before a quorum answered a heartbeat');
  harness.stabilize();
  assert.equal(released(), true, 'released once the heartbeat round came back');
});

test('thesis §6.4: a heartbeat quorum releases only the reads issued before that heartbeat went out', () => {
  const harness = new Harness({ voters });
  harness.campaign(1);
  harness.stabilize();
  const leader = harness.raft(1);
  leader.requestRead(21);
  harness.processAll();
  const firstRound = harness.queue.filter((sent) => sent.type === 'heartbeat');
  harness.queue = [];
  leader.requestRead(22);
  harness.processAll();
  harness.queue = [];
  // Only node 2 answers, and only the first round: a quorum (1, 2) for read 21 alone.
  for (const heartbeat of firstRound.filter((sent) => sent.to === 2)) harness.raft(2).step(heartbeat);
  harness.processAll();
  harness.deliverRound((sent) => sent.type === 'heartbeatResponse' && sent.to === 1);
  const states = harness.node(1).readies.flatMap((ready) => ready.readStates.map((read) => read.readContext));
  assert.deepEqual(states, [21]);
});

test('thesis §4.1: a second membership change is refused while the first is committed but not yet applied', () => {
  const harness = new Harness({ voters, others: [4, 5] });
  harness.campaign(1);
  harness.stabilize();
  const leader = harness.raft(1);
  const first = leader.proposeConfigChange({ kind: 'addLearner', nodeId: 4 });
  assert.ok(first.accepted);
  harness.processAll();
  // Deliver the appends and their answers, but do not let the leader handle a Ready: the change
  // is committed, not applied.
  harness.deliverRound((sent) => sent.type === 'append');
  for (const answer of harness.queue.filter((sent) => sent.to === 1)) leader.step(answer);
  harness.queue = [];
  assert.ok(leader.log.committed >= first.index && leader.log.applied < first.index, 'committed, not applied');
  assert.deepEqual(leader.proposeConfigChange({ kind: 'addLearner', nodeId: 5 }), { accepted: false, reason: 'configChangePending', leaderHint: 1 });
});

test('§7 InstallSnapshot: a follower that installs a snapshot takes its membership', () => {
  const follower = node({ id: 3, hardState: { term: 1, vote: 0, commit: 0 }, terms: [1] });
  const snapshot: Snapshot = { index: 20, term: 1, config: { voters: [1, 2, 3, 4], learners: [5] }, data: '[]' };
  follower.step(message('snapshot', 1, 3, 1, { snapshot }));
  assert.deepEqual(follower.config, snapshot.config);
  const ready = drain(follower);
  assert.equal(ready.snapshot, snapshot);
  assert.deepEqual(follower.config, snapshot.config);
});

test('figure 2 AppendEntries 1: "reply false if term < currentTerm": an append from a stale leader changes nothing', () => {
  const follower = node({ id: 3, hardState: { term: 3, vote: 0, commit: 1 }, terms: [1, 1] });
  follower.step(message('heartbeat', 1, 3, 3, { commit: 1 }));
  drain(follower);
  follower.step(message('append', 2, 3, 2, { index: 1, logTerm: 1, entries: [{ term: 2, index: 2, kind: 'normal', data: 'stale' }], commit: 2 }));
  assert.equal(follower.lead, 1);
  assert.equal(follower.log.term(2), 1, 'the stale entry did not replace ours');
  assert.equal(follower.log.committed, 1);
  const answers = drain(follower).messages;
  assert.deepEqual(answers.map((sent) => [sent.type, sent.to, sent.term, sent.index]), [['appendResponse', 2, 3, 0]], 'the stale leader learns the current term');
});

test('§5.4.1 (etcd TestVoter): a vote is granted only to a log at least as up-to-date, the pre-vote likewise', () => {
  const cases: { index: number; logTerm: number; granted: boolean }[] = [
    { index: 1, logTerm: 1, granted: false }, // shorter, same last term
    { index: 2, logTerm: 1, granted: false }, // same length, older last term
    { index: 3, logTerm: 1, granted: false },
    { index: 2, logTerm: 2, granted: true }, // equal
    { index: 3, logTerm: 2, granted: true }, // longer
    { index: 1, logTerm: 3, granted: true }, // newer last term
  ];
  for (const type of ['vote', 'preVote'] as const) {
    for (const { index, logTerm, granted } of cases) {
      const voter = node({ id: 1, hardState: { term: 3, vote: 0, commit: 0 }, terms: [1, 2], raft: { checkQuorum: false } });
      voter.step(message(type, 2, 1, type === 'vote' ? 3 : 4, { index, logTerm }));
      const answer = drain(voter).messages[0];
      assert.ok(answer !== undefined, `${type} answered`);
      assert.equal(!answer.reject, granted, `${type} for last entry ${index}/${logTerm}`);
    }
  }
});

test('§8: a new leader confirmed by a heartbeat quorum still serves no read before it commits an entry of its term', () => {
  const harness = new Harness({ voters });
  const leader = harness.raft(1);
  // Elect node 1 while every append answer is lost: its no-op of the new term stays uncommitted.
  const noAppendAnswers = (sent: Message): boolean => sent.type !== 'appendResponse';
  harness.campaign(1, { attemptsMax: 3, filter: noAppendAnswers });
  assert.equal(leader.role, 'leader');
  leader.requestRead(9);
  // Heartbeats go out and their answers come back: leadership is confirmed, the no-op is not.
  for (let round = 0; round < 3; round++) {
    leader.tick();
    harness.processAll();
    harness.deliverRound(noAppendAnswers);
    harness.deliverRound(noAppendAnswers);
  }
  assert.ok(harness.sent.some((sent) => sent.type === 'heartbeatResponse' && sent.to === 1), 'heartbeats were answered');
  assert.notEqual(leader.log.term(leader.log.committed), leader.term, 'nothing of its term is committed');
  const states = (): number[] => harness.node(1).readies.flatMap((ready) => ready.readStates.map((read) => read.readContext));
  assert.deepEqual(states(), []);
  harness.stabilize();
  assert.deepEqual(states(), [9]);
});

test('LevelStorage: what save() acknowledged survives a crash of the disk\'s page cache (synced writes)', async () => {
  const bootstrap: Snapshot = { index: 0, term: 0, config: { voters, learners: [] }, data: '' };
  for (let seed = 1; seed <= 20; seed++) {
    const store = new CrashStore(new SeededRandom(seed));
    const storage = await LevelStorage.open('crash-store', bootstrap, store);
    await storage.save({ hardState: { term: 2, vote: 3, commit: 1 }, entries: entries([1, 2]), snapshot: null });
    store.crash();
    const reopened = await LevelStorage.open('crash-store', bootstrap, store);
    assert.deepEqual(reopened.boot(), { hardState: { term: 2, vote: 3, commit: 1 }, snapshot: bootstrap, entries: entries([1, 2]) }, `seed ${seed}`);
  }
});

test('figure 2 persistent state: an append acknowledged in one term and removed by a newer leader\'s conflict before the Ready is never acknowledged', () => {
  // Node 3 takes entries 2 and 3 from the leader of term 1 and acknowledges them; before its Ready
  // is handled, the leader of term 2 replaces them. The Ready persists only term 2's entry, so the
  // term 1 acknowledgement of index 3 must not leave: leader 1 would count entries 3 never stores.
  const follower = node({ id: 3, hardState: { term: 1, vote: 0, commit: 1 }, terms: [1] });
  follower.step(message('append', 1, 3, 1, { index: 1, logTerm: 1, entries: [{ term: 1, index: 2, kind: 'normal', data: 'a' }, { term: 1, index: 3, kind: 'normal', data: 'b' }], commit: 1 }));
  follower.step(message('append', 2, 3, 2, { index: 1, logTerm: 1, entries: [{ term: 2, index: 2, kind: 'normal', data: 'c' }], commit: 1 }));
  const ready = drain(follower);
  assert.deepEqual(ready.entries.map((entry) => `${entry.index}/${entry.term}`), ['2/2']);
  const acks = ready.messages.filter((sent) => sent.type === 'appendResponse' && !sent.reject);
  assert.deepEqual(acks.map((sent) => [sent.to, sent.term, sent.index]), [[2, 2, 2]]);
});

/** A 3-node group with lease reads, elected by ticking every node (a node just started refuses votes for a while). */
function leaseGroup(): { harness: Harness; leader: Raft; readReleased: (readContext: number) => boolean } {
  const harness = new Harness({ voters, raft: { readLease: true } });
  for (let tick = 0; tick < 100 && harness.leaderId() === null; tick++) harness.tick(1);
  const leaderId = harness.leaderId();
  assert.ok(leaderId !== null, 'a leader was elected');
  harness.tick(2); // its no-op committed, heartbeats answered
  const readReleased = (readContext: number): boolean => harness.node(leaderId).readies.some((ready) => ready.readStates.some((read) => read.readContext === readContext));
  return { harness, leader: harness.raft(leaderId), readReleased };
}

test('thesis §6.4.1 lease reads: answered at once while a quorum answered a recent heartbeat, by a heartbeat round once the lease ran out', () => {
  const { harness, leader, readReleased } = leaseGroup();
  leader.requestRead(3);
  harness.processAll();
  assert.equal(readReleased(3), true, 'released in the same Ready: no heartbeat round');
  // The followers stop answering; the leader keeps its office (check-quorum has not run out yet).
  harness.isolate(leader.id);
  const others = voters.filter((id) => id !== leader.id);
  harness.tick(leaseTicks(leader.options), others);
  assert.equal(leader.role, 'leader');
  leader.requestRead(4);
  harness.tick(1, others);
  assert.equal(readReleased(4), false, 'no lease: the read waits for a heartbeat round that cannot complete');
});

test('lease reads: ticks of real time the timer missed (elapseLeaseClock) end the lease, and only the lease: the leader keeps its office', () => {
  const { harness, leader, readReleased } = leaseGroup();
  const term = leader.term;
  // A stalled leader wakes: its timer fired no tick for far longer than an election timeout.
  leader.elapseLeaseClock(leaseTicks(leader.options));
  leader.requestRead(6);
  harness.processAll();
  assert.equal(readReleased(6), false, 'the lease ran out in real time: the read waits for a heartbeat round');
  assert.equal(leader.role, 'leader');
  assert.equal(leader.term, term);
  harness.stabilize();
  assert.equal(readReleased(6), true, 'served after the heartbeat round');
  leader.elapseLeaseClock(100 * leader.options.electionTimeoutTicks);
  harness.tick(1);
  assert.equal(leader.role, 'leader', 'check-quorum counts tick() only, so a stall does not depose a leader whose followers answer');
});

test('lease reads: the lease runs from when the heartbeat was sent, not from when its answer arrived', () => {
  const { harness, leader, readReleased } = leaseGroup();
  const others = voters.filter((id) => id !== leader.id);
  // One heartbeat round whose answers are held back while the leader's lease clock runs on.
  harness.queue = [];
  leader.tick();
  harness.process(leader.id);
  const heartbeats = harness.queue.filter((sent) => sent.type === 'heartbeat');
  assert.equal(heartbeats.length, others.length);
  harness.queue = [];
  for (const heartbeat of heartbeats) harness.raft(heartbeat.to).step(heartbeat);
  for (const id of others) harness.process(id);
  const answers = harness.queue.filter((sent) => sent.type === 'heartbeatResponse' && sent.to === leader.id);
  assert.equal(answers.length, others.length);
  harness.queue = [];
  leader.elapseLeaseClock(leaseTicks(leader.options));
  for (const answer of answers) leader.step(answer);
  leader.requestRead(7);
  harness.process(leader.id);
  assert.equal(readReleased(7), false, 'answers to a heartbeat sent a lease ago give no lease, however late they arrive');
});

test('lease reads: the lease ends before a voter whose clock runs clockRateRatioMax times faster may vote for another', () => {
  // A read at lease clock t0 + L - 1 happens before real time t0 + L + 1 in the leader's ticks (its
  // clock lags real time by under a tick); the voter reset its timer at or after t0 (the heartbeat
  // left then) and has since counted at most (L + 1) * ratio whole ticks, plus one for the tick
  // boundary right after its reset. It ignores vote requests while it counted fewer than
  // electionTimeoutTicks (Raft.inLease), so the lease must keep (L + 1) * ratio + 1 <= that.
  for (let electionTimeoutTicks = 2; electionTimeoutTicks <= 60; electionTimeoutTicks++) {
    for (const clockRateRatioMax of [1, 1.01, 1.1, 1.2, 1.5, 2, 3]) {
      const lease = leaseTicks({ electionTimeoutTicks, clockRateRatioMax });
      if (lease < 1) continue; // no lease: Raft refuses such options with lease reads on
      assert.ok((lease + 1) * clockRateRatioMax + 1 <= electionTimeoutTicks,
        `a lease of ${lease} ticks outlives a ${electionTimeoutTicks}-tick election timeout at clock ratio ${clockRateRatioMax}`);
    }
  }
  assert.equal(leaseTicks({ electionTimeoutTicks: 10, clockRateRatioMax: 1.2 }), 6, 'the default options keep a lease');
});

test('thesis §3.10 with lease reads: a leader that sent TimeoutNow serves no more lease reads (its target skips the leases)', () => {
  const { harness, leader, readReleased } = leaseGroup();
  const target = voters.find((id) => id !== leader.id)!;
  harness.cutOneWay(leader.id, target); // the TimeoutNow is delayed, not lost: it may still arrive
  assert.equal(leader.transferLeadership(target), true);
  harness.processAll();
  harness.tick(leader.options.electionTimeoutTicks + 1, [target]);
  assert.equal(leader.leadTransferee, 0, 'the transfer was abandoned');
  harness.heal();
  harness.tick(2);
  assert.equal(leader.role, 'leader');
  leader.requestRead(5);
  harness.processAll();
  assert.equal(readReleased(5), false, 'no lease read after a TimeoutNow went out');
  harness.stabilize();
  assert.equal(readReleased(5), true, 'served after a heartbeat round');
});

test('thesis §6.4.1 with lease reads: a node just restarted refuses votes until its first election timeout (it may have promised a leader)', () => {
  const voter = node({ id: 2, hardState: { term: 2, vote: 1, commit: 1 }, terms: [1, 2], raft: { readLease: true } });
  voter.step(message('vote', 3, 2, 3, { index: 2, logTerm: 2 }));
  assert.equal(voter.term, 2);
  assert.deepEqual(drain(voter).messages, [], 'the vote request was ignored');
  for (let tick = 0; tick < voter.options.electionTimeoutTicks * 2 && voter.role === 'follower'; tick++) voter.tick();
  drain(voter);
  voter.step(message('vote', 3, 2, 4, { index: 2, logTerm: 2 }));
  assert.deepEqual(drain(voter).messages.map((sent) => [sent.type, sent.reject]), [['voteResponse', false]]);
});

test('thesis §4.2.3: a leader takes no higher term from the answer of a node outside its configuration (a removed voter that missed its removal), but does from a member', () => {
  const harness = new Harness({ voters });
  harness.campaign(1);
  const leader = harness.raft(1);
  assert.equal(leader.proposeConfigChange({ kind: 'removeVoter', nodeId: 3 }).accepted, true);
  harness.stabilize();
  assert.deepEqual(leader.config.voters, [1, 2]);
  const term = leader.term;
  // Node 3 campaigned in vain (its vote requests are ignored) and answers appends still in flight to it.
  leader.step(message('appendResponse', 3, 1, term + 3));
  leader.step(message('heartbeatResponse', 3, 1, term + 3));
  assert.equal(leader.role, 'leader');
  assert.equal(leader.term, term);
  // A member's higher term still deposes it: that is how a member that moved on rejoins.
  leader.step(message('appendResponse', 2, 1, term + 1));
  assert.equal(leader.role, 'follower');
  assert.equal(leader.term, term + 1);
});

test('§5.2 "each server will vote for at most one candidate in a given term": no second vote while no leader is known', () => {
  const voter = node({ id: 1, hardState: { term: 3, vote: 0, commit: 0 }, terms: [1], raft: { checkQuorum: false } });
  voter.step(message('vote', 2, 1, 3, { index: 1, logTerm: 1 }));
  voter.step(message('vote', 3, 1, 3, { index: 1, logTerm: 1 }));
  assert.equal(voter.lead, 0, 'no leader known in term 3');
  const answers = drain(voter).messages.map((sent) => [sent.to, sent.reject]);
  assert.deepEqual(answers, [[2, false], [3, true]]);
  assert.equal(voter.vote, 2);
});

test('thesis §6.4.1 follower reads: the follower serves at the leader\'s read index, not at its own lagging commit index', () => {
  const follower = node({ id: 2, hardState: { term: 2, vote: 1, commit: 1 }, terms: [1, 2, 2] });
  follower.step(message('heartbeat', 1, 2, 2, { commit: 1 }));
  drain(follower);
  follower.requestRead(7);
  assert.deepEqual(drain(follower).messages.map((sent) => [sent.type, sent.to, sent.readContext]), [['readIndex', 1, 7]]);
  follower.step(message('readIndexResponse', 1, 2, 2, { index: 3, readContext: 7 }));
  assert.deepEqual(drain(follower).readStates, [{ readContext: 7, index: 3 }]);
});
