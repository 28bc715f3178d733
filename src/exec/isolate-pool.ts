// Warm isolates, one run at a time each, with the next context prepared ahead of time.
//
// A fresh isolate costs ~2 ms and a fresh context on a warm isolate ~0.5 ms (heap-persistence.md),
// so isolates are reused across runs with the same memory limit, and the context of the next run
// is created and attached right after the previous run, off the request path. A context is never
// reused: every run starts from a clean global. An isolate that ran out of memory, timed out, was
// cancelled or is in any doubt is disposed, never returned.
//
// Every isolate starts from a V8 startup snapshot of the prelude (our own code, run once per
// process when the first isolate is made): a context then comes with console, timers and the
// rest already defined, and attaching it is one call instead of running ~1,000 lines of setup
// (≈ 0.2 ms of CPU less per run, bench/RESULTS.md). Nothing of a user's run is ever snapshotted.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import ivm from 'isolated-vm';
import { assert } from '../errors.ts';
import { LiveHeapCache, liveHeapBytesMaxDefault, liveHeapsMaxDefault, type LiveContextHandle } from './live-heaps.ts';
import type { EffectFeatures, EffectHandler } from './effects.ts';
import { ConsoleQueue } from './console-queue.ts';
import { disposeIsolate, isolatesSettled, newIsolate } from './isolate-lifecycle.ts';

/**
 * V8's concurrent on-stack replacement left some loops with no interrupt check: the optimized
 * code of `const a = []; for (;;) a.push(new Array(1000))`, compiled on a background thread and
 * entered mid-loop, never saw the termination that the memory limit or the deadline requested.
 * The isolate went on allocating after its run had ended (host RSS 134 MB → 11 GB in 40 s, only
 * SIGTERM freed it). With OSR compiled on the isolate's own thread the same loop stops at its
 * memory limit (20 of 20 tries here, every variant of issue 18; 0 of 20 before). Set before any
 * isolate exists; it applies to the whole process (the host's own long loops are OSR-compiled on
 * the main thread too, a one-off pause of a few milliseconds per loop). docs/exec.md, "Safety".
 *
 * Our isolated-vm patch runs every sandbox isolate in V8's efficiency mode (not "user blocking"),
 * where V8 does its GC on the isolate's own thread instead of the process's shared workers (a
 * memory bomb's marking took 80 ms of worker CPU per run beside 50 ms of its own thread, at a
 * priority the server cannot lower). These two flags concern only such isolates, never Node's:
 * the atomic pause stays on the isolate's thread too, and tier-up is as outside efficiency mode
 * (V8 would delay Turbofan to 15,000 calls there).
 */
export const v8FlagsForSandbox = '--no-concurrent-osr --no-parallel-pause-for-gc-in-background --no-efficiency-mode-for-tiering-heuristics';
v8.setFlagsFromString(v8FlagsForSandbox);
/**
 * isolated-vm records the caller's stack (10 frames) at every asynchronous call, for the stack of
 * an error the call may reject with: 4.6 % of the event loop's CPU at 1000 runs/s. The server
 * never reads those frames (outcome.ts drops the host's frames from every text), so the patched
 * build records none (scripts/patch-isolated-vm.mjs; read once, at the first call). Set before any.
 */
process.env.MCP_V8_IVM_HOST_STACK_FRAMES ??= '0';

const sandboxDirectory = new URL('./sandbox/', import.meta.url);
// Order matters: the prelude captures (and deletes) what the files before it define, and presents
// every function they put on a global as V8's own (bounds.js wraps builtins and defines no global;
// it runs first, so the builtins the other files capture at start-up are the bounded ones).
// The prelude is written in parts by concern (sandbox/prelude/*.js), run as one closure: its parts
// share their top-level names, and this order is the order they run in (a part may use what an
// earlier part defines as soon as it runs; a later part's names only from functions called later).
export const preludeParts = ['console.js', 'timers.js', 'work.js', 'natives.js', 'off-heap.js', 'wasm.js', 'streams.js', 'fetch.js', 'fs.js', 'modules.js', 'checkpoint.js', 'control.js'];
export const sandboxFiles = ['bounds.js', 'lazy.js', 'inspect.js', 'determinism.js', 'web.js', 'web-api.js', 'events.js', 'prelude', 'display.js'];
const readSandbox = (name: string): string => readFileSync(new URL(name, sandboxDirectory), 'utf8');
export const preludeSource = sandboxFiles
  .map((name) => (name === 'prelude' ? `(function () {\n'use strict';\n${preludeParts.map((part) => readSandbox(`prelude/${part}`)).join('\n')}\n})();` : readSandbox(name)))
  .join('\n');
/** Run in each new context before any user code: takes the prelude's attach function (it deletes its own global name). */
const attachSource = 'return globalThis.__mcpv8_attach($0, $1, $2, $3, $4, $5, $6, $7);';

let preludeSnapshot: ivm.ExternalCopy<ArrayBuffer> | null = null;
/** The prelude's startup snapshot, made on first use (≈ 20 ms, once per process), marked not to be rehashed. */
function snapshotOfPrelude(): ivm.ExternalCopy<ArrayBuffer> {
  if (preludeSnapshot === null) {
    const made = ivm.Isolate.createSnapshot([{ code: preludeSource, filename: 'mcp-v8:prelude' }], preludeWarmUpSource);
    const bytes = new Uint8Array(made.copy() as ArrayBuffer);
    made.release();
    preludeSnapshot = new ivm.ExternalCopy(withoutRehash(bytes).buffer as ArrayBuffer);
  }
  return preludeSnapshot;
}

