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
// Bounded: batches waiting here hold at most `queuedCharsMax` characters in all; past that a
// batch is handed over at once, in its callback, as before (the sandbox caps each run at 32 MiB,
// so only many floods at once get there).

/** Characters of batches handed over per turn of the event loop (at least one batch). */
export const sliceCharsMax = 256 * 1024;
/** Characters waiting in the queue at most; past it batches are handed over in their callback. */
export const queuedCharsMax = 256 * 1024 * 1024;

/** One context's console route: `deliver` hands a batch to its run (checks, counts and stores it). */
export interface ConsoleQueueRoute {
  deliver: (batch: unknown) => void;
}

/** The size a batch is counted at: its length if it is a string (the sink refuses any other type). */
const charsOf = (batch: unknown): number => (typeof batch === 'string' ? batch.length : 1);

export class ConsoleQueue {
  private readonly waiting = new Map<ConsoleQueueRoute, unknown[]>();
  private queuedChars = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private readonly schedule: (slice: () => void) => NodeJS.Immediate;

  constructor(schedule: (slice: () => void) => NodeJS.Immediate = setImmediate) {
    this.schedule = schedule;
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
    this.scheduled ??= this.schedule(() => this.slice());
  }

  /** One turn's slice: one batch of each waiting route in turn, until `sliceCharsMax` characters. */
  private slice(): void {
    this.scheduled = null;
    let chars = 0;
    try {
      while (chars < sliceCharsMax && this.waiting.size > 0) {
        for (const [route, batches] of this.waiting) {
          const batch = batches.shift();
          // Taken off first: a route whose last batch goes now leaves the turn order, and one
          // with more goes to its end (a Map iterates in insertion order, entries re-added too).
          this.waiting.delete(route);
          if (batches.length > 0) this.waiting.set(route, batches);
          const size = charsOf(batch);
          this.queuedChars -= size;
          chars += size;
          route.deliver(batch);
          if (chars >= sliceCharsMax) break;
        }
      }
    } finally {
      if (this.waiting.size > 0) this.scheduled ??= this.schedule(() => this.slice());
    }
  }
}
