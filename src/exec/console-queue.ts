// Console batches on their way from the isolates to their runs, handed over a slice per turn of
// the event loop (issue 18, item 3).
//
// isolated-vm runs the callbacks an isolate sent back to back on the main thread: a run that
// prints 100 lines of 1 MB sends 32 batches (its 32 MiB cap) in a few ms of its own thread, and
// the host then checked, counted and queued for the store all 32 in one go (≈ 3 ms of main
// thread per MB on this 2-core machine under load; bursts of 170–480 ms measured), while a
// neighbour's request waited for the event loop. Now a callback only queues its batch (no
// copy, no scan); a batch is checked and stored by its run's sink in a later turn, at most
// `sliceCharsMax` characters of batches per turn (at least one batch), the routes with batches
// waiting taking turns one batch each, so a flood neither holds the loop nor delays another
// run's lines. A run's outcome still waits until every batch its sandbox sent was handed over
// (run.ts, `drainOutput`: `batchesReceived` counts handed-over batches).
//
// Throttled: batches enter the host at `rateCharsPerS` at most, after a burst of `burstChars`.
// Each MB of output costs the host ≈ 2.7 ms of main thread (checks, counts, the store's batch)
// and ≈ 2.3 ms of LevelDB's threads (its log and memtable, then compaction), measured on this
// machine; a client that sent 100 × 1 MB floods one after the other kept about a core busy at
// normal priority, and a neighbour's `1+1` took 8–15 times its quiet p95 (bench/RESULTS.md). At
// the rate, a flood takes ≈ 4 % of the main thread; its run waits for its output to be taken (a
// 32 MiB flood ≈ 2 s, within its timeout like any of its work), and a client printing flood
// after flood gets no more host time than the rate. Each run's first `freeCharsPerRun` go at
// once whatever the rate (a run that prints a few lines is never held behind a flood's debt),
// and the rate's tokens allow a burst of `burstChars` after a quiet spell.
//
// A run that is stopped (timeout, cancel) while batches of its output wait here loses them; its
// output then ends with a line that says so (`droppedBatchesLine`, engine.ts `execute`).
//
// Bounded: batches waiting here hold at most `queuedCharsMax` characters in all; past that a
// batch is handed over at once, in its callback, unthrottled (the sandbox caps each run at 32 MiB,
// so only several floods at once get there).

/** Characters of batches handed over per turn of the event loop (at least one batch). */
export const sliceCharsMax = 256 * 1024;
/** Characters of batches handed over per second at most, once the burst is spent (a run's free characters aside). */
export const rateCharsPerS = 16 * 1024 * 1024;
/** Characters handed over at once before the rate applies (refilled at the rate). */
export const burstChars = 4 * 1024 * 1024;
/**
 * Characters of each run handed over whatever the rate: they neither wait for tokens nor spend
 * them. Enough for a run's few lines; small, so a client that sends run after run of this much
 * output pays for it in runs (each a request, a lane and an isolate), not in unthrottled bytes.
 */
export const freeCharsPerRun = 64 * 1024;
/** Characters waiting in the queue at most; past it batches are handed over in their callback. */
export const queuedCharsMax = 64 * 1024 * 1024;

/** The line that ends the output of a run stopped while `batches` of its output still waited here. */
export const droppedBatchesLine = (batches: number) => `[output truncated: the execution ended before ${batches} more batch${batches === 1 ? '' : 'es'} of its output reached the server]`;

/**
 * One context's console route. `deliver` hands a batch to its run (checks, counts and stores
 * it); false when no run takes it any more (a stopped run's last batches): dropped, at no cost.
 * `run`: what identifies the run that would take the next batch now (a stateful context serves
 * many runs), or null for none; each run's free characters are counted by it.
 */
export interface ConsoleQueueRoute {
  deliver: (batch: unknown) => boolean;
  readonly run: object | null;
}

/** Runs `slice` in a later turn of the event loop, after `delayMs` (0: the next turn). */
export type ScheduleSlice = (slice: () => void, delayMs: number) => void;
const scheduleSlice: ScheduleSlice = (slice, delayMs) => {
  if (delayMs === 0) setImmediate(slice);
  else setTimeout(slice, delayMs);
};

/** The size a batch is counted at: its length if it is a string (the sink refuses any other type). */
const charsOf = (batch: unknown): number => (typeof batch === 'string' ? batch.length : 1);

export class ConsoleQueue {
  private readonly waiting = new Map<ConsoleQueueRoute, unknown[]>();
  /** Characters handed over per run so far (its free characters are the first freeCharsPerRun). */
  private readonly taken = new WeakMap<object, number>();
  private queuedChars = 0;
  /** The delay the pending slice was scheduled with, or null when none is pending. */
  private scheduledDelayMs: number | null = null;
  /** Of the slice scheduled last: an earlier one that still fires does nothing. */
  private generation = 0;
  /** Characters that may be handed over now (negative: owed, after a batch bigger than what was left). */
  private tokens = burstChars;
  private refilledAtMs: number;
  private readonly schedule: ScheduleSlice;
  private readonly nowMs: () => number;

