// The check of a cluster snapshot before restore (src/cluster/snapshot-check.ts): a machine's own
// snapshot passes, unchanged and uncopied, and restores to the same state; each kind of bad field
// is refused with STORED_DATA_DAMAGED naming its path.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { ClusterMachine, type MachineCommand } from '../../src/cluster/machine.ts';
import { checkSnapshotState } from '../../src/cluster/snapshot-check.ts';
import { isMcpV8Error } from '../../src/errors.ts';

const format = 'mcp-v8/cluster-machine@1';
let index = 0;
function apply(machine: ClusterMachine, rid: string, command: MachineCommand): void {
  machine.apply({ term: 1, index: ++index, kind: 'normal', data: JSON.stringify({ rid, command }) });
}

/** A machine with something of every kind in its snapshot: sessions, tags, heaps, creators, members, answers (ok and not), MCP sessions. */
function populated(): ClusterMachine {
  const machine = new ClusterMachine();
  const record = '{"format":"test","n":1}';
  const heap = createHash('sha256').update(record).digest('hex');
  apply(machine, 'a', { type: 'heap.save', record, node: 'n1', commit: { type: 'heap.commit', heap, session: 's', entry: { input_heap: null, output_heap: heap, code: 'x = 1', timestamp: 't1' }, tags: { project: 'etl' } } });
  apply(machine, 'b', { type: 'session.append', session: 'bad\u0001name', entry: { input_heap: null, output_heap: heap, code: '', timestamp: 't' } });
  apply(machine, 'c', { type: 'member.add', id: 7, name: 'n7', addr: '127.0.0.1:7007' });
  apply(machine, 'd', { type: 'mcp.open', session: { id: 'm1', principal: 'alice', protocol_version: '2025-06-18', client_info: {}, capabilities: {}, owner: 'n1' } });
  return machine;
}

function refusal(mutate: (state: Record<string, any>) => void): string {
  const state = JSON.parse(populated().snapshot()) as Record<string, any>;
  mutate(state);
  try {
    checkSnapshotState(state, format);
  } catch (error) {
    assert.ok(isMcpV8Error(error) && error.code === 'STORED_DATA_DAMAGED', String(error));
    return error.message.replace(`a cluster snapshot is not a ${format} (`, '').replace(/\)$/, '');
  }
  assert.fail('the snapshot was accepted');
}

test('a machine\'s snapshot passes as it is (not copied) and restores to the same state, older forms included', () => {
  const machine = populated();
  const parsed = JSON.parse(machine.snapshot()) as Record<string, unknown>;
  assert.equal(checkSnapshotState(parsed, format), parsed, 'the same object, not a copy');
  assert.equal((parsed.requests as unknown[]).length, 4);
  const restored = new ClusterMachine();
  restored.restore(machine.snapshot());
  assert.equal(restored.snapshot(), machine.snapshot());
  // Written before request indexes, forgotten_through and MCP sessions were kept.
  const older: Record<string, unknown> = { ...parsed, requests: (parsed.requests as unknown[][]).map(([rid, result]) => [rid, result]) };
  delete older.forgotten_through;
  delete older.mcp_sessions;
  restored.restore(JSON.stringify(older));
  assert.deepEqual(restored.entries('s').map((entry) => entry.code), ['x = 1']);
});

test('each bad field is named by its path', () => {
  assert.equal(refusal((state) => { state.format = 'other@1'; }), `format: expected "${format}"`);
  assert.equal(refusal((state) => { state.sessions[0][1][0].index = -1; }), 'sessions.0.1.0.index: expected an integer ≥ 0');
  assert.equal(refusal((state) => { state.sessions[0][1][0].input_heap = 3; }), 'sessions.0.1.0.input_heap: expected a string');
  assert.equal(refusal((state) => { state.sessions[0][1][0].code = undefined; }), 'sessions.0.1.0.code: expected a string');
  assert.equal(refusal((state) => { state.sessions[0] = ['s']; }), 'sessions.0: expected 2 items');
  assert.equal(refusal((state) => { state.tags[0][1].project = 1; }), 'tags.0.1.project: expected a string');
  assert.equal(refusal((state) => { state.heaps = {}; }), 'heaps: expected an array');
  assert.equal(refusal((state) => { state.creators[0][1] = null; }), 'creators.0.1: expected a string');
  assert.equal(refusal((state) => { state.members[0][1].addr = 7; }), 'members.0.1.addr: expected a string');
  assert.equal(refusal((state) => { state.members[0][0] = 1.5; }), `members.0.0: expected an integer ≥ ${Number.MIN_SAFE_INTEGER}`);
  assert.equal(refusal((state) => { state.requests[0][1] = { ok: 'yes' }; }), 'requests.0.1.ok: expected a boolean');
  assert.equal(refusal((state) => { state.requests[0][1] = { ok: false, code: 'toString', message: 'm' }; }), 'requests.0.1.code: expected an error code');
  assert.equal(refusal((state) => { state.requests[0][1] = { ok: true, value: '1' }; }), 'requests.0.1.value: expected a number or null');
  assert.equal(refusal((state) => { state.requests[0] = [state.requests[0][0]]; }), 'requests.0: expected 2 or 3 items');
  assert.equal(refusal((state) => { state.forgotten_through = -1; }), 'forgotten_through: expected an integer ≥ 0');
  assert.equal(refusal((state) => { state.mcp_sessions = 'm1'; }), 'mcp_sessions: expected an array');
  assert.equal(refusal((state) => { delete state.requests; }), 'requests: expected an array');
});

test('a damaged snapshot fails restore with the same error', () => {
  const state = JSON.parse(populated().snapshot()) as Record<string, any>;
  state.heaps[0][1] = 42;
  assert.throws(() => new ClusterMachine().restore(JSON.stringify(state)), /a cluster snapshot is not a mcp-v8\/cluster-machine@1 \(heaps\.0\.1: expected a string\)/);
});
