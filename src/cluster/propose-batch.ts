// Writes a follower forwards to its leader, batched: the writes this node forwards in one turn of
// the event loop leave together in one POST /raft/propose (`{ batch: [{data, timeout_ms}, ...] }`)
// instead of one request each (under load, several runs of a node finish in one turn; a request
// each was the largest Raft cost of a stateful run on a follower: bench/RESULTS.md, "Stateful
// runs on the cluster"). Each write keeps its own request id and deadline and gets its own answer
// (`{ results: [{value} | {code, message}, ...] }`), so a write refused inside a batch (NOT_LEADER,
// NO_QUORUM) is retried across nodes exactly as one forwarded alone, and a retried write is
// applied once (its request id). A write waits past the current turn only while a batch to the
// same leader is in flight (batchesInFlightMax), and then leaves with the next.
import { McpV8Error, ErrorCodes, isMcpV8Error, type ErrorCode } from '../errors.ts';

/** Writes in one forwarded batch, at most: more leave in further requests of the same turn. */
export const proposalsPerBatchMax = 256;
/** Characters of write data in one batch, at most (a single larger write still goes, alone). */
export const batchCharsMax = 4 * 1024 * 1024;
/** The deadline a forwarded write may ask the leader for, at most (as the single-write body allowed). */
export const forwardedTimeoutMsMax = 600_000;

export interface ForwardedWrite {
  data: string;
  timeout_ms: number;
}

/** One write's answer in a batch: its value, or its coded error. */
export type ForwardedAnswer = { value: number | null } | { code: string; message: string };

interface Pending {
  readonly data: string;
  /** The clock's time (`now`) by which the write must be committed: what is left of it goes with the write. */
  readonly deadlineMs: number;
  readonly resolve: (value: number | null) => void;
  readonly reject: (error: unknown) => void;
}

/** Posts a batch to the leader at `addr`; answers its `results`, or throws (the peer's coded error, NO_QUORUM). */
export type PostBatch = (addr: string, batch: ForwardedWrite[], timeoutMs: number) => Promise<unknown>;

/**
 * Batches in flight to one leader, at most. A write forwarded while one is in flight waits for its
 * answer and leaves with the others that came meanwhile: the batch grows with the leader's commit
 * latency (group commit), so under load a follower makes fewer requests, each carrying more writes
 * (1.15 writes per request when every turn sent its own, bench/RESULTS.md), and a quiet one sends
 * each write at once, as before.
 */
export const batchesInFlightMax = 1;

interface Queue {
  pending: Pending[];
  inFlight: number;
}

export class ProposalBatcher {
  private readonly post: PostBatch;
  /** The monotonic clock the deadlines are kept on (tests give their own). */
  private readonly now: () => number;
  private readonly queues = new Map<string, Queue>();
  private scheduled = false;

  constructor(post: PostBatch, now: () => number = () => performance.now()) {
    this.post = post;
    this.now = now;
  }

