// Who runs next (docs/exec.md, "Safety"): the CPU lanes of a node shared between its runs.
//   - Slots: at most `slots` runs hold the CPU at once (the --max-concurrent-executions flag).
//   - Long runs: a run that has held its lane `longRunMs` counts as long. While runs wait, long
//     runs do not count against the slots, up to `lanesPerSlot` × slots lanes in all (at least
//     slots + 2): two `for(;;){}` runs on two slots cannot make everyone wait for their timeout.
//   - Clients: one client (a principal; every anonymous caller is one client) holds at most
//     lanes − 1 of them, so one client's spinning runs always leave a lane for another's; and
//     the next lane goes to the waiting client that holds the fewest (ties: the oldest waiter).
//   - Awaiting: a run that only awaits a timer gives its lane back (`Ticket.idle`) and takes one
//     again before it runs more code (`Ticket.busy`), ahead of runs that have not started. Runs
//     in flight (busy or awaiting; each holds an isolate and its heap) are bounded apart:
//     `inFlightPerSlot` × slots; new runs wait past it.
// Nothing here touches an isolate: the engine asks, and starts or resumes what it is told.
import { assert } from '../errors.ts';

export const longRunMs = 500;
export const longRunLanesPerSlot = 2;
/** Runs in flight per slot (busy or awaiting a timer): each holds an isolate (≈ 2 MiB) and its heap (up to 64 MiB). */
export const inFlightPerSlot = 16;

export interface SchedulerOptions {
  slots: number;
  /** Default slots × inFlightPerSlot. */
  inFlightMax?: number;
}

/** A run's hold on the scheduler, from its start to its end. */
export interface Ticket {
  /** The run only awaits a timer now: its lane goes to another run. */
  idle(): void;
  /** The run is about to run code again: resolves once it holds a lane (at once if it holds one). */
  busy(): Promise<void>;
  /** The run ended (from any state, a wait for a lane included): everything it held is given back. */
  end(): void;
}

interface Holder {
  client: string;
  /** When it took its lane (performance.now()), or null while it awaits (holds no lane). */
  sinceMs: number | null;
  /** Set while it waits to take its lane back. */
  resume: (() => void) | null;
  ended: boolean;
}

interface Waiter {
  client: string;
  order: number;
  start: (ticket: Ticket) => void;
}

