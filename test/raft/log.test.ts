// RaftLog: the cursors and the append rules of figure 2, on their own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftLog } from '../../src/raft/log.ts';
import type { Entry, Snapshot } from '../../src/raft/types.ts';

const bootstrap: Snapshot = { index: 0, term: 0, config: { voters: [1], learners: [] }, data: '' };
const entry = (index: number, term: number): Entry => ({ index, term, kind: 'normal', data: `${index}.${term}` });

test('figure 2 AppendEntries: "if an existing entry conflicts with a new one, delete the existing entry and all that follow it"', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)], 1);
  assert.equal(log.maybeAppend(2, 1, [entry(3, 2), entry(4, 2), entry(5, 2)]), 5);
  assert.deepEqual(log.entries.map((e) => e.term), [1, 1, 2, 2, 2]);
  assert.equal(log.stableIndex, 2, 'the replaced entries are no longer durable');
});

test('figure 2: "append any new entries not already in the log", and a stale duplicate append truncates nothing', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 1), entry(3, 1)], 0);
  assert.equal(log.maybeAppend(1, 1, [entry(2, 1)]), 2);
  assert.equal(log.lastIndex(), 3);
});

test('figure 2: "reply false if log does not contain an entry at prevLogIndex whose term matches prevLogTerm"', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 1)], 0);
  assert.equal(log.maybeAppend(2, 2, [entry(3, 2)]), -1);
  assert.equal(log.maybeAppend(5, 1, []), -1);
});

test('an append that would overwrite a committed entry is an invariant violation', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 1)], 2);
  assert.throws(() => log.maybeAppend(1, 1, [entry(2, 3)]), /does not overwrite committed/);
});

test('findConflictByTerm gives the last index whose term is at most the given term', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 1), entry(3, 3), entry(4, 3), entry(5, 5)], 0);
  assert.equal(log.findConflictByTerm(5, 4), 4);
  assert.equal(log.findConflictByTerm(5, 2), 2);
  assert.equal(log.findConflictByTerm(9, 9), 5);
  assert.equal(log.findConflictByTerm(5, 0), 0);
});

test('§5.4.1 up-to-date: a later last term wins; with equal last terms the longer log wins', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 2)], 0);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(2, 2), true);
  assert.equal(log.isUpToDate(1, 2), false);
  assert.equal(log.isUpToDate(9, 1), false);
});

test('compaction keeps terms answerable at the snapshot index and refuses unapplied entries', () => {
  const log = new RaftLog(bootstrap, [entry(1, 1), entry(2, 1), entry(3, 2)], 3);
  assert.throws(() => log.compact(2, bootstrap.config, 'x'), /covers only applied/);
  log.appliedTo(2);
  const snapshot = log.compact(2, bootstrap.config, 'state');
  assert.deepEqual([snapshot.index, snapshot.term], [2, 1]);
  assert.equal(log.term(2), 1);
  assert.equal(log.term(1), -1, 'compacted away');
  assert.deepEqual(log.slice(3, 3, 10), [entry(3, 2)]);
});

test('slice is bounded by countMax, and committed entries are handed out in bounded slices', () => {
  const entries = Array.from({ length: 20 }, (_, i) => entry(i + 1, 1));
  const log = new RaftLog(bootstrap, entries, 20);
  assert.equal(log.slice(1, 20, 5).length, 5);
  assert.deepEqual(log.nextCommittedEntries(3).map((e) => e.index), [1, 2, 3]);
});
