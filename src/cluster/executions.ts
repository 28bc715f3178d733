// Any node answers for any execution: an execution id carries the hash of the node that ran it
// (src/exec/ids.ts), which is that node's Raft id, so get_execution, get_execution_output and
// cancel_execution on another node's id go to that node's cluster port (/raft/executions), and
// its answer (or its coded error) comes back unchanged.
import { executionNodeHash } from '../exec/ids.ts';
import { McpV8Error } from '../errors.ts';
import { listLimitDefault, type ExecutionRecord, type ExecutionStatus } from '../model.ts';
import type { ExecutionService, ListOptions, ListPage, RemoteExecutions, SubmitRequest } from '../service/executions.ts';
import { executionNotFound, type OutputPage, type OutputQuery } from '../storage/execution-store.ts';
import { forwardedPrincipal } from '../principal-scope.ts';
import { firstPageQuery } from '../tools/replies.ts';
import type { ClusterNode } from './node.ts';
import { homeAmong } from './session-home.ts';

export type ExecutionCall =
  | { op: 'get'; execution_id: string }
  /** `first_page`: answered `{record, output}`, with run_js's first console page of a finished run. */
  | { op: 'wait'; execution_id: string; wait_ms?: number; first_page?: boolean }
  | { op: 'cancel'; execution_id: string }
  | { op: 'output'; execution_id: string; query?: OutputQuery }
  /**
   * `wait_ms`: the home waits for the run as run_js would and answers `{execution_id, record,
   * output}` (a SubmitAnswer): submit, wait and first console page in one call.
   */
  | { op: 'submit'; request: SubmitRequest; wait_ms?: number }
  | { op: 'list'; limit: number; status?: ExecutionStatus }
  | { op: 'holds'; heap: string };

/** A forwarded call may wait this much longer than the wait it carries (the hop, a busy node). */
const forwardSlackMs = 10_000;
/**
 * list_executions in a cluster: how long every other member has to answer (one that does not is
 * named in the reply, not waited for), and how deep a page may reach (offset + limit): every
 * member sends its newest that many, and the page is cut from their merge.
 */
export const clusterListTimeoutMs = 3_000;
export const clusterListDepthMax = 10_000;
/** How long the other voters have to say whether they hold a heap live (one that does not answer in time is passed over). */
export const heapHolderTimeoutMs = 1_000;

/** The first of `answers` to resolve to a value (not null); null once all resolved to null or failed. */
function firstTrue(answers: ReadonlyArray<Promise<string | null>>): Promise<string | null> {
  return new Promise((resolve) => {
    let left = answers.length;
    if (left === 0) resolve(null);
    for (const answer of answers) {
      answer.then((value) => { if (value !== null) resolve(value); }, () => {}).finally(() => { if (--left === 0) resolve(null); });
    }
  });
}

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
      const waitMs = call.wait_ms ?? 0;
      // Waited for here: its id goes out with its outcome, as on the node the client asked (`awaited`).
      const executionId = await this.service.submit({ ...call.request, owner, forwarded: true, ...(waitMs > 0 ? { awaited: true } : {}) });
      if (waitMs <= 0) return { execution_id: executionId };
      const record = await this.service.wait(executionId, waitMs);
      return { execution_id: executionId, record, output: record.status === 'running' ? null : await this.service.output(executionId, firstPageQuery) } satisfies SubmitAnswer;
    }
    if (call.op === 'holds') return { live: this.service.holdsLive(call.heap) };
    if (call.op === 'list') {
      const records = await this.service.list({ limit: call.limit, ...(call.status === undefined ? {} : { status: call.status }) });
      return { records: principal === undefined || principal === null ? records : records.filter((record) => record.owner === principal) };
    }
    if (principal !== undefined && principal !== null) {
      const record = await this.service.get(call.execution_id);
      if (record.owner !== principal) throw executionNotFound(call.execution_id);
    }
    switch (call.op) {
      case 'get': return this.service.poll(call.execution_id);
      case 'wait': {
        const record = await this.service.wait(call.execution_id, call.wait_ms ?? 0);
        if (call.first_page !== true) return record;
        return { record, output: record.status === 'running' ? null : await this.service.output(call.execution_id, firstPageQuery) } satisfies WaitAnswer;
      }
      case 'cancel': return this.service.cancel(call.execution_id);
      case 'output': return this.service.output(call.execution_id, call.query ?? { mode: 'line', lineOffset: 1, lineLimit: 1000 });
    }
  }
}

