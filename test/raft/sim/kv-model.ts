// The key-value model for the linearizability checker: one register per key, so histories split
// per key. A call with no output (it timed out) is accepted with whatever effect it would have had.
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
  step(state, input, output) {
    if (input.op === 'get') return { ok: output === null || output.value === state, state };
    if (input.op === 'put') return { ok: output === null || output.ok, state: input.value };
    const swaps = state === input.expected;
    return { ok: output === null || output.ok === swaps, state: swaps ? input.value : state };
  },
  key: (state) => (state === null ? '\u0000' : `=${state}`),
};
