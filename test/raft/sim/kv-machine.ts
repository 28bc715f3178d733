// An in-memory key-value state machine (put/get/cas), the model the simulation's clients use and
// the linearizability checker verifies against.
import { assert } from '../../../src/errors.ts';
import type { StateMachine } from '../../../src/raft/state-machine.ts';
import type { Entry } from '../../../src/raft/types.ts';

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

export interface KvResult {
  readonly ok: boolean;
  readonly value: string | null;
}

/** Keys a machine may hold: the simulation uses a handful, a bound keeps a runaway test visible. */
export const kvKeysMax = 100_000;

export class KvMachine implements StateMachine<KvResult> {
  private values = new Map<string, string>();
  appliedCount = 0;

  apply(entry: Entry): KvResult {
    const command = JSON.parse(entry.data) as KvCommand;
    this.appliedCount++;
    return this.execute(command);
  }

  execute(command: KvCommand): KvResult {
    const current = this.values.get(command.key) ?? null;
    if (command.op === 'get') return { ok: true, value: current };
    if (command.op === 'cas' && current !== command.expected) return { ok: false, value: current };
    assert(this.values.size < kvKeysMax || this.values.has(command.key), 'key count within kvKeysMax');
    this.values.set(command.key, command.value);
    return { ok: true, value: command.value };
  }

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  snapshot(): string {
    return JSON.stringify([...this.values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** The view is the whole text, taken now (RaftDriver then stores it in the background, as with ClusterMachine). */
  snapshotParts(): Iterable<string> {
    const text = this.snapshot();
    return [text.slice(0, text.length >> 1), text.slice(text.length >> 1)];
  }

  restore(data: string): void {
    this.values = new Map(data === '' ? [] : (JSON.parse(data) as [string, string][]));
  }
}
