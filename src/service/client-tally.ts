// Per-client bounds on what a client's executions in flight hold on the host (issue 18): the
// characters of their code, and the console output of the running ones. One client (a principal;
// every anonymous caller is one) flooding them is refused or truncated at its own bound, so it
// cannot fill the host's memory for the others. Entries exist only while a client holds something:
// the map is bounded by the executions in flight.
import { assert } from '../errors.ts';

export class ClientTally {
  private readonly held = new Map<string, number>();
  readonly max: number;

  constructor(max: number) {
    assert(Number.isInteger(max) && max >= 1, 'a per-client bound is a positive integer');
    this.max = max;
  }

  /** What `client` holds now. */
  of(client: string): number {
    return this.held.get(client) ?? 0;
  }

  /** Adds `amount` to what `client` holds, unless that would pass the bound: then false, nothing added. */
  tryAdd(client: string, amount: number): boolean {
    const now = this.of(client);
    if (now + amount > this.max) return false;
    this.held.set(client, now + amount);
    return true;
  }

  release(client: string, amount: number): void {
    const left = this.of(client) - amount;
    assert(left >= 0, 'a client never gives back more than it holds');
    if (left === 0) this.held.delete(client);
    else this.held.set(client, left);
  }
}
