// Replication, compaction and read scenarios, each named after the sentence it proves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from '../../src/raft/types.ts';
import { Harness } from './harness.ts';

test('figure 8: "Raft never commits log entries from previous terms by counting replicas"', () => {
  // The paper's Raft, without check-quorum leases, so the returning node 1 can win at once.
  const harness = new Harness({ voters: [1, 2, 3, 4, 5], raft: { entriesPerAppendMax: 1, checkQuorum: false } });
  harness.campaign(1);
  // (a) Node 1 leads and gets an entry only to node 2.
  harness.isolate(1, [3, 4, 5]);
  harness.put(1, 'k', 'old');
  harness.stabilize();
  const oldIndex = harness.raft(1).log.lastIndex();
  const oldTerm = harness.raft(1).term;
  assert.equal(harness.raft(2).log.term(oldIndex), oldTerm);
  // (b) Node 1 crashes; node 5 wins with 3 and 4 and writes an entry of its term nobody receives.
  harness.isolate(1);
  harness.isolate(2);
  // Nodes 3 and 4 wait out their leases of node 1 (thesis §4.2.3): a restart stands for that wait.
  harness.restart(3);
  harness.restart(4);
  const fromLeader5 = (message: Message): boolean => !(message.from === 5 && (message.type === 'append' || message.type === 'heartbeat'));
  harness.campaign(5, { attemptsMax: 3, filter: fromLeader5 });
  const node5Leader = 5;
  assert.equal(harness.raft(5).role, 'leader');
  harness.queue = [];
  harness.isolate(node5Leader);
  harness.put(node5Leader, 'k', 'rival');
  harness.processAll();
  // (c) Node 1 returns, leads again and copies its old entry to a majority (1, 2 and one more).
  harness.heal();
  harness.isolate(node5Leader);
  const others = [3, 4, 5].filter((id) => id !== node5Leader);
  harness.isolate(others[1]!);
  harness.restart(1);
  // Node 2 and the other voter lost their leaders; restarting them stands for the election timeout
  // that ends their leader leases (thesis §4.2.3), so they answer node 1's campaign.
  harness.restart(2);
  harness.restart(others[0]!);
  const leader = harness.raft(1);
  let sawOldOnMajorityUncommitted = false;
  const checkCommitRule = (): void => {
    const holders = [1, 2, others[0]!].filter((id) => harness.raft(id).log.term(oldIndex) === oldTerm).length;
    if (holders >= 3 && leader.role === 'leader' && leader.log.committed < oldIndex) sawOldOnMajorityUncommitted = true;
    if (leader.log.committed >= oldIndex) {
      // Committed only together with an entry of the current term on a majority.
      const currentHolders = [1, 2, others[0]!].filter((id) => harness.raft(id).log.term(leader.log.committed) === leader.term).length;
      assert.ok(currentHolders >= 3, 'commit rides on an entry of the current term');
    }
  };
  harness.campaign(1, { attemptsMax: 3, afterRound: checkCommitRule });
  assert.equal(leader.role, 'leader');
  harness.stabilize(checkCommitRule);
  assert.ok(sawOldOnMajorityUncommitted, 'the old-term entry sat on a majority without being committed');
  assert.ok(leader.log.committed > oldIndex);
});

test('§7 InstallSnapshot: "the leader must occasionally send snapshots to followers that lag behind"', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.isolate(3);
  for (let i = 0; i < 30; i++) harness.put(1, `k${i % 4}`, `v${i}`);
  harness.stabilize();
  const leader = harness.node(1);
  const snapshot = leader.raft.compact(leader.raft.log.applied, leader.machine.snapshot());
  leader.storage.compact(snapshot);
  harness.heal();
  harness.tick(5);
  assert.ok(harness.sent.some((message) => message.type === 'snapshot' && message.to === 3));
  const follower = harness.node(3);
  assert.equal(follower.raft.log.snapshot.index, snapshot.index);
  assert.equal(follower.machine.snapshot(), leader.machine.snapshot());
  // It keeps replicating normally after the snapshot.
  harness.put(1, 'after', 'snapshot');
  harness.tick(3);
  assert.equal(follower.machine.get('after'), 'snapshot');
  // And a restart recovers the installed snapshot from storage.
  harness.restart(3);
  assert.equal(harness.raft(3).log.snapshot.index, snapshot.index);
});

