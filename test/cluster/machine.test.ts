// The replicated state machine on its own: the same entries give the same state and answers on
// every replica, a retried request id is applied once, snapshots carry everything, bad commands
// fail the same way everywhere; and the flags-to-ticks mapping keeps timeouts within the flags.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ClusterMachine, requestIdsRememberedMax, type MachineCommand } from '../../src/cluster/machine.ts';
import { clusterTicks } from '../../src/cluster/ticks.ts';
import type { Entry } from '../../src/raft/types.ts';

let index = 0;
function entry(rid: string, command: MachineCommand): Entry {
  return { term: 1, index: ++index, kind: 'normal', data: JSON.stringify({ rid, command }) };
}

const record = '{"format":"test","n":1}';
const heap = createHash('sha256').update(record).digest('hex');
const other = 'b'.repeat(64);

function history(): Entry[] {
  return [
    entry('r1', { type: 'heap.put', heap, record }),
    entry('r2', { type: 'heap.commit', heap, session: 's', entry: { input_heap: null, output_heap: heap, code: 'x = 1', timestamp: 't1' }, tags: { project: 'etl' } }),
    entry('r3', { type: 'session.append', session: 's', entry: { input_heap: heap, output_heap: other, code: 'x++', timestamp: 't2' } }),
    entry('r3', { type: 'session.append', session: 's', entry: { input_heap: heap, output_heap: other, code: 'x++', timestamp: 't2' } }),
    entry('r4', { type: 'tags.set', heap: other, tags: { project: 'etl', step: '2' } }),
    entry('r5', { type: 'tags.delete', heap, keys: ['project'] }),
    entry('r6', { type: 'session.append', session: 'bad\u0001name', entry: { input_heap: null, output_heap: other, code: '', timestamp: 't' } }),
    entry('r7', { type: 'heap.put', heap: other, record }),
    entry('r8', { type: 'member.add', id: 7, name: 'n7', addr: '127.0.0.1:7007' }),
  ];
}

