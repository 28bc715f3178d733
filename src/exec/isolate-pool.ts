// Warm isolates, one run at a time each, with the next context prepared ahead of time.
//
// A fresh isolate costs ~2 ms and a fresh context on a warm isolate ~0.5 ms (heap-persistence.md),
// so isolates are reused across runs with the same memory limit, and the context of the next run
// is created and given its prelude right after the previous run, off the request path. A context
// is never reused: every run starts from a clean global. An isolate that ran out of memory, timed
// out, was cancelled or is in any doubt is disposed, never returned.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ivm from 'isolated-vm';
import { assert } from '../errors.ts';

const sandboxDirectory = new URL('./sandbox/', import.meta.url);
// Order matters: prelude.js captures (and deletes) what the others define.
const sandboxFiles = ['inspect.js', 'determinism.js', 'web.js', 'prelude.js'];
const preludeSource = sandboxFiles.map((name) => readFileSync(new URL(name, sandboxDirectory), 'utf8')).join('\n');

/** Console lines arrive here in batches, from the isolate's thread, while the run goes on. */
export type LineBatchSink = (lines: string[]) => void;

/** What the host asks the sandbox to do (prelude.js, `control`): one function, the method by name. */
export type ControlName = 'settle' | 'fire' | 'state' | 'record' | 'begin' | 'deliver';
export type ControlFunction = ivm.Reference<(method: ControlName, argument?: unknown) => unknown>;

export interface PreparedContext {
  isolate: ivm.Isolate;
  prelude: ivm.Script;
  /** Contexts made on this isolate so far, this one included. */
  contextsCreated: number;
  context: ivm.Context;
  control: ControlFunction;
  /** Runs started in this context (stateful contexts run many). */
  runs: number;
  /** Where this context's console lines go, and how many batches arrived; set by the run that takes it. */
  route: { sink: LineBatchSink | null; batchesReceived: number; onBatch: (() => void) | null };
}

interface WarmIsolate {
  isolate: ivm.Isolate;
  prelude: ivm.Script;
  contextsCreated: number;
  next: Promise<PreparedContext> | null;
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
 * a run is retired, so that leftovers of earlier runs never make a small run fail.
 */
export const retireHeapShare = 0.8;
/** A stateful run taking an isolate triggers a replacement only when the pool is left with fewer idle than this (none). */
export const detachReplenishBelow = 1;
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

/** Rejects when `promise` takes longer than `ms`: an isolate that does not answer is given up. */
function within<Value>(promise: Promise<Value>, ms: number, what: string): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function prepareContext(warm: WarmIsolate): Promise<PreparedContext> {
  const context = await warm.isolate.createContext();
  warm.contextsCreated++;
  const route: PreparedContext['route'] = { sink: null, batchesReceived: 0, onBatch: null };
  const log = new ivm.Callback((lines: string[]) => {
    route.batchesReceived++;
    route.sink?.(lines);
    route.onBatch?.();
  }, { ignored: true });
  // Every context gets a fresh seed; a stateful run sets its own with control 'begin'.
  const seed = randomInt(0, seedLimit);
  // Asynchronous calls only, each bounded: the isolate may have run other executions' code, and
  // whatever they left queued in it (a continuation) runs before our call, on the isolate's thread
  // for an asynchronous call, but on this thread, unbounded, for a synchronous one.
  const attach = (await within(warm.prelude.run(context, { timeout: preludeTimeoutMs, reference: true }), preludeTimeoutMs, 'the prelude')) as ivm.Reference<(log: unknown, seed: number) => unknown>;
  assert(attach.typeof === 'function', 'the prelude evaluates to its attach function');
  const control = (await within(attach.apply(undefined, [log, seed], { timeout: preludeTimeoutMs, result: { reference: true } }), preludeTimeoutMs, 'attaching the prelude')) as ControlFunction;
  attach.release();
  return { isolate: warm.isolate, prelude: warm.prelude, contextsCreated: warm.contextsCreated, context, control, runs: 0, route };
}

export class IsolatePool {
  private readonly idle = new Map<number, WarmIsolate[]>();
  readonly idlePerLimitMax: number;
  readonly idleMax: number;

  constructor(options: { slots: number }) {
    assert(Number.isInteger(options.slots) && options.slots >= 1, 'at least one execution slot');
    this.idlePerLimitMax = Math.max(idleIsolatesPerLimitMin, options.slots);
    this.idleMax = Math.max(idleIsolatesMin, 2 * options.slots);
  }

  private idleCount = 0;
  private replenishing = 0;
  private readonly replenishWaiters: Array<() => void> = [];
  private closed = false;

  /** V8's code cache of the prelude, made by the first isolate, so later ones skip the parse. */
  private preludeCache: ivm.ExternalCopy<ArrayBuffer> | null = null;

