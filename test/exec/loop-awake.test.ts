// The event loop kept awake while a lone run's isolate works (src/exec/loop-awake.ts): only on a
// quiet machine with a CPU spare, only until the release, never past its bound. The clock and the
// load average are the test's own, so nothing here depends on how fast the machine is.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoopAwake, awakeUsMax, idleBeforeUsMin, loadReadMs, preemptedUsMin } from '../../src/exec/loop-awake.ts';

/** Lets the loop make `count` turns (each setImmediate runs one turn after the chain's). */
async function turns(count: number): Promise<void> {
  for (let index = 0; index < count; index++) await new Promise((resolve) => setImmediate(resolve));
}

function fakeClock(): { nowUs: () => number; advance: (us: number) => void } {
  let now = 1_000_000;
  return { nowUs: () => now, advance: (us) => { now += us; } };
}

describe('keeping the event loop awake', () => {
  test('while held on a quiet machine the loop turns without sleeping; after the release it stops', async () => {
    const clock = fakeClock();
    const awake = new LoopAwake({ cpus: 2, loadAverage: () => 0.3, nowUs: clock.nowUs });
    const release = awake.hold(1);
    await turns(20);
    assert.ok(awake.turns >= 15, `the chain turned with the loop (${awake.turns} turns)`);
    release();
    const atRelease = awake.turns;
    await turns(20);
    assert.ok(awake.turns <= atRelease + 1, `no turns after the release (${awake.turns - atRelease})`);
    release();
  });

  test('no spinning when the runs take every CPU, on a disabled one, or on a busy machine', async () => {
    const clock = fakeClock();
    const full = new LoopAwake({ cpus: 2, loadAverage: () => 0, nowUs: clock.nowUs });
    const disabled = new LoopAwake({ enabled: false, loadAverage: () => 0, nowUs: clock.nowUs });
    const busy = new LoopAwake({ cpus: 2, loadAverage: () => 1.6, nowUs: clock.nowUs });
    const releases = [full.hold(2), disabled.hold(1), busy.hold(1)];
    await turns(20);
    assert.deepEqual([full.turns, disabled.turns, busy.turns], [0, 0, 0]);
    for (const release of releases) release();
  });

  test('a hold spins at most awakeUsMax, and stops at once when a turn comes late (the thread was descheduled)', async () => {
    const clock = fakeClock();
    const awake = new LoopAwake({ cpus: 2, loadAverage: () => 0, nowUs: clock.nowUs });
    const release = awake.hold(1);
    await turns(5);
    clock.advance(awakeUsMax);
    await turns(5);
    const atBound = awake.turns;
    await turns(20);
    assert.ok(awake.turns <= atBound + 1, 'held, but past its bound: the loop sleeps again');
    release();

    clock.advance(idleBeforeUsMin);
    const again = awake.hold(1);
    await turns(5);
    const before = awake.turns;
    assert.ok(before > atBound + 1, 'a new hold starts the chain again');
    clock.advance(preemptedUsMin);
    await turns(20);
    assert.ok(awake.turns <= before + 2, 'a late turn ends the chain');
    again();
  });

  test('only a run that starts after the engine was idle idleBeforeUsMin gets the loop kept awake', async () => {
    const clock = fakeClock();
    const awake = new LoopAwake({ cpus: 4, loadAverage: () => 0, nowUs: clock.nowUs });
    const first = awake.hold(1);
    const beside = awake.hold(2);
    first();
    await turns(5);
    const afterFirst = awake.turns;
    await turns(10);
    assert.ok(awake.turns <= afterFirst + 1, 'a run that began beside another keeps nothing awake');
    beside();
    clock.advance(idleBeforeUsMin - 1);
    const soon = awake.hold(1);
    await turns(10);
    assert.ok(awake.turns <= afterFirst + 1, 'a run that began right after another ended keeps nothing awake');
    soon();
    clock.advance(idleBeforeUsMin);
    const idle = awake.hold(1);
    await turns(10);
    assert.ok(awake.turns > afterFirst + 5, 'after an idle gap it does');
    idle();
  });

  test('the load average is read at most once per loadReadMs, and a busy reading holds until the next read', async () => {
    const clock = fakeClock();
    let reads = 0;
    let load = 5;
    const awake = new LoopAwake({ cpus: 2, loadAverage: () => { reads++; return load; }, nowUs: clock.nowUs });
    for (let index = 0; index < 100; index++) {
      awake.hold(1)();
      clock.advance(idleBeforeUsMin);
    }
    // 100 holds over 0.5 s of the test's clock: one reading.
    assert.equal(reads, 1);
    load = 0.2;
    clock.advance(loadReadMs * 1000 - 1 - 100 * idleBeforeUsMin);
    awake.hold(1)();
    assert.equal(reads, 1, 'not read again within loadReadMs: still busy');
    assert.equal(awake.turns, 0);
    clock.advance(idleBeforeUsMin);
    const release = awake.hold(1);
    assert.equal(reads, 2);
    await turns(5);
    assert.ok(awake.turns > 0, 'quiet now: the loop spins');
    release();
  });
});