test('thesis §4.2.1 learners: "new servers join as non-voting members until they catch up", then are promoted', () => {
  const harness = new Harness({ voters: [1, 2, 3], others: [4] });
  harness.campaign(1);
  harness.isolate(4);
  for (let i = 0; i < 40; i++) harness.put(1, 'k', `v${i}`);
  harness.stabilize();
  assert.equal(harness.raft(1).proposeConfigChange({ kind: 'addLearner', nodeId: 4 }).accepted, true);
  harness.stabilize();
  assert.deepEqual(harness.raft(1).config.learners, [4]);
  // Still cut off: it has not caught up, so promotion is refused.
  const early = harness.raft(1).proposeConfigChange({ kind: 'promoteLearner', nodeId: 4 });
  assert.deepEqual(early, { accepted: false, reason: 'learnerBehind', leaderHint: 1 });
  harness.heal();
  harness.tick(10);
  assert.equal(harness.raft(4).log.applied, harness.raft(1).log.applied);
  assert.equal(harness.raft(4).role, 'follower');
  assert.equal(harness.raft(1).proposeConfigChange({ kind: 'promoteLearner', nodeId: 4 }).accepted, true);
  harness.tick(5);
  for (const id of [1, 2, 3, 4]) assert.deepEqual(harness.raft(id).config, { voters: [1, 2, 3, 4], learners: [] });
});

test('thesis §4.1 "only one change at a time": a second membership change waits for the first to apply', () => {
  const harness = new Harness({ voters: [1, 2, 3], others: [4, 5] });
  harness.campaign(1);
  assert.equal(harness.raft(1).proposeConfigChange({ kind: 'addLearner', nodeId: 4 }).accepted, true);
  const second = harness.raft(1).proposeConfigChange({ kind: 'addLearner', nodeId: 5 });
  assert.deepEqual(second, { accepted: false, reason: 'configChangePending', leaderHint: 1 });
});

test('thesis §4.2.2 a removed leader steps down and the remaining voters elect another', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  assert.equal(harness.raft(1).proposeConfigChange({ kind: 'removeVoter', nodeId: 1 }).accepted, true);
  harness.stabilize();
  assert.notEqual(harness.raft(1).role, 'leader');
  harness.tick(40);
  const leader = harness.leaderId();
  assert.ok(leader === 2 || leader === 3);
  assert.deepEqual(harness.raft(leader).config.voters, [2, 3]);
  harness.put(leader, 'k', 'two voters');
  harness.tick(3);
  assert.equal(harness.node(leader === 2 ? 3 : 2).machine.get('k'), 'two voters');
});

test('§5.3 fast back-off: "the follower can include the term of the conflicting entry and the first index it stores for that term"', () => {
  const harness = new Harness({ voters: [1, 2, 3], raft: { checkQuorum: false } });
  harness.campaign(1);
  // The old leader appends 50 entries of its term nobody else receives.
  harness.isolate(1);
  for (let i = 0; i < 50; i++) harness.put(1, 'k', `lost${i}`);
  harness.processAll();
  harness.tick(40, [1]);
  const first = harness.leaderId();
  assert.ok(first === 2 || first === 3);
  const other = first === 2 ? 3 : 2;
  // The next leader writes 60 entries of its own term, which reach the other survivor.
  for (let i = 0; i < 60; i++) harness.put(first, 'k', `kept${i}`);
  harness.stabilize();
  // The survivor leads a third term; its optimistic next index for node 1 is far past the conflict.
  // The old leader hears no quorum for a whole election timeout: it no longer ignores vote requests (thesis §4.2.3).
  harness.tick(2 * harness.raft(1).options.electionTimeoutTicks, [2, 3]);
  harness.heal();
  harness.isolate(first);
  const before = harness.sent.length;
  harness.campaign(other);
  assert.equal(harness.raft(other).role, 'leader');
  harness.tick(5, [first]);
  const rejections = harness.sent.slice(before).filter((message) => message.type === 'appendResponse' && message.reject && message.from === 1);
  assert.ok(rejections.length >= 1 && rejections.length <= 2, `one or two round trips skip the 50 conflicting entries, saw ${rejections.length}`);
  assert.equal(harness.raft(1).log.lastIndex(), harness.raft(other).log.lastIndex());
  assert.equal(harness.raft(1).log.lastTerm(), harness.raft(other).log.lastTerm());
});

