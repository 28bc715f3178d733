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
const seedLimit = 2 ** 32;
/** The prelude is our own code and runs in well under a millisecond; this only guards a bug. */
const preludeTimeoutMs = 5_000;

async function prepareContext(warm: WarmIsolate): Promise<PreparedContext> {
  const context = await warm.isolate.createContext();
  warm.contextsCreated++;
  const route: PreparedContext['route'] = { sink: null, batchesReceived: 0, onBatch: null };
  const log = new ivm.Callback((lines: string[]) => {
    route.batchesReceived++;
    route.sink?.(lines);
    route.onBatch?.();
  }, { ignored: true });
  // Every context gets a fresh seed; a run that needs a given one reseeds (control 'reseed').
  const seed = randomInt(0, seedLimit);
  // Few calls into the isolate: each one is a thread hop, and this runs once per execution.
  const attach = (await warm.prelude.run(context, { timeout: preludeTimeoutMs, reference: true })) as ivm.Reference<(log: unknown, seed: number) => unknown>;
  assert(attach.typeof === 'function', 'the prelude evaluates to its attach function');
  // Synchronous: no user code has run in this context yet, so this is our code only, and a
  // thread hop would cost more than the call.
  const control = attach.applySync(undefined, [log, seed], { timeout: preludeTimeoutMs, result: { reference: true } }) as ControlFunction;
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
    if (this.worn(prepared, memoryMb)) {
      isolate.dispose();
      this.replenishSoon(memoryMb);
      return;
    }
    this.park({ isolate, prelude: prepared.prelude, contextsCreated: prepared.contextsCreated, next: null }, memoryMb);
  }

  /** Warm isolates waiting for a run of this memory limit (tests, metrics). */
  idleFor(memoryMb: number): number {
    return this.idle.get(memoryMb)?.length ?? 0;
  }

  /** Resolves when no replacement isolate is being created (tests). */
  whenReplenished(): Promise<void> {
    if (this.replenishing === 0) return Promise.resolve();
    return new Promise((resolve) => { this.replenishWaiters.push(resolve); });
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

  private worn(prepared: PreparedContext, memoryMb: number): boolean {
    if (prepared.contextsCreated >= contextsPerIsolateMax) return true;
    const heap = prepared.isolate.getHeapStatisticsSync();
    return heap.used_heap_size + heap.externally_allocated_size > retireHeapShare * memoryMb * 1024 * 1024;
  }

  /**
   * Hands the isolate to a stateful run for good (its context lives on in the live-heap cache),
   * and makes a warm replacement in the background.
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
