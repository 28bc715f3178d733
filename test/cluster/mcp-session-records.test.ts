// The MCP session records of the replicated machine: opened, adopted (only from the owner the
// adopter saw), closed; bad records refused the same way on every replica; the bounds forget the
// oldest; a snapshot carries them (a node joining after compaction knows every session).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClusterMachine, type MachineCommand } from '../../src/cluster/machine.ts';
import { mcpSessionRecordBytesMax, McpSessionRecords, mcpSessionRecordsMax, type McpSessionRecord } from '../../src/cluster/mcp-session-records.ts';
import type { Entry } from '../../src/raft/types.ts';

let index = 0;
function entry(rid: string, command: MachineCommand): Entry {
  return { term: 1, index: ++index, kind: 'normal', data: JSON.stringify({ rid, command }) };
}

function session(id: string, owner = 'n1', principal = 'anonymous'): McpSessionRecord {
  return { id, principal, protocol_version: '2025-06-18', client_info: { name: 'c', version: '1' }, capabilities: { roots: {} }, owner };
}

describe('MCP session records in the cluster machine', () => {
  test('open, adopt from the owner seen, close; a stale adoption is refused on every replica', () => {
    const log = [
      entry('a', { type: 'mcp.open', session: session('s1') }),
      entry('b', { type: 'mcp.adopt', id: 's1', from: 'n1', to: 'n2' }),
      // n3 saw n1 as the owner too, but n2 took it first.
      entry('c', { type: 'mcp.adopt', id: 's1', from: 'n1', to: 'n3' }),
      entry('d', { type: 'mcp.adopt', id: 'nope', from: 'n1', to: 'n3' }),
      entry('e', { type: 'mcp.open', session: session('s2') }),
      entry('f', { type: 'mcp.close', id: 's2' }),
    ];
    const replicas = [new ClusterMachine(), new ClusterMachine()];
    const moved: Array<[string, string | null]> = [];
    replicas[0]!.mcpSessions.listener = (id, owner) => moved.push([id, owner]);
    const answers = replicas.map((machine) => log.map((e) => machine.apply(e)));
    assert.deepEqual(answers[0], answers[1]);
    assert.equal(answers[0]![2]!.ok, false);
    assert.match(JSON.stringify(answers[0]![2]), /SESSION_CONFLICT.*owned by n2 now, not n1/);
    assert.match(JSON.stringify(answers[0]![3]), /SESSION_NOT_FOUND/);
    assert.deepEqual(moved, [['s1', 'n2']]);
    for (const machine of replicas) {
      assert.equal(machine.mcpSessions.get('s1')?.owner, 'n2');
      assert.equal(machine.mcpSessions.get('s2'), undefined);
    }
  });

  test('a bad record is refused with what is wrong, the same way everywhere, and nothing is stored', () => {
    const machine = new ClusterMachine();
    const bad: Array<[unknown, RegExp]> = [
      [{ ...session('s'), id: 'has space' }, /id: a session id is 1 to 128 visible ASCII/],
      [{ ...session('s'), principal: '' }, /principal/],
      [{ ...session('s'), extra: 1 }, /Unrecognized key/i],
      [{ ...session('s'), capabilities: { big: 'x'.repeat(mcpSessionRecordBytesMax) } }, /bytes is over 16384/],
      [null, /the record/],
    ];
    for (const [record, why] of bad) {
      const answer = machine.apply(entry(`bad-${why.source}`, { type: 'mcp.open', session: record as McpSessionRecord }));
      assert.equal(answer.ok, false);
      assert.match(JSON.stringify(answer), why);
    }
    assert.equal(machine.mcpSessions.size, 0);
  });

  test(`past ${mcpSessionRecordsMax} records the oldest is forgotten`, () => {
    const records = new McpSessionRecords();
    for (let n = 0; n <= mcpSessionRecordsMax; n++) records.apply({ type: 'mcp.open', session: session(`s${n}`) });
    assert.equal(records.size, mcpSessionRecordsMax);
    assert.equal(records.get('s0'), undefined);
    assert.equal(records.get(`s${mcpSessionRecordsMax}`)?.id, `s${mcpSessionRecordsMax}`);
  });

  test('a snapshot carries the records; one from before records existed restores none', () => {
    const source = new ClusterMachine();
    source.apply(entry('o1', { type: 'mcp.open', session: session('s1', 'n1', 'alice') }));
    source.apply(entry('o2', { type: 'mcp.open', session: session('s2', 'n2') }));
    source.apply(entry('o3', { type: 'mcp.adopt', id: 's2', from: 'n2', to: 'n3' }));
    const restored = new ClusterMachine();
    restored.restore(source.snapshot());
    assert.equal(restored.snapshot(), source.snapshot());
    assert.deepEqual(restored.mcpSessions.get('s1'), session('s1', 'n1', 'alice'));
    assert.equal(restored.mcpSessions.get('s2')?.owner, 'n3');
    const older = JSON.parse(source.snapshot()) as Record<string, unknown>;
    delete older.mcp_sessions;
    restored.restore(JSON.stringify(older));
    assert.equal(restored.mcpSessions.size, 0);
  });

  test('installing a snapshot tells the listener of every session whose owner changed or that is gone, as applying would have', () => {
    // A replica cut off while s1 was adopted by n2 and s2 was closed: the leader's snapshot skips those entries.
    const behind = new ClusterMachine();
    for (const [rid, id] of [['b1', 's1'], ['b2', 's2'], ['b3', 's3']] as const) behind.apply(entry(rid, { type: 'mcp.open', session: session(id) }));
    const leader = new ClusterMachine();
    leader.restore(behind.snapshot());
    leader.apply(entry('l1', { type: 'mcp.adopt', id: 's1', from: 'n1', to: 'n2' }));
    leader.apply(entry('l2', { type: 'mcp.close', id: 's2' }));
    leader.apply(entry('l3', { type: 'mcp.open', session: session('s4', 'n3') }));
    const told: Array<[string, string | null]> = [];
    behind.mcpSessions.listener = (id, owner) => told.push([id, owner]);
    behind.restore(leader.snapshot());
    assert.deepEqual(told, [['s1', 'n2'], ['s2', null]], 's3 kept its owner and s4 is new: neither is told');
    assert.equal(behind.snapshot(), leader.snapshot());
    // The empty snapshot (a log started afresh) ends every session.
    told.length = 0;
    behind.restore('');
    assert.deepEqual(told.map(([id, owner]) => `${id}:${owner}`).sort(), ['s1:null', 's3:null', 's4:null']);
  });
});
