// The simulated network: every message waits a random number of ticks (which reorders them), a few
// of them longer than an election timeout, and may be dropped or duplicated; partitions block chosen directions between nodes. All choices come
// from the seeded generator, so one seed replays one exact sequence of deliveries.
import { assert } from '../../../src/errors.ts';
import type { Message, NodeId } from '../../../src/raft/types.ts';
import type { SeededRandom } from './random.ts';

export interface NetworkFaults {
  dropProbability: number;
  duplicateProbability: number;
  delayTicksMax: number;
  /** The chance that a message is held much longer: up to longDelayTicksMax, past an election timeout. */
  longDelayProbability: number;
  longDelayTicksMax: number;
}

export const reliableNetwork: NetworkFaults = { dropProbability: 0, duplicateProbability: 0, delayTicksMax: 2, longDelayProbability: 0, longDelayTicksMax: 0 };

/** Messages held in flight; beyond this the network drops, as a real one would. */
export const messagesInFlightMax = 100_000;

export class SimNetwork {
  faults: NetworkFaults;
  private readonly random: SeededRandom;
  /** deliverAtTick → messages, delivered in the order they were queued for that tick. */
  private readonly queue = new Map<number, Message[]>();
  private inFlightCount = 0;
  /** Blocked directions, as `${from}>${to}`. */
  private readonly blocked = new Set<string>();
  sentCount = 0;

  constructor(random: SeededRandom, faults: NetworkFaults) {
    this.random = random;
    this.faults = faults;
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Cut `group` off from everyone else, in both directions. */
  partition(group: readonly NodeId[], all: readonly NodeId[]): void {
    for (const inside of group) {
      for (const outside of all) {
        if (group.includes(outside)) continue;
        this.block(inside, outside);
        this.block(outside, inside);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  send(message: Message, nowTick: number): void {
    this.sentCount++;
    const faults = this.faults;
    if (faults.dropProbability > 0 && this.random.chance(faults.dropProbability)) return;
    const copies = faults.duplicateProbability > 0 && this.random.chance(faults.duplicateProbability) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      if (this.inFlightCount >= messagesInFlightMax) return;
      const isLong = faults.longDelayProbability > 0 && this.random.chance(faults.longDelayProbability);
      const deliverAtTick = nowTick + 1 + this.random.nextInt(isLong ? faults.longDelayTicksMax : faults.delayTicksMax);
      let bucket = this.queue.get(deliverAtTick);
      if (bucket === undefined) {
        bucket = [];
        this.queue.set(deliverAtTick, bucket);
      }
      bucket.push(message);
      this.inFlightCount++;
    }
  }

  /** A message its receiver cannot take yet (a write under way, as RaftDriver queues it): delivered again next tick, no fault drawn. */
  hold(message: Message, nowTick: number): void {
    let bucket = this.queue.get(nowTick + 1);
    if (bucket === undefined) {
      bucket = [];
      this.queue.set(nowTick + 1, bucket);
    }
    bucket.push(message);
    this.inFlightCount++;
  }

  /** Messages due at `nowTick`; a partition in place at delivery time drops them. */
  deliver(nowTick: number): Message[] {
    const bucket = this.queue.get(nowTick);
    if (bucket === undefined) return [];
    this.queue.delete(nowTick);
    this.inFlightCount -= bucket.length;
    assert(this.inFlightCount >= 0, 'in-flight count never negative');
    if (this.blocked.size === 0) return bucket;
    return bucket.filter((message) => !this.isBlocked(message.from, message.to));
  }
}
