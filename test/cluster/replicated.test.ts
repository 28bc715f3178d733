// The heap store on the Raft log (src/cluster/replicated.ts), its side before the log: what text a
// record's bytes travel as. The node is a stand-in that records the writes (the log's side runs in
// real processes in replication.test.ts): a record goes as text whose UTF-8 bytes are its own, so
// every node names it by the same id, and bytes that are not UTF-8 are refused before any write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplicatedHeapStore } from '../../src/cluster/replicated.ts';
import type { ClusterNode } from '../../src/cluster/node.ts';
import { isMcpV8Error } from '../../src/errors.ts';
import { heapIdOf } from '../../src/storage/heap-store.ts';

function recordingStore() {
  const writes: Array<Record<string, unknown>> = [];
  const node = { name: 'n1', machine: { heapRecord: () => undefined }, write: async (command: Record<string, unknown>) => { writes.push(command); return null; } };
  return { writes, store: new ReplicatedHeapStore(node as unknown as ClusterNode) };
}

test('a record travels as text whose UTF-8 bytes are its own (its id on every node); bytes that are not UTF-8 are refused unwritten', async () => {
  const { writes, store } = recordingStore();
  const text = '{"code":"\'é\' + \'𝄞\' + \'\\uFEFF\'","bom":"\uFEFF"}';
  const bytes = new Uint8Array(Buffer.from(`\uFEFF${text}`, 'utf8'));
  const heap = await store.put(bytes);
  assert.equal(heap, heapIdOf(bytes));
  assert.equal(writes.length, 1);
  assert.equal(heapIdOf(Buffer.from(writes[0]!.record as string, 'utf8')), heap, 'the text, encoded again, hashes to the id');
  // A view into a larger buffer is read from its own offset.
  const outer = new Uint8Array(Buffer.from(`xx${text}yy`, 'utf8'));
  const inside = outer.subarray(2, 2 + Buffer.byteLength(text));
  assert.equal(await store.put(inside), heapIdOf(Buffer.from(text, 'utf8')));
  assert.equal(writes[1]!.record, text);
  const refused = [Uint8Array.of(0x7b, 0xff, 0x7d), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xc0, 0xaf), Uint8Array.of(0xe2, 0x82)];
  for (const bad of refused) {
    await assert.rejects(store.put(bad), (error: unknown) => isMcpV8Error(error) && error.code === 'INVALID_ARGUMENT' && /must be UTF-8 text/.test(error.message), Buffer.from(bad).toString('hex'));
    await assert.rejects(store.putAndCommit(bad, { type: 'heap.commit', heap: heapIdOf(bad), session: 's', entry: null, tags: null }), (error: unknown) => isMcpV8Error(error) && error.code === 'INVALID_ARGUMENT');
  }
  assert.equal(writes.length, 2, 'nothing written for bytes that are not UTF-8');
});