/** A forwarded wait with `first_page`: the record as the wait left it, and the first console page of a finished run. */
interface WaitAnswer {
  record: ExecutionRecord;
  output: OutputPage | null;
}

/** A forwarded submit with `wait_ms`: the run's id, its record as the wait left it, and the first console page of a finished run. */
interface SubmitAnswer {
  execution_id: string;
  record?: ExecutionRecord;
  output?: OutputPage | null;
}

/** Forwarded runs whose first page is wanted, and first pages brought back and not yet asked for, at most each (oldest dropped). */
export const firstPagesMax = 1024;

/** Adds to a bounded map (insertion order), dropping the oldest entry past `firstPagesMax`. */
function remember<Value>(map: Map<string, Value>, key: string, value: Value): void {
  if (map.size >= firstPagesMax) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/** The asking side: ExecutionService hands ids of other nodes to this. */
export class ForwardedExecutions implements RemoteExecutions {
  private readonly node: ClusterNode;
  /**
   * run_js with wait_ms, on a run handed to its home node: its wait there brings the first console
   * page back with the record (`first_page`), so the page run_js asks for next is answered from
   * here: one call to the home node after the submit instead of two. The output of a
   * finished run never changes, so a page kept here is never stale.
   */
  private readonly firstPageWanted = new Set<string>();
  private readonly firstPages = new Map<string, OutputPage>();
  /**
   * Records a forwarded submit with wait_ms brought back (the home waited), for the wait run_js
   * sends right after: answered from here, once, so the run costs one call to its home.
   */
  private readonly waited = new Map<string, ExecutionRecord>();

  constructor(node: ClusterNode) {
    this.node = node;
  }

  /** The address of the member that ran `executionId`, when that is another known member. */
  ownerOf(executionId: string): string | null {
    const hash = executionNodeHash(executionId);
    return hash === null ? null : this.node.peerOfHash(hash)?.addr ?? null;
  }

  /** Signed with the principal of the client call it serves (a submit: the run's owner). */
  private forward<Answer>(addr: string, call: ExecutionCall, waitMs = 0, timeoutMs = waitMs + forwardSlackMs): Promise<Answer> {
    const principal = call.op === 'submit' ? call.request.owner ?? null : forwardedPrincipal.getStore() ?? null;
    return this.node.client.post<Answer>(addr, '/raft/executions', call, timeoutMs, principal);
  }

  /**
   * Every member's newest `offset + limit` records (this node's through `local`), merged newest
   * first (ids begin with their creation time) and cut to the page: the same page whichever node
   * is asked, as long as the same members answer. A member that does not answer within
   * clusterListTimeoutMs is named in `unavailable`, and its records are missing from the page.
   */
  async listAll(options: ListOptions, local: (options: ListOptions) => Promise<ExecutionRecord[]>): Promise<ListPage> {
    const limit = options.limit ?? listLimitDefault;
    const offset = options.offset ?? 0;
    // (+ 1: list_executions asks one more than its page, to know whether another follows.)
    if (offset + limit > clusterListDepthMax + 1) {
      throw new McpV8Error('INVALID_ARGUMENT', `offset ${offset} is too deep: in a cluster, list_executions pages through each node's newest ${clusterListDepthMax} runs (offset + limit at most ${clusterListDepthMax})`);
    }
    const status = options.status === undefined ? {} : { status: options.status };
    const peers = this.node.members().filter((member) => member.name !== this.node.name);
    const [own, ...answers] = await Promise.allSettled([
      local({ limit: offset + limit, ...status }),
      ...peers.map((peer) => this.forward<{ records: ExecutionRecord[] }>(peer.addr, { op: 'list', limit: offset + limit, ...status }, 0, clusterListTimeoutMs)),
    ]);
    if (own!.status === 'rejected') throw own!.reason;
    const records = [...own!.value];
    const unavailable: ListPage['unavailable'] = [];
    answers.forEach((answer, i) => {
      if (answer.status === 'fulfilled') records.push(...answer.value.records);
      else unavailable.push({ node_id: peers[i]!.name, error: (answer.reason as Error).message });
    });
    const unique = new Map(records.map((record) => [record.execution_id, record]));
    const merged = [...unique.values()].sort((a, b) => (a.execution_id < b.execution_id ? 1 : a.execution_id > b.execution_id ? -1 : 0));
    return { records: merged.slice(offset, offset + limit), unavailable };
  }

  get(addr: string, executionId: string): Promise<ExecutionRecord> {
    return this.forward(addr, { op: 'get', execution_id: executionId });
  }

  async wait(addr: string, executionId: string, waitMs: number): Promise<ExecutionRecord> {
    const waited = this.waited.get(executionId);
    if (waited !== undefined) {
      this.waited.delete(executionId);
      return waited;
    }
    if (!this.firstPageWanted.delete(executionId)) return this.forward(addr, { op: 'wait', execution_id: executionId, wait_ms: waitMs }, waitMs);
    const answer = await this.forward<WaitAnswer | ExecutionRecord>(addr, { op: 'wait', execution_id: executionId, wait_ms: waitMs, first_page: true }, waitMs);
    // A node of an earlier version answers the record alone.
    if (!('record' in answer)) return answer;
    if (answer.output !== null) remember(this.firstPages, executionId, answer.output);
    return answer.record;
  }

  cancel(addr: string, executionId: string): Promise<{ ok: true } | { ok: false; error: string }> {
    return this.forward(addr, { op: 'cancel', execution_id: executionId });
  }

  output(addr: string, executionId: string, query: OutputQuery): Promise<OutputPage> {
    const kept = sameQuery(query, firstPageQuery) ? this.firstPages.get(executionId) : undefined;
    if (kept === undefined) return this.forward(addr, { op: 'output', execution_id: executionId, query });
    this.firstPages.delete(executionId);
    return Promise.resolve(kept);
  }

  /**
   * A session's home (session-home.ts: the hash nginx computes from the Mcp-V8-Session header, over
   * the voters in the order of their node ids), so every node picks the same one while the
   * membership holds. Its runs go there: they queue in order behind each other, and each resumes
   * its parent's live context instead of replaying the history.
   */
  homeOf(session: string): string | null {
    const voters = this.node.voters();
    const home = homeAmong(session, voters.map((voter) => voter.name));
    return home === null || home === this.node.name ? null : voters.find((voter) => voter.name === home)!.addr;
  }

  /**
   * Where a run from `heap` (outside a session) goes: the node that ran it, as the log records
   * (`heap.put`), which keeps its context live unless it was resumed or evicted since (a record with
   * no node was kept live by none: here); with --s3-bucket (the records go to S3), the first other voter that answers that
   * it holds the heap live. Null: here (this node ran it, or nobody holds it: a replay here).
   */
  async heapHomeOf(heap: string): Promise<string | null> {
    const creator = this.node.machine.heapCreator(heap);
    if (creator === this.node.name) return null;
    if (creator !== undefined) return this.node.voters().find((member) => member.name === creator)?.addr ?? null;
    // A record the log carries without a node: the node that ran it kept it live nowhere (a cheap
    // fresh heap, service/heaps.ts `keptLive`), so a replay here, without asking anyone.
    if (this.node.machine.heapRecord(heap) !== undefined) return null;
    const peers = this.node.voters().filter((member) => member.name !== this.node.name);
    return firstTrue(peers.map(async (peer) => ((await this.forward<{ live: boolean }>(peer.addr, { op: 'holds', heap }, 0, heapHolderTimeoutMs)).live ? peer.addr : null)));
  }

  /**
   * With wait_ms the home submits and waits in one call, and answers the record and first page
   * with the id (`SubmitAnswer`); `wait` and `output` then answer from here. A home of an earlier
   * version answers the id alone: the wait goes to it then, with `first_page`.
   */
  async submit(addr: string, request: SubmitRequest): Promise<string> {
    const { waitMs, ...rest } = request;
    const waiting = waitMs !== undefined && waitMs > 0;
    const answer = await this.forward<SubmitAnswer>(addr, { op: 'submit', request: rest, ...(waiting ? { wait_ms: waitMs } : {}) }, waiting ? waitMs : 0);
    const executionId = answer.execution_id;
    if (!waiting) return executionId;
    if (answer.record !== undefined) {
      remember(this.waited, executionId, answer.record);
      if (answer.output !== undefined && answer.output !== null) remember(this.firstPages, executionId, answer.output);
      return executionId;
    }
    if (this.firstPageWanted.size >= firstPagesMax) this.firstPageWanted.delete(this.firstPageWanted.values().next().value!);
    this.firstPageWanted.add(executionId);
    return executionId;
  }
}

function sameQuery(a: OutputQuery, b: OutputQuery): boolean {
  return a.mode === 'line' && b.mode === 'line' && a.lineOffset === b.lineOffset && a.lineLimit === b.lineLimit && a.bytesMax === b.bytesMax;
}
