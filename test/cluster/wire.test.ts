// The Raft messages' wire check (src/cluster/wire.ts): a well-formed body passes unchanged, and
// each kind of bad field is refused with INVALID_ARGUMENT naming its path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeMessages, parseMessages, parseSnapshotChunk, messagesPerBodyMax } from '../../src/cluster/wire.ts';
import { decodeRecord, encodeEntryRecord, encodeRecord, entryJson, entryJsonCachedMax } from '../../src/raft/level-storage.ts';
import type { Message } from '../../src/raft/types.ts';
import { isMcpV8Error } from '../../src/errors.ts';

const base = { type: 'append', from: 1, to: 2, term: 3, logTerm: 2, index: 7, entries: [{ term: 3, index: 8, kind: 'normal', data: 'x' }], commit: 6, reject: false, rejectHintIndex: 0, rejectHintTerm: 0, readContext: 0, heartbeatTick: 0, transfer: false, snapshot: null };
const snapshot = { index: 5, term: 2, config: { voters: [1, 2, 3], learners: [] }, data: '{}' };

function refusal(body: unknown): string {
  try {
    parseMessages(body, 'raft messages');
  } catch (error) {
    assert.ok(isMcpV8Error(error) && error.code === 'INVALID_ARGUMENT', `a coded error, got ${String(error)}`);
    return error.message;
  }
  assert.fail('the body was accepted');
}

test('well-formed messages pass unchanged, a snapshot included', () => {
  const messages = [base, { ...base, type: 'snapshot', entries: [], snapshot }];
  assert.deepEqual(parseMessages(JSON.parse(JSON.stringify({ messages })), 'raft messages'), messages);
});

test('encodeMessages: the text JSON.stringify gave, read back unchanged by parseMessages (entries with hostile data, a snapshot, every type)', () => {
  const data = ['', 'x', '{"rid":"a","command":{"type":"session.append"}}', 'quote " backslash \\ newline \n tab \t nul \u0000 line sep \u2028', 'é ✓ 😀 lone \ud800 half', '</script>'];
  const entries = data.map((text, i) => ({ term: 3, index: 8 + i, kind: i === 2 ? 'config' as const : 'normal' as const, data: text }));
  const messages = [
    { ...base, entries }, { ...base, type: 'heartbeat', entries: [], reject: true, transfer: true, readContext: 9, heartbeatTick: 4 },
    { ...base, type: 'snapshot', entries: [], snapshot: { ...snapshot, data: 'a "snapshot" \\' } }, { ...base, type: 'appendResponse', entries: [], rejectHintIndex: 5, rejectHintTerm: 2 },
  ] as Message[];
  const text = encodeMessages(messages);
  assert.equal(text, JSON.stringify({ messages }));
  assert.deepEqual(parseMessages(JSON.parse(text), 'raft messages'), messages);
  assert.equal(encodeMessages([]), '{"messages":[]}');
});

test('an entry is encoded once: its log record and every body carry the same text, the record as encodeRecord made it', () => {
  const entry = { term: 2, index: 41, kind: 'normal' as const, data: '{"a":"b \\"}' };
  const json = entryJson(entry);
  assert.equal(json, JSON.stringify(entry));
  assert.equal(entryJson(entry), json, 'the same text again');
  assert.equal(encodeEntryRecord(entry), encodeRecord(entry));
  assert.deepEqual(decodeRecord(encodeEntryRecord(entry)), entry);
  const body = encodeMessages([{ ...base, entries: [entry] } as Message]);
  assert.ok(body.includes(json), 'the body carries the cached text');
  // The cache keeps the latest entries only; an evicted one is encoded again, to the same text.
  for (let i = 0; i <= entryJsonCachedMax; i++) entryJson({ ...entry, index: 100 + i });
  assert.equal(entryJson(entry), json);
  assert.equal(encodeEntryRecord(entry), encodeRecord(entry));
});

