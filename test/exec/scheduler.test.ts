// The lanes of a node (src/exec/scheduler.ts) as pure bookkeeping: no isolate, no clock (the
// long-run share, which is time, is tested against a real server in host-fair-share.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Scheduler, type Ticket } from '../../src/exec/scheduler.ts';

function started(scheduler: Scheduler, client: string): { ticket: Ticket | null; cancel: () => boolean } {
  const slot: { ticket: Ticket | null; cancel: () => boolean } = { ticket: null, cancel: () => false };
  slot.cancel = scheduler.admit(client, (ticket) => { slot.ticket = ticket; });
  return slot;
}

describe('scheduler', () => {
  test('slots bound the busy runs; an ended run lets the next one start, FIFO within a client', () => {
    const scheduler = new Scheduler({ slots: 2 });
    const runs = [0, 1, 2, 3].map(() => started(scheduler, 'a'));
    assert.deepEqual(runs.map((run) => run.ticket !== null), [true, true, false, false]);
    assert.deepEqual([scheduler.busy, scheduler.queued], [2, 2]);
    runs[0]!.ticket!.end();
    assert.deepEqual(runs.map((run) => run.ticket !== null), [true, true, true, false]);
    assert.equal(runs[3]!.cancel(), true, 'a waiting run is cancelled out of the queue');
    assert.equal(runs[2]!.cancel(), false, 'a started one says it had started');
    assert.equal(scheduler.queued, 0);
  });

  test('an idle run gives its lane to a waiting one and gets one back first when it is free', async () => {
    const scheduler = new Scheduler({ slots: 1 });
    const first = started(scheduler, 'a');
    const second = started(scheduler, 'a');
    const third = started(scheduler, 'a');
    first.ticket!.idle();
    assert.ok(second.ticket !== null && third.ticket === null);
    let resumed = false;
    const resuming = first.ticket!.busy().then(() => { resumed = true; });
    await Promise.resolve();
    assert.equal(resumed, false, 'no lane free');
    second.ticket!.end();
    await resuming;
    assert.equal(third.ticket, null, 'the started run took the lane ahead of the one that had not started');
    assert.deepEqual([scheduler.inFlight, scheduler.busy], [1, 1]);
    first.ticket!.end();
    assert.ok(third.ticket !== null);
  });

  test('runs in flight are bounded apart from the lanes', () => {
    const scheduler = new Scheduler({ slots: 1, inFlightMax: 3 });
    const runs = [0, 1, 2, 3].map(() => started(scheduler, 'a'));
    for (const run of runs) run.ticket?.idle();
    assert.deepEqual(runs.map((run) => run.ticket !== null), [true, true, true, false]);
    assert.deepEqual([scheduler.inFlight, scheduler.busy, scheduler.queued], [3, 0, 1]);
    runs[1]!.ticket!.end();
    assert.ok(runs[3]!.ticket !== null);
  });

  test('a run that ends while it waits for a lane is not left waiting', async () => {
    const scheduler = new Scheduler({ slots: 1 });
    const first = started(scheduler, 'a');
    first.ticket!.idle();
    const second = started(scheduler, 'a');
    const waiting = first.ticket!.busy();
    first.ticket!.end();
    await waiting;
    assert.deepEqual([scheduler.inFlight, scheduler.busy], [1, 1]);
    second.ticket!.end();
    assert.deepEqual([scheduler.inFlight, scheduler.busy], [0, 0]);
  });

  test('the next lane goes to the waiting client that holds the fewest', () => {
    const scheduler = new Scheduler({ slots: 2 });
    const a = [0, 1, 2].map(() => started(scheduler, 'a'));
    const b = started(scheduler, 'b');
    assert.deepEqual([a[2]!.ticket, b.ticket], [null, null]);
    a[0]!.ticket!.end();
    assert.ok(b.ticket !== null && a[2]!.ticket === null, 'b (no lane) before the older run of a (one lane)');
    assert.deepEqual([scheduler.lanes, scheduler.clientLanes], [4, 3]);
  });
});
