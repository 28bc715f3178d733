// Long runs yield the CPU to short ones (docs/exec.md, "Safety"). The scheduler lets a queued run
// start beside runs that have held their lane `longRunMs`, but then the kernel shares the cores
// evenly: beside two `for(;;){}` runs on two cores, a neighbour's `1+1` got a third of a core.
// Once any run has used `lookAfterMs` of CPU (isolated-vm's count for its isolate), this looks
// every `sampleMs` at the process's threads (Linux, /proc/self/task) and lowers to `loweredNice`
// the priority of isolate threads found runnable (state R: running, or waiting for a core) at
// `busySamples` looks in a row and busy in between (no sleep, or on a CPU half the time: see
// watch()), or runnable at every look for `runnableLongMs`; no more of them than there are such
// runs. A CPU-bound run's thread is lowered ≈ 30–40 ms after it starts. (Lowered only after
// 500 ms of holding its lane before, a neighbour sent as an attack started ran mostly beside the
// attacker at full priority: three runnable threads on two cores, p95 2–3.5× its quiet value,
// bench/RESULTS.md.) CPU time, not time held: on an overloaded machine (load 25) short runs
// held their lanes past 20 ms waiting for a core, the looks lowered their threads, and the
// server finished 12–27 % fewer `1+1` at 400/s than with the 500 ms rule. No look is made
// while no run has used `lookAfterMs`: a stream of `1+1` costs one timer per run that starts
// while none is armed (cancelled when the engine's last run ends, so it seldom fires: `idle`)
// and a read of the runs' CPU times, no /proc read.
// Isolate threads are told apart by name: our isolated-vm patch names them `ivm-isolate`
// (isolateThreadName). A lowered thread gets its priority back at the first look that finds
// it asleep, or when no run has used `lookAfterMs` of CPU any more. While an isolate is stuck
// (a thread V8 cannot stop may still spin), looks go on every `stuckSampleMs`.
// Raising a thread's priority again needs CAP_SYS_NICE (or an RLIMIT_NICE): without it, the
// first refusal is logged and nothing is lowered any more, so threads are never left lowered.
// A lowered thread also goes into the engine's cgroup where it has one (idle-group.ts: nice 19
// alone still let a lowered spinner finish its ≈ 3 ms slice before a woken neighbour ran), made
// idle while short runs are about: from a run's start beside lowered threads until `idleHoldMs`
// after the looks last saw one executing.
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import os from 'node:os';
import type { IdleGroup } from './idle-group.ts';
import { isolatedVmBuild } from './isolated-vm-build.ts';

/** CPU time (ms) a run uses before the looks begin (a `1+1` uses well under 1 ms). */
export const lookAfterMs = 20;
/** The idle group stays idle this long after a short run was last seen (a sequence of neighbours keeps it idle). */
export const idleHoldMs = 100;
/** Between looks while a run has used `lookAfterMs` of CPU. */
export const sampleMs = 10;
/** Between looks while only a stuck isolate keeps them going (it may spin for good). */
export const stuckSampleMs = 100;
/** The lowest priority there is (weight 15 against 1,024 at nice 0; nice 10 is 110): a long run gets ~1.5 % of a core a short run wants. */
export const loweredNice = 19;
/** Looks in a row a thread must be found runnable, busy in between, to be lowered (busy through `sampleMs`). */
export const busySamples = 2;
/** Busy between two looks without sleeping: on a CPU this share of the time at least. */
const busyShare = 0.5;
/** Runnable at every look for this long lowers a thread however it slept between (the rule before busy intervals). */
export const runnableLongMs = 500;
/**
 * The name of the threads that run isolates, the only ones ever lowered: our isolated-vm patch
 * (scripts/patch-isolated-vm.mjs) names isolated-vm's pool threads `ivm-isolate`. Every other
 * native thread started from node's main thread is named "MainThread" (isolated-vm's timer
 * thread, a native module's), and a busy one took a lowering slot a run's thread should have had.
 * A build that names none (the prebuilt one): every "MainThread" but the process's main thread.
 */
