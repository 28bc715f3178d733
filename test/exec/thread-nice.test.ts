// src/exec/thread-nice.ts in this process: a real isolated-vm isolate spins on a real pool
// thread, and the looks are made by hand (sample()) or by the class's own timer, with the runs'
// CPU times given by the test. Behaviour is counted in looks, never in wall time: a spinning run's
// thread is lowered at the `busySamples`-th look that finds it runnable, not before, and gets
// its priority back at the first look that finds it asleep, or once no run has used enough CPU;
// and no more threads are lowered than there are runs that have.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import ivm from 'isolated-vm';
import { isolatedVmBuild } from '../../src/exec/isolated-vm-build.ts';
import { busySamples, isolateThreadName, loweredNice, lookAfterMs, ThreadNice, type NiceSource } from '../../src/exec/thread-nice.ts';

/** This process's isolate threads (named isolateThreadName, not the main thread) with their state. */
function isolateThreads(): { tid: number; runnable: boolean }[] {
  return readdirSync('/proc/self/task').flatMap((entry) => {
    const tid = Number(entry);
    if (tid === process.pid) return [];
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      return stat.slice(stat.indexOf('(') + 1, close) === isolateThreadName ? [{ tid, runnable: stat[close + 2] === 'R' }] : [];
    } catch {
      return [];
    }
  });
}

/** Waits (event loop turns, bounded) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let turn = 0; !check(); turn++) {
    assert.ok(turn < 200_000, `never: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Starts `for(;;){}` in a fresh isolate; answers its thread's id and a way to stop it. */
async function spin(): Promise<{ tid: number; stop: () => Promise<void> }> {
  const before = new Set(isolateThreads().filter((thread) => thread.runnable).map((thread) => thread.tid));
  const isolate = new ivm.Isolate({ memoryLimit: 16 });
  const context = await isolate.createContext();
  const running = context.eval('for(;;){}', { timeout: 120_000 }).catch((error: unknown) => error);
  let tid = 0;
  await until(() => {
    tid = isolateThreads().find((thread) => thread.runnable && !before.has(thread.tid))?.tid ?? 0;
    return tid !== 0;
  }, 'the spinning isolate\'s thread runs');
  return { tid, stop: async () => { isolate.dispose(); await running; } };
}

/** Runs as the engine would report them: one executing, that has used `usedMs()` of CPU (none when 0). */
const source = (usedMs: () => number): NiceSource => ({
  runsCpu: (longMs) => { const mostMs = usedMs(); return { running: mostMs > 0 ? 1 : 0, mostMs, long: mostMs >= longMs ? 1 : 0 }; },
  stuck: () => false,
});

test('a spinning run\'s thread is lowered at its busySamples-th look and restored at the first look that finds it asleep', async () => {
  const nice = new ThreadNice(source(() => lookAfterMs));
  const spinner = await spin();
  let looksBeforeStop = 0;
  try {
    nice.sample();
    assert.equal(os.getPriority(spinner.tid), 0, 'not lowered at the first look');
    // At the busySamples-th look in a quiet machine; on a loaded one a spinner is now and then seen
    // asleep between two looks (V8 waits for its helpers), which starts its count again.
    let looks = 1;
    while (os.getPriority(spinner.tid) !== loweredNice && looks < 1_000) { nice.sample(); looks++; }
    assert.equal(os.getPriority(spinner.tid), loweredNice, `lowered after ${looks} looks`);
    assert.ok(looks >= busySamples, `not before look ${busySamples} (lowered at ${looks})`);
    assert.equal(nice.loweredThreads, 1);
    looksBeforeStop = nice.looks;
  } finally {
    await spinner.stop();
  }
  await until(() => !isolateThreads().find((thread) => thread.tid === spinner.tid)?.runnable, 'the thread sleeps once its isolate is gone');
  nice.sample();
  assert.equal(os.getPriority(spinner.tid), 0, 'restored at the first look that finds it asleep');
  assert.equal(nice.loweredThreads, 0);
  assert.equal(nice.looks, looksBeforeStop + 1);
});

test('its own timer: no look while no run has used lookAfterMs of CPU; looks once one has; priorities back when none has', async () => {
  let heldMs = lookAfterMs / 2;
  let asked = 0;
  let onAsk: (() => void) | null = null;
  const nice = new ThreadNice(source(() => { asked++; onAsk?.(); return heldMs; }));
  const asks = (count: number) => new Promise<void>((resolve) => { const target = asked + count; onAsk = () => { if (asked >= target) { onAsk = null; setImmediate(resolve); } }; });
  const spinner = await spin();
  try {
    nice.start();
    await asks(3);
    assert.equal(nice.looks, 0, 'a run that has used little CPU costs no look (no /proc read)');
    heldMs = lookAfterMs;
    await asks(busySamples + 1);
    for (let more = 0; os.getPriority(spinner.tid) !== loweredNice && more < 1_000; more++) await asks(1);
    assert.ok(nice.looks >= busySamples, `looks made: ${nice.looks}`);
    assert.equal(os.getPriority(spinner.tid), loweredNice, 'the spinning thread is lowered by the timer\'s looks');
    heldMs = 0;
    await asks(1);
    assert.equal(os.getPriority(spinner.tid), 0, 'no run executing: every thread has its priority back');
    assert.equal(nice.loweredThreads, 0);
    const looks = nice.looks;
    heldMs = lookAfterMs;
    nice.wake(); // a run started: the timer runs again
    await asks(busySamples + 1);
    for (let more = 0; os.getPriority(spinner.tid) !== loweredNice && more < 1_000; more++) await asks(1);
    assert.equal(os.getPriority(spinner.tid), loweredNice, 'lowered again');
    assert.ok(nice.looks > looks);
    nice.stop();
    assert.equal(os.getPriority(spinner.tid), 0, 'stop gives priorities back');
  } finally {
    nice.stop();
    await spinner.stop();
  }
});

