// Progress: the leader's per-follower flow control.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from '../../src/raft/progress.ts';

test('probe state sends one append and waits for its answer', () => {
  const progress = new Progress({ next: 10, isLearner: false, inflightAppendsMax: 4 });
  assert.equal(progress.isPaused(), false);
  progress.sentAppend(3, 12);
  assert.equal(progress.isPaused(), true);
  assert.equal(progress.maybeUpdate(12), true);
  assert.equal(progress.isPaused(), false);
});

test('replicate state pipelines up to inflightAppendsMax appends and frees them as acks arrive', () => {
  const progress = new Progress({ next: 1, isLearner: false, inflightAppendsMax: 2 });
  progress.becomeReplicate();
  progress.sentAppend(5, 5);
  progress.sentAppend(5, 10);
  assert.equal(progress.isPaused(), true);
  assert.throws(() => progress.sentAppend(5, 15), /inflight appends within bound/);
  progress.maybeUpdate(5);
  assert.equal(progress.isPaused(), false);
  assert.equal(progress.next, 11);
});

test('a heartbeat answer frees one slot of a full pipeline whose acks were lost', () => {
  const progress = new Progress({ next: 1, isLearner: false, inflightAppendsMax: 1 });
  progress.becomeReplicate();
  progress.sentAppend(5, 5);
  assert.equal(progress.isPaused(), true);
  progress.heartbeatAnswered(0);
  assert.equal(progress.isPaused(), false);
});

test('a stale rejection is ignored; a current one moves next to the hint', () => {
  const progress = new Progress({ next: 20, isLearner: false, inflightAppendsMax: 4 });
  progress.match = 3;
  assert.equal(progress.maybeDecreaseTo(15, 5), false, 'rejects an append that was not the last probe');
  assert.equal(progress.maybeDecreaseTo(19, 7), true);
  assert.equal(progress.next, 8);
  assert.equal(progress.maybeDecreaseTo(7, 0), true);
  assert.equal(progress.next, 4, 'never below match + 1');
});

test('snapshot state pauses appends until acknowledged, and times out back to probing', () => {
  const progress = new Progress({ next: 3, isLearner: false, inflightAppendsMax: 4 });
  progress.becomeSnapshot(50);
  assert.equal(progress.isPaused(), true);
  for (let tick = 0; tick < 9; tick++) progress.tickSnapshot(10);
  assert.equal(progress.state, 'snapshot');
  progress.tickSnapshot(10);
  assert.equal(progress.state, 'probe');
  assert.equal(progress.next, 1);
});

test('a probe accepted at the index already matched returns the follower to replicating (etcd does the same)', async () => {
  const { Harness } = await import('./harness.ts');
  const { emptyMessage } = await import('../../src/raft/types.ts');
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  const leader = harness.raft(1);
  const progress = leader.progress.get(2)!;
  progress.becomeProbe();
  leader.step({ ...emptyMessage('appendResponse', 2, 1, leader.term), index: progress.match });
  assert.equal(progress.state, 'replicate');
});
