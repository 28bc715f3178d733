// The constant-arrival-rate schedule (k6's constant-arrival-rate executor): iteration i is due
// at i / rate seconds after the start, whatever happened to the iterations before it. Nothing
// here waits for a response: a late or busy server shows as latency and drops, never as a
// slower schedule (the coordinated-omission trap of closed-loop generators).

export interface Schedule {
  ratePerS: number;
  durationS: number;
  /** How many iterations the run schedules: floor(rate × duration). */
  iterations: number;
  /** Spacing between two arrivals in nanoseconds (may be fractional). */
  intervalNs: number;
}

export function makeSchedule(ratePerS: number, durationS: number): Schedule {
  if (!(ratePerS > 0 && Number.isFinite(ratePerS))) throw new RangeError(`rate must be a positive number, got ${ratePerS}`);
  if (!(durationS > 0 && Number.isFinite(durationS))) throw new RangeError(`duration must be a positive number, got ${durationS}`);
  return { ratePerS, durationS, iterations: Math.floor(ratePerS * durationS), intervalNs: 1e9 / ratePerS };
}

/** When iteration `index` is due, in nanoseconds after the start. */
export function dueNs(schedule: Schedule, index: number): number {
  return Math.round(index * schedule.intervalNs);
}

/**
 * How many iterations are due by `elapsedNs` after the start (the next index to start when
 * `started` have been started), bounded by the schedule's total.
 */
export function dueCount(schedule: Schedule, elapsedNs: number): number {
  if (elapsedNs < 0) return 0;
  // Iteration i is due when round(i × interval) ≤ elapsed; the floor below plus one step of
  // correction keeps this exact at the boundaries despite the floating-point interval.
  let count = Math.floor(elapsedNs / schedule.intervalNs) + 1;
  while (count > 0 && dueNs(schedule, count - 1) > elapsedNs) count--;
  while (count < schedule.iterations && dueNs(schedule, count) <= elapsedNs) count++;
  return Math.min(count, schedule.iterations);
}
