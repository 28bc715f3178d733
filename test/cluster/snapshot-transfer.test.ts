// InstallSnapshot in chunks (src/cluster/snapshot-transfer.ts), sender and receiver joined by a
// function that can lose requests: the receiver gets the core's one message, whole, once; a lost
// chunk is sent again from where the receiver stands; a receiver that lost its assembly starts
// over; a resend of the same snapshot resumes; bad chunks are refused; chunks go to a file on
// disk (not memory), checked against the sender's digest: a corrupt or truncated chunk installs
// nothing and leaves no file.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pino from 'pino';
import { digestOfBytesInTurns, SnapshotReceiver, SnapshotSender, snapshotDigest, snapshotDigestInTurns, type SnapshotChunk } from '../../src/cluster/snapshot-transfer.ts';
import { tempDir } from '../support/server-process.ts';
import { emptyMessage, type Message } from '../../src/raft/types.ts';

const logger = pino({ level: 'silent' });

/** A receiver writing under a fresh folder of its own. */
function receiverIn(dir: string, deliver: (message: Message) => void): SnapshotReceiver {
  const receiver = new SnapshotReceiver(deliver);
  receiver.start(dir);
  return receiver;
}

function snapshotMessage(data: string, index = 40): Message {
  return { ...emptyMessage('snapshot', 1, 2, 3), snapshot: { index, term: 2, config: { voters: [1, 2, 3], learners: [] }, data } };
}