describe('ClusterMachine', () => {
  test('replicas applying the same log agree on every answer and on their state; a retried request id is applied once', () => {
    const entries = history();
    const one = new ClusterMachine();
    const two = new ClusterMachine();
    const answers = entries.map((e) => one.apply(e));
    assert.deepEqual(entries.map((e) => two.apply(e)), answers);
    assert.equal(one.snapshot(), two.snapshot());
    assert.deepEqual(answers.slice(0, 6), [{ ok: true, value: null }, { ok: true, value: 0 }, { ok: true, value: 1 }, { ok: true, value: 1 }, { ok: true, value: null }, { ok: true, value: null }]);
    assert.equal(one.entries('s').length, 2, 'the retried append (r3 twice) is one entry');
    assert.deepEqual({ ...answers[6]!, message: '' }, { ok: false, code: 'INVALID_ARGUMENT', message: '' });
    assert.deepEqual({ ...answers[7]!, message: '' }, { ok: false, code: 'HEAP_CORRUPT', message: '' }, 'a record that does not hash to its id is refused');
    assert.equal(one.latestHeap('s'), other);
    assert.deepEqual(one.queryTags({ project: 'etl' }), [{ heap: other, tags: { project: 'etl', step: '2' } }]);
    assert.deepEqual(one.getTags(heap), {});
    assert.equal(one.heapRecord(heap), record);
    assert.equal(one.heapRecord(other), undefined);
    assert.deepEqual(one.members.get(7), { name: 'n7', addr: '127.0.0.1:7007' });
  });

  test('heap.commit with `after` is saved only while that heap is still the session\'s latest: two runs from one parent never both join the history', () => {
    const commit = (rid: string, output: string, after: string | null) => entry(rid, { type: 'heap.commit', heap: output, session: 'line', entry: { input_heap: after, output_heap: output, code: 'n++', timestamp: 't' }, tags: null, after });
    const third = 'c'.repeat(64);
    const entries = [commit('a1', heap, null), commit('a2', other, heap), commit('a3', third, heap), commit('a4', third, other)];
    const one = new ClusterMachine();
    const two = new ClusterMachine();
    const answers = entries.map((e) => one.apply(e));
    assert.deepEqual(entries.map((e) => two.apply(e)), answers, 'every replica refuses the same one');
    assert.deepEqual(answers[0], { ok: true, value: 0 });
    assert.deepEqual(answers[1], { ok: true, value: 1 });
    assert.equal(answers[2]!.ok, false);
    assert.equal((answers[2] as { code: string }).code, 'SESSION_CONFLICT');
    assert.match((answers[2] as { message: string }).message, new RegExp(`another run of session 'line' was saved first \\(its latest heap is now ${other}, this run continued ${heap}\\)`));
    assert.deepEqual(answers[3], { ok: true, value: 2 });
    assert.deepEqual(one.entries('line').map((e) => [e.input_heap, e.output_heap]), [[null, heap], [heap, other], [other, third]]);
    // A run that names its heap (a fork the user asked for) carries no `after`, and is saved.
    assert.deepEqual(one.apply(entry('a5', { type: 'heap.commit', heap: other, session: 'line', entry: { input_heap: heap, output_heap: other, code: 'fork', timestamp: 't' }, tags: null })), { ok: true, value: 3 });
  });

  test('heap.save stores a record and commits its entry in one entry; refused by the commit\'s checks, it stores nothing', () => {
    const machine = new ClusterMachine();
    const commit = (after: string | null) => ({ type: 'heap.commit' as const, heap, session: 'one-write', entry: { input_heap: after, output_heap: heap, code: 'x', timestamp: 't' }, tags: { step: '1' }, after });
    // A conflicting commit (the session has moved on) stores neither the record nor the entry.
    machine.apply(entry('s0', { type: 'session.append', session: 'one-write', entry: { input_heap: null, output_heap: other, code: 'y', timestamp: 't' } }));
    const refused = machine.apply(entry('s1', { type: 'heap.save', record, node: 'n2', commit: commit(null) }));
    assert.equal((refused as { code: string }).code, 'SESSION_CONFLICT');
    assert.equal(machine.heapRecord(heap), undefined, 'no record stored by a refused save');
    assert.deepEqual(machine.apply(entry('s2', { type: 'heap.save', record, node: 'n2', commit: commit(other) })), { ok: true, value: 1 });
    assert.equal(machine.heapRecord(heap), record);
    assert.equal(machine.heapCreator(heap), 'n2');
    assert.deepEqual(machine.getTags(heap), { step: '1' });
    assert.equal(machine.latestHeap('one-write'), heap);
    const corrupt = machine.apply(entry('s3', { type: 'heap.save', record: '{"other":1}', commit: { ...commit(heap), heap: 'd'.repeat(64), entry: { ...commit(heap).entry, output_heap: 'd'.repeat(64) } } }));
    assert.equal((corrupt as { code: string }).code, 'HEAP_CORRUPT');
    assert.equal(machine.entries('one-write').length, 2, 'a record that does not hash to its id commits no entry');
  });

  test('a snapshot restores everything, including the request ids (a retry after a restore is still a no-op)', () => {
    const entries = history();
    const source = new ClusterMachine();
    for (const e of entries) source.apply(e);
    const restored = new ClusterMachine();
    restored.restore(source.snapshot());
    assert.equal(restored.snapshot(), source.snapshot());
    assert.deepEqual(restored.queryTags({}), source.queryTags({}));
    const retry = entry('r3', { type: 'session.append', session: 's', entry: { input_heap: heap, output_heap: other, code: 'x++', timestamp: 't2' } });
    assert.deepEqual(restored.apply(retry), { ok: true, value: 1 });
    assert.equal(restored.entries('s').length, 2);
    restored.restore('');
    assert.deepEqual(restored.listSessions(), []);
    assert.throws(() => restored.restore('{"format":"other"}'), /not a mcp-v8\/cluster-machine@1/);
  });

  test('a snapshot in parts is the state when its view was taken, whatever is applied while it is read; past one part per list it is cut', () => {
    const machine = new ClusterMachine();
    for (const e of history()) machine.apply(e);
    // Long enough lists that each is cut into several parts, and the request-id window turns over.
    const appends = (from: number, count: number) => Array.from({ length: count }, (_, i) => entry(`bulk-${from + i}`, { type: 'session.append', session: `s${(from + i) % 3}`, entry: { input_heap: null, output_heap: other, code: `step "${from + i}"`, timestamp: 't' } }));
    for (const e of appends(0, 1000)) machine.apply(e);
    const whole = machine.snapshot();
    const parts = machine.snapshotParts()[Symbol.iterator]();
    const read: string[] = [];
    const first = parts.next();
    assert.equal(first.done, false);
    read.push(first.value as string);
    // Applied after the view: appends to the sessions it holds, a new session, a heap, tags and a member.
    for (const e of appends(1000, 500)) machine.apply(e);
    const laterRecord = '{"format":"test","n":2}';
    const laterHeap = createHash('sha256').update(laterRecord).digest('hex');
    machine.apply(entry('late-1', { type: 'heap.save', record: laterRecord, node: 'n2', commit: { type: 'heap.commit', heap: laterHeap, session: 'late', entry: { input_heap: null, output_heap: laterHeap, code: 'y', timestamp: 't3' }, tags: { project: 'later' } } }));
    machine.apply(entry('late-2', { type: 'tags.set', heap: other, tags: { project: 'moved' } }));
    machine.apply(entry('late-3', { type: 'member.remove', id: 7 }));
    for (let next = parts.next(); next.done !== true; next = parts.next()) read.push(next.value);
    assert.ok(read.length > 8, `cut into parts (${read.length})`);
    assert.equal(read.join(''), whole);
    const restored = new ClusterMachine();
    restored.restore(read.join(''));
    assert.equal(restored.entries('s0').length, 334);
    assert.deepEqual(restored.getTags(other), { project: 'etl', step: '2' });
    assert.equal(restored.heapRecord(laterHeap), undefined);
    // A restore while a view is read leaves the view as it was.
    const again = machine.snapshot();
    const during = machine.snapshotParts();
    machine.restore('');
    assert.equal([...during].join(''), again);
  });
});

