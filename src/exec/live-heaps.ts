// The live contexts of stateful runs (docs/stateful.md), held by the isolate pool, which owns
// every isolate and context: the service names them by heap id and never holds one. A run that
// ends cleanly leaves its context here unnamed (`hold`, a number in its outcome); the service
// names it after the heap it made (`keep`) or lets it go (`release`); a later run resumes it by
// heap id (`take`, through the engine). Whatever leaves by eviction, replacement or release is
// freed here.
import { LRUCache } from 'lru-cache';
import { assert } from '../errors.ts';
import type { LiveHeaps } from './types.ts';

/**
 * Live contexts kept by default, at most: a bound on the map. The memory bound below is the one
 * that binds first (a context with little state holds 4–6.5 MiB, so ≈ 240–380 fit in 1.5 GiB).
 */
export const liveHeapsMaxDefault = 1024;
/**
 * Bytes all live contexts may hold together, each counted as its isolate's resident memory when
 * it was kept (`residentBytesOf`: heap pages, malloc'd memory, ArrayBuffers, plus the off-heap
 * bytes the sandbox counted); past it the least recently used go (--live-heaps-memory-mb). 1.5 GiB:
 * a session's context grows from 4.2 MiB to ≈ 6.4 MiB in its first 100 runs and stays there, so
 * the 200 sessions of the 400/s benchmark (1.3 GB) stay live.
 */
export const liveHeapBytesMaxDefault = 1536 * 1024 * 1024;

/** A context kept alive after a stateful run (isolate-pool.ts, `LiveContext`). */
export interface LiveContextHandle {
  /** The isolate's memory limit: a run with another heap_memory_max_mb cannot use this context. */
  readonly memoryMb: number;
  /** Resident bytes of its isolate when the run ended (`residentBytesOf`; its share of the memory bound). */
  readonly heapBytes: number;
  readonly disposed: boolean;
  /** Frees the context and gives its isolate back to the pool; nothing once consumed by a run. */
  dispose(): void;
}

/**
 * Live contexts by heap id, least recently kept first, bounded by count and by resident bytes; a
 * context is taken by one resume only. One that leaves by eviction or replacement is freed;
 * one taken is the taker's. Unnamed contexts (between a run's end and its commit) number at
 * most the runs ending at once: the service names or releases each as it commits.
 */
export class LiveHeapCache implements LiveHeaps {
  /** Null with a bound of 0 (lru-cache needs at least 1): nothing is kept. */
  private readonly entries: LRUCache<string, LiveContextHandle> | null;
  private readonly unnamedByNumber = new Map<number, LiveContextHandle>();
  private lastNumber = 0;
  /** Numbers up to this one were freed by `clear` if still held: a commit that ends after it names nothing. */
  private clearedUpTo = 0;
  readonly max: number;
  readonly bytesMax: number;
  /** Contexts released to stay within the bounds (least recently used first). */
  evictions = 0;
  /** Isolate memory limit (MiB) of a run with this heap_memory_max_mb (isolate-pool.ts). */
  private readonly memoryMbOf: (heapMemoryMaxMb: number) => number;

  constructor(max: number, bytesMax = liveHeapBytesMaxDefault, memoryMbOf: (heapMemoryMaxMb: number) => number = (mb) => mb) {
    assert(Number.isInteger(max) && max >= 0, 'a live-heap bound is a count');
    assert(Number.isInteger(bytesMax) && bytesMax > 0, 'a live-heap memory bound is positive');
    this.max = max;
    this.bytesMax = bytesMax;
    this.memoryMbOf = memoryMbOf;
    this.entries = max === 0 ? null : new LRUCache<string, LiveContextHandle>({
      max, maxSize: bytesMax,
      // lru-cache sizes are positive integers.
      sizeCalculation: (live) => Math.max(1, Math.ceil(live.heapBytes)),
      dispose: (live, _heap, reason) => {
        if (reason === 'evict') this.evictions++;
        if (reason === 'evict' || reason === 'set') live.dispose();
      },
    });
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  /** Resident bytes the live contexts' isolates held when they were kept (the memory bound counts these). */
  get heapBytes(): number {
    return this.entries?.calculatedSize ?? 0;
  }

  /** Contexts held for a commit that has not named or released them yet (tests: none left after). */
  get unnamed(): number {
    return this.unnamedByNumber.size;
  }

  /** Whether `heap` is live here; with `heapMemoryMaxMb`, for a run of that limit (a resume can take it). */
  has(heap: string, heapMemoryMaxMb?: number): boolean {
    const live = this.entries?.peek(heap);
    return live !== undefined && !live.disposed && (heapMemoryMaxMb === undefined || live.memoryMb === this.memoryMbOf(heapMemoryMaxMb));
  }

  put(heap: string, live: LiveContextHandle): void {
    if (this.entries === null || live.disposed || live.heapBytes > this.bytesMax) {
      this.drop(heap);
      live.dispose();
      return;
    }
    this.entries.set(heap, live);
  }

  /** The live context of `heap` for a run of this isolate size, removed from the cache; else null. */
  take(heap: string, memoryMb: number): LiveContextHandle | null {
    const live = this.entries?.peek(heap);
    if (live === undefined || live.memoryMb !== memoryMb) return null;
    this.entries!.delete(heap);
    return live.disposed ? null : live;
  }

  /** Frees the live context of `heap`, if any (its heap was not saved after all). */
  drop(heap: string): void {
    this.entries?.peek(heap)?.dispose();
    this.entries?.delete(heap);
  }

  /** Holds the context a run left until its commit names it; answers the number that stands for it. */
  hold(live: LiveContextHandle): number {
    this.lastNumber++;
    this.unnamedByNumber.set(this.lastNumber, live);
    return this.lastNumber;
  }

  /** Names the held context `kept` after `heap`: it joins the cache (and may evict others). */
  keep(kept: number, heap: string): void {
    const live = this.unnamedByNumber.get(kept);
    if (live === undefined && this.freedByClear(kept)) return;
    assert(live !== undefined, 'a held context is named or released once');
    this.unnamedByNumber.delete(kept);
    this.put(heap, live);
  }

  /** Frees the held context `kept`: no heap is made of it. */
  release(kept: number): void {
    const live = this.unnamedByNumber.get(kept);
    if (live === undefined && this.freedByClear(kept)) return;
    assert(live !== undefined, 'a held context is named or released once');
    this.unnamedByNumber.delete(kept);
    live.dispose();
  }

  private freedByClear(kept: number): boolean {
    return kept <= this.clearedUpTo;
  }

  /** Frees every context, named or held (the engine's close; tests, for a node with nothing live). */
  clear(): void {
    this.clearedUpTo = this.lastNumber;
    for (const live of this.unnamedByNumber.values()) live.dispose();
    this.unnamedByNumber.clear();
    if (this.entries === null) return;
    for (const live of this.entries.values()) live.dispose();
    this.entries.clear();
  }
}