  private async create(memoryMb: number): Promise<WarmIsolate> {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    const cache = this.preludeCache;
    // isolated-vm returns the produced cache on the script; its typings do not say so.
    const prelude = (await isolate.compileScript(preludeSource, { filename: 'mcp-v8:prelude', ...(cache === null ? { produceCachedData: true } : { cachedData: cache }) })) as ivm.Script & ivm.CachedDataResult;
    if (cache === null && prelude.cachedData !== undefined) this.preludeCache = prelude.cachedData;
    return { isolate, prelude, contextsCreated: 0, next: null };
  }

  /** A context ready to run user code, on an isolate nothing else is using. */
  async acquire(memoryMb: number): Promise<PreparedContext> {
    assert(!this.closed, 'acquire on an open pool');
    assert(Number.isInteger(memoryMb) && memoryMb >= isolateMemoryMbMin, 'a memory limit isolated-vm accepts');
    const list = this.idle.get(memoryMb);
    const warm = list?.pop();
    if (warm !== undefined) this.idleCount--;
    const chosen = warm ?? (await this.create(memoryMb));
    const prepared = chosen.next ?? prepareContext(chosen);
    chosen.next = null;
    try {
      return await prepared;
    } catch (error) {
      // A warm isolate that cannot make a context is broken: replace it with a fresh one once.
      if (!chosen.isolate.isDisposed) chosen.isolate.dispose();
      if (warm === undefined) throw error;
      return prepareContext(await this.create(memoryMb));
    }
  }

  /** Gives back the isolate of a run that ended cleanly; anything in doubt must be disposed instead. */
  release(prepared: PreparedContext, memoryMb: number): void {
    prepared.route.sink = null;
    prepared.context.release();
    prepared.control.release();
    const { isolate } = prepared;
    if (isolate.isDisposed) return;
    if (!this.hasRoom(memoryMb)) {
      isolate.dispose();
      return;
    }
    const returning = this.worn(prepared, memoryMb).then((worn) => {
      this.returning.delete(returning);
      if (isolate.isDisposed) return;
      if (worn) {
        isolate.dispose();
        this.replenishSoon(memoryMb);
      } else if (this.hasRoom(memoryMb)) {
        this.park({ isolate, prelude: prepared.prelude, contextsCreated: prepared.contextsCreated, next: null }, memoryMb);
      } else {
        isolate.dispose();
      }
    });
    this.returning.add(returning);
  }

  /** Isolates on their way back to the pool (their heap is being measured). */
  private readonly returning = new Set<Promise<void>>();

  /** Warm isolates waiting for a run of this memory limit (tests, metrics). */
  idleFor(memoryMb: number): number {
    return this.idle.get(memoryMb)?.length ?? 0;
  }

  /** Resolves when no isolate is on its way back and none is being created (tests). */
  async whenReplenished(): Promise<void> {
    while (this.returning.size > 0 || this.replenishing > 0) {
      await Promise.all(this.returning);
      if (this.replenishing > 0) await new Promise<void>((resolve) => { this.replenishWaiters.push(resolve); });
    }
  }

  private hasRoom(memoryMb: number): boolean {
    const list = this.idle.get(memoryMb) ?? [];
    return !this.closed && list.length < this.idlePerLimitMax && this.idleCount < this.idleMax;
  }

  /** Keeps a warm isolate for the next run, its next context already on the way. */
  private park(warm: WarmIsolate, memoryMb: number): void {
    assert(warm.next === null && !warm.isolate.isDisposed, 'a parked isolate is alive and has no context yet');
    const { isolate } = warm;
    warm.next = prepareContext(warm);
    warm.next.catch(() => { if (!isolate.isDisposed) isolate.dispose(); });
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
        else warm.isolate.dispose();
      }, () => undefined).finally(() => {
        this.replenishing--;
        if (this.replenishing === 0) for (const resolve of this.replenishWaiters.splice(0)) resolve();
      });
    });
  }

  /** True when the isolate should be retired; an isolate that does not answer is worn out too. */
  private async worn(prepared: PreparedContext, memoryMb: number): Promise<boolean> {
    if (prepared.contextsCreated >= contextsPerIsolateMax) return true;
    const bytes = await heapBytesOf(prepared.isolate);
    return bytes === null || bytes > retireHeapShare * memoryMb * 1024 * 1024;
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
    prepared.route.sink = null;
    if (!prepared.isolate.isDisposed) prepared.isolate.dispose();
    this.replenishSoon(memoryMb);
  }

  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) {
      for (const warm of list) if (!warm.isolate.isDisposed) warm.isolate.dispose();
    }
    this.idle.clear();
    this.idleCount = 0;
  }
}
