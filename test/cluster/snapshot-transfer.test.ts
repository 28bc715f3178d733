// InstallSnapshot in chunks (src/cluster/snapshot-transfer.ts), sender and receiver joined by a
// function that can lose requests: the receiver gets the core's one message, whole, once; a lost
// chunk is sent again from where the receiver stands; a receiver that lost its assembly starts
// over; a resend of the same snapshot resumes; bad chunks are refused; memory held is bounded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { SnapshotReceiver, SnapshotSender, type SnapshotChunk } from '../../src/cluster/snapshot-transfer.ts';
import { emptyMessage, type Message } from '../../src/raft/types.ts';

const logger = pino({ level: 'silent' });

function snapshotMessage(data: string, index = 40): Message {
  return { ...emptyMessage('snapshot', 1, 2, 3), snapshot: { index, term: 2, config: { voters: [1, 2, 3], learners: [] }, data } };
}

/** A sender and a receiver; `lose(chunk, attempt)` true makes that request fail before (or after) it reaches the receiver. */
function link(options: { chunkChars: number; lose?: (chunk: SnapshotChunk, request: number) => 'before' | 'after' | null }) {
  const delivered: Message[] = [];
  const posted: Array<{ offset: number; chars: number }> = [];
  let receiver = new SnapshotReceiver((message) => delivered.push(message));
  let requests = 0;
  let settled: () => void = () => {};
  const sender = new SnapshotSender({
    logger, chunkChars: options.chunkChars,
    post: async (_addr, chunk) => {
      const lost = options.lose?.(chunk, requests++) ?? null;
      if (lost === 'before') throw new Error('connection reset');
      // The chunk crosses the wire as JSON, as it does between nodes.
      const wire = JSON.parse(JSON.stringify(chunk)) as SnapshotChunk;
      posted.push({ offset: wire.offset, chars: wire.data.length });
      const answer = receiver.receive(wire.message, wire);
      if (answer.next_offset >= chunk.total) settled();
      if (lost === 'after') throw new Error('answer lost');
      return answer;
    },
  });
  return {
    sender, delivered, posted,
    get receiver() { return receiver; },
    restartReceiver: () => { receiver = new SnapshotReceiver((message) => delivered.push(message)); },
    send: (message: Message) => new Promise<void>((resolve) => { settled = resolve; sender.send('peer:1', message); }),
  };
}

describe('snapshot chunks', () => {
  test('a snapshot larger than a chunk arrives whole, once, as the message the core sent (surrogate pairs split across chunks included)', async () => {
    const data = JSON.stringify({ sessions: Array.from({ length: 300 }, (_, i) => [`s${i}`, '😀'.repeat(i % 7)]) });
    const wire = link({ chunkChars: 1024 });
    const message = snapshotMessage(data);
    await wire.send(message);
    assert.deepEqual(wire.delivered, [message]);
    assert.equal(wire.posted.length, Math.ceil(data.length / 1024));
    assert.ok(wire.posted.every((chunk) => chunk.chars <= 1024), 'no request carries more than a chunk');
    assert.equal(wire.receiver.heldChars(), 0, 'nothing held once delivered');
  });

  test('a lost chunk (request or answer) is sent again from where the receiver stands, not from the start', async () => {
    const data = 'x'.repeat(10_000);
    const wire = link({ chunkChars: 1000, lose: (chunk, request) => (request === 4 ? 'before' : request === 7 ? 'after' : null) });
    await wire.send(snapshotMessage(data));
    assert.equal(wire.delivered.length, 1);
    assert.equal(wire.delivered[0]!.snapshot!.data, data);
    // 10 chunks, one lost before the receiver (sent again), one whose answer was lost (sent again, answered with the next offset).
    assert.deepEqual(wire.posted.map((chunk) => chunk.offset), [0, 1000, 2000, 3000, 4000, 5000, 6000, 6000, 7000, 8000, 9000]);
  });

  test('a receiver that lost its assembly (restarted) answers 0 and the transfer starts over; a resend of the same snapshot resumes', async () => {
    const data = 'y'.repeat(5000);
    // The receiver restarts while the request of chunk 3 is lost: the retried chunk at 3000 is answered 0.
    const wire = link({
      chunkChars: 1000,
      lose: (_chunk, request) => {
        if (request !== 3) return null;
        wire.restartReceiver();
        return 'before';
      },
    });
    await wire.send(snapshotMessage(data));
    assert.equal(wire.delivered.length, 1);
    assert.equal(wire.delivered[0]!.snapshot!.data, data);
    assert.deepEqual(wire.posted.map((chunk) => chunk.offset), [0, 1000, 2000, 3000, 0, 1000, 2000, 3000, 4000], 'answered 0, the transfer started over');

    // A transfer the sender gave up on (every request failing) resumes when the core sends the snapshot again.
    const receiver = new SnapshotReceiver(() => {});
    const header = { ...snapshotMessage('z'.repeat(3000), 41), snapshot: { ...snapshotMessage('', 41).snapshot!, data: '' } };
    assert.deepEqual(receiver.receive(header, { total: 3000, offset: 0, data: 'z'.repeat(1000) }), { next_offset: 1000 });
    assert.deepEqual(receiver.receive(header, { total: 3000, offset: 0, data: 'z'.repeat(1000) }), { next_offset: 1000 }, 'the resend\'s first chunk learns where this side stands');
    assert.deepEqual(receiver.receive(header, { total: 3000, offset: 2000, data: 'z'.repeat(1000) }), { next_offset: 1000 }, 'a chunk ahead of a lost one is not taken');
    assert.equal(receiver.heldChars(), 1000);
  });

  test('chunks that do not fit are refused; another snapshot from the same sender replaces the one in assembly', () => {
    const receiver = new SnapshotReceiver(() => {});
    const header = snapshotMessage('');
    assert.throws(() => receiver.receive(header, { total: 10, offset: 5, data: 'abcdefgh' }), /runs past the snapshot's 10/);
    assert.throws(() => receiver.receive(header, { total: 10, offset: 0, data: '' }), /an empty snapshot chunk/);
    assert.throws(() => receiver.receive({ ...header, type: 'append' }, { total: 10, offset: 0, data: 'a' }), /carries a snapshot message/);
    assert.throws(() => receiver.receive(header, { total: -1, offset: 0, data: 'a' }));
    assert.deepEqual(receiver.receive(header, { total: 10, offset: 3, data: 'a' }), { next_offset: 0 }, 'a transfer starts at 0');
    receiver.receive(header, { total: 10, offset: 0, data: 'abcde' });
    assert.equal(receiver.heldChars(), 5);
    receiver.receive(snapshotMessage('', 99), { total: 4, offset: 0, data: 'ab' });
    assert.equal(receiver.heldChars(), 2, 'the newer snapshot replaced the older one: one assembly per sender');
  });
});