/**
 * Run once by V8's snapshot creator in a context of its own that is then thrown away (isolated-vm's
 * `warmup_script`): a stateless run's path through the prelude (attach, run, a console line, an
 * object result, a thrown Error and its stack, the state), so that the snapshot keeps those
 * functions compiled. Without it V8 compiled them again, lazily, in every new context (≈ 10 % of
 * an isolate thread's CPU per run in the engine, bench/RESULTS.md). The snapshot holds the other,
 * untouched context: nothing this does is in any run's context, only the functions' bytecode.
 */
export const preludeWarmUpSource = `(() => {
  const features = { fetch: false, fs: false, fetchRequestBytesMax: 0, fsWriteBytesMax: 0 };
  const control = globalThis.__mcpv8_attach(() => undefined, 1, 8 * 1024 * 1024, undefined, features, undefined, undefined, undefined, 'warm-up');
  control('run', 'console.log("warm", 1, { up: [true] }); [1, 2].map((n) => ({ n }))\\n//# sourceURL=main.js');
  const first = globalThis.__mcpv8_state('warm-up');
  control('begin', { seed: 2 });
  try {
    control('run', 'throw new TypeError("warm-up")\\n//# sourceURL=main.js');
  } catch (error) {
    void error.stack;
  }
  return [first, globalThis.__mcpv8_state('warm-up')];
})()`;
/** V8's snapshot header (src/snapshot/snapshot.cc): u32 contexts, u32 rehashability, two checksums, then the version string. */
const snapshotRehashOffset = 4;
const snapshotVersionOffset = 16;
const snapshotVersionBytes = 64;
/**
 * The snapshot with its "can be rehashed" word cleared, so that V8 does not rehash every
 * dictionary and re-sort every descriptor array of each context made from it (≈ 6 % of an isolate
 * thread's CPU per stateless run, bench/RESULTS.md). The rehash re-sorts them by the isolate's hash
 * seed; the seed is the process's own (one read-only heap per process), the one this snapshot was
 * just made with, so it changes no order: the work is wasted. V8's process-wide flag
 * `--no-rehash-snapshot` would do the same, but for every snapshot, and V8's built-in one (a
 * worker thread's, a plain isolate's) was made with another seed: the process aborts. Only a
 * header of the layout this was written for is changed (the version string of the running V8 in
 * its place); any other is returned as it is, and V8 rehashes as before.
 */
export function withoutRehash(bytes: Uint8Array): Uint8Array {
  if (bytes.length < snapshotVersionOffset + snapshotVersionBytes) return bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = Buffer.from(bytes.subarray(snapshotVersionOffset, snapshotVersionOffset + snapshotVersionBytes)).toString('latin1').replace(/\0+$/, '');
  if (version !== process.versions.v8 || view.getUint32(snapshotRehashOffset, true) > 1) return bytes;
  view.setUint32(snapshotRehashOffset, 0, true);
  return bytes;
}

/** Whether V8 rehashes what it makes from this snapshot (tests). */
export function preludeSnapshotRehashes(): boolean {
  return new DataView(snapshotOfPrelude().copy() as ArrayBuffer).getUint32(snapshotRehashOffset, true) !== 0;
}

/** The names of a fresh context's globals (before attach): what a pre-loaded module's name must not shadow. */
export async function sandboxGlobalNames(): Promise<Set<string>> {
  const isolate = await newIsolate({ memoryLimit: isolateMemoryMbMin, snapshot: snapshotOfPrelude() });
  try {
    const context = await isolate.createContext();
    const names = await context.eval("Reflect.ownKeys(globalThis).filter((key) => typeof key === 'string')", { copy: true, timeout: preludeTimeoutMs }) as string[];
    return new Set(names);
  } finally {
    void disposeIsolate(isolate);
  }
}

/**
 * Compiles the pre-loaded WebAssembly modules for one memory limit (wasm-modules.ts) in a context
 * of an isolate of its own that runs no user code, through the prelude's bounded constructor;
 * answers them as one copy that contexts of that limit receive (the compiled code is shared).
 */
export async function compilePreloadedWasm(memoryMb: number, payload: ivm.ExternalCopy<unknown>): Promise<ivm.ExternalCopy<unknown>> {
  // Room for the modules' bytes, their rewritten copies and the ballast the constructor counts.
  const isolate = await newIsolate({ memoryLimit: 1024, snapshot: snapshotOfPrelude() });
  try {
    const context = await isolate.createContext();
    const log = new ivm.Callback(() => undefined, { ignored: true });
    const control = await context.evalClosure(attachSource, [log, 0, memoryMb * 1024 * 1024, undefined, new ivm.ExternalCopy(noFeatures).copyInto({ release: true }), undefined, undefined, undefined], { result: { reference: true } }) as ControlFunction;
    return await control.apply(undefined, ['compilePreloaded', payload], { result: { externalCopy: true }, timeout: 120_000 }) as ivm.ExternalCopy<unknown>;
  } finally {
    void disposeIsolate(isolate);
  }
}

