// Keeps the event loop awake, for a bounded time, while a lone run's isolate works (issue 23).
// At a low rate every run finds the server asleep: the event loop waits in epoll while the
// isolate's thread runs the code, and the answer then has to wake it again. On a virtual machine
// whose idle CPUs halt (here: cpuidle haltpoll with guest_halt_poll_ns = 0), that wake of a
// halted vCPU is a trip through the hypervisor, paid once more by every run on top of the
// isolate thread's own wake. While held, a setImmediate chain makes each turn of the loop poll
// with a zero timeout instead of sleeping, so the answer is seen the moment it is posted.
// Bounds (a spinning loop takes a core the machine may need):
// - only while fewer runs execute than there are CPUs (`spareCpu`): with every core running an
//   isolate, the loop would spin on a core a run needs;
// - at most `awakeUsMax` per hold, then the loop sleeps as before;
// - only while the machine is otherwise quiet: the 1-minute load average below the CPUs less
//   `loadSpareMin` (read at most once per `loadReadMs`). On a busy machine there are no halted
//   CPUs to wake, and a spinning loop took CPU from the run's own isolate thread: at load 15 on
//   2 cores the run's isolate time doubled (bench/RESULTS.md);
// - only for a run that starts after the engine was idle `idleBeforeUsMin` (no run executing):
//   the low-rate case it is for; at 500 runs/s the threads are awake anyway, and spinning
//   between close runs would only add CPU per run;
// - a turn that came `preemptedUsMin` or more after the last one means the thread was not on a
//   CPU meanwhile: the chain stops until the next hold.
// Off unless the engine is given one (EngineOptions.loopAwake): its gain on a quiet machine is
// not measured yet (bench/RESULTS.md, issue 23's low-rate section; bench/engine-awake.ts).
// It never delays work: a setImmediate callback runs only once the loop has done everything due.
import os from 'node:os';

/** The longest one hold keeps the loop awake (µs): a `1+1` run takes ≈ 0.5–1 ms in its isolate. */
export const awakeUsMax = 3_000;
/** A gap between two turns of the chain this long means the thread was descheduled (µs). */
export const preemptedUsMin = 500;
/** A run gets the loop kept awake only if no run executed in the last this long (µs). */
export const idleBeforeUsMin = 5_000;
/** The load average must leave this much of a CPU spare (beyond the runs') for the loop to spin. */
export const loadSpareMin = 0.5;
/** How often the load average is read, at most (ms; os.loadavg is a syscall of ≈ 5–25 µs). */
export const loadReadMs = 1_000;

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export class LoopAwake {
  private holders = 0;
  private chain: NodeJS.Immediate | null = null;
  /** When the current spin must stop (µs on the monotonic clock). */
  private untilUs = 0;
  private lastTurnUs = 0;
  /** Turns the chain made (tests, benchmarks). */
  turns = 0;
  private readonly cpus: number;
  private readonly loadAverage: () => number;
  private readonly nowUs: () => number;
  private quiet = false;
  private loadReadAtUs = -Infinity;
  /** Runs executing (every `hold` counts, spinning or not), and when the last one ended (µs). */
  private executing = 0;
  private lastEndUs = -Infinity;

  /** `enabled` false: never holds (benchmarks compare both). `loadAverage`, `nowUs` (a monotonic clock): tests give their own. */
  constructor(options: { cpus?: number; enabled?: boolean; loadAverage?: () => number; nowUs?: () => number } = {}) {
    this.cpus = options.enabled === false ? 0 : options.cpus ?? os.availableParallelism();
    this.loadAverage = options.loadAverage ?? (() => os.loadavg()[0]!);
    this.nowUs = options.nowUs ?? monotonicUs;
  }

  /** Whether the machine leaves a CPU to spin on (the load average, read at most every loadReadMs). */
  private machineQuiet(): boolean {
    const now = this.nowUs();
    if (now - this.loadReadAtUs >= loadReadMs * 1000) {
      this.loadReadAtUs = now;
      this.quiet = this.loadAverage() < this.cpus - loadSpareMin;
    }
    return this.quiet;
  }

  /**
   * A run begins: keeps the loop awake until the release it answers is called (at most
   * `awakeUsMax`), if the engine was idle before it, `running` runs (this one included) leave a
   * CPU spare and the machine is quiet. Call the release when the run ends, spinning or not.
   */
  hold(running: number): () => void {
    const now = this.nowUs();
    const idleBefore = this.executing === 0 && now - this.lastEndUs >= idleBeforeUsMin;
    this.executing++;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.executing--;
      this.lastEndUs = this.nowUs();
    };
    if (running >= this.cpus || !idleBefore || !this.machineQuiet()) return end;
    this.holders++;
    this.untilUs = now + awakeUsMax;
    if (this.chain === null) {
      // The first turn comes after whatever the loop is doing now: not a sign of a busy machine.
      this.lastTurnUs = 0;
      this.chain = setImmediate(this.turn);
    }
    return () => {
      if (ended) return;
      end();
      this.holders--;
      if (this.holders === 0) this.stop();
    };
  }

  private readonly turn = (): void => {
    this.chain = null;
    this.turns++;
    const now = this.nowUs();
    const preempted = this.lastTurnUs !== 0 && now - this.lastTurnUs >= preemptedUsMin;
    this.lastTurnUs = now;
    if (this.holders === 0 || preempted || now >= this.untilUs) return;
    this.chain = setImmediate(this.turn);
  };

  private stop(): void {
    if (this.chain !== null) clearImmediate(this.chain);
    this.chain = null;
  }
}