  /** Forwards one write to the leader at `addr` with the others of this turn; resolves with its applied value. */
  propose(addr: string, data: string, timeoutMs: number): Promise<number | null> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(addr);
      if (queue === undefined) this.queues.set(addr, (queue = { pending: [], inFlight: 0 }));
      queue.pending.push({ data, deadlineMs: this.now() + Math.max(1, Math.min(forwardedTimeoutMsMax, timeoutMs)), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what waits for every leader with room for a batch in flight; a queue emptied and idle is forgotten. */
  private flush(): void {
    this.scheduled = false;
    for (const [addr, queue] of this.queues) {
      const { pending } = queue;
      if (pending.length === 0 && queue.inFlight === 0) this.queues.delete(addr);
      let start = 0;
      while (start < pending.length && queue.inFlight < batchesInFlightMax) {
        let end = start + 1;
        let chars = pending[start]!.data.length;
        while (end < pending.length && end - start < proposalsPerBatchMax && chars + pending[end]!.data.length <= batchCharsMax) chars += pending[end++]!.data.length;
        void this.send(addr, queue, pending.slice(start, end));
        start = end;
      }
      pending.splice(0, start);
    }
  }

  private async send(addr: string, queue: Queue, batch: Pending[]): Promise<void> {
    const nowMs = this.now();
    const writes = batch.map((pending): ForwardedWrite => ({ data: pending.data, timeout_ms: Math.max(1, Math.ceil(pending.deadlineMs - nowMs)) }));
    queue.inFlight++;
    let answers: ForwardedAnswer[];
    try {
      answers = checkAnswers(await this.post(addr, writes, Math.max(...writes.map((write) => write.timeout_ms))), batch.length, addr);
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    } finally {
      queue.inFlight--;
      // What waited for this batch's answer leaves now.
      if (queue.pending.length > 0) this.schedule();
    }
    batch.forEach((pending, i) => {
      const answer = answers[i]!;
      if ('value' in answer) pending.resolve(answer.value);
      else pending.reject(new McpV8Error(answer.code in ErrorCodes ? (answer.code as ErrorCode) : 'INTERNAL', answer.message));
    });
  }
}

/** A leader's `{ results }`, checked: one answer per write, each a value or a coded error. */
function checkAnswers(body: unknown, expected: number, addr: string): ForwardedAnswer[] {
  const results = (body as { results?: unknown } | null)?.results;
  const valid = Array.isArray(results) && results.length === expected && results.every((answer: unknown) => {
    if (typeof answer !== 'object' || answer === null) return false;
    const { value, code, message } = answer as Record<string, unknown>;
    return value === null || Number.isSafeInteger(value) || (typeof code === 'string' && typeof message === 'string');
  });
  if (!valid) throw new McpV8Error('NO_QUORUM', `cluster peer ${addr} did not answer a batch of ${expected} forwarded writes with as many results`);
  return results as ForwardedAnswer[];
}

function writeOf(value: unknown, path: string): ForwardedWrite {
  const raw = value as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new McpV8Error('INVALID_ARGUMENT', `raft propose: ${path}: expected an object`);
  if (typeof raw.data !== 'string') throw new McpV8Error('INVALID_ARGUMENT', `raft propose: ${path}.data: expected a string`);
  const timeoutMs = raw.timeout_ms;
  if (!Number.isSafeInteger(timeoutMs) || (timeoutMs as number) < 1 || (timeoutMs as number) > forwardedTimeoutMsMax) {
    throw new McpV8Error('INVALID_ARGUMENT', `raft propose: ${path}.timeout_ms: expected an integer from 1 to ${forwardedTimeoutMsMax}`);
  }
  return { data: raw.data, timeout_ms: timeoutMs as number };
}

/**
 * A /raft/propose body: `{ batch: [...] }` (what nodes send), or one write `{ data, timeout_ms }`
 * (what nodes sent before batches, and bench:cluster's writers). Checked by hand: it is a hot path.
 */
export function parseProposeBody(body: unknown): { writes: ForwardedWrite[]; batched: boolean } {
  const raw = body as Record<string, unknown> | null;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new McpV8Error('INVALID_ARGUMENT', 'raft propose: body: expected an object');
  if (raw.batch === undefined) return { writes: [writeOf(raw, 'body')], batched: false };
  if (!Array.isArray(raw.batch) || raw.batch.length === 0 || raw.batch.length > proposalsPerBatchMax) {
    throw new McpV8Error('INVALID_ARGUMENT', `raft propose: batch: expected an array of 1 to ${proposalsPerBatchMax} writes`);
  }
  return { writes: raw.batch.map((write, i) => writeOf(write, `batch.${i}`)), batched: true };
}

/** Proposes every write of a batch at once (one Raft round for all); each answered with its value or its coded error. */
export async function answerBatch(writes: readonly ForwardedWrite[], propose: (data: string, timeoutMs: number) => Promise<number | null>): Promise<{ results: ForwardedAnswer[] }> {
  const results = await Promise.all(writes.map((write) => propose(write.data, write.timeout_ms).then(
    (value): ForwardedAnswer => ({ value }),
    (error: unknown): ForwardedAnswer => (isMcpV8Error(error) ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: (error as Error).message }),
  )));
  return { results };
}
