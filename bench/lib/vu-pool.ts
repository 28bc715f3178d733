// Virtual users as k6 has them for arrival-rate executors: a bounded pool of slots. An
// iteration that is due while every slot is busy (and the pool is at its max) is dropped and
// counted, never queued: queuing would hide saturation behind a growing backlog.

export interface Vu {
  readonly id: number;
  /** The heap the VU's previous iteration produced (chained stateful runs resume it). */
  heap: string | null;
  /** Iterations this VU has run. */
  iterations: number;
}

export class VuPool {
  readonly max: number;
  readonly preAllocated: number;
  #free: Vu[] = [];
  #allocated = 0;
  #inFlight = 0;
  #maxInFlight = 0;
  #dropped = 0;
  #acquired = 0;

  constructor(preAllocated: number, max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`max VUs must be a whole number ≥ 1, got ${max}`);
    if (!(Number.isInteger(preAllocated) && preAllocated >= 0 && preAllocated <= max)) throw new RangeError(`pre-allocated VUs must be within 0..${max}, got ${preAllocated}`);
    this.max = max;
    this.preAllocated = preAllocated;
    for (let i = 0; i < preAllocated; i++) this.#free.push(this.#newVu());
  }

  #newVu(): Vu {
    return { id: this.#allocated++, heap: null, iterations: 0 };
  }

  /** A free VU for a due iteration, or null after counting the iteration as dropped. */
  acquire(): Vu | null {
    let vu = this.#free.pop();
    if (vu === undefined) {
      if (this.#allocated >= this.max) {
        this.#dropped++;
        return null;
      }
      vu = this.#newVu();
    }
    this.#acquired++;
    this.#inFlight++;
    if (this.#inFlight > this.#maxInFlight) this.#maxInFlight = this.#inFlight;
    return vu;
  }

  release(vu: Vu): void {
    if (this.#inFlight <= 0) throw new Error('VuPool.release without a matching acquire');
    this.#inFlight--;
    vu.iterations++;
    this.#free.push(vu);
  }

  get inFlight(): number { return this.#inFlight; }
  get maxInFlight(): number { return this.#maxInFlight; }
  get allocated(): number { return this.#allocated; }
  get dropped(): number { return this.#dropped; }
  get acquired(): number { return this.#acquired; }

  /** Forget the counters (after a warm-up), keeping the VUs and their heaps. */
  resetCounters(): void {
    this.#dropped = 0;
    this.#acquired = 0;
    this.#maxInFlight = this.#inFlight;
  }
}
