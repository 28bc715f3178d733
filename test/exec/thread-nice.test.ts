// src/exec/thread-nice.ts in this process: a real isolated-vm isolate spins on a real pool
// thread, and the looks are made by hand (sample()) or by the class's own timer, with the runs'
// ages given by the test. Behaviour is counted in looks, never in wall time: a spinning run's
// thread is lowered at the `busySamples`-th look that finds it runnable, not before, and gets
// its priority back at the first look that finds it asleep, or once no run is old enough.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';
import ivm from 'isolated-vm';
import { busySamples, loweredNice, lookAfterMs, ThreadNice, type NiceSource } from '../../src/exec/thread-nice.ts';

/** This process's isolate threads (named "MainThread", not the main thread) with their state. */
function isolateThreads(): { tid: number; runnable: boolean }[] {
  return readdirSync('/proc/self/task').flatMap((entry) => {
    const tid = Number(entry);
    if (tid === process.pid) return [];
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      return stat.slice(stat.indexOf('(') + 1, close) === 'MainThread' ? [{ tid, runnable: stat[close + 2] === 'R' }] : [];
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

const source = (heldMs: () => number): NiceSource => ({ heldForMs: heldMs, stuck: () => false });

test('a spinning run\'s thread is lowered at its busySamples-th look and restored at the first look that finds it asleep', async () => {
  const nice = new ThreadNice(source(() => lookAfterMs));
  const spinner = await spin();
  try {
    for (let look = 1; look < busySamples; look++) {
      nice.sample();
      assert.equal(os.getPriority(spinner.tid), 0, `not lowered at look ${look}`);
    }
    nice.sample();
    assert.equal(os.getPriority(spinner.tid), loweredNice, `lowered at look ${busySamples}`);
    assert.equal(nice.loweredThreads, 1);
  } finally {
    await spinner.stop();
  }
  await until(() => !isolateThreads().find((thread) => thread.tid === spinner.tid)?.runnable, 'the thread sleeps once its isolate is gone');
  nice.sample();
  assert.equal(os.getPriority(spinner.tid), 0, 'restored at the first look that finds it asleep');
  assert.equal(nice.loweredThreads, 0);
  assert.equal(nice.looks, busySamples + 1);
});

test('its own timer: no look while every run is younger than lookAfterMs; looks once one is older; priorities back when none is', async () => {
  let heldMs = lookAfterMs / 2;
  let asked = 0;
  let onAsk: (() => void) | null = null;
  const nice = new ThreadNice(source(() => { asked++; onAsk?.(); return heldMs; }));
  const asks = (count: number) => new Promise<void>((resolve) => { const target = asked + count; onAsk = () => { if (asked >= target) { onAsk = null; setImmediate(resolve); } }; });
  const spinner = await spin();
  try {
    nice.start();
    await asks(3);
    assert.equal(nice.looks, 0, 'a young run costs no look (no /proc read)');
    heldMs = lookAfterMs;
    await asks(busySamples + 1);
    assert.ok(nice.looks >= busySamples, `looks made: ${nice.looks}`);
    assert.equal(os.getPriority(spinner.tid), loweredNice, 'the spinning thread is lowered by the timer\'s looks');
    heldMs = 0;
    await asks(1);
    assert.equal(os.getPriority(spinner.tid), 0, 'no run holds a lane: every thread has its priority back');
    assert.equal(nice.loweredThreads, 0);
    const looks = nice.looks;
    heldMs = lookAfterMs;
    nice.wake(); // a run took a lane: the timer runs again
    await asks(busySamples + 1);
    assert.equal(os.getPriority(spinner.tid), loweredNice, 'lowered again');
    assert.ok(nice.looks > looks);
    nice.stop();
    assert.equal(os.getPriority(spinner.tid), 0, 'stop gives priorities back');
  } finally {
    nice.stop();
    await spinner.stop();
  }
});
