// withinMs (src/cluster/node.ts): a write's or read's wait against its deadline, with one timer
// for every wait under way instead of one each. What a caller relies on: the value when it comes
// first, 'timeout' when the deadline does, errors passed through, a short deadline not held up by
// a longer one set before it, and nothing left armed once no wait is under way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { racesUnderWay, withinMs } from '../../src/cluster/node.ts';

const never = new Promise<never>(() => {});

test('the value when it comes first; nothing left armed after', async () => {
  assert.equal(await withinMs(Promise.resolve(7), 60_000), 7);
  let settle!: (value: string) => void;
  const waiting = withinMs(new Promise<string>((resolve) => { settle = resolve; }), 60_000);
  assert.deepEqual(racesUnderWay(), { races: 1, timerArmed: true });
  settle('applied');
  assert.equal(await waiting, 'applied');
  assert.deepEqual(racesUnderWay(), { races: 0, timerArmed: false });
});

test("'timeout' when the deadline comes first; a value that comes later is ignored", async () => {
  let settle!: (value: number) => void;
  const late = new Promise<number>((resolve) => { settle = resolve; });
  assert.equal(await withinMs(late, 5), 'timeout');
  settle(1);
  await late;
  assert.deepEqual(racesUnderWay(), { races: 0, timerArmed: false });
});

test('an error passes through; one after the deadline is ignored', async () => {
  await assert.rejects(withinMs(Promise.reject(new Error('refused')), 60_000), /refused/);
  let fail!: (error: Error) => void;
  const late = new Promise<number>((_, reject) => { fail = reject; });
  assert.equal(await withinMs(late, 1), 'timeout');
  fail(new Error('too late'));
  await assert.rejects(late, /too late/);
});

test('a short deadline set after a long one ends first (the one timer is armed again for it)', async () => {
  let settle!: (value: string) => void;
  const long = withinMs(new Promise<string>((resolve) => { settle = resolve; }), 600_000);
  assert.equal(await withinMs(never, 1), 'timeout');
  assert.deepEqual(racesUnderWay(), { races: 1, timerArmed: true }, 'the long wait is still under way');
  settle('applied');
  assert.equal(await long, 'applied');
  assert.deepEqual(racesUnderWay(), { races: 0, timerArmed: false });
});

test('many waits: each settles with its own outcome, in any order', async () => {
  const settles: Array<(value: number) => void> = [];
  const waits = Array.from({ length: 200 }, (_, i) => withinMs(new Promise<number>((resolve) => { settles.push(resolve); }), i % 2 === 0 ? 60_000 : 2));
  for (let i = 198; i >= 0; i -= 2) settles[i]!(i);
  const outcomes = await Promise.all(waits);
  outcomes.forEach((outcome, i) => assert.equal(outcome, i % 2 === 0 ? i : 'timeout', `wait ${i}`));
  assert.deepEqual(racesUnderWay(), { races: 0, timerArmed: false });
});
