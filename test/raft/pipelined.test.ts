// Pipelined Readies: a leader steps its followers' acknowledgements while it writes a Ready
// (Raft.steppableDuringWrite / readyDuringWrite), and still counts itself towards a commit only up
// to what it has written. Driven by hand on the Harness: the leader's Ready is taken and held
// "under write" while the followers' answers are delivered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message, Ready } from '../../src/raft/types.ts';
import { Harness } from './harness.ts';

function put(value: string): string {
  return JSON.stringify({ op: 'put', key: 'k', value });
}

/** Node 1 leads a quiet three-node cluster. */
function leaderOfThree(): Harness {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  harness.stabilize();
  assert.equal(harness.raft(1).role, 'leader');
  return harness;
}

/** Deliver the queued messages to the followers only, handle their Readies; returns their answers to the leader. */
function followersAnswer(harness: Harness): Message[] {
  const toFollowers = harness.queue.filter((message) => message.to !== 1);
  harness.queue = harness.queue.filter((message) => message.to === 1);
  for (const message of toFollowers) if (!harness.isCut(1, message.to)) harness.raft(message.to).step(message);
  harness.process(2);
  harness.process(3);
  const answers = harness.queue.filter((message) => message.to === 1);
  harness.queue = [];
  return answers;
}

test('a leader steps acknowledgements while it writes: an entry it had written commits and is handed out before the write ends', () => {
  const harness = leaderOfThree();
  const leader = harness.raft(1);
  // Node 3 is cut off: the leader and node 2 are the quorum, so the leader's own write counts.
  harness.isolate(3);
  // Entry A: proposed and written by the leader (its Ready handled), sent to the followers.
  leader.propose(put('a'));
  harness.process(1);
  const indexA = leader.log.lastIndex();
  assert.equal(leader.log.stableIndex, indexA);
  // Entry B: the leader's next Ready is taken and held under write; its appends leave first.
  leader.propose(put('b'));
  const underWrite: Ready = leader.ready();
  const indexB = leader.log.lastIndex();
  assert.deepEqual(underWrite.entries.map((entry) => entry.index), [indexB]);
  for (const message of underWrite.messages) harness.queue.push(message);
  const answers = followersAnswer(harness);
  assert.ok(answers.some((message) => message.type === 'appendResponse' && message.index >= indexB), 'node 2 acknowledged B');
  assert.ok(answers.every((message) => leader.steppableDuringWrite(message)), 'acknowledgements of the leader\'s term may be stepped during the write');
  for (const message of answers) leader.step(message);
  // A is committed (node 2 and the leader hold it durably); B is not: the leader has not written it.
  assert.equal(leader.log.committed, indexA);
  const early = leader.readyDuringWrite();
  assert.deepEqual(early.committedEntries.map((entry) => entry.index), [indexA]);
  assert.equal(leader.readyDuringWrite().committedEntries.length, 0, 'an entry is handed out once');
  // The write ends: B counts the leader, so it commits; A is not handed out again.
  harness.node(1).storage.save(underWrite);
  leader.advance(underWrite);
  assert.equal(leader.log.applied, indexA);
  assert.equal(leader.log.committed, indexB);
  const next = leader.ready();
  assert.deepEqual(next.committedEntries.map((entry) => entry.index), [indexB]);
  leader.advance(next);
});

test('while a Ready is under write, a leader takes proposals (written by the next Ready) and no other input, and a follower takes none', () => {
  const harness = leaderOfThree();
  const leader = harness.raft(1);
  leader.propose(put('a'));
  const underWrite = leader.ready();
  const during = leader.propose(put('b'));
  assert.ok(during.accepted && during.index === underWrite.entries.at(-1)!.index + 1, 'appended after the entries being written');
  const early = leader.readyDuringWrite();
  assert.ok(early.messages.some((message) => message.type === 'append' && message.entries.some((entry) => entry.index === during.index)), 'its appends leave during the write');
  assert.throws(() => leader.proposeConfigChange({ kind: 'addLearner', nodeId: 9 }), /no input between ready\(\) and advance\(\)/);
  const vote: Message = { ...leader.message('vote', 1), from: 2, to: 1 };
  const staleAck: Message = { ...leader.message('appendResponse', 1), from: 2, to: 1, term: leader.term - 1 };
  assert.equal(leader.steppableDuringWrite(vote), false);
  assert.equal(leader.steppableDuringWrite(staleAck), false);
  assert.throws(() => leader.step(vote), /no input between ready\(\) and advance\(\)/);
  harness.node(1).storage.save(underWrite);
  leader.advance(underWrite);
  const next = leader.ready();
  assert.deepEqual(next.entries.map((entry) => entry.index), [during.index], 'the next Ready writes the proposal taken during the write');
  assert.equal(leader.log.committed < during.index, true);
  leader.advance(next);
  const ack: Message = { ...leader.message('appendResponse', 1), from: 2, to: 1 };
  assert.equal(leader.steppableDuringWrite(ack), false, 'no Ready is outstanding: step() takes it as usual');
  const follower = harness.raft(2);
  follower.tick();
  const followerReady = follower.ready();
  assert.equal(follower.steppableDuringWrite({ ...ack, from: 1, to: 2 }), false);
  assert.equal(follower.proposableDuringWrite(), false);
  assert.throws(() => follower.propose(put('c')), /no input between ready\(\) and advance\(\)/);
  follower.advance(followerReady);
});

test('a Ready that applies a membership change takes no acknowledgement during its write', () => {
  const harness = new Harness({ voters: [1, 2, 3], others: [4] });
  harness.campaign(1);
  harness.stabilize();
  const leader = harness.raft(1);
  assert.ok(leader.proposeConfigChange({ kind: 'addLearner', nodeId: 4 }).accepted);
  harness.process(1);
  const answers = followersAnswer(harness);
  for (const message of answers) leader.step(message);
  // The config entry is committed: the next Ready applies it.
  const underWrite = leader.ready();
  assert.ok(underWrite.committedEntries.some((entry) => entry.kind === 'config'));
  const ack: Message = { ...leader.message('heartbeatResponse', 2), from: 2, to: 1 };
  assert.equal(leader.steppableDuringWrite(ack), false);
  leader.advance(underWrite);
  assert.deepEqual(leader.config.learners, [4]);
});

test('a config entry committed during a write is not handed out early: the next Ready applies it, and the membership changes', () => {
  const harness = new Harness({ voters: [1, 2, 3], others: [4] });
  harness.campaign(1);
  harness.stabilize();
  harness.isolate(3);
  const leader = harness.raft(1);
  assert.ok(leader.proposeConfigChange({ kind: 'addLearner', nodeId: 4 }).accepted);
  harness.process(1); // the config entry is written by the leader and sent
  const configIndex = leader.log.lastIndex();
  leader.propose(put('b'));
  const underWrite = leader.ready();
  for (const message of underWrite.messages) harness.queue.push(message);
  for (const message of followersAnswer(harness)) leader.step(message);
  assert.ok(leader.log.committed >= configIndex, 'node 2 and the leader hold the config entry: committed during the write');
  assert.deepEqual(leader.readyDuringWrite().committedEntries.map((entry) => entry.index), [], 'nothing from the config entry on');
  harness.node(1).storage.save(underWrite);
  leader.advance(underWrite);
  const next = leader.ready();
  assert.ok(next.committedEntries.some((entry) => entry.index === configIndex && entry.kind === 'config'));
  leader.advance(next);
  assert.deepEqual(leader.config.learners, [4]);
});