  constructor(schedule: ScheduleSlice = scheduleSlice, nowMs: () => number = () => performance.now()) {
    this.schedule = schedule;
    this.nowMs = nowMs;
    this.refilledAtMs = nowMs();
  }

  /** Characters of batches waiting now. */
  get queued(): number {
    return this.queuedChars;
  }

  /** From the isolate's callback: queues the batch, or hands it over at once when the queue is full. */
  push(route: ConsoleQueueRoute, batch: unknown): void {
    const chars = charsOf(batch);
    let batches = this.waiting.get(route);
    if (this.queuedChars + chars > queuedCharsMax) {
      // Past the bound: this route's waiting batches, then this one, at once, in order.
      if (batches !== undefined) {
        this.waiting.delete(route);
        for (const waiting of batches) {
          this.queuedChars -= charsOf(waiting);
          route.deliver(waiting);
        }
      }
      route.deliver(batch);
      return;
    }
    if (batches === undefined) {
      batches = [];
      this.waiting.set(route, batches);
    }
    batches.push(batch);
    this.queuedChars += chars;
    // A batch that may go now does not wait for the timer of another run's debt.
    if (this.scheduledDelayMs === null || (this.scheduledDelayMs > 0 && this.mayGo(route, batches) === 'free')) this.next();
  }

  /** Drops the batches `route` has waiting (its run was stopped): how many there were. */
  drop(route: ConsoleQueueRoute): number {
    const batches = this.waiting.get(route);
    if (batches === undefined) return 0;
    this.waiting.delete(route);
    for (const batch of batches) this.queuedChars -= charsOf(batch);
    return batches.length;
  }

  /** Adds the tokens earned since the last refill, up to the burst. */
  private refill(): void {
    const nowMs = this.nowMs();
    this.tokens = Math.min(burstChars, this.tokens + ((nowMs - this.refilledAtMs) * rateCharsPerS) / 1000);
    this.refilledAtMs = nowMs;
  }

  /** Whether the next batch of `route` may go now, and whether it spends tokens. */
  private mayGo(route: ConsoleQueueRoute, batches: unknown[]): 'free' | 'paid' | 'wait' {
    const run = route.run;
    if (run === null || (this.taken.get(run) ?? 0) + charsOf(batches[0]) <= freeCharsPerRun) return 'free';
    return this.tokens > 0 ? 'paid' : 'wait';
  }

  /** Schedules the next slice: the next turn if a batch may go now, else when there will be tokens. */
  private next(): void {
    this.refill();
    let now = this.tokens > 0;
    for (const [route, batches] of this.waiting) if (!now) now = this.mayGo(route, batches) === 'free';
    const delayMs = now ? 0 : Math.ceil((-this.tokens * 1000) / rateCharsPerS) + 1;
    const generation = ++this.generation;
    this.scheduledDelayMs = delayMs;
    this.schedule(() => {
      if (generation === this.generation) this.slice();
    }, delayMs);
  }

  /** Hands over the next batch of `route`: its characters (0: dropped), or -1 if it must wait for tokens. */
  private take(route: ConsoleQueueRoute, batches: unknown[]): number {
    const may = this.mayGo(route, batches);
    if (may === 'wait') return -1;
    const run = route.run;
    const batch = batches.shift();
    // Taken off first: a route whose last batch goes now leaves the turn order, and one with
    // more goes to its end (a Map iterates in insertion order, entries re-added too).
    this.waiting.delete(route);
    if (batches.length > 0) this.waiting.set(route, batches);
    const size = charsOf(batch);
    this.queuedChars -= size;
    if (!route.deliver(batch)) return 0;
    if (run !== null) this.taken.set(run, (this.taken.get(run) ?? 0) + size);
    if (may === 'paid') this.tokens -= size;
    return size;
  }

  /** One turn's slice: one batch of each waiting route in turn, until `sliceCharsMax` characters or none may go. */
  private slice(): void {
    this.scheduledDelayMs = null;
    this.refill();
    let chars = 0;
    try {
      let moved = true;
      while (chars < sliceCharsMax && moved) {
        moved = false;
        for (const [route, batches] of [...this.waiting]) {
          const size = this.take(route, batches);
          if (size < 0) continue;
          moved = true;
          chars += size;
          if (chars >= sliceCharsMax) break;
        }
      }
    } finally {
      if (this.waiting.size > 0 && this.scheduledDelayMs === null) this.next();
    }
  }
}