test('flow control: no more than inflightAppendsMax appends are ever outstanding to a silent follower', () => {
  const inflightAppendsMax = 3;
  const harness = new Harness({ voters: [1, 2, 3], raft: { inflightAppendsMax, entriesPerAppendMax: 2 } });
  harness.campaign(1);
  harness.cutOneWay(2, 1);
  const before = harness.sent.length;
  for (let i = 0; i < 40; i++) harness.put(1, 'k', `v${i}`);
  harness.processAll();
  harness.deliverRound();
  const appendsWithEntries = harness.sent.slice(before).filter((message) => message.type === 'append' && message.to === 2 && message.entries.length > 0);
  assert.equal(appendsWithEntries.length, inflightAppendsMax);
  for (const message of appendsWithEntries) assert.ok(message.entries.length <= 2);
});

test('§8 ReadIndex: "a leader must check whether it has been deposed before processing a read-only request" (stale leader refuses)', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.put(1, 'k', 'old');
  harness.stabilize();
  harness.isolate(1);
  harness.tick(40, [1]);
  const newLeader = harness.leaderId();
  assert.ok(newLeader === 2 || newLeader === 3);
  harness.put(newLeader, 'k', 'new');
  harness.stabilize();
  // The deposed leader still believes it leads; its read cannot gather a quorum.
  assert.equal(harness.raft(1).role, 'leader');
  harness.raft(1).requestRead(7);
  harness.tick(harness.raft(1).options.electionTimeoutTicks * 2, [2, 3]);
  const readies = harness.node(1).readies;
  assert.ok(readies.every((ready) => ready.readStates.length === 0), 'no read state from a stale leader');
  assert.ok(readies.some((ready) => ready.readRejections.some((rejection) => rejection.readContext === 7)), 'the read was refused');
  // The real leader serves the read at an index that includes the new write.
  harness.raft(newLeader).requestRead(8);
  harness.stabilize();
  const state = harness.node(newLeader).readies.flatMap((ready) => ready.readStates).find((read) => read.readContext === 8);
  assert.ok(state !== undefined && state.index <= harness.raft(newLeader).log.applied);
  assert.equal(harness.node(newLeader).machine.get('k'), 'new');
});

test('thesis §6.4.1 follower reads: "the follower issues a request to the leader to learn the current commit index" and serves at that index', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.put(1, 'k', 'v1');
  harness.stabilize();
  harness.raft(2).requestRead(11);
  harness.stabilize();
  const state = harness.node(2).readies.flatMap((ready) => ready.readStates).find((read) => read.readContext === 11);
  assert.ok(state !== undefined, 'the follower got a read index from the leader');
  assert.ok(state.index === harness.raft(1).log.committed && state.index <= harness.raft(2).log.applied);
  assert.equal(harness.node(2).machine.get('k'), 'v1');
});

test('a follower cut off from its leader refuses a forwarded read after an election timeout instead of serving it stale', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.isolate(3);
  harness.raft(3).requestRead(12);
  harness.tick(harness.raft(3).options.electionTimeoutTicks, [1, 2]);
  const readies = harness.node(3).readies;
  assert.ok(readies.every((ready) => ready.readStates.length === 0));
  assert.ok(readies.some((ready) => ready.readRejections.some((rejection) => rejection.readContext === 12)));
});

