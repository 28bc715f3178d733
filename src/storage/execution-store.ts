// Execution records and their console output in LevelDB, so both survive a restart.
//
// Keys (one LevelDB, `--execution-db-path`):
//   r!<id>            the record (JSON), ids sort by creation time (src/exec/ids.ts)
//   u!<id>            present while the execution runs: a restart finds interrupted runs here
//   o!<id>!<line>     one console line (text without its newline), line numbers 1-based, 10 digits
// Output is group-committed: appendOutput only queues, one LevelDB batch a few ms later writes
// every queued line of every execution, so a flood of console lines costs one write per batch,
// never an fsync per line. A batch reaches the OS before `finish` records the final status, so
// a kill -9 keeps every line of a finished execution (LevelDB's log is in the page cache).
import type { Level } from 'level';
import type { Logger } from 'pino';
import { McpV8Error, assert } from '../errors.ts';
import type { ExecutionStatus, FinalStatus } from '../exec/types.ts';
import { openLevel } from './level.ts';
import { OutputIndexCache, pageByBytes, pageByLines, type LineSource } from './output-pages.ts';

export interface ExecutionRecord {
  execution_id: string;
  status: ExecutionStatus;
  result: string | null;
  heap: string | null;
  error: string | null;
  started_at: string;
  completed_at: string | null;
}

export interface FinalRecordFields {
  status: FinalStatus;
  result: string | null;
  error: string | null;
  heap: string | null;
  completed_at: string;
}

export type OutputQuery =
  | { mode: 'line'; lineOffset: number; lineLimit: number }
  | { mode: 'byte'; byteOffset: number; byteLimit: number };

export interface OutputPage {
  execution_id: string;
  data: string;
  start_line: number;
  end_line: number;
  next_line_offset: number;
  total_lines: number;
  start_byte: number;
  end_byte: number;
  next_byte_offset: number;
  total_bytes: number;
  has_more: boolean;
  status: ExecutionStatus;
}

/** Records kept; past this the oldest finished ones are evicted with their output. */
export const recordsMax = 100_000;
/** A group commit is written after this long, or sooner when this many lines are queued. */
export const outputFlushDelayMs = 5;
export const outputFlushLinesMax = 2_000;
export const listLimitDefault = 1_000;
export const interruptedError = 'Interrupted: the server stopped before this execution finished';
/** Records of recent executions kept in memory, so polling does not read LevelDB. */
export const recentRecordsMax = 10_000;

const lineKeyDigits = 10;

export function executionNotFound(id: string): McpV8Error {
  return new McpV8Error('EXECUTION_NOT_FOUND', `No execution with id ${id}. Use list_executions to see known ids.`);
}
const recordKey = (id: string) => `r!${id}`;
const runningKey = (id: string) => `u!${id}`;
const lineKey = (id: string, line: number) => `o!${id}!${String(line).padStart(lineKeyDigits, '0')}`;

type BatchOperation = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

interface OutputCounters {
  /** Lines written to LevelDB. */
  flushedLines: number;
  /** Lines not yet written, in order after the flushed ones. */
  pending: string[];
  /** How many of `pending` are already in a batch being written. */
  batched: number;
}

export class ExecutionStore {
  private readonly db: Level<string, string>;
  private readonly logger: Logger | undefined;
  private readonly outputs = new Map<string, OutputCounters>();
  private readonly indexes = new OutputIndexCache();
  /** Running records and the most recently finished ones (insertion order = age). */
  private readonly recent = new Map<string, ExecutionRecord>();
  private queued: BatchOperation[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private recordCount = 0;

  private constructor(db: Level<string, string>, logger: Logger | undefined) {
    this.db = db;
    this.logger = logger;
  }

  static async open(options: { path: string; logger?: Logger }): Promise<ExecutionStore> {
    const db = await openLevel(options.path, { what: 'execution database', flag: '--execution-db-path' });
    const store = new ExecutionStore(db, options.logger);
    await store.markInterrupted();
    await store.countRecords();
    return store;
  }

  /** Runs that were still running when the process died will never finish: say so. */
  private async markInterrupted(): Promise<void> {
    const now = new Date().toISOString();
    const operations: BatchOperation[] = [];
    for await (const key of this.db.keys({ gt: 'u!', lt: 'u~' })) {
      const id = key.slice(2);
      const text = await this.db.get(recordKey(id));
      operations.push({ type: 'del', key });
      if (text === undefined) continue;
      const record = JSON.parse(text) as ExecutionRecord;
      const interrupted: ExecutionRecord = { ...record, status: 'failed', error: interruptedError, completed_at: now };
      operations.push({ type: 'put', key: recordKey(id), value: JSON.stringify(interrupted) });
    }
    if (operations.length > 0) {
      await this.db.batch(operations);
      this.logger?.warn({ count: operations.length / 2 }, 'executions interrupted by the last stop marked failed');
    }
  }

  private async countRecords(): Promise<void> {
    let count = 0;
    for await (const _key of this.db.keys({ gt: 'r!', lt: 'r~' })) count++;
    this.recordCount = count;
  }

  async create(record: ExecutionRecord): Promise<void> {
    assert(record.status === 'running', 'a record is created running');
    this.outputs.set(record.execution_id, { flushedLines: 0, pending: [], batched: 0 });
    this.indexes.track(record.execution_id);
    this.remember(record);
    await this.db.batch([
      { type: 'put', key: recordKey(record.execution_id), value: JSON.stringify(record) },
      { type: 'put', key: runningKey(record.execution_id), value: '' },
    ]);
    this.recordCount++;
    if (this.recordCount > recordsMax) await this.evictOldest(this.recordCount - recordsMax);
  }

  appendOutput(id: string, line: string): void {
    const output = this.outputs.get(id);
    assert(output !== undefined, `output appended to a running execution (${id})`);
    output.pending.push(line);
    const lineNumber = output.flushedLines + output.pending.length;
    this.queued.push({ type: 'put', key: lineKey(id, lineNumber), value: line });
    this.indexes.appendLine(id, line);
    if (this.queued.length >= outputFlushLinesMax) void this.flush();
    else this.flushTimer ??= setTimeout(() => { void this.flush(); }, outputFlushDelayMs);
  }

  /** Writes every queued line in one batch; batches are written in order, one at a time. */
  flush(): Promise<void> {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.queued.length === 0) return this.flushing;
    const operations = this.queued;
    this.queued = [];
    const written = new Map<string, number>();
    for (const [id, output] of this.outputs) {
      const count = output.pending.length - output.batched;
      if (count === 0) continue;
      written.set(id, count);
      output.batched += count;
    }
    this.flushing = this.flushing.then(async () => {
      await this.db.batch(operations);
      for (const [id, count] of written) {
        const output = this.outputs.get(id);
        if (output === undefined) continue;
        output.flushedLines += count;
        output.pending.splice(0, count);
        output.batched -= count;
      }
    }).catch((error: unknown) => {
      this.logger?.error({ err: error }, 'console output could not be written');
    });
    return this.flushing;
  }