test('no more threads are lowered than the runs that have used lookAfterMs of CPU', async () => {
  const nice = new ThreadNice(source(() => lookAfterMs));
  const spinners = [await spin(), await spin()];
  try {
    // Looks until one is lowered (on a loaded machine a spinner may be seen asleep once, which
    // starts its count again), then as many more as would lower the other: the cap holds.
    for (let look = 0; nice.loweredThreads === 0 && look < 1_000; look++) nice.sample(1);
    for (let look = 0; look < busySamples + 2; look++) nice.sample(1);
    assert.equal(nice.loweredThreads, 1, 'one long run: one thread lowered, though two spin');
    assert.deepEqual(spinners.map((spinner) => os.getPriority(spinner.tid)).sort(), [0, loweredNice]);
    for (let look = 0; nice.loweredThreads < 2 && look < 1_000; look++) nice.sample(2);
    assert.equal(nice.loweredThreads, 2, 'two long runs: both');
  } finally {
    nice.stop();
    for (const spinner of spinners) await spinner.stop();
  }
});

test('only isolate threads are lowered: a busy thread of another kind named "MainThread" (a native module\'s, isolated-vm\'s timer) is not', async () => {
  // Before, every thread named "MainThread" but the main thread was taken for an isolate's: any
  // native thread started from the main thread is named so, and a busy one took a lowering slot.
  // Our isolated-vm build names the threads that run isolates (the prebuilt one names none).
  assert.equal(isolatedVmBuild().patched, true, 'this test needs the patched isolated-vm (node scripts/patch-isolated-vm.mjs)');
  assert.equal(isolateThreadName, 'ivm-isolate', 'the build\'s marker names the isolate threads (an older patch\'s build: run node scripts/patch-isolated-vm.mjs)');
  const others = new Set(readdirSync('/proc/self/task'));
  // A worker's thread stands in for the other kind: it spins, renamed "MainThread" (/proc lets a process rename its threads).
  const worker = new Worker('for(;;){}', { eval: true });
  await new Promise((resolve) => worker.once('online', resolve));
  const workerTid = Number(readdirSync('/proc/self/task').find((entry) => !others.has(entry) && readFileSync(`/proc/self/task/${entry}/comm`, 'latin1').trim() === 'WorkerThread'));
  assert.ok(workerTid > 0, 'the worker\'s thread');
  writeFileSync(`/proc/self/task/${workerTid}/comm`, 'MainThread');
  const nice = new ThreadNice(source(() => lookAfterMs));
  let spinner: { tid: number; stop: () => Promise<void> } | null = null;
  try {
    // As many looks as lower a spinning isolate's thread (test 1), and many more: the worker stays.
    for (let look = 0; look < 50 * busySamples; look++) nice.sample();
    assert.equal(os.getPriority(workerTid), 0, 'a busy thread that is not an isolate\'s was lowered');
    assert.equal(nice.loweredThreads, 0);
    spinner = await spin();
    assert.equal(readFileSync(`/proc/self/task/${spinner.tid}/comm`, 'latin1').trim(), isolateThreadName, 'the isolate\'s thread carries the name');
    for (let look = 0; nice.loweredThreads === 0 && look < 1_000; look++) nice.sample(1);
    assert.equal(os.getPriority(spinner.tid), loweredNice, 'the run\'s thread takes the one slot');
    assert.equal(os.getPriority(workerTid), 0);
  } finally {
    nice.stop();
    await spinner?.stop();
    await worker.terminate();
  }
});

test('idle: a look armed for a run that ended short is cancelled (no timer wake of the event loop per short run)', async () => {
  let asked = 0;
  let runningMs = 1;
  const nice = new ThreadNice(source(() => { asked++; return runningMs; }));
  /** Resolves after the look armed at lookAfterMs would have come (Node runs timers in order of expiry). */
  const pastLook = () => new Promise((resolve) => setTimeout(resolve, lookAfterMs + 5));
  try {
    nice.start(); // a run started: a look is armed for when it may have used lookAfterMs
    await pastLook();
    assert.ok(asked >= 1, 'without idle the armed look comes');
    nice.wake();
    runningMs = 0;
    const before = asked;
    nice.idle(); // the engine's last run ended
    await pastLook();
    assert.equal(asked, before, 'no look after idle');
    assert.equal(nice.looks, 0);
    runningMs = 1;
    nice.wake(); // the next run arms it again
    await pastLook();
    assert.ok(asked > before, 'the next run is looked at again');
  } finally {
    await nice.stop();
  }
});