export class Scheduler {
  readonly slots: number;
  readonly lanes: number;
  readonly clientLanes: number;
  readonly inFlightMax: number;
  private readonly holders = new Set<Holder>();
  private busyCount = 0;
  private readonly busyByClient = new Map<string, number>();
  /** Runs not yet started, per client, each FIFO. */
  private readonly waiting = new Map<string, Waiter[]>();
  private waitingCount = 0;
  /** Started runs waiting to take a lane back after awaiting, FIFO. */
  private readonly resuming: Holder[] = [];
  private order = 0;
  /** Looks again when the oldest short run turns long (one timer for all). */
  private longRunCheck: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: SchedulerOptions) {
    assert(Number.isInteger(options.slots) && options.slots >= 1, 'at least one slot');
    this.slots = options.slots;
    this.lanes = Math.max(this.slots * longRunLanesPerSlot, this.slots + 2);
    this.clientLanes = this.lanes - 1;
    this.inFlightMax = options.inFlightMax ?? this.slots * inFlightPerSlot;
    assert(this.inFlightMax >= this.lanes, 'room in flight for every lane');
  }

  /** Runs not yet started. */
  get queued(): number {
    return this.waitingCount;
  }

  /** Runs started and not ended (holding a lane or awaiting). */
  get inFlight(): number {
    return this.holders.size;
  }

  /** Runs holding a lane now. */
  get busy(): number {
    return this.busyCount;
  }

  /**
   * Queues a run of `client`; `start` is called with its ticket when it may run. The answer
   * cancels it while it waits (true), or says it had started (false).
   */
  admit(client: string, start: (ticket: Ticket) => void): () => boolean {
    const waiter: Waiter = { client, order: this.order++, start };
    let queue = this.waiting.get(client);
    if (queue === undefined) this.waiting.set(client, queue = []);
    queue.push(waiter);
    this.waitingCount++;
    this.schedule();
    return () => {
      const own = this.waiting.get(client);
      const index = own?.indexOf(waiter) ?? -1;
      if (index === -1) return false;
      own!.splice(index, 1);
      if (own!.length === 0) this.waiting.delete(client);
      this.waitingCount--;
      return true;
    };
  }

  /** Stops the long-run timer; what waits stays waiting (the engine answers it). */
  close(): void {
    this.closed = true;
    if (this.longRunCheck !== null) clearTimeout(this.longRunCheck);
    this.longRunCheck = null;
  }

  /** Every run not yet started, taken out of the queue (for the engine to answer on close). */
  drain(): number {
    const count = this.waitingCount;
    this.waiting.clear();
    this.waitingCount = 0;
    return count;
  }

  private shortRuns(nowMs: number): number {
    let short = 0;
    for (const holder of this.holders) if (holder.sinceMs !== null && nowMs - holder.sinceMs < longRunMs) short++;
    return short;
  }

  /** Whether a run of `client` may take a lane now. */
  private laneFor(client: string, nowMs: number): boolean {
    if ((this.busyByClient.get(client) ?? 0) >= this.clientLanes) return false;
    return this.laneFree(nowMs);
  }

  /** Whether a lane is free for a client below its share (the part of laneFor that is the same for every client). */
  private laneFree(nowMs: number): boolean {
    if (this.busyCount < this.slots) return true;
    if (this.busyCount >= this.lanes) return false;
    return this.shortRuns(nowMs) < this.slots;
  }

  private take(holder: Holder, nowMs: number): void {
    holder.sinceMs = nowMs;
    this.busyCount++;
    this.busyByClient.set(holder.client, (this.busyByClient.get(holder.client) ?? 0) + 1);
  }

  private give(holder: Holder): void {
    if (holder.sinceMs === null) return;
    holder.sinceMs = null;
    this.busyCount--;
    const left = this.busyByClient.get(holder.client)! - 1;
    if (left === 0) this.busyByClient.delete(holder.client);
    else this.busyByClient.set(holder.client, left);
    assert(this.busyCount >= 0 && left >= 0, 'lanes never negative');
  }

  /** The waiting client's run to start next: the client holding the fewest lanes, then the oldest. */
  private nextWaiter(nowMs: number): Waiter | null {
    // Asked once, not per waiting client: anonymous callers are a client per connection, so under
    // overload hundreds wait, and every admission scanned them all (and the lanes per client) to
    // find no lane free (bench/RESULTS.md, issue 23's hostpath2 section).
    if (this.waitingCount === 0 || !this.laneFree(nowMs)) return null;
    let best: Waiter | null = null;
    let bestBusy = Infinity;
    // forEach, not for-of over entries: no [client, queue] pair allocated per waiting client.
    this.waiting.forEach((queue, client) => {
      const busy = this.busyByClient.get(client) ?? 0;
      const head = queue[0]!;
      if (busy > bestBusy || (busy === bestBusy && best !== null && head.order > best.order)) return;
      if (busy >= this.clientLanes) return;
      best = head;
      bestBusy = busy;
    });
    return best;
  }

  private schedule(): void {
    if (this.closed) return;
    for (;;) {
      const nowMs = performance.now();
      // Started runs first: they hold an isolate already, and their deadline runs.
      const resumer = this.resuming.find((holder) => this.laneFor(holder.client, nowMs));
      if (resumer !== undefined) {
        this.resuming.splice(this.resuming.indexOf(resumer), 1);
        this.take(resumer, nowMs);
        const resume = resumer.resume!;
        resumer.resume = null;
        resume();
        continue;
      }
      if (this.holders.size >= this.inFlightMax) break;
      const waiter = this.nextWaiter(nowMs);
      if (waiter === null) break;
      const queue = this.waiting.get(waiter.client)!;
      queue.shift();
      if (queue.length === 0) this.waiting.delete(waiter.client);
      this.waitingCount--;
      const holder: Holder = { client: waiter.client, sinceMs: null, resume: null, ended: false };
      this.holders.add(holder);
      this.take(holder, nowMs);
      waiter.start(this.ticketOf(holder));
    }
    this.checkWhenLong();
  }

  private ticketOf(holder: Holder): Ticket {
    return {
      idle: () => {
        if (holder.ended || holder.sinceMs === null) return;
        this.give(holder);
        this.schedule();
      },
      busy: () => {
        if (holder.ended || holder.sinceMs !== null) return Promise.resolve();
        assert(holder.resume === null, 'one wait for a lane at a time');
        return new Promise<void>((resolve) => {
          holder.resume = resolve;
          this.resuming.push(holder);
          this.schedule();
        });
      },
      end: () => {
        if (holder.ended) return;
        holder.ended = true;
        this.give(holder);
        const index = this.resuming.indexOf(holder);
        if (index !== -1) this.resuming.splice(index, 1);
        // A run that ends while it waits for a lane is not left waiting.
        const resume = holder.resume;
        holder.resume = null;
        resume?.();
        this.holders.delete(holder);
        this.schedule();
      },
    };
  }

  /** Runs wait and every lane is taken: look again when the oldest short run turns long. */
  private checkWhenLong(): void {
    if ((this.waitingCount === 0 && this.resuming.length === 0) || this.closed || this.busyCount >= this.lanes) {
      if (this.longRunCheck !== null) clearTimeout(this.longRunCheck);
      this.longRunCheck = null;
      return;
    }
    if (this.longRunCheck !== null) return;
    const nowMs = performance.now();
    let oldestShortMs = Infinity;
    for (const holder of this.holders) if (holder.sinceMs !== null && nowMs - holder.sinceMs < longRunMs) oldestShortMs = Math.min(oldestShortMs, holder.sinceMs);
    if (oldestShortMs === Infinity) return;
    const delayMs = Math.max(1, Math.ceil(oldestShortMs + longRunMs - nowMs));
    this.longRunCheck = setTimeout(() => { this.longRunCheck = null; this.schedule(); }, delayMs);
    this.longRunCheck.unref();
  }
}
