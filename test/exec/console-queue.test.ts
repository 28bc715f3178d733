// Console batches between the isolates' callbacks and the runs' sinks (src/exec/console-queue.ts,
// issue 18 item 3): queued in the callback, handed over a slice per event-loop turn, the waiting
// runs taking turns; past the queue's bound handed over at once, in order. With a real engine: a
// flood of 1 MB lines reaches the host over as many event-loop turns as it has batches, so other
// work (a neighbour's request) gets the main thread between two of them (before, all of them
// were checked and stored in one go).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConsoleQueue, burstChars, droppedBatchesLine, freeCharsPerRun, queuedCharsMax, rateCharsPerS, sliceCharsMax } from '../../src/exec/console-queue.ts';
import { consoleTruncatedLine } from '../../src/exec/outcome.ts';
import { engineForFile } from './harness.ts';

/** A queue whose turns and clock the test runs by hand: `turn` moves the clock by the delay of the slice scheduled last, then runs it. */
function manual(): { queue: ConsoleQueue; turn: () => boolean; delivered: string[]; delays: number[]; clock: { ms: number } } {
  let next: { slice: () => void; delayMs: number } | null = null;
  const clock = { ms: 0 };
  const delays: number[] = [];
  // A slice scheduled again replaces the one before (the queue makes an earlier one do nothing).
  const queue = new ConsoleQueue((slice, delayMs) => {
    next = { slice, delayMs };
    delays.push(delayMs);
  }, () => clock.ms);
  return {
    queue,
    delivered: [],
    delays,
    clock,
    turn: () => {
      const scheduled = next;
      next = null;
      if (scheduled === null) return false;
      clock.ms += scheduled.delayMs;
      scheduled.slice();
      return true;
    },
  };
}

/** A route of a run of its own whose deliver takes every batch. */
const routeOf = (take: (batch: unknown) => unknown) => ({
  run: {},
  deliver: (batch: unknown): boolean => {
    take(batch);
    return true;
  },
});

/** The 1 MiB batches of a run that go free. */
const freeMegabytes = Math.floor(freeCharsPerRun / (1024 * 1024));

describe('ConsoleQueue', () => {
  test('a callback only queues; batches go out in later turns, in order, a slice per turn', () => {
    const { queue, turn, delivered } = manual();
    const route = routeOf((batch) => delivered.push(String(batch)));
    const big = 'x'.repeat(sliceCharsMax);
    queue.push(route, 'a');
    queue.push(route, big);
    queue.push(route, 'b');
    queue.push(route, 'c');
    assert.deepEqual(delivered, [], 'nothing handed over in the callback');
    assert.equal(queue.queued, 3 + sliceCharsMax);
    assert.ok(turn());
    assert.deepEqual(delivered, ['a', big], 'a turn stops once it handed over sliceCharsMax characters');
    assert.ok(turn());
    assert.deepEqual(delivered, ['a', big, 'b', 'c']);
    assert.equal(turn(), false, 'nothing left: no turn scheduled');
    assert.equal(queue.queued, 0);
  });

  test('runs with batches waiting take turns, one batch each', () => {
    const { queue, turn, delivered } = manual();
    const flood = routeOf((batch) => delivered.push(`flood ${String(batch).length}`));
    const neighbour = routeOf((batch) => delivered.push(`neighbour ${String(batch)}`));
    for (let index = 0; index < 4; index++) queue.push(flood, 'x'.repeat(sliceCharsMax));
    queue.push(neighbour, 'hello');
    queue.push(neighbour, 'world');
    assert.ok(turn());
    assert.deepEqual(delivered, [`flood ${sliceCharsMax}`]);
    assert.ok(turn());
    assert.deepEqual(delivered.slice(1), ['neighbour hello', `flood ${sliceCharsMax}`], 'the neighbour\'s batch went before the flood\'s second');
    assert.ok(turn());
    assert.deepEqual(delivered.slice(3), ['neighbour world', `flood ${sliceCharsMax}`]);
    while (turn());
    assert.equal(delivered.length, 6);
  });

  test('what is not a string is queued and handed over as it came (the sink refuses it)', () => {
    const { queue, turn } = manual();
    const got: unknown[] = [];
    queue.push(routeOf((batch) => got.push(batch)), null);
    queue.push(routeOf((batch) => got.push(batch)), { length: 1e12 });
    assert.equal(queue.queued, 2, 'counted as one character each, whatever length it claims');
    while (turn());
    assert.deepEqual(got, [null, { length: 1e12 }]);
  });

  test(`a run's first ${freeCharsPerRun / 1024} KiB at once, then past a burst of ${burstChars / 1024 / 1024} Mi characters, ${rateCharsPerS / 1024 / 1024} Mi characters per second`, () => {
    const { queue, turn, delivered, delays, clock } = manual();
    const flood = routeOf((batch) => delivered.push(String(batch).slice(0, 1)));
    const megabytes = 2 * (burstChars + rateCharsPerS) / (1024 * 1024);
    for (let index = 0; index < megabytes; index++) queue.push(flood, 'x'.repeat(1024 * 1024));
    while (turn());
    assert.equal(delivered.length, megabytes, 'everything handed over, in the end');
    // The free characters and the burst go out in turns of the event loop at once; the rest waits for tokens.
    const atOnce = freeMegabytes + burstChars / (1024 * 1024);
    assert.deepEqual(delays.slice(0, atOnce), Array.from({ length: atOnce }, () => 0));
    assert.ok(delays.slice(atOnce).every((delayMs) => delayMs > 0), 'then a timer for each batch');
    // The last batch goes as soon as there is a token at all (its characters are owed afterwards).
    const expectedMs = (((megabytes - 1 - freeMegabytes) * 1024 * 1024 - burstChars) * 1000) / rateCharsPerS;
    assert.ok(clock.ms >= expectedMs - 1 && clock.ms <= expectedMs + delays.length, `${clock.ms} ms of clock for ${megabytes} MiB (${expectedMs} expected)`);
  });

  test('while a flood waits for tokens, another run\'s first lines go in the next turn, not after the flood\'s timer', () => {
    const { queue, turn, delivered, delays } = manual();
    const flood = routeOf((batch) => delivered.push(`flood ${String(batch).length}`));
    const neighbour = routeOf((batch) => delivered.push(`neighbour ${String(batch)}`));
    const atOnce = freeMegabytes + burstChars / (1024 * 1024);
    for (let index = 0; index < atOnce + 3; index++) queue.push(flood, 'x'.repeat(1024 * 1024));
    for (let index = 0; index < atOnce; index++) turn();
    assert.ok(delays.at(-1)! > 0, 'the flood now waits for tokens');
    queue.push(neighbour, 'hello');
    assert.equal(delays.at(-1), 0, 'a turn at once for the neighbour');
    assert.ok(turn());
    assert.equal(delivered.at(-1), 'neighbour hello');
    assert.equal(delivered.length, atOnce + 1, 'and the flood still waits');
    while (turn());
    assert.equal(delivered.length, atOnce + 4);
  });

  test('batches no run takes any more (a stopped run\'s) cost no tokens', () => {
    const { queue, turn, delays } = manual();
    const stopped = { run: null, deliver: () => false };
    for (let index = 0; index < 2 * burstChars / (1024 * 1024); index++) queue.push(stopped, 'x'.repeat(1024 * 1024));
    const got: unknown[] = [];
    queue.push(routeOf((batch) => got.push(batch)), 'after');
    while (turn());
    assert.deepEqual(got, ['after']);
    assert.ok(delays.every((delayMs) => delayMs === 0), `no wait for tokens: ${delays.join(',')}`);
  });

  test(`past ${queuedCharsMax / 1024 / 1024} Mi characters waiting, a route's batches are handed over at once, in order`, () => {
    const { queue, turn } = manual();
    const got: string[] = [];
    const route = routeOf((batch) => got.push(String(batch).slice(0, 1)));
    const other = routeOf((batch) => got.push(`other ${String(batch).slice(0, 1)}`));
    const quarter = queuedCharsMax / 4;
    for (const letter of ['a', 'b', 'c', 'd']) queue.push(letter === 'c' ? other : route, letter.repeat(quarter));
    assert.deepEqual(got, []);
    queue.push(route, 'e');
    assert.deepEqual(got, ['a', 'b', 'd', 'e'], 'the route\'s waiting batches, then the new one');
    assert.equal(queue.queued, quarter, 'the other route\'s batch still waits');
    while (turn());
    assert.deepEqual(got.slice(4), ['other c']);
    assert.equal(queue.queued, 0);
  });
});

