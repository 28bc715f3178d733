// Sample storage and percentiles for the load harness. Samples go into a preallocated
// Float64Array (grown by doubling, bounded) so recording a latency allocates nothing.

/** The most samples one series may hold: 1000/s for an hour, with room to spare. */
export const samplesMax = 8_000_000;

export class Samples {
  #values: Float64Array;
  #count = 0;

  constructor(initialCapacity = 1024) {
    this.#values = new Float64Array(Math.max(16, initialCapacity));
  }

  get count(): number { return this.#count; }

  add(value: number): void {
    if (this.#count === this.#values.length) {
      if (this.#values.length >= samplesMax) throw new Error(`more than ${samplesMax} samples in one series`);
      const grown = new Float64Array(Math.min(samplesMax, this.#values.length * 2));
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = value;
  }

  /** A sorted copy of the samples (the series itself keeps arrival order). */
  sorted(): Float64Array {
    return this.#values.slice(0, this.#count).sort();
  }

  summary(): Summary {
    return summarize(this.sorted());
  }
}

export interface Summary {
  count: number;
  avg: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) of ascending values, interpolated linearly between the two
 * closest ranks (k6's and numpy's default), NaN for no values.
 */
export function percentile(sortedValues: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const n = sortedValues.length;
  if (n === 0) return Number.NaN;
  const rank = (p / 100) * (n - 1);
  const below = Math.floor(rank);
  const above = Math.min(n - 1, below + 1);
  const fraction = rank - below;
  return sortedValues[below]! + (sortedValues[above]! - sortedValues[below]!) * fraction;
}

export function summarize(sortedValues: ArrayLike<number>): Summary {
  const n = sortedValues.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += sortedValues[i]!;
  return {
    count: n,
    avg: n === 0 ? Number.NaN : total / n,
    min: n === 0 ? Number.NaN : sortedValues[0]!,
    p50: percentile(sortedValues, 50),
    p90: percentile(sortedValues, 90),
    p95: percentile(sortedValues, 95),
    p99: percentile(sortedValues, 99),
    max: n === 0 ? Number.NaN : sortedValues[n - 1]!,
  };
}

/** The median of a few numbers (for the medians of A/B rounds). */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return percentile(sorted, 50);
}
