// The follower's side of forwarded writes (src/cluster/propose-batch.ts): what one turn of the event
// loop forwards leaves in one request per leader, each write gets its own answer, and a batch the
// leader did not answer fails every write in it (the callers retry across nodes). The leader's side
// runs in real processes in test/cluster/replication.test.ts; here the post is recorded, so which
// writes travel together is exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMcpV8Error, McpV8Error } from '../../src/errors.ts';
import { batchCharsMax, parseProposeBody, ProposalBatcher, proposalsPerBatchMax, type ForwardedWrite } from '../../src/cluster/propose-batch.ts';

function recorder(answer: (batch: ForwardedWrite[]) => unknown = (batch) => ({ results: batch.map((_, i) => ({ value: i })) })) {
  const posts: Array<{ addr: string; batch: ForwardedWrite[]; timeoutMs: number }> = [];
  // A clock that stands still unless a test moves it: the deadlines sent are exact.
  const clock = { ms: 1_000 };
  const batcher = new ProposalBatcher(async (addr, batch, timeoutMs) => {
    posts.push({ addr, batch, timeoutMs });
    return answer(batch);
  }, () => clock.ms);
  return { posts, batcher, clock };
}

/** A leader whose answers the test gives by hand: every post waits until `answer(i)`. */
function heldLeader() {
  const posts: Array<{ batch: ForwardedWrite[]; timeoutMs: number; answer: () => void; fail: (error: Error) => void }> = [];
  const waiters: Array<() => void> = [];
  const clock = { ms: 0 };
  const batcher = new ProposalBatcher((_addr, batch, timeoutMs) => new Promise((resolve, reject) => {
    posts.push({ batch, timeoutMs, answer: () => resolve({ results: batch.map((write) => ({ value: Number(write.data.slice(1)) })) }), fail: reject });
    for (const wake of waiters.splice(0)) wake();
  }), () => clock.ms);
  /** Resolves once `count` posts were made. */
  const posted = async (count: number) => {
    while (posts.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { posts, batcher, clock, posted };
}

test('the writes of one turn leave in one request per leader, each answered with its own value', async () => {
  const { posts, batcher } = recorder();
  const values = await Promise.all([batcher.propose('a:1', 'w0', 1_000), batcher.propose('a:1', 'w1', 2_000.4), batcher.propose('b:1', 'w2', 500), batcher.propose('a:1', 'w3', 3_000)]);
  assert.deepEqual(values, [0, 1, 0, 2]);
  assert.deepEqual(posts.map((post) => [post.addr, post.batch.map((write) => write.data), post.timeoutMs]), [['a:1', ['w0', 'w1', 'w3'], 3_000], ['b:1', ['w2'], 500]]);
  assert.deepEqual(posts[0]!.batch.map((write) => write.timeout_ms), [1_000, 2_001, 3_000]);
  // A write of a later turn goes in a request of its own.
  assert.equal(await batcher.propose('a:1', 'w4', 1_000), 0);
  assert.equal(posts.length, 3);
});

test('a batch is cut at proposalsPerBatchMax writes and batchCharsMax characters; a larger write goes alone', async () => {
  const { posts, batcher } = recorder();
  const small = Array.from({ length: proposalsPerBatchMax + 3 }, (_, i) => batcher.propose('a:1', `w${i}`, 1_000));
  const big = 'x'.repeat(batchCharsMax);
  const large = [batcher.propose('c:1', 'y', 1_000), batcher.propose('c:1', big, 1_000), batcher.propose('c:1', big, 1_000)];
  await Promise.all([...small, ...large]);
  const lengths = (addr: string) => posts.filter((post) => post.addr === addr).map((post) => post.batch.length);
  assert.deepEqual(lengths('a:1'), [proposalsPerBatchMax, 3]);
  assert.deepEqual(lengths('c:1'), [1, 1, 1]);
});

test('while a batch is in flight to a leader, the writes forwarded meanwhile wait and leave together once it is answered, each with what is left of its deadline', async () => {
  const { posts, batcher, clock, posted } = heldLeader();
  const first = batcher.propose('a:1', 'w1', 1_000);
  await posted(1);
  assert.deepEqual(posts[0]!.batch, [{ data: 'w1', timeout_ms: 1_000 }], 'a write with nothing in flight leaves at once');
  // Three writes in three later turns, while w1's batch waits for its answer: none is sent yet.
  clock.ms = 40;
  const second = batcher.propose('a:1', 'w2', 1_000);
  await new Promise((resolve) => setImmediate(resolve));
  clock.ms = 100;
  const third = batcher.propose('a:1', 'w3', 500);
  await new Promise((resolve) => setImmediate(resolve));
  const other = batcher.propose('b:1', 'w9', 1_000);
  await posted(2);
  assert.equal(posts.length, 2, 'another leader is not held up');
  assert.deepEqual(posts[1]!.batch.map((write) => write.data), ['w9']);
  clock.ms = 250;
  posts[0]!.answer();
  assert.equal(await first, 1);
  await posted(3);
  // w2 asked for 1,000 ms at 40 and w3 for 500 at 100: at 250 they have 790 and 350 left.
  assert.deepEqual(posts[2]!.batch, [{ data: 'w2', timeout_ms: 790 }, { data: 'w3', timeout_ms: 350 }]);
  assert.equal(posts[2]!.timeoutMs, 790);
  posts[2]!.answer();
  posts[1]!.answer();
  assert.deepEqual(await Promise.all([second, third, other]), [2, 3, 9]);
});

test('a batch in flight that fails fails its own writes only: the writes that waited for it are sent next', async () => {
  const { posts, batcher, posted } = heldLeader();
  const first = batcher.propose('a:1', 'w1', 1_000);
  await posted(1);
  const second = batcher.propose('a:1', 'w2', 1_000);
  await new Promise((resolve) => setImmediate(resolve));
  posts[0]!.fail(new McpV8Error('NO_QUORUM', 'cluster peer a:1 did not answer'));
  await assert.rejects(first, (error: unknown) => isMcpV8Error(error) && error.code === 'NO_QUORUM');
  await posted(2);
  assert.deepEqual(posts[1]!.batch.map((write) => write.data), ['w2']);
  posts[1]!.answer();
  assert.equal(await second, 2);
});

test('a write refused inside a batch fails alone, with its code; an unanswered batch fails every write', async () => {
  const { batcher } = recorder((batch) => ({ results: batch.map((write, i) => (write.data === 'bad' ? { code: 'NOT_LEADER', message: 'node n2 is not the leader' } : write.data === 'odd' ? { code: 'NOT_A_CODE', message: 'm' } : { value: i })) }));
  const [ok, bad, odd] = await Promise.allSettled([batcher.propose('a:1', 'ok', 1_000), batcher.propose('a:1', 'bad', 1_000), batcher.propose('a:1', 'odd', 1_000)]);
  assert.deepEqual(ok, { status: 'fulfilled', value: 0 });
  assert.ok(bad!.status === 'rejected' && isMcpV8Error(bad.reason) && bad.reason.code === 'NOT_LEADER' && bad.reason.message === 'node n2 is not the leader');
  assert.ok(odd!.status === 'rejected' && isMcpV8Error(odd.reason) && odd.reason.code === 'INTERNAL');

  const down = new ProposalBatcher(async () => { throw new McpV8Error('NO_QUORUM', 'cluster peer a:1 did not answer'); });
  const failed = await Promise.allSettled([down.propose('a:1', 'x', 1_000), down.propose('a:1', 'y', 1_000)]);
  assert.deepEqual(failed.map((outcome) => outcome.status === 'rejected' && (outcome.reason as McpV8Error).code), ['NO_QUORUM', 'NO_QUORUM']);

  for (const answer of [{ results: [{ value: 1 }] }, { results: [{ value: 'one' }, { value: 2 }] }, null, { value: 3 }]) {
    const short = recorder(() => answer).batcher;
    const outcomes = await Promise.allSettled([short.propose('a:1', 'x', 1_000), short.propose('a:1', 'y', 1_000)]);
    for (const outcome of outcomes) assert.ok(outcome.status === 'rejected' && (outcome.reason as McpV8Error).code === 'NO_QUORUM' && /did not answer a batch of 2 forwarded writes/.test((outcome.reason as Error).message), JSON.stringify(answer));
  }
});

test('a /raft/propose body is one write or a batch, each field checked', () => {
  assert.deepEqual(parseProposeBody({ data: 'd', timeout_ms: 5 }), { writes: [{ data: 'd', timeout_ms: 5 }], batched: false });
  assert.deepEqual(parseProposeBody({ batch: [{ data: 'd', timeout_ms: 5 }, { data: 'e', timeout_ms: 600_000 }] }).writes.length, 2);
  const refusals: Array<[unknown, RegExp]> = [
    [null, /^raft propose: body: expected an object$/],
    [[], /^raft propose: body: expected an object$/],
    [{ data: 1, timeout_ms: 5 }, /^raft propose: body\.data: expected a string$/],
    [{ data: 'd', timeout_ms: 600_001 }, /^raft propose: body\.timeout_ms: expected an integer from 1 to 600000$/],
    [{ batch: {} }, /^raft propose: batch: expected an array of 1 to 256 writes$/],
    [{ batch: Array.from({ length: proposalsPerBatchMax + 1 }, () => ({ data: 'd', timeout_ms: 5 })) }, /^raft propose: batch: expected an array of 1 to 256 writes$/],
    [{ batch: [{ data: 'd', timeout_ms: 5 }, 'x'] }, /^raft propose: batch\.1: expected an object$/],
    [{ batch: [{ data: 'd', timeout_ms: 1.5 }] }, /^raft propose: batch\.0\.timeout_ms: /],
  ];
  for (const [body, message] of refusals) {
    assert.throws(() => parseProposeBody(body), (error: unknown) => isMcpV8Error(error) && error.code === 'INVALID_ARGUMENT' && message.test(error.message), JSON.stringify(body)?.slice(0, 80));
  }
});
