// The checker itself, on histories whose verdict is known, including calls that never returned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvCommand, KvResult } from './sim/kv-machine.ts';
import { kvModel } from './sim/kv-model.ts';
import type { KvOperation } from './sim/kv-model.ts';
import { checkOperations } from './sim/linearizability.ts';

function op(clientId: number, input: KvCommand, output: KvResult | null, callTime: number, returnTime: number): KvOperation {
  return { clientId, input, output, callTime, returnTime };
}
const put = (key: string, value: string): KvCommand => ({ op: 'put', key, value });
const get = (key: string): KvCommand => ({ op: 'get', key });
const cas = (key: string, expected: string | null, value: string): KvCommand => ({ op: 'cas', key, expected, value });
const read = (value: string | null): KvResult => ({ ok: true, value });
const done = (value: string): KvResult => ({ ok: true, value });
const failed = (value: string | null): KvResult => ({ ok: false, value });

test('a sequential history that follows the model is linearizable', () => {
  const history = [op(0, put('x', '1'), done('1'), 0, 1), op(0, get('x'), read('1'), 2, 3), op(0, cas('x', '1', '2'), done('2'), 4, 5), op(0, get('x'), read('2'), 6, 7)];
  assert.equal(checkOperations(kvModel, history), 'ok');
});

test('a read of a value overwritten before the read began is not linearizable', () => {
  const history = [op(0, put('x', '1'), done('1'), 0, 1), op(0, put('x', '2'), done('2'), 2, 3), op(1, get('x'), read('1'), 4, 5)];
  assert.equal(checkOperations(kvModel, history), 'illegal');
});

test('concurrent writes may take effect in either order (Porcupine\'s etcd example shape)', () => {
  const history = [
    op(0, put('x', '1'), done('1'), 0, 10),
    op(1, put('x', '2'), done('2'), 1, 9),
    op(2, get('x'), read('1'), 11, 12),
  ];
  assert.equal(checkOperations(kvModel, history), 'ok');
});

test('two reads that see concurrent writes in opposite orders are not linearizable', () => {
  const history = [
    op(0, put('x', '1'), done('1'), 0, 10),
    op(1, put('x', '2'), done('2'), 0, 10),
    op(2, get('x'), read('1'), 11, 12),
    op(3, get('x'), read('2'), 13, 14),
    op(2, get('x'), read('1'), 15, 16),
  ];
  assert.equal(checkOperations(kvModel, history), 'illegal');
});

test('a read concurrent with a write may see either value, but not a value from the future', () => {
  const concurrent = [op(0, put('x', '1'), done('1'), 0, 5), op(1, get('x'), read(null), 1, 2), op(2, get('x'), read('1'), 3, 4)];
  assert.equal(checkOperations(kvModel, concurrent), 'ok');
  const future = [op(1, get('x'), read('1'), 0, 1), op(0, put('x', '1'), done('1'), 2, 3)];
  assert.equal(checkOperations(kvModel, future), 'illegal');
});

test('compare-and-set outcomes must agree with the value at their linearization point', () => {
  const legal = [op(0, put('x', 'a'), done('a'), 0, 1), op(1, cas('x', 'a', 'b'), done('b'), 2, 3), op(2, cas('x', 'a', 'c'), failed('b'), 4, 5)];
  assert.equal(checkOperations(kvModel, legal), 'ok');
  const bothWin = [op(0, put('x', 'a'), done('a'), 0, 1), op(1, cas('x', 'a', 'b'), done('b'), 2, 6), op(2, cas('x', 'a', 'c'), done('c'), 3, 5), op(3, get('x'), read('c'), 7, 8)];
  assert.equal(checkOperations(kvModel, bothWin), 'illegal');
});

test('a write that timed out (never returned) may have taken effect at any point after its call', () => {
  const pending = op(0, put('x', '1'), null, 0, Infinity);
  const seenLate = [pending, op(1, get('x'), read(null), 1, 2), op(1, get('x'), read('1'), 3, 4), op(1, get('x'), read('1'), 5, 6)];
  assert.equal(checkOperations(kvModel, seenLate), 'ok');
  const neverSeen = [pending, op(1, get('x'), read(null), 1, 2)];
  assert.equal(checkOperations(kvModel, neverSeen), 'ok');
});

test('a timed-out write still cannot explain a value flickering back', () => {
  const history = [
    op(0, put('x', '1'), done('1'), 0, 1),
    op(1, put('x', '2'), null, 2, Infinity),
    op(2, get('x'), read('2'), 3, 4),
    op(2, get('x'), read('1'), 5, 6),
  ];
  assert.equal(checkOperations(kvModel, history), 'illegal');
});

test('a timed-out write cannot take effect before it was called', () => {
  const history = [op(1, get('x'), read('1'), 0, 1), op(0, put('x', '1'), null, 2, Infinity)];
  assert.equal(checkOperations(kvModel, history), 'illegal');
});

test('keys are checked independently: a violation on one key is found among legal others', () => {
  const history: KvOperation[] = [];
  for (let i = 0; i < 50; i++) history.push(op(i % 3, put(`k${i % 5}`, `v${i}`), done(`v${i}`), i * 2, i * 2 + 1));
  assert.equal(checkOperations(kvModel, history), 'ok');
  history.push(op(9, get('k0'), read('v0'), 200, 201));
  assert.equal(checkOperations(kvModel, history), 'illegal');
});

test('many concurrent operations are checked quickly thanks to memoization', () => {
  const history: KvOperation[] = [];
  for (let i = 0; i < 200; i++) {
    const start = Math.floor(i / 10) * 100;
    history.push(op(i, put('x', `v${i}`), done(`v${i}`), start, start + 50));
  }
  history.push(op(999, get('x'), read('v199'), 3000, 3001));
  const startedMs = performance.now();
  assert.equal(checkOperations(kvModel, history), 'ok');
  assert.ok(performance.now() - startedMs < 5000);
});

test('a failed compare-and-set that reports a stale current value is not linearizable', () => {
  const history = [
    op(0, put('x', '1'), done('1'), 0, 1),
    op(0, put('x', '2'), done('2'), 2, 3),
    // Fails correctly (x is 2, not 3), but names 1 as the current value: a stale read.
    op(1, cas('x', '3', '4'), failed('1'), 4, 5),
  ];
  assert.equal(checkOperations(kvModel, history), 'illegal');
  const honest = [...history.slice(0, 2), op(1, cas('x', '3', '4'), failed('2'), 4, 5)];
  assert.equal(checkOperations(kvModel, honest), 'ok');
});

test('a put or a successful compare-and-set whose reply carries another value is not linearizable', () => {
  assert.equal(checkOperations(kvModel, [op(0, put('x', '1'), done('0'), 0, 1)]), 'illegal');
  assert.equal(checkOperations(kvModel, [op(0, put('x', '1'), done('1'), 0, 1), op(0, cas('x', '1', '2'), done('1'), 2, 3)]), 'illegal');
  assert.equal(checkOperations(kvModel, [op(0, put('x', '1'), done('1'), 0, 1), op(0, cas('x', '1', '2'), done('2'), 2, 3)]), 'ok');
});

test('a get reply marked failed is not a read of the value it carries', () => {
  assert.equal(checkOperations(kvModel, [op(0, get('x'), failed(null), 0, 1)]), 'illegal');
});