/** A sender and a receiver; `lose(chunk, attempt)` true makes that request fail before (or after) it reaches the receiver. */
function link(options: { chunkChars: number; lose?: (chunk: SnapshotChunk, request: number) => 'before' | 'after' | null }) {
  const delivered: Message[] = [];
  const posted: Array<{ offset: number; chars: number }> = [];
  const dir = tempDir('snapshot-receiver');
  let receiver = receiverIn(dir, (message) => delivered.push(message));
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
      const answer = await receiver.receive(wire.message, wire);
      if (answer.next_offset >= chunk.total) settled();
      if (lost === 'after') throw new Error('answer lost');
      return answer;
    },
  });
  return {
    sender, delivered, posted, dir,
    get receiver() { return receiver; },
    restartReceiver: () => { receiver = receiverIn(dir, (message) => delivered.push(message)); },
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
    assert.deepEqual(readdirSync(wire.dir), [], 'no file left once delivered');
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
    const receiver = receiverIn(tempDir('snapshot-receiver'), () => {});
    const header = { ...snapshotMessage('z'.repeat(3000), 41), snapshot: { ...snapshotMessage('', 41).snapshot!, data: '' } };
    const sha256 = snapshotDigest('z'.repeat(3000));
    assert.deepEqual(await receiver.receive(header, { total: 3000, offset: 0, data: 'z'.repeat(1000), sha256 }), { next_offset: 1000 });
    assert.deepEqual(await receiver.receive(header, { total: 3000, offset: 0, data: 'z'.repeat(1000), sha256 }), { next_offset: 1000 }, 'the resend\'s first chunk learns where this side stands');
    assert.deepEqual(await receiver.receive(header, { total: 3000, offset: 2000, data: 'z'.repeat(1000), sha256 }), { next_offset: 1000 }, 'a chunk ahead of a lost one is not taken');
    assert.equal(receiver.heldChars(), 1000);
  });

  test('chunks that do not fit are refused; another snapshot from the same sender replaces the one in assembly', async () => {
    const dir = tempDir('snapshot-receiver');
    const receiver = receiverIn(dir, () => {});
    const header = snapshotMessage('');
    const sha256 = snapshotDigest('abcdefghij');
    await assert.rejects(receiver.receive(header, { total: 10, offset: 5, data: 'abcdefgh', sha256 }), /runs past the snapshot's 10/);
    await assert.rejects(receiver.receive(header, { total: 10, offset: 0, data: '', sha256 }), /an empty snapshot chunk/);
    await assert.rejects(receiver.receive({ ...header, type: 'append' }, { total: 10, offset: 0, data: 'a', sha256 }), /carries a snapshot message/);
    await assert.rejects(receiver.receive(header, { total: -1, offset: 0, data: 'a', sha256 }), /total/);
    await assert.rejects(receiver.receive(header, { total: 10, offset: 0, data: 'a' }), /sha256: Invalid input|sha256: Required|sha256/);
    assert.deepEqual(await receiver.receive(header, { total: 10, offset: 3, data: 'a', sha256 }), { next_offset: 0 }, 'a transfer starts at 0');
    await receiver.receive(header, { total: 10, offset: 0, data: 'abcde', sha256 });
    assert.equal(receiver.heldChars(), 5);
    const [file] = readdirSync(dir);
    assert.equal(readFileSync(join(dir, file!), 'utf8'), 'abcde', 'the chunks are on disk');
    await receiver.receive(snapshotMessage('', 99), { total: 4, offset: 0, data: 'ab', sha256: snapshotDigest('abcd') });
    assert.equal(receiver.heldChars(), 2, 'the newer snapshot replaced the older one: one assembly per sender');
    assert.equal(readdirSync(dir).length, 1, 'the replaced assembly\'s file is removed');
    await receiver.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a corrupt or cut-short chunk installs nothing, leaves no file, and the transfer starts over; a restart empties the folder', async () => {
    const data = JSON.stringify({ text: 'snapshot 😀 '.repeat(300) });
    const sha256 = snapshotDigest(data);
    const dir = tempDir('snapshot-receiver');
    const delivered: Message[] = [];
    const receiver = receiverIn(dir, (message) => delivered.push(message));
    const header = snapshotMessage('');
    const chunks = [data.slice(0, 1000), data.slice(1000, 2000), data.slice(2000)];
    // The middle chunk altered on the way (same length): found when the last one is in.
    let offset = 0;
    for (const [n, chunk] of chunks.entries()) {
      const sent = n === 1 ? `${chunk.slice(0, 10)}X${chunk.slice(11)}` : chunk;
      const outcome = receiver.receive(header, { total: data.length, offset, data: sent, sha256 });
      if (n < 2) assert.deepEqual(await outcome, { next_offset: offset + chunk.length });
      else await assert.rejects(outcome, /hash to [0-9a-f]{64}, not to the sender's [0-9a-f]{64} \(a chunk was corrupted or cut short\); nothing installed, the transfer starts over/);
      offset += chunk.length;
    }
    assert.equal(delivered.length, 0, 'nothing installed');
    assert.deepEqual(readdirSync(dir), [], 'the refused assembly\'s file is removed');
    assert.equal(receiver.heldChars(), 0);
    // A chunk cut short keeps the sender's offsets honest: the next chunk is refused as out of place, asked for from where this side stands.
    assert.deepEqual(await receiver.receive(header, { total: data.length, offset: 0, data: chunks[0]!.slice(0, 500), sha256 }), { next_offset: 500 });
    assert.deepEqual(await receiver.receive(header, { total: data.length, offset: 1000, data: chunks[1]!, sha256 }), { next_offset: 500 });
    // The rest sent from there: the whole snapshot arrives, once, as sent.
    assert.deepEqual(await receiver.receive(header, { total: data.length, offset: 500, data: data.slice(500), sha256 }), { next_offset: data.length });
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]!.snapshot!.data, data);
    // The same snapshot sent again (the core's resend crossing its arrival) is answered done at once, not taken again.
    assert.deepEqual(await receiver.receive(header, { total: data.length, offset: 0, data: chunks[0]!, sha256 }), { next_offset: data.length });
    assert.equal(delivered.length, 1);
    assert.deepEqual(readdirSync(dir), []);
    // Leftovers of a run that stopped mid-transfer go when the next one starts.
    await receiver.receive(snapshotMessage('', 41), { total: data.length, offset: 0, data: chunks[0]!, sha256 });
    assert.equal(readdirSync(dir).length, 1);
    receiverIn(dir, () => {});
    assert.deepEqual(readdirSync(dir), []);
  });

  test('the sender\'s digest in turns is the digest of the whole, surrogate pairs at slice ends included', async () => {
    const data = `${'a'.repeat(9)}😀${'b'.repeat(7)}😀😀x`;
    for (const slice of [1, 2, 3, 10, 11, 1000]) assert.equal(await snapshotDigestInTurns(data, slice), snapshotDigest(data), `slices of ${slice}`);
    assert.equal(await snapshotDigestInTurns(''), snapshotDigest(''));
    for (const slice of [1, 5, 64, 100_000]) assert.equal(await digestOfBytesInTurns(Buffer.from(data, 'utf8'), slice), snapshotDigest(data), `read back in slices of ${slice} bytes`);
  });

  test('a receiver not started yet (its node opening its log) refuses chunks with a clear error', async () => {
    const receiver = new SnapshotReceiver(() => {});
    await assert.rejects(receiver.receive(snapshotMessage(''), { total: 3, offset: 0, data: 'abc', sha256: snapshotDigest('abc') }), /this node is starting: it takes snapshot chunks once its log is open/);
  });
});
