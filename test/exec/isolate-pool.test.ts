// The pool of warm isolates: a fresh context every time, bounded idle lists, and a replacement
// made in the background when an isolate is disposed.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import ivm from 'isolated-vm';
import { Worker } from 'node:worker_threads';
import { IsolatePool, IsolateUnresponsive, attachContext, disposeWhenIdle, heapBytesOf, idleIsolatesPerLimitMin, idleToTake, liveIsolateReuseBytesMax, preludeSnapshotRehashes, preludeWarmUpSource, residentBytesOf, retireHeapShare, withoutRehash, type PreparedContext } from '../../src/exec/isolate-pool.ts';

/** Nothing these tests run can make V8 fail beyond recovery: hearing of it fails the run. */
const onCatastrophicError = (_isolate: ivm.Isolate, message: string) => assert.fail(`no isolate fails in V8: ${message}`);
const pool = new IsolatePool({ slots: 2, onCatastrophicError });
after(() => pool.close());

describe('isolate pool', () => {
  test('a run takes the newest idle isolate whose context is made, not one still making it', () => {
    const parked = (...ready: boolean[]) => ready.map((each) => ({ ready: each }));
    assert.equal(idleToTake(parked(true, true, false)), 1, 'the newest is still making its context: the one before it');
    assert.equal(idleToTake(parked(true, false, false)), 0);
    assert.equal(idleToTake(parked(false, true, true)), 2, 'among ready ones, the newest (its memory is warm)');
    assert.equal(idleToTake(parked(false, false)), 0, 'none ready: the oldest, whose context was started first');
    assert.equal(idleToTake(parked(true)), 0);
  });

  test('prewarm parks isolates with their contexts made, within the idle bound', async () => {
    const warmPool = new IsolatePool({ slots: 2, onCatastrophicError });
    try {
      await warmPool.prewarm(12, 2);
      assert.equal(warmPool.idleFor(12), 2);
      const taken = await warmPool.acquire(12);
      assert.equal(taken.contextsCreated, 1, 'the context made at prewarm');
      assert.equal(warmPool.idleFor(12), 1, 'taken from the warm ones, none created');
      assert.equal(await taken.context.eval('1 + 1', { copy: true }), 2);
      warmPool.release(taken, 12);
      await warmPool.prewarm(12, 100);
      assert.equal(warmPool.idleFor(12), warmPool.idlePerLimitMax, 'never past the idle bound');
    } finally {
      await warmPool.close();
      await warmPool.whenReplenished();
    }
  });

  test('an isolate is reused, its context never: the next one is fresh and already prepared', async () => {
    const first = await pool.acquire(8);
    await first.context.eval('globalThis.marker = 1');
    pool.release(first, 8);
    await pool.whenReplenished();
    assert.equal(pool.idleFor(8), 1);
    const second = await pool.acquire(8);
    assert.equal(second.isolate, first.isolate, 'the warm isolate');
    assert.notEqual(second.context, first.context);
    assert.equal(await second.context.eval('typeof marker', { copy: true }), 'undefined');
    assert.equal(second.contextsCreated, 2);
    pool.release(second, 8);
  });

  test('a discarded isolate is disposed and replaced in the background', async () => {
    while (pool.idleFor(16) > 0) pool.discard(await pool.acquire(16), 16);
    await pool.whenReplenished();
    const doomed = await pool.acquire(16);
    const idleBefore = pool.idleFor(16);
    pool.discard(doomed, 16);
    assert.equal(doomed.isolate.isDisposed, true);
    await pool.whenReplenished();
    assert.equal(pool.idleFor(16), idleBefore + 1);
    const replacement = await pool.acquire(16);
    assert.notEqual(replacement.isolate, doomed.isolate);
    pool.release(replacement, 16);
  });

  test('the heap rule: an isolate whose heap reads past the retire share after a run is retired, and counted; one below is kept', async () => {
    const own = new IsolatePool({ slots: 2, onCatastrophicError });
    const limitMb = 8;
    const shareBytes = retireHeapShare * limitMb * 1024 * 1024;
    /** A run on the pool's one isolate of this limit (`code` is run), released; what is then seen of the isolate. */
    const runOn = async (isolate: ivm.Isolate | null, code: (prepared: PreparedContext) => Promise<string>) => {
      const prepared = await own.acquire(limitMb);
      if (isolate !== null) assert.equal(prepared.isolate, isolate, 'the same isolate');
      await prepared.context.eval(await code(prepared));
      own.release(prepared, limitMb);
      await own.whenReplenished();
      return { isolate: prepared.isolate, seen: [prepared.isolate.isDisposed, own.isolatesRetired.heap] };
    };
    try {
      const { isolate, seen } = await runOn(null, async () => 'globalThis.small = [1, 2, 3]; undefined');
      assert.deepEqual(seen, [false, 0], 'kept');
      // Arrays of 12,000 doubles (≈ 94 KiB each), until the heap reads 0.4 MiB past the share.
      const filled = await runOn(isolate, async (prepared) => {
        const arrays = Math.ceil((shareBytes + 0.4 * 1024 * 1024 - (await heapBytesOf(prepared.isolate))!) / (12_000 * 8));
        return `globalThis.held = Array.from({ length: ${arrays} }, () => new Array(12000).fill(0.5)); undefined`;
      });
      assert.deepEqual(filled.seen, [true, 1], 'past the share: retired, and counted');
      assert.deepEqual([own.isolatesRetired.contexts, own.isolatesRetired.unanswered], [0, 0]);
    } finally {
      await own.close();
      await own.whenReplenished();
    }
  });

  test('idle isolates per memory limit are bounded; extras are disposed', async () => {
    assert.equal(pool.idlePerLimitMax, idleIsolatesPerLimitMin, 'two slots: the minimum');
    assert.equal(new IsolatePool({ slots: 20, onCatastrophicError }).idlePerLimitMax, 20, 'one per slot when there are more slots');
    const taken = await Promise.all(Array.from({ length: pool.idlePerLimitMax + 2 }, () => pool.acquire(32)));
    for (const prepared of taken) pool.release(prepared, 32);
    await pool.whenReplenished();
    assert.equal(pool.idleFor(32), pool.idlePerLimitMax);
    assert.equal(taken.filter((prepared) => prepared.isolate.isDisposed).length, 2);
  });

  test('an isolate is disposed only once the call under way on its thread has ended', async () => {
    // Disposed during a call, an isolate is destroyed on its own thread when the call ends; a
    // process exiting meanwhile crashed (SIGSEGV in 3 of 20 scripts exiting right after close).
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    let contextMade = false;
    const making = isolate.createContext().then((context) => { contextMade = true; return context; });
    await disposeWhenIdle(isolate, making);
    assert.equal(contextMade, true, 'the call ended first');
    assert.equal(isolate.isDisposed, true);

    const waiting = new ivm.Isolate({ memoryLimit: 8 });
    let end!: () => void;
    const disposing = disposeWhenIdle(waiting, new Promise<void>((resolve) => { end = resolve; }));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(waiting.isDisposed, false, 'not while the call is under way');
    end();
    await disposing;
    assert.equal(waiting.isDisposed, true);

    const failed = new ivm.Isolate({ memoryLimit: 8 });
    await disposeWhenIdle(failed, Promise.reject(new Error('the call failed')));
    assert.equal(failed.isDisposed, true, 'a call that failed has ended too');
  });

  test('a prelude that does not answer its attach call has its isolate disposed, which ends it', async () => {
    // Calls carry no isolated-vm timeout: the wait is bounded on the host, and the isolate goes.
    const prepared = await pool.acquire(8);
    // Stands in for a prelude bug: the attach function loops forever.
    await prepared.context.eval("Object.defineProperty(globalThis, '__mcpv8_attach', { value: () => { for (;;) {} } });");
    // The host bound answered (the loop never would).
    await assert.rejects(attachContext(prepared, 1, 8, 200), (error: unknown) => error instanceof IsolateUnresponsive && /attaching the prelude took longer than 200 ms/.test(error.message));
    assert.ok(prepared.isolate.isDisposed, 'the looping isolate is disposed');
    pool.discard(prepared, 8);
    await pool.whenReplenished();
  });

  test('a live context\'s isolate goes back to the pool when the context goes, unless it held more than the reuse bound', async () => {
    const fresh = await pool.acquire(24);
    const resident = await residentBytesOf(fresh.isolate);
    assert.ok(resident !== null && resident > 1024 * 1024 && resident <= liveIsolateReuseBytesMax, `a fresh context's isolate holds ${resident} bytes, within the bound`);
    pool.live.keep(pool.keepLive(fresh, 24, resident), 'small');
    await pool.whenReplenished();
    const idleBefore = pool.idleFor(24);
    pool.live.drop('small');
    await pool.whenReplenished();
    assert.equal(fresh.isolate.isDisposed, false, 'reused');
    assert.equal(pool.idleFor(24), idleBefore + 1, 'parked for the next run');

    const big = await pool.acquire(24);
    pool.live.keep(pool.keepLive(big, 24, liveIsolateReuseBytesMax + 1), 'big');
    await pool.whenReplenished();
    const idleWhileLive = pool.idleFor(24);
    pool.live.drop('big');
    assert.equal(big.isolate.isDisposed, true, 'its pages are not pinned again by a later live context');
    await pool.whenReplenished();
    assert.equal(pool.idleFor(24), idleWhileLive + 1, 'replaced in the background');
  });

  test('contexts from the prelude\'s snapshot are not rehashed, and find every name by its hash', async () => {
    assert.equal(preludeSnapshotRehashes(), false, 'the header says: no rehash');
    const prepared = await pool.acquire(8);
    // Every global (the global object is a hash table), a dictionary-mode object the code makes,
    // and the prelude's own lookups (console, URL, structuredClone) answer as with a rehash.
    const found = await prepared.context.eval(`(() => {
      const names = Object.getOwnPropertyNames(globalThis);
      const lost = names.filter((name) => !(name in globalThis) || Object.getOwnPropertyDescriptor(globalThis, name) === undefined);
      const dictionary = {};
      for (let index = 0; index < 500; index++) dictionary['key' + index] = index;
      delete dictionary.key7;
      return JSON.stringify({ names: names.length, lost, key321: dictionary.key321, keys: Object.keys(dictionary).length, url: new URL('https://a.example/x?y=1').searchParams.get('y'), clone: structuredClone(new Map([['k', 2]])).get('k') });
    })()`, { copy: true });
    const { names, ...lookups } = JSON.parse(found as string) as { names: number };
    assert.deepEqual(lookups, { lost: [], key321: 321, keys: 499, url: '1', clone: 2 });
    assert.ok(names > 100, 'the prelude\'s globals are there');
    pool.release(prepared, 8);
    await pool.whenReplenished();
  });

  test('isolates and threads made from V8\'s own snapshot after the prelude\'s still rehash and start', async () => {
    // V8's flag --no-rehash-snapshot would abort the process here: its built-in snapshot has another seed.
    assert.equal(preludeSnapshotRehashes(), false);
    const plain = new ivm.Isolate({ memoryLimit: 8 });
    try {
      assert.equal(await (await plain.createContext()).eval('Object.getOwnPropertyNames(globalThis).every((name) => name in globalThis)', { copy: true }), true);
    } finally {
      plain.dispose();
    }
    const worker = new Worker("require('node:worker_threads').parentPort.postMessage(Object.getOwnPropertyNames(globalThis).every((name) => name in globalThis))", { eval: true });
    const answer = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await worker.terminate();
    assert.equal(answer, true);
  });

  test('a snapshot header of another layout or V8 version is left as it is', () => {
    const header = (version: string, rehash: number) => {
      const bytes = new Uint8Array(200);
      new DataView(bytes.buffer).setUint32(4, rehash, true);
      bytes.set(Buffer.from(version, 'latin1'), 16);
      return bytes;
    };
    const rehashWord = (bytes: Uint8Array) => new DataView(bytes.buffer).getUint32(4, true);
    assert.equal(rehashWord(withoutRehash(header(process.versions.v8, 1))), 0, 'this V8\'s layout: cleared');
    assert.equal(rehashWord(withoutRehash(header('12.4.254.21-node.33', 1))), 1, 'another V8: untouched');
    assert.equal(rehashWord(withoutRehash(header(process.versions.v8, 7))), 7, 'not a flag where it is expected: untouched');
    assert.equal(withoutRehash(new Uint8Array(10)).length, 10, 'too short for a header: untouched');
  });

  test('the snapshot\'s warm-up takes a stateless run\'s path through the prelude, in a context of its own', async () => {
    // The snapshot's contexts were never attached (the warm-up ran in another): this one attaches.
    const prepared = await pool.acquire(8);
    const [first, second] = await prepared.context.eval(preludeWarmUpSource, { copy: true }) as Array<{ outcome: { ok: boolean; value: string } | null; batchesSent: number; record: { seed: number } }>;
    assert.deepEqual(first!.outcome, { ok: true, value: '[ { n: 1 }, { n: 2 } ]', type: 'object' }, 'the run, its object result');
    assert.equal(first!.batchesSent, 1, 'its console line');
    assert.equal(second!.record.seed, 2, 'a second run, whose top-level throw went out as a script\'s');
    assert.equal(await prepared.context.eval('typeof __mcpv8_attach', { copy: true }), 'undefined', 'attach deleted its own name, as in every context');
    pool.discard(prepared, 8);
    await pool.whenReplenished();
  });

  test('close disposes every idle isolate, after the context each was making', async () => {
    const own = new IsolatePool({ slots: 2, onCatastrophicError });
    const taken = await Promise.all([own.acquire(8), own.acquire(8)]);
    for (const prepared of taken) own.release(prepared, 8);
    await own.whenReplenished();
    assert.equal(own.idleFor(8), 2);
    await own.close();
    assert.equal(own.idleFor(8), 0);
    assert.ok(taken.every((prepared) => prepared.isolate.isDisposed));
  });
});