test('a body damaged on the way is refused naming the bad field (a cut, a wrong type)', () => {
  const good = encodeMessages([base as Message]);
  assert.throws(() => JSON.parse(good.slice(0, -5)), SyntaxError, 'a cut body is not JSON (the route answers its own parse error)');
  assert.equal(refusal(JSON.parse(good.replace('"index":8', '"index":"8"'))), 'raft messages: messages.0.entries.0.index: expected a non-negative integer');
  assert.equal(refusal(JSON.parse(good.replace('"kind":"normal"', '"kind":null'))), "raft messages: messages.0.entries.0.kind: expected 'normal' or 'config'");
});

test('each bad field is named by its path', () => {
  assert.equal(refusal([]), 'raft messages: body: expected an object');
  assert.equal(refusal({ messages: {} }), 'raft messages: messages: expected an array');
  assert.equal(refusal({ messages: [{ ...base, type: 'gossip' }] }), 'raft messages: messages.0.type: expected a Raft message type');
  assert.equal(refusal({ messages: [base, { ...base, from: 0 }] }), 'raft messages: messages.1.from: expected a positive integer');
  assert.equal(refusal({ messages: [{ ...base, term: -1 }] }), 'raft messages: messages.0.term: expected a non-negative integer');
  assert.equal(refusal({ messages: [{ ...base, index: 1.5 }] }), 'raft messages: messages.0.index: expected a non-negative integer');
  assert.equal(refusal({ messages: [{ ...base, commit: '6' }] }), 'raft messages: messages.0.commit: expected a non-negative integer');
  assert.equal(refusal({ messages: [{ ...base, reject: 0 }] }), 'raft messages: messages.0.reject: expected a boolean');
  assert.equal(refusal({ messages: [{ ...base, entries: [{ ...base.entries[0], kind: 'other' }] }] }), "raft messages: messages.0.entries.0.kind: expected 'normal' or 'config'");
  assert.equal(refusal({ messages: [{ ...base, entries: [{ ...base.entries[0], data: 1 }] }] }), 'raft messages: messages.0.entries.0.data: expected a string');
  assert.equal(refusal({ messages: [{ ...base, snapshot: { ...snapshot, config: { voters: [0], learners: [] } } }] }), 'raft messages: messages.0.snapshot.config.voters.0: expected a positive integer');
  assert.equal(refusal({ messages: [{ ...base, snapshot: 'big' }] }), 'raft messages: messages.0.snapshot: expected an object');
  assert.equal(refusal({ messages: [{ ...base, transfer: undefined }] }), 'raft messages: messages.0.transfer: expected a boolean');
  assert.equal(refusal({ messages: { length: 1 } }), 'raft messages: messages: expected an array');
  assert.equal(refusal({ messages: new Array(messagesPerBodyMax + 1).fill(base) }), `raft messages: messages: at most ${messagesPerBodyMax} items`);
});

test('fields the core does not know are not carried into it', () => {
  const [message] = parseMessages({ messages: [{ ...base, extra: 'x'.repeat(1000), __proto__: { polluted: true } }] }, 'raft messages');
  assert.equal(Object.hasOwn(message!, 'extra'), false);
  assert.equal((message as unknown as Record<string, unknown>).polluted, undefined);
});

test('a snapshot chunk without sha256 (an older sender) is refused naming both versions; one with it passes, its format kept', () => {
  const message = { ...base, type: 'snapshot', entries: [], snapshot: { ...snapshot, data: '' } };
  const chunk = { message, total: 2, offset: 0, data: '{}' };
  assert.throws(() => parseSnapshotChunk({ chunk }, 'raft snapshot chunk'), (error: unknown) => {
    assert.ok(isMcpV8Error(error) && error.code === 'NOT_SUPPORTED', String(error));
    assert.match(error.message, /from node 1 has no sha256: the sender runs an mcp-v8 older than the snapshot digests \(chunk format 1\), and this node \(mcp-v8 \d+\.\d+\.\d+[^,]*, chunk format 2\) installs only snapshots it can check/);
    assert.match(error.message, /Rolling upgrades/);
    return true;
  });
  const sha256 = 'a'.repeat(64);
  assert.equal(parseSnapshotChunk({ chunk: { ...chunk, sha256 } }, 'raft snapshot chunk').format, 2, 'a format-2 sender that does not say so');
  assert.equal(parseSnapshotChunk({ chunk: { ...chunk, sha256, format: 3 } }, 'raft snapshot chunk').format, 3);
});
