// The key-value model for the linearizability checker: one register per key, so histories split
// per key. A call with no output (it timed out) is accepted with whatever effect it would have had.
// The replies are KvMachine's: put → { ok: true, value }, cas → { ok, value after the call }.
import type { Model, Operation } from './linearizability.ts';
import type { KvCommand, KvResult } from './kv-machine.ts';

export type KvOperation = Operation<KvCommand, KvResult>;

export const kvModel: Model<string | null, KvCommand, KvResult> = {
  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    for (const operation of history) {
      const part = byKey.get(operation.input.key) ?? [];
      part.push(operation);
      byKey.set(operation.input.key, part);
    }
    return [...byKey.values()];
  },
  init: () => null,
  // Every value a reply carries is checked: a get's value, a put's echo of what it wrote, a
  // successful cas's new value and a failed cas's current value (a stale one there is a stale read).
  step(state, input, output) {
    if (input.op === 'get') return { ok: output === null || (output.ok && output.value === state), state };
    if (input.op === 'put') return { ok: output === null || (output.ok && output.value === input.value), state: input.value };
    const swaps = state === input.expected;
    const after = swaps ? input.value : state;
    return { ok: output === null || (output.ok === swaps && output.value === after), state: after };
  },
  key: (state) => (state === null ? '\u0000' : `=${state}`),
};