let builtinDelta: Promise<string | null> | null = null;
/**
 * What attaching changes in the built-ins of the prelude's snapshot (V8's flag-gated built-ins,
 * installed on each context made from it; sandbox/prelude/checkpoint.js, `builtinDelta`): the
 * same in every context of this process, so asked once, of a context of its own, and given to
 * every stateful attach, which records those built-ins again (and only those and the global
 * object). Null if it cannot be had: stateful contexts then take no checkpoints.
 */
export function builtinDeltaOfPrelude(): Promise<string | null> {
  builtinDelta ??= (async () => {
    const isolate = await newIsolate({ memoryLimit: isolateMemoryMbMin, snapshot: snapshotOfPrelude() });
    try {
      const context = await isolate.createContext();
      const log = new ivm.Callback(() => undefined, { ignored: true });
      const control = await context.evalClosure(attachSource, [log, 0, isolateMemoryMbMin * 1024 * 1024, undefined, new ivm.ExternalCopy(noFeatures).copyInto({ release: true }), undefined, undefined, undefined], { result: { reference: true }, timeout: preludeTimeoutMs }) as ControlFunction;
      const delta = await control.apply(undefined, ['builtinDelta'], { result: { copy: true }, timeout: preludeTimeoutMs });
      return typeof delta === 'string' ? delta : null;
    } catch {
      return null;
    } finally {
      void disposeIsolate(isolate);
    }
  })();
  return builtinDelta;
}

/**
 * Console lines arrive here in batches, while the run goes on: one string each, lines joined by
 * '\n' (sandbox/prelude/console.js). Typed unknown: it comes from the sandbox, whose code user code can subvert,
 * so the engine checks it (ConsoleBudget) before anything of the host sees it.
 */
export type LineBatchSink = (batch: unknown) => void;

/** What the host asks the sandbox to do (sandbox/prelude/control.js, `control`): one function, the method by name. */
export type ControlName = 'settle' | 'fire' | 'state' | 'record' | 'begin' | 'deliver' | 'compilePreloaded' | 'checkpoint' | 'restore' | 'builtinDelta';
export type ControlFunction = ivm.Reference<(method: ControlName, argument?: unknown) => unknown>;

export interface PreparedContext {
  isolate: ivm.Isolate;
  /** Contexts made on this isolate so far, this one included. */
  contextsCreated: number;
  context: ivm.Context;
  /**
   * The sandbox's control function; null until the context is attached (`attachContext`), which
   * a run does together with its first call into the isolate: one thread wake for both.
   */
  control: ControlFunction | null;
  /** The console callback the context is attached with. */
  log: ivm.Callback;
  /** Runs started in this context (stateful contexts run many). */
  runs: number;
  /** The isolate's heap reading and next context, sent early by `sendSuccessor`, or null. */
  successor: Successor | null;
  /** Where this context's console lines go, and how many batches arrived; set by the run that takes it. */
  route: { sink: LineBatchSink | null; batchesReceived: number; onBatch: (() => void) | null; effect?: EffectHandler | null; dropQueued?: () => number };
}

/** What the pool sends an isolate whose run is over, in one thread wake: a heap reading and the next context. */
interface Successor {
  warm: WarmIsolate;
  bytes: Promise<number | null>;
  next: Promise<PreparedContext> | null;
}

interface WarmIsolate {
  isolate: ivm.Isolate;
  contextsCreated: number;
  next: Promise<PreparedContext> | null;
  /** `next` is made: a run that takes this isolate starts without waiting for V8. */
  ready: boolean;
}

/**
 * Idle warm isolates kept per memory limit, and in all, at least (an idle isolate costs ~1.5 MiB).
 * The pool keeps one per execution slot if there are more slots, or every release past the
 * bound would dispose an isolate that the next run then has to make again.
 */
export const idleIsolatesPerLimitMin = 8;
export const idleIsolatesMin = 32;
/** isolated-vm refuses a smaller memoryLimit; smaller requested limits run with this one. */
export const isolateMemoryMbMin = 8;

/** The memory limit of the isolate a run with this heap_memory_max_mb uses. */
export function isolateMemoryMb(heapMemoryMaxMb: number): number {
  return Math.max(isolateMemoryMbMin, Math.ceil(heapMemoryMaxMb));
}
/**
 * Released contexts are only freed by a full collection (V8 runs one when the heap nears its
 * limit; each context leaves ~20 KiB until then), and a tight loop of contexts can hit the limit
 * first (isolated-vm issue #42): an isolate whose used heap is past this share of its limit after
 * a run is retired, so that leftovers of earlier runs never make a small run fail. The reading,
 * taken with the run's settle, also counts the run's own context (garbage once released), yet
 * retiring on it is the cheaper choice, measured: 60,000 timers at 8 MiB retire an isolate in
 * about one run of three; keeping it until a second reading past the share cost each such run
 * 4–6 ms more of its isolate thread (the next run collects the garbage) and 1–3 ms more of the
 * event loop, and provoking a full collection to read again (an ArrayBuffer past the limit, which
 * isolated-vm and V8 collect everything for before refusing) 17–254 ms of the isolate thread
 * (bench/RESULTS.md, "60,000 timers").
 */