describe('the request-id window', () => {
  test(`a retry after ${requestIdsRememberedMax} later writes is refused with a clear answer, never applied twice; within the window it gets the first answer`, () => {
    const machine = new ClusterMachine();
    let at = 0;
    const write = (rid: string, since: number, code: string) => machine.apply({ term: 1, index: ++at, kind: 'normal', data: JSON.stringify({ rid, since, command: { type: 'session.append', session: 'window', entry: { input_heap: null, output_heap: other, code, timestamp: 't' } } }) });
    assert.deepEqual(write('first', 0, 'once'), { ok: true, value: 0 });
    for (let n = 0; n < requestIdsRememberedMax - 1; n++) machine.apply({ term: 1, index: ++at, kind: 'normal', data: JSON.stringify({ rid: `filler-${n}`, since: at - 1, command: { type: 'tags.set', heap: other, tags: { n: String(n) } } }) });
    // Still remembered: the retry gets the first answer.
    assert.deepEqual(write('first', 0, 'once'), { ok: true, value: 0 });
    machine.apply({ term: 1, index: ++at, kind: 'normal', data: JSON.stringify({ rid: 'one-more', since: at - 1, command: { type: 'tags.set', heap: other, tags: {} } }) });
    // Forgotten now: refused, and the session still holds it once.
    const late = write('first', 0, 'once');
    assert.equal(late.ok, false);
    assert.equal(!late.ok && late.code, 'LIMIT_EXCEEDED');
    assert.match(!late.ok ? late.message : '', /first proposed at log index 0, before the last 65536 writes.*may or may not have been applied; read the state back/);
    assert.deepEqual(machine.entries('window').map((e) => e.code), ['once']);
    // The refusal is remembered like an answer, and survives a snapshot; a fresh write is applied.
    const restored = new ClusterMachine();
    restored.restore(machine.snapshot());
    assert.deepEqual(restored.apply({ term: 1, index: at + 1, kind: 'normal', data: JSON.stringify({ rid: 'first', since: 0, command: { type: 'session.append', session: 'window', entry: { input_heap: null, output_heap: other, code: 'once', timestamp: 't' } } }) }), late);
    assert.deepEqual(write('fresh', at, 'fresh'), { ok: true, value: 1 });
    // A retried write that was never applied, first proposed after the forgotten ones: applied once.
    assert.deepEqual(write('late-but-new', at - 5, 'new'), { ok: true, value: 2 });
  });
});

describe('cluster ticks', () => {
  test('the election timeout the core draws stays within --election-timeout-min..max', () => {
    for (const [heartbeat, min, max] of [[100, 300, 500], [100, 1000, 2000], [10, 50, 51], [1, 2, 4], [200, 1000, 1000]] as const) {
      const ticks = clusterTicks({ heartbeatIntervalMs: heartbeat, electionTimeoutMinMs: min, electionTimeoutMaxMs: max });
      assert.ok(ticks.heartbeatTicks < ticks.electionTicks, 'heartbeats come before an election');
      const lowestMs = ticks.electionTicks * ticks.tickMs;
      const highestMs = (ticks.electionTicks + Math.min(ticks.electionTicks, ticks.jitterTicks) - 1) * ticks.tickMs;
      assert.ok(Math.abs(lowestMs - min) <= ticks.tickMs, `${heartbeat}/${min}/${max}: lowest ${lowestMs}`);
      assert.ok(highestMs <= max + ticks.tickMs, `${heartbeat}/${min}/${max}: highest ${highestMs}`);
    }
  });
});
