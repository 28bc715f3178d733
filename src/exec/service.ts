// The execution service: the async model of the README. It mints ids, keeps the durable record
// and console output in the ExecutionStore, hands runs to the engine (which queues them), and
// lets callers wait for, cancel and page through executions. Transports reach it only through
// the tool definitions in src/tools.
import { EventEmitter } from 'node:events';
import { McpV8Error, assert } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { executionNotFound, type ExecutionRecord, type ExecutionStore, type OutputPage, type OutputQuery } from '../storage/execution-store.ts';
import { isExecutionId, newExecutionId } from './ids.ts';
import type { Engine, FinalStatus, RunOutcome } from './types.ts';

export interface SubmitRequest {
  code: string;
  heapMemoryMaxMb: number;
  executionTimeoutSecs: number;
}

interface LiveExecution {
  abort: AbortController;
  done: Promise<ExecutionRecord>;
}

/** Executions accepted but not finished, queued or running: the one bound on work in memory. */
export const liveExecutionsMax = 100_000;

export interface ExecutionServiceEvents {
  output: [executionId: string, line: string];
  finished: [record: ExecutionRecord];
}

export class ExecutionService extends EventEmitter<ExecutionServiceEvents> {
  private readonly live = new Map<string, LiveExecution>();
  private readonly engine: Engine;
  private readonly store: ExecutionStore;
  private readonly metrics: Metrics;
  private readonly nodeId: string;

  constructor(options: { engine: Engine; store: ExecutionStore; metrics: Metrics; nodeId: string }) {
    super();
    this.engine = options.engine;
    this.store = options.store;
    this.metrics = options.metrics;
    this.nodeId = options.nodeId;
  }

  get liveCount(): number {
    return this.live.size;
  }

  async submit(request: SubmitRequest): Promise<string> {
    if (this.live.size >= liveExecutionsMax) {
      throw new McpV8Error('INVALID_ARGUMENT', `too many executions in flight (${liveExecutionsMax}); wait for some to finish`);
    }
    const executionId = newExecutionId(this.nodeId);
    const startedAt = new Date();
    await this.store.create({
      execution_id: executionId, status: 'running', result: null, heap: null, error: null,
      started_at: startedAt.toISOString(), completed_at: null,
    });
    this.metrics.executionSubmitted();
    const abort = new AbortController();
    const done = this.runToRecord(executionId, request, abort.signal, startedAt);
    // A failed final write (storage gone) reaches whoever waits on the run; it must never
    // become an unhandled rejection that takes the whole server down.
    done.catch(() => undefined);
    this.live.set(executionId, { abort, done });
    return executionId;
  }

  private async runToRecord(executionId: string, request: SubmitRequest, signal: AbortSignal, startedAt: Date): Promise<ExecutionRecord> {
    let outcome: RunOutcome;
    try {
      outcome = await this.engine.run({
        code: request.code,
        limits: { heapMemoryMaxMb: request.heapMemoryMaxMb, executionTimeoutMs: request.executionTimeoutSecs * 1000 },
        signal,
        onConsoleLine: (line) => {
          this.store.appendOutput(executionId, line);
          this.emit('output', executionId, line);
        },
      });
    } catch (error) {
      // The engine reports sandbox failures as outcomes; a throw here is a host fault.
      outcome = { status: 'failed', result: null, error: `Internal error: ${(error as Error).message}` };
    }
    const completedAt = new Date();
    const record: ExecutionRecord = {
      execution_id: executionId, status: outcome.status, result: outcome.result, heap: null, error: outcome.error,
      started_at: startedAt.toISOString(), completed_at: completedAt.toISOString(),
    };
    try {
      await this.store.finish(executionId, {
        status: record.status as FinalStatus, result: record.result, error: record.error, heap: null, completed_at: record.completed_at!,
      });
    } finally {
      this.live.delete(executionId);
      this.metrics.executionFinished(outcome.status, (completedAt.getTime() - startedAt.getTime()) / 1000);
      this.emit('finished', record);
    }
    return record;
  }

  async get(executionId: string): Promise<ExecutionRecord> {
    const record = await this.store.get(checkedId(executionId));
    if (record === undefined) throw executionNotFound(executionId);
    return record;
  }

  /** Waits up to `waitMs` for the execution to finish; returns its record either way. */
  async wait(executionId: string, waitMs: number): Promise<ExecutionRecord> {
    const live = this.live.get(checkedId(executionId));
    if (live === undefined || waitMs <= 0) return this.get(executionId);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(resolve, waitMs, null); });
    const finished = await Promise.race([live.done, timeout]);
    clearTimeout(timer);
    return finished ?? this.get(executionId);
  }

  async cancel(executionId: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const live = this.live.get(checkedId(executionId));
    if (live === undefined) {
      const record = await this.get(executionId);
      return { ok: false, error: `Execution ${executionId} is not running (status: ${record.status})` };
    }
    live.abort.abort();
    await live.done;
    return { ok: true };
  }

  output(executionId: string, query: OutputQuery): Promise<OutputPage> {
    return this.store.readOutput(checkedId(executionId), query);
  }

  list(): Promise<ExecutionRecord[]> {
    return this.store.list();
  }

  /** Cancels every live execution and waits for their records to be written. */
  async close(): Promise<void> {
    const pending = [...this.live.values()];
    for (const live of pending) live.abort.abort();
    await Promise.allSettled(pending.map((live) => live.done));
    assert(this.live.size === 0, 'no live execution survives close');
  }
}

function checkedId(executionId: string): string {
  if (!isExecutionId(executionId)) {
    throw new McpV8Error('INVALID_ARGUMENT', `execution_id must be a UUID like 0190a4f2-1c3b-8d4e-9f00-1a2b3c4d5e6f, got '${executionId.slice(0, 80)}'`);
  }
  return executionId;
}

