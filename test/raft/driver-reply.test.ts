// RaftDriver.receiveAll, which the cluster port uses to answer a peer's request with the node's
// own messages: it resolves only once the Ready the messages led to is persisted and its messages
// are sent (an append's acknowledgement never leaves before the entries are written), and a
// storage failure answers every waiter rather than leaving the request hanging.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RaftDriver, type DurableLog } from '../../src/raft/driver.ts';
import { Raft } from '../../src/raft/raft.ts';
import { defaultRaftOptions, emptyMessage, type Message, type Ready } from '../../src/raft/types.ts';
import { KvMachine, type KvResult } from './sim/kv-machine.ts';
import { SeededRandom } from './sim/random.ts';

/** Storage whose writes finish (or fail) when the test says. */
class HeldStorage implements DurableLog {
  readonly saved: Array<Pick<Ready, 'entries'>> = [];
  /** false: every write finishes at once. */
  hold = true;
  private release: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  save(ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> {
    if (!this.hold) {
      this.saved.push(ready);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.release.push({ resolve: () => { this.saved.push(ready); resolve(); }, reject }));
  }
  compact(): void {}
  get pending(): number {
    return this.release.length;
  }
  finish(): void {
    this.release.shift()!.resolve();
  }
  fail(): void {
    this.release.shift()!.reject(new Error('disk gone'));
  }
}

function follower(storage: HeldStorage, sent: Message[]): RaftDriver<KvResult> {
  const raft = new Raft({ ...defaultRaftOptions, id: 2, electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, random: new SeededRandom(2) }, {
    hardState: { term: 0, vote: 0, commit: 0 }, snapshot: { index: 0, term: 0, config: { voters: [1, 2, 3], learners: [] }, data: '' }, entries: [],
  });
  return new RaftDriver({ raft, storage, machine: new KvMachine(), send: (messages) => sent.push(...messages), inputsQueuedMax: 64, proposalsMax: 64, compactEntriesThreshold: 1000 });
}

const append: Message = { ...emptyMessage('append', 1, 2, 1), entries: [{ term: 1, index: 1, kind: 'normal', data: '' }] };

test('receiveAll resolves after the write, with the acknowledgement already sent', async () => {
  const storage = new HeldStorage();
  const sent: Message[] = [];
  const driver = follower(storage, sent);
  let resolved = false;
  const done = driver.receiveAll([append]).then(() => { resolved = true; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(storage.pending, 1, 'the entry is being written');
  assert.equal(resolved, false, 'not answered before the write');
  assert.equal(sent.length, 0, 'no acknowledgement before the write');
  storage.finish();
  await done;
  assert.equal(storage.saved[0]!.entries.length, 1);
  assert.deepEqual(sent.map((message) => [message.type, message.to, message.index, message.reject]), [['appendResponse', 1, 1, false]]);
});

test('receiveAll of messages that need no write, or of none, still resolves', async () => {
  const storage = new HeldStorage();
  storage.hold = false;
  const sent: Message[] = [];
  const driver = follower(storage, sent);
  await driver.receiveAll([]);
  // A pre-vote from term 0 at term 0 with an empty log: answered (no term change, nothing to write).
  await driver.receiveAll([emptyMessage('preVote', 3, 2, 1)]);
  assert.deepEqual(sent.map((message) => message.type), ['preVoteResponse']);
});

test('a failed write answers every waiting receiveAll, and later ones at once', async () => {
  const storage = new HeldStorage();
  const driver = follower(storage, []);
  const first = driver.receiveAll([append]);
  await new Promise((resolve) => setImmediate(resolve));
  const second = driver.receiveAll([{ ...append, index: 1, logTerm: 1, entries: [{ term: 1, index: 2, kind: 'normal', data: '' }] }]);
  storage.fail();
  await Promise.all([first, second]);
  assert.ok(driver.failure instanceof Error);
  await driver.receiveAll([append]);
});