export const isolateThreadName = isolatedVmBuild().isolateThreadName;

interface Logger { warn(object: object, message?: string): void }

/** The engine's runs executing now, as the looks need them (Engine.runsCpu). */
export interface RunsCpu {
  running: number;
  /** The most CPU time (ms) one of them has used since it began. */
  mostMs: number;
  /** How many have used the `longMs` asked for or more. */
  long: number;
}

/** What the looks depend on: the engine's runs and its stuck isolates. */
export interface NiceSource {
  runsCpu(longMs: number): RunsCpu;
  /** Whether an isolate V8 could not stop is left (its thread may spin for good). */
  stuck(): boolean;
}

/**
 * One buffer for every /proc read of the looks. readFileSync sizes a file by fstat, which says 0
 * for /proc files, and then reads into a fresh 64 KiB buffer per call: under load, with the looks
 * running every 10 ms over every thread, those allocations were 5 % of a cluster leader's event
 * loop and the looks 11 % (bench/RESULTS.md, "The stateful cluster at 200/s").
 */
const procBuffer = Buffer.allocUnsafe(16 * 1024);

/** /proc/self/task/<tid>/<file>, or null once the thread is gone (or the kernel has no such file). */
function taskFile(tid: number, file: string): string | null {
  const path = `/proc/self/task/${tid}/${file}`;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    let length = 0;
    for (let read = -1; read !== 0 && length < procBuffer.length; length += read) read = readSync(fd, procBuffer, length, procBuffer.length - length, null);
    // A file longer than the buffer (none of stat or sched is): read whole, the slow way.
    return length < procBuffer.length ? procBuffer.toString('latin1', 0, length) : readFileSync(path, 'latin1');
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** A thread's name and whether it is runnable, from /proc/self/task/<tid>/stat, or null once it is gone. */
function threadState(tid: number): { name: string; runnable: boolean } | null {
  const stat = taskFile(tid, 'stat');
  if (stat === null) return null;
  // "tid (name) state ppid …": the name may hold spaces and parentheses; the last ')' ends it.
  const close = stat.lastIndexOf(')');
  return { name: stat.slice(stat.indexOf('(') + 1, close), runnable: stat[close + 2] === 'R' };
}

/** Voluntary context switches and CPU time (ms) of a thread, from /proc/self/task/<tid>/sched; null when gone or not there (a kernel without it). */
function threadSched(tid: number): { voluntary: number; runMs: number } | null {
  const text = taskFile(tid, 'sched');
  if (text === null) return null;
  const field = (name: string) => {
    const at = text.indexOf(`\n${name}`);
    return at === -1 ? Number.NaN : Number.parseFloat(text.slice(text.indexOf(':', at) + 1, text.indexOf('\n', at + 1)));
  };
  const voluntary = field('nr_voluntary_switches');
  const runMs = field('se.sum_exec_runtime');
  return Number.isFinite(voluntary) && Number.isFinite(runMs) ? { voluntary, runMs } : null;
}

interface Watch {
  /** Intervals between looks in a row spent busy. */
  busy: number;
  /** Found runnable at every look since. */
  runnableSinceMs: number;
  /** At the last look; -1: unknown. */
  voluntary: number;
  runMs: number;
  atMs: number;
}

export class ThreadNice {
  /** Isolate threads found runnable at the last look, with what was seen of them. */
  private readonly watched = new Map<number, Watch>();
  private readonly lowered = new Set<number>();
  /** Threads seen not to be isolate threads (node's own: libuv's pool, V8's platform): not read again. */
  private readonly others = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private disabled = process.platform !== 'linux';
  /** When a short run (under lookAfterMs of CPU) was last seen executing (performance.now()). */
  private shortSeenMs = -Infinity;
  /** Looks made (for tests and benchmarks: behaviour is counted in looks, not wall time). */
  looks = 0;

  private readonly source: NiceSource;
  private readonly logger: Logger | null;
  /** Where lowered threads also go, when the process could make one (idle-group.ts); closed at stop(). */
  readonly group: IdleGroup | null;

  constructor(source: NiceSource, logger: Logger | null = null, group: IdleGroup | null = null) {
    this.source = source;
    this.logger = logger;
    this.group = group;
  }

  /** Threads whose priority is lowered now. */
  get loweredThreads(): number {
    return this.lowered.size;
  }

  start(): void {
    this.started = true;
    this.wake();
  }

  /** Stops looking and gives every thread its priority back; resolves once the idle group is removed too. */
  stop(): Promise<void> {
    this.started = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.restoreAll();
    return this.group?.close() ?? Promise.resolve();
  }

  /** A run took a lane, or an isolate got stuck: look when it may have gone on long enough. Cheap: one timer at most. */
  wake(): void {
    // A run starting beside a lowered long run is short until it has used lookAfterMs: idle the
    // group now (not for lowered threads whose runs have ended: the next look restores them).
    if (this.lowered.size > 0 && this.group !== null && this.source.runsCpu(lookAfterMs).long > 0) {
      this.shortSeenMs = performance.now();
      this.group.setIdle(true);
    }
    if (this.timer !== null || !this.started || this.disabled) return;
    this.arm(lookAfterMs);
  }

  /**
   * No run executes now (the engine's last run ended): a look armed for runs that might go long
   * is cancelled, so a run that ended short costs no wake of the event loop 20 ms later (at
   * 100 runs/s that was a timer wake for every second run). Looks that watch or restore threads,
   * or a stuck isolate, go on.
   */
  idle(): void {
    if (this.timer === null || this.lowered.size > 0 || this.watched.size > 0 || this.source.stuck()) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }

  /** Looks if a run has used `lookAfterMs` of CPU (or an isolate is stuck); else waits until one may have. */
  private tick(): void {
    this.timer = null;
    if (this.disabled || !this.started) return;
    const runs = this.source.runsCpu(lookAfterMs);
    const stuck = this.source.stuck();
    if (this.group !== null) {
      const nowMs = performance.now();
      if (runs.running > runs.long) this.shortSeenMs = nowMs;
      this.group.setIdle(this.lowered.size > 0 && nowMs - this.shortSeenMs < idleHoldMs);
    }
    if (runs.long > 0 || stuck) {
      // No more threads lowered than runs that are long: the others serve short runs.
      this.sample(stuck ? Infinity : runs.long);
      if (this.timer === null && !this.disabled) this.arm(runs.long > 0 ? sampleMs : runs.running > 0 ? Math.min(stuckSampleMs, Math.max(1, Math.ceil(lookAfterMs - runs.mostMs))) : stuckSampleMs);
      return;
    }
    if (this.lowered.size > 0 || this.watched.size > 0) this.restoreAll();
    // A run's CPU time grows no faster than the clock: look when it may have reached lookAfterMs.
    // No run: the next run to start wakes this.
    if (runs.running > 0) this.arm(Math.max(1, Math.ceil(lookAfterMs - runs.mostMs)));
  }

  private restoreAll(): void {
    for (const tid of this.lowered) this.restore(tid);
    this.watched.clear();
  }

  private restore(tid: number): void {
    this.lowered.delete(tid);
    this.group?.remove(tid);
    try {
      os.setPriority(tid, 0);
    } catch (error) {
      // Refused (EACCES) means this process may lower but not raise: stop lowering. A thread gone
      // meanwhile (ESRCH) is fine. (os.setPriority throws ERR_SYSTEM_ERROR, the errno in `info`.)
      const code = (error as { info?: { code?: string } }).info?.code;
      if ((code !== 'EACCES' && code !== 'EPERM') || this.disabled) return;
      this.disabled = true;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.logger?.warn({ err: error }, 'cannot give an isolate thread its priority back (needs CAP_SYS_NICE); long runs no longer yield the CPU to short ones');
    }
  }

  /**
   * A runnable thread's record, updated: `busy` counts the intervals between looks in a row it
   * spent busy, that is runnable at both ends and either never asleep between them (no voluntary
   * switch) or on a CPU at least `busyShare` of the time. State R alone would not do: on an
   * overloaded machine a thread serving short runs is found waiting for a core look after look;
   * a sleep between looks is what tells it from a spinning run, and a GC-heavy run that waits for
   * V8's helpers still shows its CPU time.
   */
  private watch(tid: number, nowMs: number): Watch {
    const sched = threadSched(tid);
    const last = this.watched.get(tid);
    let busy = 0;
    if (last !== undefined && sched !== null && last.voluntary >= 0) {
      const asleep = sched.voluntary !== last.voluntary;
      busy = !asleep || sched.runMs - last.runMs >= busyShare * (nowMs - last.atMs) ? last.busy + 1 : 0;
    }
    const watch: Watch = { busy, runnableSinceMs: last?.runnableSinceMs ?? nowMs, voluntary: sched?.voluntary ?? -1, runMs: sched?.runMs ?? 0, atMs: nowMs };
    this.watched.set(tid, watch);
    return watch;
  }

  /** One look at every isolate thread: lowers those runnable `busySamples` looks in a row, restores those found asleep. */
  sample(lowerMax = Infinity): void {
    if (this.disabled) return;
    this.looks++;
    const seen = new Set<number>();
    const nowMs = performance.now();
    let othersSeen = 0;
    for (const entry of readdirSync('/proc/self/task')) {
      const tid = Number(entry);
      if (tid === process.pid) continue;
      if (this.others.has(tid)) { othersSeen++; continue; }
      const state = threadState(tid);
      if (state === null) continue;
      if (state.name !== isolateThreadName) {
        // A thread renamed since (a worker starts with its maker's name): never left lowered.
        if (this.lowered.has(tid)) this.restore(tid);
        this.others.add(tid);
        othersSeen++;
        continue;
      }
      seen.add(tid);
      const watch = state.runnable ? this.watch(tid, nowMs) : null;
      if (watch === null) this.watched.delete(tid);
      if (watch !== null && (watch.busy >= busySamples - 1 || nowMs - watch.runnableSinceMs >= runnableLongMs) && !this.lowered.has(tid) && this.lowered.size < lowerMax) {
        try {
          os.setPriority(tid, loweredNice);
          this.lowered.add(tid);
          this.group?.add(tid);
        } catch {
          // A thread that ended between the read and now.
        }
      } else if (watch === null && this.lowered.has(tid)) {
        this.restore(tid);
      }
    }
    for (const tid of this.watched.keys()) if (!seen.has(tid)) { this.watched.delete(tid); this.lowered.delete(tid); this.group?.remove(tid); }
    // A thread id ends with its thread and may be given to a new one: once one has ended, forget them all.
    if (othersSeen < this.others.size) this.others.clear();
  }
}

/** Isolate threads of this process that are runnable now (the main thread is not counted). */
export function runnableIsolateThreads(): number {
  let runnable = 0;
  for (const entry of readdirSync('/proc/self/task')) {
    const tid = Number(entry);
    if (tid === process.pid) continue;
    const state = threadState(tid);
    if (state !== null && state.runnable && state.name === isolateThreadName) runnable++;
  }
  return runnable;
}

/**
 * Waits until no isolate thread has been runnable at three looks in a row, 5 ms apart, or
 * `boundMs` have passed. A disposed isolate's thread may still run a task V8 queued for it (an
 * incremental marking step, seen with gdb): a process that exits meanwhile can crash on its way
 * out (SIGSEGV in V8's ArrayBufferSweeper while node tears down), turning a clean stop into 139.
 */
export async function isolateThreadsSettled(boundMs = 2_000): Promise<void> {
  const endMs = performance.now() + boundMs;
  let quietLooks = 0;
  while (quietLooks < 3 && performance.now() < endMs) {
    try {
      quietLooks = runnableIsolateThreads() === 0 ? quietLooks + 1 : 0;
    } catch {
      return; // No /proc here: nothing to look at.
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
