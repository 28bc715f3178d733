// Long runs yield the CPU to short ones (docs/exec.md, "Safety"). The scheduler lets a queued run
// start beside runs that have held their lane `longRunMs`, but then the kernel shares the cores
// evenly: beside two `for(;;){}` runs on two cores, a neighbour's `1+1` got a third of a core.
// While any run is long, this looks every `sampleMs` at the process's threads (Linux,
// /proc/self/task) and lowers to `loweredNice` the priority of isolate threads found runnable
// (state R: running, or waiting for a core) at `busySamples` looks in a row: a long run's thread.
// (A share of CPU time would not do: on a loaded machine a spinning thread got a fifth of a
// core.) isolated-vm's threads carry the name of the thread that made them, "MainThread", and are
// not the process's main thread. A lowered thread gets its priority back at the first look that
// finds it asleep, or when no run is long any more.
// Raising a thread's priority again needs CAP_SYS_NICE (or an RLIMIT_NICE): without it, the
// first refusal is logged and nothing is lowered any more, so threads are never left lowered.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export const sampleMs = 100;
/** The lowest priority there is (weight 15 against 1,024 at nice 0; nice 10 is 110): a long run gets ~1.5 % of a core a short run wants. */
export const loweredNice = 19;
/** Looks in a row a thread must be found runnable to be lowered: as long as a run takes to count as long. */
const busySamples = 5;
const isolateThreadName = 'MainThread';

interface Logger { warn(object: object, message?: string): void }

/** A thread's name and whether it is runnable, from /proc/self/task/<tid>/stat, or null once it is gone. */
function threadState(tid: number): { name: string; runnable: boolean } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "tid (name) state ppid …": the name may hold spaces and parentheses; the last ')' ends it.
  const close = stat.lastIndexOf(')');
  return { name: stat.slice(stat.indexOf('(') + 1, close), runnable: stat[close + 2] === 'R' };
}

export class ThreadNice {
  /** Looks in a row each isolate thread was found runnable. */
  private readonly streaks = new Map<number, number>();
  private readonly lowered = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private disabled = process.platform !== 'linux';

  private readonly longRuns: () => boolean;
  private readonly logger: Logger | null;

  /** `longRuns`: whether any run has held its lane `longRunMs` (Scheduler.anyLong). */
  constructor(longRuns: () => boolean, logger: Logger | null = null) {
    this.longRuns = longRuns;
    this.logger = logger;
  }

  /** Threads whose priority is lowered now. */
  get loweredThreads(): number {
    return this.lowered.size;
  }

  start(): void {
    if (this.disabled || this.timer !== null) return;
    this.timer = setInterval(() => this.sample(), sampleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.restoreAll();
  }

  private restoreAll(): void {
    for (const tid of this.lowered) this.restore(tid);
    this.streaks.clear();
  }

  private restore(tid: number): void {
    this.lowered.delete(tid);
    try {
      os.setPriority(tid, 0);
    } catch (error) {
      // Refused (EACCES) means this process may lower but not raise: stop lowering. A thread gone
      // meanwhile (ESRCH) is fine. (os.setPriority throws ERR_SYSTEM_ERROR, the errno in `info`.)
      const code = (error as { info?: { code?: string } }).info?.code;
      if ((code !== 'EACCES' && code !== 'EPERM') || this.disabled) return;
      this.disabled = true;
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      this.logger?.warn({ err: error }, 'cannot give an isolate thread its priority back (needs CAP_SYS_NICE); long runs no longer yield the CPU to short ones');
    }
  }

  sample(): void {
    if (this.disabled) return;
    if (!this.longRuns()) {
      if (this.lowered.size > 0 || this.streaks.size > 0) this.restoreAll();
      return;
    }
    const seen = new Set<number>();
    for (const entry of readdirSync('/proc/self/task')) {
      const tid = Number(entry);
      if (tid === process.pid) continue;
      const state = threadState(tid);
      if (state === null || state.name !== isolateThreadName) continue;
      seen.add(tid);
      const streak = state.runnable ? (this.streaks.get(tid) ?? 0) + 1 : 0;
      this.streaks.set(tid, streak);
      if (streak >= busySamples && !this.lowered.has(tid)) {
        try {
          os.setPriority(tid, loweredNice);
          this.lowered.add(tid);
        } catch {
          // A thread that ended between the read and now.
        }
      } else if (streak === 0 && this.lowered.has(tid)) {
        this.restore(tid);
      }
    }
    for (const tid of this.streaks.keys()) if (!seen.has(tid)) { this.streaks.delete(tid); this.lowered.delete(tid); }
  }
}