test('pipelined appends that reach a follower out of order, answered out of order: the later ones are rejected, the leader probes back, and every entry is replicated', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.stabilize();
  // One append per leader pass, all in flight to node 2 at once (the cluster transport pipelines them).
  for (let i = 0; i < 3; i++) {
    harness.put(1, `k${i}`, `v${i}`);
    harness.process(1);
  }
  const appends = harness.queue.filter((message) => message.to === 2 && message.type === 'append' && message.entries.length > 0);
  assert.equal(appends.length, 3, 'three appends in flight to node 2');
  harness.queue = harness.queue.filter((message) => !appends.includes(message));
  for (const message of [...appends].reverse()) harness.raft(2).step(message);
  harness.process(2);
  const answers = harness.queue.filter((message) => message.from === 2 && message.type === 'appendResponse');
  assert.deepEqual(answers.map((message) => message.reject), [true, true, false], 'the two appends past the follower\'s log are rejected, the first accepted');
  // The answers reach the leader out of order too: the acceptance first, then the rejections.
  harness.queue = [...harness.queue.filter((message) => !answers.includes(message)), ...[...answers].reverse()];
  harness.stabilize();
  const lastIndex = harness.raft(1).log.lastIndex();
  assert.equal(harness.raft(2).log.lastIndex(), lastIndex);
  assert.equal(harness.raft(1).log.committed, lastIndex);
  assert.equal(harness.raft(1).progress.get(2)?.state, 'replicate', 'back to pipelining once the follower agrees');
  for (let i = 0; i < 3; i++) assert.equal(harness.node(2).machine.get(`k${i}`), `v${i}`);
});

test('pipelined appends whose first is lost: the later ones are rejected, the leader probes from the follower\'s match and resends; a rejection that arrives again after it caught up changes nothing', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.stabilize();
  const leader = harness.raft(1);
  for (let i = 0; i < 3; i++) {
    harness.put(1, `k${i}`, `v${i}`);
    harness.process(1);
  }
  const appends = harness.queue.filter((message) => message.to === 2 && message.type === 'append' && message.entries.length > 0);
  assert.equal(appends.length, 3, 'three appends in flight to node 2');
  assert.equal(leader.progress.get(2)?.next, leader.log.lastIndex() + 1, 'optimistic: next is past everything sent');
  harness.queue = harness.queue.filter((message) => !appends.includes(message));
  // The first is lost; the other two reach node 2 and are rejected (their previous entry is missing).
  for (const message of appends.slice(1)) harness.raft(2).step(message);
  harness.process(2);
  const rejections = harness.queue.filter((message) => message.from === 2 && message.type === 'appendResponse');
  assert.deepEqual(rejections.map((message) => message.reject), [true, true]);
  harness.queue = harness.queue.filter((message) => !rejections.includes(message));
  const match = leader.progress.get(2)!.match;
  leader.step(rejections[0]!);
  assert.equal(leader.progress.get(2)?.state, 'probe');
  assert.equal(leader.progress.get(2)?.next, match + 1, 'back to the follower\'s match');
  harness.process(1);
  const probe = harness.queue.find((message) => message.to === 2 && message.type === 'append');
  assert.equal(probe?.index, match, 'the probe resends from the follower\'s match');
  harness.stabilize();
  assert.equal(harness.raft(2).log.lastIndex(), leader.log.lastIndex());
  assert.equal(leader.progress.get(2)?.state, 'replicate');
  // The second rejection, late (or duplicated by the transport), is stale: progress stays.
  const progress = { match: leader.progress.get(2)!.match, next: leader.progress.get(2)!.next };
  leader.step(rejections[1]!);
  assert.equal(leader.progress.get(2)?.state, 'replicate');
  assert.deepEqual({ match: leader.progress.get(2)!.match, next: leader.progress.get(2)!.next }, progress);
  harness.tick(1); // a heartbeat carries the commit index
  for (let i = 0; i < 3; i++) assert.equal(harness.node(2).machine.get(`k${i}`), `v${i}`);
});