export const retireHeapShare = 0.8;
/** A stateful run taking an isolate triggers a replacement only when the pool is left with fewer idle than this (none). */
export const detachReplenishBelow = 1;
/**
 * A live context's isolate that held more than this (`residentBytesOf`) is disposed once the
 * context goes, not reused: ≈ 2.5× a fresh context (3.2 MiB). Fresh heaps made at a stream,
 * 64 kept live (bench/RESULTS.md): reusing every isolate, 12 MiB per live context and 3.3–3.7 ms
 * of CPU per run; with this bound 5.4 MiB and 3.8 ms; with 5 MiB, 4.5 MiB and 5.4 ms; never
 * reusing one (an isolate costs ≈ 4 ms of CPU to make), 4 MiB and 7.6–9 ms. Within a 256 MiB
 * bound at load 30: 43 live contexts and 4.6 ms per run against 20 and 3.7 ms. Runs that resume
 * a live context never pay it (no eviction, no new context); a stream of one-run heaps pays the
 * CPU, and gets 2.2× the live heaps per MiB.
 */
export const liveIsolateReuseBytesMax = 8 * 1024 * 1024;
/** Isolates being created in the background to replace disposed ones, at most. */
export const replenishInFlightMax = 4;
/** An isolate is also retired after this many contexts, whatever its heap says. */
export const contextsPerIsolateMax = 1_000;
/** Seeds are 32-bit unsigned integers; randomInt's bound is exclusive and at most 2^48. */
export const seedLimit = 2 ** 32;
/** The prelude is our own code and runs in well under a millisecond; this only guards a bug. */
const preludeTimeoutMs = 5_000;

/** How long the host waits for an isolate's heap statistics before giving up on the isolate. */
export const isolateAnswerMsMax = 1_000;

/**
 * V8 heap bytes an isolate uses, asked asynchronously: a synchronous call would take the isolate's
 * lock on this thread and first run whatever the isolate has queued (a continuation of the
 * sandbox's code), with no time limit, blocking the server. Null when it does not answer in time.
 */
export async function heapBytesOf(isolate: ivm.Isolate): Promise<number | null> {
  try {
    const heap = await within(isolate.getHeapStatistics(), isolateAnswerMsMax, 'heap statistics');
    return heap.used_heap_size + heap.externally_allocated_size;
  } catch {
    return null;
  }
}

/**
 * Memory an isolate holds in the process, asked asynchronously like `heapBytesOf`: its heap's
 * pages (used or not: V8 keeps pages it collected into, and a young generation that grew, until
 * the isolate is gone), what V8 malloc'd for it and what ArrayBuffers hold. This, not the used
 * heap, is what a live context costs the resident set: 3.2 MiB for a fresh context, 12.5 MiB on
 * average for one made on an isolate that earlier contexts had used (bench/RESULTS.md).
 */
export async function residentBytesOf(isolate: ivm.Isolate): Promise<number | null> {
  try {
    const heap = await within(isolate.getHeapStatistics(), isolateAnswerMsMax, 'heap statistics');
    return heap.total_physical_size + heap.malloced_memory + heap.externally_allocated_size;
  } catch {
    return null;
  }
}

/**
 * Disposes an isolate once the call under way on its thread, if any (`pending`), has ended. An
 * isolate disposed during a call is destroyed on the isolate's thread when the call ends, and a
 * process that exits meanwhile tears V8's platform down under it and crashes on the way out (3
 * of 20 scripts that exited right after the engine's close). Disposed with nothing under way, it
 * is destroyed at once, on this thread. An isolate that does not answer is disposed anyway.
 */
export async function disposeWhenIdle(isolate: ivm.Isolate, pending: Promise<unknown> | null): Promise<void> {
  if (pending !== null) await within(pending, isolateAnswerMsMax, 'the call under way').catch(() => undefined);
  await disposeIsolate(isolate);
}

/** An isolate did not answer a call of ours in time: it is given up (a fault of ours, never of user code). */
export class IsolateUnresponsive extends Error {}

