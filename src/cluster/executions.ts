// Any node answers for any execution: an execution id carries the hash of the node that ran it
// (src/exec/ids.ts), which is that node's Raft id, so get_execution, get_execution_output and
// cancel_execution on another node's id go to that node's cluster port (/raft/executions), and
// its answer (or its coded error) comes back unchanged.
import { executionNodeHash, nodeHash } from '../exec/ids.ts';
import type { ExecutionRecord } from '../model.ts';
import type { ExecutionService, RemoteExecutions, SubmitRequest } from '../service/executions.ts';
import { executionNotFound, type OutputPage, type OutputQuery } from '../storage/execution-store.ts';
import { forwardedPrincipal } from '../principal-scope.ts';
import type { ClusterNode } from './node.ts';

export type ExecutionCall =
  | { op: 'get'; execution_id: string }
  | { op: 'wait'; execution_id: string; wait_ms?: number }
  | { op: 'cancel'; execution_id: string }
  | { op: 'output'; execution_id: string; query?: OutputQuery }
  | { op: 'submit'; request: SubmitRequest };

/** A forwarded call may wait this much longer than the wait it carries (the hop, a busy node). */
const forwardSlackMs = 10_000;

/** The owner's side: a forwarded call served by this node's own ExecutionService. */
export class LocalExecutions {
  private readonly service: ExecutionService;

  constructor(service: ExecutionService) {
    this.service = service;
  }

  /**
   * `principal`: with --cluster-secret, the client the (signed) call acts for: a run is recorded as
   * its own, and another's execution reads as unknown, as on the node the client asked. Undefined
   * on an unsigned cluster: the run's owner travels in the request.
   */
  async call(call: ExecutionCall, principal?: string | null): Promise<unknown> {
    if (call.op === 'submit') {
      const owner = principal === undefined ? call.request.owner ?? null : principal;
      return { execution_id: await this.service.submit({ ...call.request, owner, forwarded: true }) };
    }
    if (principal !== undefined && principal !== null) {
      const record = await this.service.get(call.execution_id);
      if (record.owner !== principal) throw executionNotFound(call.execution_id);
    }
    switch (call.op) {
      case 'get': return this.service.poll(call.execution_id);
      case 'wait': return this.service.wait(call.execution_id, call.wait_ms ?? 0);
      case 'cancel': return this.service.cancel(call.execution_id);
      case 'output': return this.service.output(call.execution_id, call.query ?? { mode: 'line', lineOffset: 1, lineLimit: 1000 });
    }
  }
}

/** The asking side: ExecutionService hands ids of other nodes to this. */
export class ForwardedExecutions implements RemoteExecutions {
  private readonly node: ClusterNode;

  constructor(node: ClusterNode) {
    this.node = node;
  }

  /** The address of the member that ran `executionId`, when that is another known member. */
  ownerOf(executionId: string): string | null {
    const hash = executionNodeHash(executionId);
    return hash === null ? null : this.node.peerOfHash(hash)?.addr ?? null;
  }

  /** Signed with the principal of the client call it serves (a submit: the run's owner). */
  private forward<Answer>(addr: string, call: ExecutionCall, waitMs = 0): Promise<Answer> {
    const principal = call.op === 'submit' ? call.request.owner ?? null : forwardedPrincipal.getStore() ?? null;
    return this.node.client.post<Answer>(addr, '/raft/executions', call, waitMs + forwardSlackMs, principal);
  }

  get(addr: string, executionId: string): Promise<ExecutionRecord> {
    return this.forward(addr, { op: 'get', execution_id: executionId });
  }

  wait(addr: string, executionId: string, waitMs: number): Promise<ExecutionRecord> {
    return this.forward(addr, { op: 'wait', execution_id: executionId, wait_ms: waitMs }, waitMs);
  }

  cancel(addr: string, executionId: string): Promise<{ ok: true } | { ok: false; error: string }> {
    return this.forward(addr, { op: 'cancel', execution_id: executionId });
  }

  output(addr: string, executionId: string, query: OutputQuery): Promise<OutputPage> {
    return this.forward(addr, { op: 'output', execution_id: executionId, query });
  }

  /**
   * A session's home: the voter with the highest hash of (its node id, the session), so every node
   * picks the same one while the membership holds, and a membership change moves few sessions.
   * Its runs go there: they queue in order behind each other, and each resumes its parent's live
   * context instead of replaying the history.
   */
  homeOf(session: string): string | null {
    let best: { name: string; addr: string; score: number } | null = null;
    for (const voter of this.node.voters()) {
      const score = nodeHash(`${voter.name}\u0000${session}`);
      if (best === null || score > best.score || (score === best.score && voter.name < best.name)) best = { ...voter, score };
    }
    return best === null || best.name === this.node.name ? null : best.addr;
  }

  heapHomeOf(heap: string): string | null {
    const creator = this.node.machine.heapCreator(heap);
    if (creator === undefined || creator === this.node.name) return null;
    return this.node.voters().find((member) => member.name === creator)?.addr ?? null;
  }

  async submit(addr: string, request: SubmitRequest): Promise<string> {
    return (await this.forward<{ execution_id: string }>(addr, { op: 'submit', request })).execution_id;
  }
}
