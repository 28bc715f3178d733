// A small seeded generator (mulberry32): fast, 32-bit state, and the same sequence on every run.
import { assert } from '../../../src/errors.ts';
import type { RandomSource } from '../../../src/raft/types.ts';

export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    assert(Number.isInteger(seed), 'seed is an integer');
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  nextInt(boundExclusive: number): number {
    assert(boundExclusive >= 1, 'bound is positive');
    return this.nextUint32() % boundExclusive;
  }

  /** True with probability `probability`. */
  chance(probability: number): boolean {
    return this.nextUint32() < probability * 4294967296;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from a non-empty list');
    return items[this.nextInt(items.length)]!;
  }

  /** An independent generator derived from this one, so adding a consumer does not shift others. */
  fork(): SeededRandom {
    return new SeededRandom(this.nextUint32());
  }
}
