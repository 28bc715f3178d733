// ProposalTracker and the key-value machine: how a caller learns the fate of its proposal.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvMachine } from './sim/kv-machine.ts';
import { ProposalTracker } from '../../src/raft/proposals.ts';
import type { Entry } from '../../src/raft/types.ts';
import { Harness } from './harness.ts';

const entry = (index: number, term: number): Entry => ({ index, term, kind: 'normal', data: '{"op":"put","key":"k","value":"v"}' });

test('the proposal at (index, term) is applied when that entry applies, dropped when another entry does', () => {
  const tracker = new ProposalTracker<string, number>(10);
  tracker.track(5, 2, 'a');
  tracker.track(6, 2, 'b');
  assert.deepEqual(tracker.applied(entry(5, 2), 42), { token: 'a', outcome: 'applied', result: 42 });
  assert.deepEqual(tracker.applied(entry(6, 3), 7), { token: 'b', outcome: 'dropped' });
  assert.equal(tracker.size, 0);
});

test('a snapshot over a tracked index, or a reuse of the index, makes the outcome unknown', () => {
  const tracker = new ProposalTracker<string, number>(10);
  tracker.track(5, 2, 'a');
  tracker.track(9, 2, 'b');
  assert.deepEqual(tracker.snapshotRestored(6), [{ token: 'a', outcome: 'unknown' }]);
  assert.deepEqual(tracker.replace(9, 3, 'c'), { token: 'b', outcome: 'unknown' });
});

test('the tracker is bounded', () => {
  const tracker = new ProposalTracker<number, number>(1);
  tracker.track(1, 1, 1);
  assert.equal(tracker.hasRoom(), false);
  assert.throws(() => tracker.track(2, 1, 2), /within proposalsMax/);
});

test('end to end: a proposal accepted by the leader is applied on every node with the machine\'s result', () => {
  const harness = new Harness({ voters: [1, 2, 3] });
  harness.campaign(1);
  const result = harness.raft(1).propose(JSON.stringify({ op: 'cas', key: 'k', expected: null, value: 'first' }));
  assert.ok(result.accepted);
  harness.stabilize();
  harness.tick(2);
  for (const id of [1, 2, 3]) {
    const committed: Entry[] = harness.node(id).readies.flatMap((ready) => ready.committedEntries);
    assert.equal(committed.find((e) => e.index === result.index)?.term, result.term);
    assert.equal(harness.node(id).machine.get('k'), 'first');
  }
});

test('the key-value machine: put, get, compare-and-set, and a snapshot that restores the same state', () => {
  const machine = new KvMachine();
  const command = (data: object, index: number): Entry => ({ index, term: 1, kind: 'normal', data: JSON.stringify(data) });
  assert.deepEqual(machine.apply(command({ op: 'put', key: 'a', value: '1' }, 1)), { ok: true, value: '1' });
  assert.deepEqual(machine.apply(command({ op: 'cas', key: 'a', expected: '0', value: '2' }, 2)), { ok: false, value: '1' });
  assert.deepEqual(machine.apply(command({ op: 'cas', key: 'a', expected: '1', value: '2' }, 3)), { ok: true, value: '2' });
  assert.deepEqual(machine.apply(command({ op: 'get', key: 'a' }, 4)), { ok: true, value: '2' });
  const copy = new KvMachine();
  copy.restore(machine.snapshot());
  assert.equal(copy.get('a'), '2');
  assert.equal(copy.snapshot(), machine.snapshot());
});
