// The engine's half of stateful mode: a run leaves its context alive (resume), and a chain of
// recorded runs replays into a fresh context to the same state (virtual clock, recorded timer
// and work order, no console), or fails with a clear divergence.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ReplayStep } from '../../src/exec/types.ts';
import { statefulHarness } from './stateful-harness.ts';

const { runStateful, chain, resume, drop, live: liveHeaps } = await statefulHarness();

/** An onStarted callback whose call resolves a promise added to `started`. */
function startedSignal(started: Array<Promise<void>>): () => void {
  let resolve = (): void => undefined;
  started.push(new Promise<void>((done) => { resolve = done; }));
  return () => resolve();
}

describe('stateful engine', () => {
  test('a live context keeps var, let, const, class, functions and closures, and a later run may declare them again', async () => {
    const { last } = await chain([
      'var a = 1; let b = 2; const c = 3; class Point { constructor(x) { this.x = x } }; function f() { return a + b + c } const counter = (() => { let n = 0; return () => ++n })(); counter();',
      'let b = 20; const p = new Point(5); [f(), p.x, counter()].join()',
    ]);
    assert.equal(last.outcome.result, '24,5,2');
    const probe = await runStateful('[a, b, c, typeof Point, counter()].join()', resume(last.live!));
    assert.equal(probe.outcome.result, '1,20,3,function,3');
    drop(probe.live);
  });

  test('top-level await code keeps its let/const/class too', async () => {
    const { last } = await chain(['const v = await Promise.resolve(41); class K {}; let w = v + 1; w']);
    assert.equal(last.outcome.result, '42');
    const probe = await runStateful('[v, w, typeof K].join()', resume(last.live!));
    assert.equal(probe.outcome.result, '41,42,function');
    drop(probe.live);
  });

  test('replay rebuilds random, clock, timers and promises exactly, and silently', async () => {
    const { steps, last } = await chain([
      `var log = []; var r = Math.random(); var t0 = Date.now(); var p0 = performance.now();
       var u = crypto.randomUUID(); console.log('printed once');
       setTimeout(() => log.push('slow:' + Date.now()), 30); setTimeout(() => log.push('fast'), 1);
       await Promise.all([new Promise((ok) => setTimeout(() => ok(log.push('awaited')), 10)), Promise.resolve().then(() => log.push('micro'))]);
       log.length`,
      `await new Promise((ok) => setTimeout(ok, 40)); log.push(new Date().toISOString()); var bytes = crypto.getRandomValues(new Uint8Array(4)).join(); log.length`,
    ]);
    const probe = '[r, t0, p0, u, bytes, log.join("|")].join(" ")';
    const live = await runStateful(probe, resume(last.live!));
    const replayed = await runStateful(probe, { replay: steps });
    assert.equal(replayed.outcome.status, 'completed', replayed.outcome.error ?? '');
    assert.equal(replayed.outcome.result, live.outcome.result);
    assert.deepEqual(replayed.lines, [], 'a replay prints nothing');
    drop(live.live);
    drop(replayed.live);
  });

  test('replay runs on a virtual clock: a recorded hour-long wait replays within a one-second budget', async () => {
    const { steps, last } = await chain(['var t0 = Date.now(); await new Promise((done) => setTimeout(done, 20)); var t1 = Date.now(); t1 - t0 >= 20']);
    drop(last.live);
    const hourMs = 3_600_000;
    const step = steps[0]!;
    const readings = step.observed.clockReadingsMs;
    // As if the timer had been an hour long: the event and the reading after it move an hour on.
    const stretched = {
      ...step,
      limits: { ...step.limits, executionTimeoutMs: 1_000 },
      observed: {
        ...step.observed,
        clockReadingsMs: [readings[0]!, ...readings.slice(1).map((reading) => reading + hourMs)],
        events: step.observed.events.map((event) => (event.kind === 'timer' ? { ...event, atMs: event.atMs + hourMs } : event)),
      },
    };
    const replayed = await runStateful('t1 - t0', { replay: [stretched] });
    assert.equal(replayed.outcome.status, 'completed', replayed.outcome.error ?? '');
    assert.ok(Number(replayed.outcome.result) >= hourMs, `the replayed code saw the recorded hour pass: ${replayed.outcome.result}`);
    drop(replayed.live);
  });

  test('a run that throws is a heap: replay throws at the same place and keeps the partial state', async () => {
    const { steps, last } = await chain(['var before = Math.random(); null.boom; var after = 1']);
    assert.equal(last.outcome.status, 'failed');
    const replayed = await runStateful('[typeof before, typeof after].join()', { replay: steps });
    assert.equal(replayed.outcome.result, 'number,undefined');
    drop(last.live);
    drop(replayed.live);
  });

  test('a top-level await run that throws replays to the same line and column, also one recorded before the wrapper had its own line', async () => {
    const { steps, last } = await chain(['var got = await Promise.resolve(1);\n  null.boom;\n  got']);
    assert.equal(last.outcome.status, 'failed');
    assert.match(last.outcome.error!, /^TypeError: .*\n\s+at main\.js:2:8$/, 'the line and column written');
    const replayed = await runStateful('got', { replay: steps });
    assert.equal(replayed.outcome.status, 'completed', replayed.outcome.error ?? '');
    assert.equal(replayed.outcome.result, '1');
    drop(replayed.live);
    // The same run as the wrapper recorded it until 2026-12-01, prefix and code on line 1: its
    // record says line 2 too, which a replay one line up would miss (a divergence).
    const oldSource = 'var got; ((run) => (run.catch(() => {}), run))((async () => { ;( got = await Promise.resolve(1));\n  null.boom;\n  return (got);\n})())';
    const oldStep = { ...steps[0]!, code: oldSource };
    const replayedOld = await runStateful('got', { replay: [oldStep] });
    assert.equal(replayedOld.outcome.status, 'completed', replayedOld.outcome.error ?? '');
    assert.equal(replayedOld.outcome.result, '1');
    drop(replayedOld.live);
    drop(last.live);
  });

  test('code whose import cannot be loaded runs nothing and leaves no heap', async () => {
    const { last } = await chain(['var kept = 7']);
    const refused = await runStateful("import fs from 'fs'\nawait fs.promises.readFile('x')", resume(last.live!));
    assert.equal(refused.outcome.status, 'failed');
    assert.match(refused.outcome.error ?? '', /^Error: Cannot import 'fs': only npm:/);
    assert.equal(refused.outcome.source, null, 'no code ran');
    assert.equal(refused.step, null, 'so there is no heap, whose replay would meet V8\'s error instead');
    const after = await runStateful('kept', resume(refused.live ?? last.live!));
    assert.equal(after.outcome.result, '7', 'the context still holds the parent\'s state');
    drop(after.live);
  });

  test('async WebAssembly results reach user code in their recorded order', async () => {
    const wasm = '[0,97,115,109,1,0,0,0,1,5,1,96,0,1,127,3,2,1,0,7,7,1,3,103,101,116,0,0,10,6,1,4,0,65,42,11]';
    const { steps, last } = await chain([
      `var order = []; var bytes = new Uint8Array(${wasm});
       var instance = (await WebAssembly.instantiate(bytes)).instance; order.push('wasm');
       setTimeout(() => order.push('timer'), 0); await new Promise((ok) => setTimeout(ok, 5)); instance.exports.get()`,
    ]);
    assert.equal(last.outcome.result, '42');
    const replayed = await runStateful('order.join() + ":" + instance.exports.get()', { replay: steps });
    assert.equal(replayed.outcome.result, 'wasm,timer:42');
    drop(last.live);
    drop(replayed.live);
  });

  test('a record that does not match the code is a divergence, named, never a silent state', async () => {
    const { steps, last } = await chain(['var x = Date.now(); x > 0']);
    drop(last.live);
    const tampered: ReplayStep[] = [{ ...steps[0]!, code: 'var x = Date.now() + Date.now(); x > 0' }];
    const replayed = await runStateful('x', { replay: tampered });
    assert.equal(replayed.outcome.status, 'failed');
    assert.match(replayed.outcome.error!, /Could not resume heap 0+\d+: replaying run 1 of 1 .* diverged from its record: .*clock/);
    assert.equal(replayed.live, null);
  });

  test('a divergence in the middle of a history is named by its run, whatever runs after it (replay sends the next run behind an eventless one)', async () => {
    const { steps, last } = await chain(['var n = 1; n', 'n += 1; n', "n += 1; if (n > 2) throw new Error('three'); n", 'n += 10; n']);
    drop(last.live);
    // The whole history replays as recorded, the run that threw included.
    const replayed = await runStateful('n', { replay: steps });
    assert.equal(replayed.outcome.result, '13');
    drop(replayed.live);
    // Run 2 recorded another result: the replay stops there, names run 2, and keeps no context.
    const tampered: ReplayStep[] = steps.map((step, index) => (index === 1 ? { ...step, outcome: { ...step.outcome, result: '5' } } : step));
    const diverged = await runStateful('n', { replay: tampered });
    assert.equal(diverged.outcome.status, 'failed');
    assert.match(diverged.outcome.error!, /replaying run 2 of 4 .* diverged from its record: it ended completed \(2\), the recorded run completed \(5\)/);
    assert.equal(diverged.live ?? null, null);
  });

  test('replay under a smaller memory limit than the history needs fails clearly', async () => {
    const big = { heapMemoryMaxMb: 64, executionTimeoutMs: 10_000 };
    const first = await runStateful('var keep = []; for (let i = 0; i < 40; i++) keep.push(new Array(100_000).fill(i)); keep.length', { replay: [] }, { limits: big });
    assert.equal(first.outcome.status, 'completed', first.outcome.error ?? '');
    drop(first.live);
    const replayed = await runStateful('keep.length', { replay: [first.step!] }, { limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 5_000 } });
    assert.equal(replayed.outcome.status, 'failed');
    assert.match(replayed.outcome.error!, /replaying its history \(run 1 of 1\) ran out of memory: V8 heap limit exceeded \(heap_memory_max_mb: 8 MiB\)\. Resume it with a larger heap_memory_max_mb \(at most 64\)\.$/);
  });

  test('a cancelled, timed out or out-of-memory run leaves no live context', async () => {
    const timedOut = await runStateful('while (true) {}', { replay: [] }, { limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 200 } });
    assert.equal(timedOut.outcome.status, 'timed_out');
    assert.equal(timedOut.live, null);
    const abort = new AbortController();
    const cancelled = runStateful('await new Promise(() => setTimeout(() => {}, 10_000))', { replay: [] }, { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    assert.equal((await cancelled).outcome.status, 'cancelled');
    assert.equal((await cancelled).live, null);
  });

  test('a resume cancelled while it waits for a slot gives the live context back, unchanged', async () => {
    const { last } = await chain(['var kept = 1']);
    const name = last.live!;
    // Every lane this (anonymous) client may hold is busy, so the resume queues, holding the
    // context it took. Spinning, not awaiting: a run that awaits a timer gives its lane back
    // (scheduler.ts). Two slots; the third spinner starts once the first two count as long, and
    // then the client holds lanes - 1 = 3, its most, however long the resume takes to arrive.
    const busy = new AbortController();
    const started: Array<Promise<void>> = [];
    const blockers = [0, 1, 2].map(() => runStateful('for (;;) {}', { replay: [] }, {
      signal: busy.signal, onStarted: startedSignal(started), limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 120_000 },
    }));
    await Promise.all(started);
    const cancel = new AbortController();
    const resumed = runStateful('kept', resume(name), { signal: cancel.signal });
    assert.equal(liveHeaps.has(name), false, 'taken by the queued resume');
    cancel.abort();
    assert.equal((await resumed).outcome.status, 'cancelled');
    assert.equal(liveHeaps.has(name), true, 'the context (and its isolate) is back where it was, not left behind');
    busy.abort();
    for (const blocker of await Promise.all(blockers)) assert.equal(blocker.outcome.status, 'cancelled');
    const again = await runStateful('kept', resume(name));
    assert.equal(again.outcome.result, '1');
    drop(again.live);
  });

  test('a resume whose context is gone replays the history it was given instead', async () => {
    const { steps, last } = await chain(['var kept = 5']);
    drop(last.live);
    const replayed = await runStateful('kept + 1', { resume: last.live!, history: () => Promise.resolve(steps) });
    assert.equal(replayed.outcome.result, '6');
    drop(replayed.live);
    const unreadable = await runStateful('kept', { resume: last.live!, history: () => Promise.reject(new Error('the record is damaged')) });
    assert.equal(unreadable.outcome.status, 'failed');
    assert.equal(unreadable.outcome.error, `Could not resume heap ${last.live}: the record is damaged`);
  });
});