const { run } = await engineForFile(1);

describe('a flood of 1 MB lines through a real engine', () => {
  test('its batches reach the host one per turn of the event loop, cut at the cap', async () => {
    // A chain of immediates counts the turns of the event loop while the run goes on.
    let turns = 0;
    let counting = true;
    const count = () => { turns++; if (counting) setImmediate(count); };
    setImmediate(count);
    const turnOfLine: number[] = [];
    const ran = await run("const mb = 'x'.repeat(1e6); for (let i = 0; i < 100; i++) console.log(mb); 'done'", { memoryMb: 64, onLine: () => turnOfLine.push(turns) });
    counting = false;
    assert.deepEqual([ran.status, ran.result], ['completed', 'done']);
    assert.equal(ran.lines.length, 34, '33 lines of 1 MB fit in 32 MiB (bytes plus one per line), then the truncation line');
    assert.equal(ran.lines.at(-1), consoleTruncatedLine);
    // The sandbox sends a batch once it holds 1 MiB of characters (or at once, its first 20 batches
    // of every 10 ms): one or two of these lines each. No turn took more than one batch.
    const linesPerTurn = new Map<number, number>();
    for (const turn of turnOfLine.slice(0, -1)) linesPerTurn.set(turn, (linesPerTurn.get(turn) ?? 0) + 1);
    assert.ok(Math.max(...linesPerTurn.values()) <= 2, `1 MB lines per turn of the event loop: ${[...linesPerTurn.values()].join(',')}`);
    assert.ok(linesPerTurn.size >= 17, `over ${linesPerTurn.size} turns`);
  });

  test('a run stopped while its output waits for the host loses that output, and its output ends with a line that says so', async () => {
    // 33 MB printed at once; at the rate, less than 20 MiB can have reached the host by the 1 s timeout.
    const ran = await run("const mb = 'x'.repeat(1e6); for (let i = 0; i < 40; i++) console.log(mb); for (;;) {}", { memoryMb: 64, timeoutMs: 1_000 });
    assert.equal(ran.status, 'timed_out');
    const last = ran.lines.at(-1)!;
    assert.match(last, /^\[output truncated: the execution ended before (\d+) more batch(es)? of its output reached the server\]$/);
    const dropped = Number(/before (\d+)/.exec(last)![1]);
    assert.equal(last, droppedBatchesLine(dropped));
    assert.ok(ran.lines.length - 1 < 33 && dropped > 0, `${ran.lines.length - 1} lines of 1 MB kept, ${dropped} batches dropped`);
  });
});