  async finish(id: string, final: FinalRecordFields): Promise<void> {
    await this.flush();
    const record = await this.get(id);
    assert(record !== undefined, `finish of a known execution (${id})`);
    const finished: ExecutionRecord = { ...record, ...final };
    await this.db.batch([
      { type: 'put', key: recordKey(id), value: JSON.stringify(finished) },
      { type: 'del', key: runningKey(id) },
    ]);
    this.remember(finished);
    this.outputs.delete(id);
  }

  private remember(record: ExecutionRecord): void {
    this.recent.delete(record.execution_id);
    this.recent.set(record.execution_id, record);
    if (this.recent.size > recentRecordsMax) this.recent.delete(this.recent.keys().next().value!);
  }

  async get(id: string): Promise<ExecutionRecord | undefined> {
    const cached = this.recent.get(id);
    if (cached !== undefined) return { ...cached };
    const text = await this.db.get(recordKey(id));
    return text === undefined ? undefined : (JSON.parse(text) as ExecutionRecord);
  }

  async list(options: { limit?: number } = {}): Promise<ExecutionRecord[]> {
    const records: ExecutionRecord[] = [];
    for await (const value of this.db.values({ gt: 'r!', lt: 'r~', reverse: true, limit: options.limit ?? listLimitDefault })) {
      records.push(JSON.parse(value) as ExecutionRecord);
    }
    return records;
  }

  async readOutput(id: string, query: OutputQuery): Promise<OutputPage> {
    const record = await this.get(id);
    if (record === undefined) throw executionNotFound(id);
    const source = this.lineSource(id);
    const index = await this.indexes.load(id, source);
    const page = query.mode === 'line'
      ? await pageByLines(index, source, query.lineOffset, query.lineLimit)
      : await pageByBytes(index, source, query.byteOffset, query.byteLimit);
    return { execution_id: id, ...page, status: record.status };
  }

  /** Reads lines [first, last] (1-based), from LevelDB and from the queue of a running execution. */
  private lineSource(id: string): LineSource {
    return {
      liveLineCount: () => {
        const output = this.outputs.get(id);
        return output === undefined ? null : output.flushedLines + output.pending.length;
      },
      readAll: async () => {
        const lines = await this.readFlushed(id, 1, Number.MAX_SAFE_INTEGER);
        const output = this.outputs.get(id);
        return output === undefined ? lines : [...lines.slice(0, output.flushedLines), ...output.pending];
      },
      read: async (first, last) => {
        const output = this.outputs.get(id);
        const flushedLast = output === undefined ? last : Math.min(last, output.flushedLines);
        const lines = first <= flushedLast ? await this.readFlushed(id, first, flushedLast) : [];
        if (output !== undefined && last > output.flushedLines) {
          const from = Math.max(first, output.flushedLines + 1) - output.flushedLines - 1;
          lines.push(...output.pending.slice(from, last - output.flushedLines));
        }
        return lines;
      },
    };
  }

  private async readFlushed(id: string, first: number, last: number): Promise<string[]> {
    const lines: string[] = [];
    const upper = last >= 10 ** lineKeyDigits ? `o!${id}!~` : lineKey(id, last);
    for await (const value of this.db.values({ gte: lineKey(id, first), lte: upper })) lines.push(value);
    return lines;
  }

  private async evictOldest(count: number): Promise<void> {
    const evicted: string[] = [];
    for await (const [key, value] of this.db.iterator({ gt: 'r!', lt: 'r~' })) {
      if (evicted.length >= count) break;
      if ((JSON.parse(value) as ExecutionRecord).status !== 'running') evicted.push(key.slice(2));
    }
    for (const id of evicted) {
      await this.db.clear({ gt: `o!${id}!`, lt: `o!${id}!~` });
      await this.db.del(recordKey(id));
      this.indexes.forget(id);
      this.recent.delete(id);
    }
    this.recordCount -= evicted.length;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.db.close();
  }
}
