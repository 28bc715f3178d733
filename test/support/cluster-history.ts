// Clients that write and read heap tags on a cluster while a test injects faults, recording every
// call as the linearizability checker of test/raft/sim wants it: a tag `v` on a heap is a register
// (set_heap_tags = put, get_heap_tags = get). A call that failed without reaching the cluster (the
// connection refused) is left out; one that failed any other way may or may not have taken effect,
// so it stays open forever (output null, returnTime Infinity), as the checker's contract says.
import { performance } from 'node:perf_hooks';
import type { KvCommand, KvResult } from '../raft/sim/kv-machine.ts';
import type { Operation } from '../raft/sim/linearizability.ts';
import type { TestNode } from './cluster.ts';

export type TagOperation = Operation<KvCommand, KvResult>;

export interface HistoryRecorder {
  readonly history: TagOperation[];
  /** Calls acknowledged (a put answered ok, a get answered). */
  acknowledged: number;
  stop(): Promise<void>;
}

function refused(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED';
}

async function call(node: TestNode, tool: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.baseUrl}/api/tools/${tool}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * `clients` loops, each on its own node (`alive` says which nodes may be used; a client whose node
 * is down moves to the next), alternating puts and gets over `heaps`.
 */
export function recordTagHistory(options: { nodes: readonly TestNode[]; heaps: readonly string[]; clients: number; alive: (node: TestNode) => boolean }): HistoryRecorder {
  const history: TagOperation[] = [];
  let stopping = false;
  const recorder: HistoryRecorder = { history, acknowledged: 0, stop: async () => { stopping = true; await Promise.all(loops); } };
  const loop = async (clientId: number) => {
    for (let seq = 0; !stopping; seq++) {
      const candidates = options.nodes.filter(options.alive);
      const node = candidates[(clientId + seq) % candidates.length]!;
      const heap = options.heaps[(clientId * 7 + seq) % options.heaps.length]!;
      const isPut = seq % 2 === 0;
      const input: KvCommand = isPut ? { op: 'put', key: heap, value: `c${clientId}-${seq}` } : { op: 'get', key: heap };
      const callTime = performance.now();
      try {
        const answer = isPut ? await call(node, 'set_heap_tags', { heap, tags: { v: input.op === 'put' ? input.value : '' } }) : await call(node, 'get_heap_tags', { heap });
        const returnTime = performance.now();
        if (answer.status !== 200) {
          history.push({ clientId, input, output: null, callTime, returnTime: Infinity });
          continue;
        }
        const value = isPut ? (input as { value: string }).value : ((answer.body.tags as Record<string, string>).v ?? null);
        history.push({ clientId, input, output: { ok: true, value }, callTime, returnTime });
        recorder.acknowledged++;
      } catch (error) {
        if (!refused(error)) history.push({ clientId, input, output: null, callTime, returnTime: Infinity });
      }
    }
  };
  const loops = Array.from({ length: options.clients }, (_, clientId) => loop(clientId));
  return recorder;
}
