// Isolates made and disposed off the event loop (issues 18, 21, 23).
//
// `new ivm.Isolate({ memoryLimit, snapshot })` builds the V8 isolate on the calling thread: its
// heap and the prelude snapshot's deserialization held the event loop ≈ 3 ms per isolate, and
// `dispose()` of an idle isolate ≈ 0.5 ms (bench/isolate-lifecycle.ts, bench/RESULTS.md), paid
// whenever the pool retired an isolate and made its replacement: once per run when every run's
// isolate is retired (a timer bomb), often for fresh stateful heaps. Our isolated-vm patch
// (scripts/patch-isolated-vm.mjs, "off the event loop") adds `Isolate.createAsync` and
// `disposeAsync`, which do V8's part on libuv's thread pool: the loop keeps ≈ 0.1 ms of each.
// Every isolate of the server is made and disposed here, and with the prebuilt isolated-vm (no
// patch) the same functions fall back to the synchronous forms.
//
// libuv's pool (4 threads) also runs LevelDB's reads and writes: at most `offLoopCreationsMax`
// creations are under way at once, so two threads stay free for them. Disposals are not held
// back (a disposed isolate must read as disposed at once, and the teardown is short).
import ivm from 'isolated-vm';
import { assert } from '../errors.ts';

type OffLoopIsolates = {
  createAsync?: (options: ivm.IsolateOptions) => Promise<ivm.Isolate>;
};
type DisposableOffLoop = { disposeAsync?: () => Promise<void> };

const createAsync = (ivm.Isolate as unknown as OffLoopIsolates).createAsync;
/** The loaded isolated-vm builds and tears down isolates off the event loop (the patched build). */
export const isolatesOffLoop = typeof createAsync === 'function';

/** Creations on libuv's pool at once, at most (the pool has 4 threads; LevelDB needs some). */
export const offLoopCreationsMax = 2;

/**
 * Isolates made and disposed so far, on the event loop or off it (tests: no request path of a
 * patched build makes or disposes one on the loop; the server's metrics).
 */
export const isolateCounts = { createdOnLoop: 0, createdOffLoop: 0, disposedOnLoop: 0, disposedOffLoop: 0 };

/** Off-loop work not finished yet: what `isolatesSettled` waits for. */
const pending = new Set<Promise<unknown>>();
let creating = 0;
/** Creations waiting for a turn; bounded by the callers' own bounds (the pool's replenish bound, the runs' slots). */
const creationTurns: Array<() => void> = [];

function track<Value>(work: Promise<Value>): Promise<Value> {
  pending.add(work);
  const forget = () => { pending.delete(work); };
  work.then(forget, forget);
  return work;
}

async function turnToCreate(): Promise<void> {
  if (creating < offLoopCreationsMax) {
    creating++;
    return;
  }
  await new Promise<void>((resolve) => { creationTurns.push(resolve); });
}

function creationDone(): void {
  const next = creationTurns.shift();
  if (next !== undefined) next();
  else creating--;
}

/** Creations under way on libuv's pool and waiting for a turn (tests: the bound holds). */
export function offLoopCreations(): { underWay: number; waiting: number } {
  return { underWay: creating, waiting: creationTurns.length };
}

/** A new isolate, built off the event loop when the build can (then ≈ 0.1 ms of the loop, else ≈ 3 ms). */
export function newIsolate(options: ivm.IsolateOptions): Promise<ivm.Isolate> {
  if (createAsync === undefined) {
    isolateCounts.createdOnLoop++;
    return Promise.resolve(new ivm.Isolate(options));
  }
  const made = (async () => {
    await turnToCreate();
    try {
      const isolate = await createAsync.call(ivm.Isolate, options);
      isolateCounts.createdOffLoop++;
      return isolate;
    } finally {
      creationDone();
    }
  })();
  return track(made);
}

/**
 * Disposes an isolate: from now on it reads as disposed and every call into it fails, as with
 * `dispose()`; V8's teardown of its heap runs off the loop when the build can. Resolves when the
 * teardown is done, or handed to the isolate's own thread (one busy with a call tears it down when
 * the call ends). Nothing if already disposed.
 */
export function disposeIsolate(isolate: ivm.Isolate): Promise<void> {
  if (isolate.isDisposed) return Promise.resolve();
  const disposeAsync = (isolate as unknown as DisposableOffLoop).disposeAsync;
  if (typeof disposeAsync !== 'function') {
    isolateCounts.disposedOnLoop++;
    isolate.dispose();
    return Promise.resolve();
  }
  const disposed = disposeAsync.call(isolate);
  assert(isolate.isDisposed, 'disposeAsync disposes the isolate before it returns');
  isolateCounts.disposedOffLoop++;
  return track(disposed.catch(() => undefined));
}

/** Resolves when no isolate is being made or torn down off the loop (the engine's close, tests). */
export async function isolatesSettled(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}
