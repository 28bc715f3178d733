// How fast the machine is at the moment of a run, and how busy it was during it. The machine is
// shared: the same CPU work takes up to ≈ 45 % longer in its slow periods (bench/RESULTS.md), and
// whether a 1000/s run keeps up depends on that more than on anything the server does. Each run
// records both, so a run's outcome can be read against the machine it ran on.
import { readFileSync } from 'node:fs';
import { createContext, runInContext } from 'node:vm';

export interface Calibration {
  /** A fixed workload of plain JavaScript (allocation, sorting, JSON): lower is faster. */
  workMs: number;
  /** V8 making 100 fresh contexts, the largest part of a stateless run's CPU: lower is faster. */
  contextsMs: number;
}

/** The whole machine over the run's window, from /proc/stat (null where there is none). */
export interface MachineLoad {
  /** Share of all CPUs' time not idle (user, system, interrupts, steal…). */
  busyPct: number;
  /** Share taken by the hypervisor for other guests: time this machine wanted and did not get. */
  stealPct: number;
}

/** Rounds of each calibration timed; the median is kept (one round is ≈ 50–120 ms). */
const calibrationRounds = 3;

function workload(): number {
  let sum = 0;
  for (let round = 0; round < 40; round++) {
    const items = Array.from({ length: 5_000 }, (_, i) => ({ id: i, key: `k${(i * 7_919) % 5_000}`, value: Math.sqrt(i) }));
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    sum += JSON.stringify(items.slice(0, 200)).length + items.reduce((total, item) => total + item.value, 0);
  }
  return sum;
}

function contexts(): number {
  let sum = 0;
  for (let i = 0; i < 100; i++) sum += runInContext('1 + 1', createContext({})) as number;
  return sum;
}

function medianMs(task: () => number): number {
  task(); // compiled and warm before timing
  const times: number[] = [];
  for (let round = 0; round < calibrationRounds; round++) {
    const start = performance.now();
    if (!Number.isFinite(task())) throw new Error('calibration workload returned a non-number');
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]! * 10) / 10;
}

/** Times the two workloads in this process (≈ 0.5–1 s); run it before a load, not during one. */
export function calibrate(): Calibration {
  return { workMs: medianMs(workload), contextsMs: medianMs(contexts) };
}

/** The aggregate `cpu` line of /proc/stat: [busy, steal, total] in clock ticks, or null. */
export function cpuTicks(statText: string): { busy: number; steal: number; total: number } | null {
  const line = statText.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user and nice]
  if (fields.length < 8 || fields.some((value) => !Number.isFinite(value))) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, steal, total };
}

/** A reading of /proc/stat now; `loadBetween` turns two into the shares of the time between them. */
function readCpuTicks(): ReturnType<typeof cpuTicks> {
  try {
    return cpuTicks(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

export function loadBetween(before: ReturnType<typeof cpuTicks>, after: ReturnType<typeof cpuTicks>): MachineLoad | null {
  if (before === null || after === null || after.total <= before.total) return null;
  const total = after.total - before.total;
  const share = (ticks: number) => Math.round((1_000 * ticks) / total) / 10;
  return { busyPct: share(after.busy - before.busy), stealPct: share(after.steal - before.steal) };
}

/**
 * Reads /proc/stat once a second while a run goes on (≈ 20 µs a reading): the busy and steal
 * shares of the whole window, and of each second, to line up with the run's per-second drops and
 * VUs in flight.
 */
export class MachineSampler {
  private readonly readings: Array<NonNullable<ReturnType<typeof cpuTicks>>> = [];
  private timer: NodeJS.Timeout | null = null;

  start(): void {
    const first = readCpuTicks();
    if (first === null) return;
    this.readings.push(first);
    this.timer = setInterval(() => {
      const reading = readCpuTicks();
      if (reading !== null) this.readings.push(reading);
    }, 1_000);
    this.timer.unref();
  }

  /**
   * The shares over the whole window since `start` (`load`), and of each whole second in it
   * (`perSecond`); null where /proc/stat cannot be read.
   */
  stop(): { load: MachineLoad | null; perSecond: { busyPct: number[]; stealPct: number[] } | null } {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const seconds = this.readings;
    const load = loadBetween(seconds[0] ?? null, seconds.length === 0 ? null : readCpuTicks());
    if (seconds.length < 2) return { load, perSecond: null };
    const busyPct: number[] = [];
    const stealPct: number[] = [];
    for (let second = 1; second < seconds.length; second++) {
      const shares = loadBetween(seconds[second - 1]!, seconds[second]!);
      busyPct.push(shares?.busyPct ?? 0);
      stealPct.push(shares?.stealPct ?? 0);
    }
    return { load, perSecond: { busyPct, stealPct } };
  }
}