/** Rejects when `promise` takes longer than `ms`: an isolate that does not answer is given up. */
function within<Value>(promise: Promise<Value>, ms: number, what: string): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new IsolateUnresponsive(`${what} took longer than ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Console batches of every context, on their way to their runs' sinks. */
const consoleQueue = new ConsoleQueue();

/**
 * Calls into an isolate cost little in the isolate and a lot in waking its thread (≈ 0.15–0.2 ms
 * of CPU each under load on a 2-core machine, bench/RESULTS.md), and calls sent one right after
 * the other run in one wake. So the pool sends the heap reading and the next context together,
 * and a run sends the attach call together with its code.
 *
 * Asynchronous calls only, each bounded: the isolate may have run other executions' code, and
 * whatever they left queued in it (a continuation) runs before our call, on the isolate's thread
 * for an asynchronous call, but on this thread, unbounded, for a synchronous one.
 */
async function prepareContext(warm: WarmIsolate): Promise<PreparedContext> {
  const context = await within(warm.isolate.createContext(), preludeTimeoutMs, 'creating a context');
  warm.contextsCreated++;
  const route: PreparedContext['route'] = { sink: null, batchesReceived: 0, onBatch: null };
  // Queued, handed over in a later turn of the event loop (console-queue.ts).
  const queueRoute = {
    deliver: (batch: unknown) => {
      route.batchesReceived++;
      const sink = route.sink;
      sink?.(batch);
      route.onBatch?.();
      return sink !== null;
    },
    get run() { return route.sink; },
  };
  const log = new ivm.Callback((batch: unknown) => consoleQueue.push(queueRoute, batch), { ignored: true });
  route.dropQueued = () => consoleQueue.drop(queueRoute);
  return { isolate: warm.isolate, contextsCreated: warm.contextsCreated, context, control: null, log, runs: 0, route, successor: null };
}

/**
 * Attaches a fresh context to the prelude with the seed of its first run, before any user code.
 * The call is sent at once: a call the caller sends right after it reaches the isolate in the
 * same thread wake and runs after it.
 */
export function attachContext(prepared: PreparedContext, seed: number, memoryMb: number, answerMsMax = preludeTimeoutMs, features: EffectFeatures = noFeatures, wasm: [unknown, ivm.ExternalCopy<unknown>] | null = null, builtinDelta: string | null = null): Promise<ControlFunction> {
  assert(prepared.control === null && prepared.runs === 0, 'a context is attached once, before its first run');
  assert(Number.isInteger(seed) && seed >= 0 && seed < seedLimit, 'a seed is a 32-bit unsigned integer');
  // No isolated-vm timeout (a timer on its timer thread per call, see run.ts): a prelude that
  // does not answer in time has its isolate disposed, which ends whatever it was doing.
  const attaching = prepared.context.evalClosure(attachSource, attachArguments(prepared, seed, memoryMb, features, wasm, builtinDelta), { result: { reference: true } });
  return within(attaching, answerMsMax, 'attaching the prelude').then((control) => controlAttached(prepared, control), (error: unknown) => {
    void disposeIsolate(prepared.isolate);
    throw error;
  });
}

/** What attach is called with (sandbox/prelude/control.js, `attach`), the secret last. */
function attachArguments(prepared: PreparedContext, seed: number, memoryMb: number, features: EffectFeatures, wasm: [unknown, ivm.ExternalCopy<unknown>] | null, builtinDelta: string | null, secret?: string): unknown[] {
  // The memory limit is also the budget of memory V8 keeps outside its heap (sandbox/prelude/off-heap.js).
  // fetch()/fs (sandbox/prelude/effects.js) call the host through one function, answered by the
  // handler the run puts on the route (src/exec/effects.ts); without either, none is made.
  const { route } = prepared;
  const host = features.fetch || features.fs
    ? new ivm.Reference((kind: unknown, request: unknown) => (route.effect ?? noEffects)(kind, request))
    : undefined;
  return [prepared.log, seed, memoryMb * 1024 * 1024, host, new ivm.ExternalCopy(features).copyInto({ release: true }), ...(wasm ?? [undefined, undefined]), builtinDelta ?? undefined, secret];
}

function controlAttached(prepared: PreparedContext, control: unknown): ControlFunction {
  const reference = control as ControlFunction;
  assert(reference.typeof === 'function', 'attach returns the control function');
  prepared.control = reference;
  return reference;
}

/** Attaches a fresh context and runs `source` in the same call; the state is read by the secret right behind it. */
const attachAndRunSource = `'use strict'; const control = globalThis.__mcpv8_attach($0, $1, $2, $3, $4, $5, $6, $7, $8); control('run', $9); return control;`;
const stateBySecretSource = `'use strict'; return globalThis.__mcpv8_state($0);`;
/**
 * An evalClosure option of the patched isolated-vm (scripts/patch-isolated-vm.mjs): the call's
 * answer is queued for the event loop without waking it, and the answer of the call sent right
 * behind it wakes it for both (or the isolate's thread does, once it has nothing left to run).
 * Without the patch it is ignored: each answer wakes the loop, as before.
 */
const attachAndRunOptions = { result: { reference: true }, answerWithNext: true } as const;

/**
 * A fresh context's whole run in one thread wake (run.ts, `runInOneCall`): one call attaches it
 * and evaluates `source` in it (the prelude's `run`: compile, run, settle), and a second, sent
 * right behind, reads the state after the microtasks the code queued (they run when the first
 * call ends). Before the first answers, the host holds no reference to the control function: the
 * second call names the secret the first gave attach. Neither call has a time limit of its own:
 * the run's deadline disposes the isolate (run.ts, `checkDeadline`).
 */
export function attachAndRun(prepared: PreparedContext, seed: number, memoryMb: number, features: EffectFeatures, wasm: [unknown, ivm.ExternalCopy<unknown>] | null, source: string): { attached: Promise<ControlFunction>; state: Promise<unknown> } {
  assert(prepared.control === null && prepared.runs === 1, 'a context is attached once, by its first run');
  assert(Number.isInteger(seed) && seed >= 0 && seed < seedLimit, 'a seed is a 32-bit unsigned integer');
  const secret = randomUUID();
  const args = [...attachArguments(prepared, seed, memoryMb, features, wasm, null, secret), source];
  // Its answer waits for the state's (the patched build's `answerWithNext`): one event-loop wake for both.
  const attached = prepared.context.evalClosure(attachAndRunSource, args, attachAndRunOptions).then((control) => controlAttached(prepared, control));
  const state = prepared.context.evalClosure(stateBySecretSource, [secret], { result: { copy: true } });
  return { attached, state };
}

const noFeatures: EffectFeatures = { fetch: false, fs: false, fetchRequestBytesMax: 0, fsWriteBytesMax: 0 };
/** A call that reaches a context no run holds (never, as the sandbox's calls end with its run). */
const noEffects: EffectHandler = async () => ({ ok: false, error: 'no run holds this context' });

/**
 * Of isolates in the order they were parked: the newest whose context is made (its memory is the
 * warmest), else the oldest, whose context was started first and is the nearest to made.
 */
export function idleToTake(parked: ReadonlyArray<{ ready: boolean }>): number {
  assert(parked.length > 0, 'an isolate to take');
  for (let index = parked.length - 1; index >= 0; index--) if (parked[index]!.ready) return index;
  return 0;
}

export class IsolatePool {
  private readonly idle = new Map<number, WarmIsolate[]>();
  readonly idlePerLimitMax: number;
  readonly idleMax: number;

  private readonly onCatastrophicError: (isolate: ivm.Isolate, message: string) => void;
  /** The live contexts of stateful runs (live-heaps.ts): this pool owns them as it owns every isolate. */
  readonly live: LiveHeapCache;

  /**
   * `onCatastrophicError` hears of an isolate V8 ran out of memory in beyond recovery. Every
   * isolate is made with the handler: without one, V8 aborts the process.
   */
  constructor(options: { slots: number; onCatastrophicError: (isolate: ivm.Isolate, message: string) => void; liveHeapsMax?: number; liveHeapBytesMax?: number }) {
    assert(Number.isInteger(options.slots) && options.slots >= 1, 'at least one execution slot');
    this.onCatastrophicError = options.onCatastrophicError;
    this.live = new LiveHeapCache(options.liveHeapsMax ?? liveHeapsMaxDefault, options.liveHeapBytesMax ?? liveHeapBytesMaxDefault, isolateMemoryMb);
    this.idlePerLimitMax = Math.max(idleIsolatesPerLimitMin, options.slots);
    this.idleMax = Math.max(idleIsolatesMin, 2 * options.slots);
  }

  private idleCount = 0;
  /** Contexts handed to runs (`acquire`, `resume`) and not given back yet (release, discard, dropDetached, keepLive). */
  private readonly handedOut = new Set<PreparedContext>();
  private replenishing = 0;
  private readonly replenishWaiters: Array<() => void> = [];
  private closed = false;

  private async create(memoryMb: number): Promise<WarmIsolate> {
    // Built off the event loop (isolate-lifecycle.ts); V8 calls the handler only once code runs.
    const made: { isolate?: ivm.Isolate } = {};
    const isolate = await newIsolate({
      memoryLimit: memoryMb,
      snapshot: snapshotOfPrelude(),
      onCatastrophicError: (message) => this.onCatastrophicError(made.isolate!, message),
    });
    made.isolate = isolate;
    return { isolate, contextsCreated: 0, next: null, ready: false };
  }

  /**
   * Parks `count` isolates of a memory limit (at most the idle bound) with their contexts made,
   * before any run asks: the server does it at start for its default limit, so its first runs
   * do not pay for the prelude's snapshot (≈ 20 ms), an isolate (≈ 2 ms) and a context each.
   */
  async prewarm(memoryMb: number, count: number): Promise<void> {
    assert(Number.isInteger(memoryMb) && memoryMb >= isolateMemoryMbMin, 'a memory limit isolated-vm accepts');
    const made: WarmIsolate[] = [];
    while (made.length < count && this.hasRoom(memoryMb)) {
      const warm = await this.create(memoryMb);
      this.park(warm, memoryMb);
      made.push(warm);
    }
    // A context that fails is handled by park (its isolate is disposed); the next run replaces it.
    await Promise.allSettled(made.map((warm) => warm.next));
  }

  /** A context ready to run user code, on an isolate nothing else is using. */
  async acquire(memoryMb: number): Promise<PreparedContext> {
    assert(!this.closed, 'acquire on an open pool');
    assert(Number.isInteger(memoryMb) && memoryMb >= isolateMemoryMbMin, 'a memory limit isolated-vm accepts');
    const warm = this.takeIdle(memoryMb);
    const chosen = warm ?? (await this.create(memoryMb));
    const prepared = chosen.next ?? prepareContext(chosen);
    chosen.next = null;
    try {
      return this.handOut(await prepared);
    } catch (error) {
      // A warm isolate that cannot make a context is broken: replace it with a fresh one once.
      void disposeIsolate(chosen.isolate);
      if (warm === undefined) throw error;
      return this.handOut(await prepareContext(await this.create(memoryMb)));
    }
  }

  private handOut(prepared: PreparedContext): PreparedContext {
    this.handedOut.add(prepared);
    return prepared;
  }

  /** Contexts runs hold now: handed out and not given back (tests: none once the runs have ended). */
  get contextsInUse(): number {
    return this.handedOut.size;
  }

  /**
   * Frees a context its run could not give back the usual way (a fault of ours on the way): its
   * isolate is disposed, and replaced unless it was detached (stateful). Nothing if given back.
   */
  reclaim(prepared: PreparedContext, memoryMb: number, detached: boolean): void {
    if (!this.handedOut.has(prepared)) return;
    if (detached) this.dropDetached(prepared);
    else this.discard(prepared, memoryMb);
  }

  /**
   * The idle isolate a run should take (`idleToTake`). An isolate is parked as soon as its heap
   * is read, with its next context still being made (≈ 0.7 ms). Taking the newest regardless (as
   * the pool did: 4 runs in 10 under load) left the run's slot waiting for V8 while older isolates
   * sat ready; with two slots, that wait bounds the node's throughput.
   */
  private takeIdle(memoryMb: number): WarmIsolate | undefined {
    const list = this.idle.get(memoryMb);
    if (list === undefined || list.length === 0) return undefined;
    this.idleCount--;
    return list.splice(idleToTake(list), 1)[0];
  }

  /**
   * The heap reading and the next context, sent together (one thread wake); the context is wasted
   * when the heap says retire. An isolate past its contexts is retired whatever its heap says.
   */
  private successorOf(prepared: PreparedContext): Successor {
    const warm: WarmIsolate = { isolate: prepared.isolate, contextsCreated: prepared.contextsCreated, next: null, ready: false };
    if (prepared.contextsCreated >= contextsPerIsolateMax) return { warm, bytes: Promise.resolve(null), next: null };
    // The context first: the heap reading, right behind it, answers together with it (one wake
    // of this thread instead of two), and it counts what the next run will start with.
    const next = prepareContext(warm);
    next.catch(() => undefined);
    const bytes = heapBytesOf(prepared.isolate);
    return { warm, bytes, next };
  }

  /**
   * Sends the heap reading and the next context of a stateless run's isolate now, while the run
   * finishes: called right after the run's settle call, they share its thread wake, and `release`
   * uses them. (A run that goes on, with timers, gets a fresh heap reading at release.) The engine
   * sends it only while runs wait for a lane: then the context is wanted soon and the wake is
   * worth sharing; otherwise `release` asks for it after the reply.
   */
  sendSuccessor(prepared: PreparedContext): void {
    assert(prepared.successor === null, 'one successor per context');
    prepared.successor = this.successorOf(prepared);
  }

  /**
   * Gives back the isolate of a run that ended cleanly; anything in doubt must be disposed instead.
   * `heapChanged`: user code ran after the successor was sent, so its heap reading is stale.
   * Without a successor sent (no run was waiting: engine.ts, `runIn`), the next context is asked
   * for in a later turn of the event loop, after the turn that answers the run's caller: made
   * now, its ≈ 0.5 ms of the isolate's thread took a core from the reply and its client
   * (bench/RESULTS.md, "A stateless run at 100/s, piece by piece").
   */
  release(prepared: PreparedContext, memoryMb: number, heapChanged = false): void {
    this.handedOut.delete(prepared);
    prepared.route.sink = null;
    prepared.context.release();
    prepared.control?.release();
    if (prepared.successor !== null) return this.giveBack(prepared, memoryMb, heapChanged);
    const later = new Promise<void>((resolve) => {
      setImmediate(() => {
        this.giveBack(prepared, memoryMb, heapChanged);
        resolve();
      });
    });
    this.returning.add(later);
    void later.then(() => { this.returning.delete(later); });
  }

  /** The released isolate back to the pool with its next context, or disposed (`release`). */
  private giveBack(prepared: PreparedContext, memoryMb: number, heapChanged: boolean): void {
    const { isolate } = prepared;
    if (isolate.isDisposed) return;
    if (!this.hasRoom(memoryMb)) {
      void disposeIsolate(isolate);
      return;
    }
    let successor = prepared.successor ?? this.successorOf(prepared);
    if (prepared.successor !== null && heapChanged && successor.next !== null) successor = { ...successor, bytes: heapBytesOf(isolate) };
    const { warm, bytes, next } = successor;
    const returning = bytes.then(async (used) => {
      if (isolate.isDisposed) return;
      if (used === null || used > retireHeapShare * memoryMb * 1024 * 1024) {
        this.isolatesRetired[prepared.contextsCreated >= contextsPerIsolateMax ? 'contexts' : used === null ? 'unanswered' : 'heap']++;
        this.replenishSoon(memoryMb);
        await disposeWhenIdle(isolate, next);
      } else if (this.hasRoom(memoryMb)) {
        this.park(warm, memoryMb, next);
      } else {
        await disposeWhenIdle(isolate, next);
      }
    }).finally(() => { this.returning.delete(returning); });
    this.returning.add(returning);
  }

  /** Isolates disposed after a clean run (`release`), by why: the heap, the contexts made, no answer. */
  readonly isolatesRetired = { heap: 0, contexts: 0, unanswered: 0 };

  /** Isolates on their way back to the pool (their heap is being measured). */
  private readonly returning = new Set<Promise<void>>();

  /** Warm isolates waiting for a run of this memory limit (tests, metrics). */
  idleFor(memoryMb: number): number {
    return this.idle.get(memoryMb)?.length ?? 0;
  }

  /** Resolves when no isolate is on its way back and none is being created or torn down (tests, and the engine's close). */
  async whenReplenished(): Promise<void> {
    while (this.returning.size > 0 || this.replenishing > 0) {
      await Promise.all(this.returning);
      if (this.replenishing > 0) await new Promise<void>((resolve) => { this.replenishWaiters.push(resolve); });
    }
    await isolatesSettled();
  }

  private hasRoom(memoryMb: number): boolean {
    const list = this.idle.get(memoryMb) ?? [];
    return !this.closed && list.length < this.idlePerLimitMax && this.idleCount < this.idleMax;
  }

  /** Keeps a warm isolate for the next run, its next context already on the way. */
  private park(warm: WarmIsolate, memoryMb: number, next: Promise<PreparedContext> | null = null): void {
    assert(warm.next === null && !warm.isolate.isDisposed, 'a parked isolate is alive and has no context yet');
    const { isolate } = warm;
    warm.next = next ?? prepareContext(warm);
    warm.ready = false;
    warm.next.then(() => { warm.ready = true; }, () => { void disposeIsolate(isolate); });
    const list = this.idle.get(memoryMb) ?? [];
    list.push(warm);
    this.idle.set(memoryMb, list);
    this.idleCount++;
  }

  /**
   * Replaces a disposed isolate in the background (after the outcome went out: creating an
   * isolate blocks the host thread for ~1.5 ms), so the next run of that limit finds one warm.
   */
  private replenishSoon(memoryMb: number): void {
    if (this.replenishing >= replenishInFlightMax) return;
    this.replenishing++;
    setImmediate(() => {
      const created = this.hasRoom(memoryMb) ? this.create(memoryMb) : Promise.resolve(null);
      created.then((warm) => {
        if (warm === null) return;
        if (this.hasRoom(memoryMb)) this.park(warm, memoryMb);
        else void disposeIsolate(warm.isolate);
      }, () => undefined).finally(() => {
        this.replenishing--;
        if (this.replenishing === 0) for (const resolve of this.replenishWaiters.splice(0)) resolve();
      });
    });
  }

  /**
   * Hands the isolate to a stateful run for good (its context lives on in the live-heap cache,
   * which gives the isolate back through `release` when it evicts the context).
   */
  detach(memoryMb: number): void {
    // Live contexts come back (release) when the cache evicts them, so only replenish when the
    // pool runs low: otherwise every fresh stateful run would create an isolate and every
    // eviction dispose one.
    if (this.idleFor(memoryMb) < detachReplenishBelow) this.replenishSoon(memoryMb);
  }

  /** Disposes the isolate of a run that ended in doubt (timeout, cancel, out of memory) and replaces it. */
  discard(prepared: PreparedContext, memoryMb: number): void {
    this.handedOut.delete(prepared);
    prepared.route.sink = null;
    void disposeIsolate(prepared.isolate);
    this.replenishSoon(memoryMb);
  }

  /**
   * Keeps the context of a stateful run that ended cleanly alive for the next run of its heap:
   * the live-heap cache holds it (answered: its number there) until the commit names it, then
   * hands it to the run that resumes it (`resume`) or disposes it: the isolate then comes back
   * here (`release`) for other runs.
   */
  keepLive(prepared: PreparedContext, memoryMb: number, heapBytes: number): number {
    this.handedOut.delete(prepared);
    prepared.route.sink = null;
    return this.live.hold(new LiveContext(prepared, memoryMb, heapBytes, (retired) => this.releaseLive(retired, memoryMb, heapBytes)));
  }

  /**
   * Gives back the isolate of a live context no longer wanted. One that held more than
   * `liveIsolateReuseBytesMax` is disposed (and replaced in the background) rather than reused:
   * V8 keeps the pages its heap grew to, so a context made on it later and kept live would pin
   * them too, and the live contexts' memory would be mostly what earlier contexts left.
   */
  private releaseLive(prepared: PreparedContext, memoryMb: number, residentBytes: number): void {
    if (residentBytes <= liveIsolateReuseBytesMax) {
      this.release(prepared, memoryMb);
      return;
    }
    this.handedOut.delete(prepared);
    prepared.route.sink = null;
    prepared.context.release();
    prepared.control?.release();
    void disposeWhenIdle(prepared.isolate, null);
    this.replenishSoon(memoryMb);
  }

  /** The context of a live heap, taken by the run that resumes it (from then on the run's). */
  resume(live: LiveContextHandle, memoryMb: number): PreparedContext {
    assert(live instanceof LiveContext && live.memoryMb === memoryMb, 'a live heap of this pool, with the memory limit of the run');
    return this.handOut(live.consume());
  }

  /** Disposes the isolate of a stateful run whose context is not kept (it was detached: nothing replaces it). */
  dropDetached(prepared: PreparedContext): void {
    this.handedOut.delete(prepared);
    prepared.route.sink = null;
    void disposeIsolate(prepared.isolate);
  }

  /** Disposes the idle isolates, each once its next context is made (see `disposeWhenIdle`). */
  async close(): Promise<void> {
    this.closed = true;
    this.live.clear();
    const idle = [...this.idle.values()].flat();
    this.idle.clear();
    this.idleCount = 0;
    await Promise.all(idle.map((warm) => disposeWhenIdle(warm.isolate, warm.next)));
  }
}

/** A context kept alive for the next run of the same heap (stateful mode). */
class LiveContext implements LiveContextHandle {
  readonly prepared: PreparedContext;
  readonly memoryMb: number;
  readonly heapBytes: number;
  private consumed = false;
  /** Gives the isolate back to the pool (the context is released, never reused). */
  private readonly retire: (prepared: PreparedContext) => void;

  constructor(prepared: PreparedContext, memoryMb: number, heapBytes: number, retire: (prepared: PreparedContext) => void) {
    this.prepared = prepared;
    this.memoryMb = memoryMb;
    this.heapBytes = heapBytes;
    this.retire = retire;
  }

  get disposed(): boolean {
    return this.consumed || this.prepared.isolate.isDisposed;
  }

  /** Taken by a run: from now on the run owns the context. */
  consume(): PreparedContext {
    assert(!this.disposed, 'a live heap is resumed once, while alive');
    this.consumed = true;
    return this.prepared;
  }

  /**
   * The state is no longer wanted: its context is released and the isolate goes back to the pool
   * for other runs (new contexts, as for stateless runs), so that a stream of fresh stateful runs
   * does not create and dispose an isolate each.
   */
  dispose(): void {
    if (this.consumed) return;
    this.consumed = true;
    this.prepared.route.sink = null;
    if (!this.prepared.isolate.isDisposed) this.retire(this.prepared);
  }
}
