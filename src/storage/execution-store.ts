// Execution records and their console output in LevelDB, so both survive a restart.
//
// Keys (one LevelDB, `--execution-db-path`):
//   r!<id>            the record (JSON), ids sort by creation time (src/exec/ids.ts)
//   u!<id>            present while the execution runs: a restart finds interrupted runs here
//   k!<id>!<line>     a chunk of console lines, joined by "\n" (a line never holds one), keyed by
//                     its first line's number (1-based, 10 digits): one LevelDB entry per chunk, not
//                     per line, so a flood of 100,000 short lines is ~100 entries, not 100,000 (each
//                     entry of a batch costs the main thread a few microseconds in classic-level)
//   o!<id>!<line>     one console line: what servers before the chunks wrote; still read and evicted
// Every write is group-committed through one queue, written one LevelDB batch at a time, in order:
// - console lines only queue, into the execution's open chunk; a batch a few ms later (or at 2,000
//   queued lines) writes them, so a flood of lines costs one write per batch, never an fsync per
//   line, and one batch entry per chunk;
// - a create asks for a batch at once (the next turn of the event loop, or as soon as the batch
//   being written is done), or within 20 ms for a run whose id goes out only with its outcome
//   (wait_ms: its finish usually takes it along); a finish waits at most 2 ms for company, none
//   when somebody waits for it; each resolves only when its batch is written. Under load many executions' creates and finishes share one batch and one
//   trip to LevelDB's thread (a batch costs ~50 us of main thread whatever its size), while alone
//   a create costs what a direct write did.
// A record's two keys always go in the same batch (atomic; a create whose finish joins its batch is
// not written at all: the final record alone, no running marker), and a batch holds everything queued
// before it, so an execution's lines reach the OS before or with its final status: a kill -9 keeps
// every line of a finished execution (LevelDB's log is in the page cache). A record is visible to
// `get` as finished as soon as `finish` is called, before that write is done: a reply with the
// result goes out without waiting for LevelDB (a kill -9 in the milliseconds between leaves it
// interrupted, or unknown, after the restart; docs/storage.md). A create is queued the same way: its record
// is readable at once, and `create` resolves once it is written.
import type { Level } from 'level';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { McpV8Error, assert } from '../errors.ts';
import { z } from 'zod';
import { executionStatuses, heapIdPattern, type ExecutionRecord, type ExecutionStatus, type FinalStatus } from '../model.ts';
import { openLevel } from './level.ts';
import { parseStored } from './stored-json.ts';
import { OutputIndexCache, pageByBytes, pageByLines, type LineSource, type OutputIndex } from './output-pages.ts';

export type { ExecutionRecord } from '../model.ts';

export interface FinalRecordFields {
  status: FinalStatus;
  result: string | null;
  result_type?: string;
  error: string | null;
  heap: string | null;
  /** When the run began (absent: the record keeps what it had). */
  started_at?: string | null;
  completed_at: string;
}

export type OutputQuery =
  | { mode: 'line'; lineOffset: number; lineLimit: number; bytesMax?: number }
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
/**
 * Console output kept across all records (UTF-8 bytes, one more per line); past this the oldest
 * finished records are evicted with their output, as past `recordsMax`. Without it 100,000
 * records of up to 32 MiB each could fill a disk.
 */
export const outputBytesMaxDefault = 1024 * 1024 * 1024;
/**
 * Eviction removes this share of the bound more than it must (1,000 records of 100,000), so it
 * runs once per that many new executions, off the request path, rather than on every create.
 */
const evictionChunkShare = 0.01;
/** A group commit is written after this long, or sooner when this many lines are queued. */
export const outputFlushDelayMs = 5;
/**
 * A finish waits at most this long for company in its batch (a create, which is written at once,
 * takes it along sooner). Nobody polling sees the difference; under load it halves the batches.
 * A finish somebody waits for (`POST /api/exec` with wait_ms) is written at once instead: the
 * wait would be part of the time to result (under load batches fill up anyway, since the next
 * one starts only when the last is written).
 */
export const finishFlushDelayMs = 2;
export const outputFlushLinesMax = 2_000;
/**
 * Characters of console lines not yet written (queued, or in the batch being written), over all
 * executions. Lines enter at most at the console queue's rate (src/exec/console-queue.ts, 16 MiB/s
 * after a 4 MiB burst); a store whose disk falls behind that held every line in memory, with no
 * bound. Past this, an execution's lines are dropped until the writes catch up, and its output
 * says so where it happened (`droppedOutputLine`, then `resumedOutputLine` with the count).
 */
export const unwrittenCharsMaxDefault = 64 * 1024 * 1024;
/** The line an execution's output gets where its lines start to be dropped (the store is behind). */
export const droppedOutputLine = (charsMax: number) => `[output truncated: the server's execution store holds ${charsMax % 2 ** 20 === 0 ? `${charsMax / 2 ** 20} MiB` : `${charsMax} characters`} of console output not yet written to disk, its bound; lines printed until it catches up are dropped]`;
/** The line that follows once lines are taken again, or at the execution's end. */
export const resumedOutputLine = (lines: number) => `[${lines} console line${lines === 1 ? '' : 's'} dropped here while the execution store caught up]`;
/**
 * A create nobody is told of before its run's outcome (wait_ms) waits this long for company: a
 * short run's finish takes it along (one batch, one trip to LevelDB's thread, per run), and a
 * longer run's record is on disk within this bound all the same. 2 ms was too short on a busy
 * machine, where a run of `1 + 1` takes 3–5 ms.
 */
export const lazyCreateDelayMs = 20;
export const listLimitDefault = 1_000;
export const interruptedError = 'Interrupted: the server stopped before this execution finished';
/** Records of recent executions kept in memory, so polling does not read LevelDB. */
export const recentRecordsMax = 10_000;

const lineKeyDigits = 10;

const storedRecordSchema = z.object({
  execution_id: z.string(),
  status: z.enum(executionStatuses),
  result: z.string().nullable(),
  result_type: z.string().optional(),
  heap: z.string().regex(heapIdPattern).nullable(),
  error: z.string().nullable(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  owner: z.string().optional(),
  code_snippet: z.string().optional(),
}) satisfies z.ZodType<ExecutionRecord>;

/**
 * A stored record, or null when it cannot be read. LevelDB checksums what it stores, so only a
 * bug or a hand edit makes one; it must not stop listing, eviction or a restart.
 */
function parseRecord(text: string): ExecutionRecord | null {
  return parseStored(storedRecordSchema, text);
}

/** What one console line adds to the stored output: its UTF-8 bytes and the newline after it. */
function lineBytes(line: string): number {
  return Buffer.byteLength(line, 'utf8') + 1;
}

export function executionNotFound(id: string): McpV8Error {
  return new McpV8Error('EXECUTION_NOT_FOUND', `No execution with id ${id}. Use list_executions to see known ids.`);
}
const recordKey = (id: string) => `r!${id}`;
const runningKey = (id: string) => `u!${id}`;
/** Output bytes of a finished record, written with its final fields when it printed anything. */
const bytesKey = (id: string) => `b!${id}`;
const lineKey = (id: string, line: number) => `o!${id}!${String(line).padStart(lineKeyDigits, '0')}`;
/** The output of an execution that printed nothing: what `readOutput` pages when no line exists (pages of it read no line). */
const emptyIndex: OutputIndex = Object.freeze({ lineStartBytes: Object.freeze([]) as unknown as number[], totalBytes: 0 });
const noLines: LineSource = {
  read: async () => { throw new Error('no line to read in an empty output'); },
  readAll: async () => [],
  liveLineCount: () => 0,
};
/** A record's keys as created: the record, running, and the marker a restart finds it by. */
function createOperations(record: ExecutionRecord): BatchOperation[] {
  return [
    { type: 'put', key: recordKey(record.execution_id), value: JSON.stringify(record) },
    { type: 'put', key: runningKey(record.execution_id), value: '' },
  ];
}
const chunkKey = (id: string, firstLine: number) => `k!${id}!${String(firstLine).padStart(lineKeyDigits, '0')}`;
/** A chunk takes lines until it holds this many, or this many characters (a longer line is a chunk of its own). */
export const chunkLinesMax = 1_000;
export const chunkCharsMax = 256 * 1024;
/** A batch stops taking chunks past this many characters of lines, so no single write holds the main thread long. */
export const batchCharsMax = 1024 * 1024;

type BatchOperation = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/** Console lines of one execution that are written as one entry; it takes lines until a batch takes it. */
interface QueuedChunk { kind: 'chunk'; id: string; firstLine: number; lines: string[]; chars: number }

/**
 * When a record's batch starts: `now` (the next turn: a create whose id is answered, a finish
 * somebody waits for), `soon` (within finishFlushDelayMs: other finishes), `lazy` (within
 * lazyCreateDelayMs: the create of a run whose id goes out with its outcome, which usually
 * shares its finish's batch).
 */
type WriteWhen = 'now' | 'soon' | 'lazy';

/** One entry of the write queue: a chunk of console lines, a record's keys (atomic), or a flush barrier. */
type QueuedWrite =
  | QueuedChunk
  | { kind: 'record'; id: string; when: WriteWhen; operations: BatchOperation[]; resolve: () => void; reject: (error: unknown) => void; stage?: 'create' | 'finish' }
  | { kind: 'barrier'; resolve: () => void };

/** A batch stops taking queue entries once it holds this many operations (bounds one write's main-thread cost). */
export const batchOperationsMax = 10_000;

interface OutputCounters {
  /** Lines written to LevelDB. */
  flushedLines: number;
  /** Lines not yet written (queued or in the batch being written), in order after the flushed ones. */
  pending: string[];
  /** Output bytes so far (UTF-8, one more per line). */
  bytes: number;
  /** The chunk in the queue that new lines join, until a batch takes it. */
  open: QueuedChunk | null;
  /** The record as created (running): what `finish` completes without a read. */
  created: ExecutionRecord;
  /** Lines dropped since the store went past unwrittenCharsMax (0: none being dropped). */
  droppedLines: number;
}

/** What an eviction must free at least. */
interface EvictionTarget {
  records: number;
  bytes: number;
}

/** Records read per step of an eviction (their byte counts are read together). */
const evictionPageRecords = 256;

export class ExecutionStore {
  private readonly db: Level<string, string>;
  private readonly logger: Logger | undefined;
  private readonly outputs = new Map<string, OutputCounters>();
  private readonly indexes = new OutputIndexCache();
  /** Running records and the most recently finished ones (insertion order = age). */
  private readonly recent = new LRUCache<string, ExecutionRecord>({ max: recentRecordsMax });
  private queue: QueuedWrite[] = [];
  /** Entries of `queue` that make the next batch start at once (creates, barriers). */
  private queuedUrgent = 0;
  /** Finishes in `queue` nobody waits for: the next batch starts within finishFlushDelayMs. */
  private queuedFinishes = 0;
  /** Lazy creates in `queue`: the next batch starts within lazyCreateDelayMs. */
  private queuedLazy = 0;
  private queuedLines = 0;
  /** Characters of lines not yet written (see unwrittenCharsMaxDefault), and the bound. */
  private unwrittenChars = 0;
  private readonly unwrittenCharsMax: number;
  private writing = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushTimerDelayMs = 0;
  private flushImmediate: NodeJS.Immediate | null = null;
  private recordCount = 0;
  private readonly recordsMax: number;
  /** Output bytes of every record kept, running ones included. */
  private outputBytes = 0;
  private readonly outputBytesMax: number;
  /** The eviction under way, if any: one at a time, awaited by `close`. */
  private evicting: Promise<void> | null = null;
  /** evictIfOver was called while an eviction ran: the eviction looks again when it ends. */
  private evictAgain = false;
  /** Set by `close`: no eviction starts after it. */
  private closing = false;
  /**
   * Every record key up to this one is evicted, except running ones: the next eviction reads
   * from here, not across the deletion markers LevelDB keeps until it compacts.
   */
  private evictedThrough = 'r!';

  private constructor(db: Level<string, string>, logger: Logger | undefined, bounds: { recordsMax: number; outputBytesMax: number; unwrittenCharsMax: number }) {
    this.db = db;
    this.logger = logger;
    this.recordsMax = bounds.recordsMax;
    this.outputBytesMax = bounds.outputBytesMax;
    this.unwrittenCharsMax = bounds.unwrittenCharsMax;
  }

  /** `recordsMax`: records kept; `outputBytesMax`: their console output; `unwrittenCharsMax`: lines not yet written (tests use small bounds). */
  static async open(options: { path: string; logger?: Logger; recordsMax?: number; outputBytesMax?: number; unwrittenCharsMax?: number }): Promise<ExecutionStore> {
    const bounds = { recordsMax: options.recordsMax ?? recordsMax, outputBytesMax: options.outputBytesMax ?? outputBytesMaxDefault, unwrittenCharsMax: options.unwrittenCharsMax ?? unwrittenCharsMaxDefault };
    assert(Number.isInteger(bounds.recordsMax) && bounds.recordsMax >= 1, 'the record bound is a positive integer');
    assert(Number.isInteger(bounds.outputBytesMax) && bounds.outputBytesMax >= 1, 'the output bound is a positive integer');
    const db = await openLevel(options.path, { what: 'execution database', flag: '--execution-db-path' });
    const store = new ExecutionStore(db, options.logger, bounds);
    await store.markInterrupted();
    await store.countRecords();
    store.evictIfOver();
    return store;
  }

  /** Runs that were still running when the process died will never finish: say so. */
  private async markInterrupted(): Promise<void> {
    const now = new Date().toISOString();
    const operations: BatchOperation[] = [];
    let interruptedCount = 0;
    for await (const key of this.db.keys({ gt: 'u!', lt: 'u~' })) {
      const id = key.slice(2);
      const text = await this.db.get(recordKey(id));
      operations.push({ type: 'del', key });
      if (text === undefined) continue;
      const record = parseRecord(text);
      if (record === null) {
        this.logger?.error({ executionId: id }, 'the stored record of an interrupted execution cannot be read; it is left for eviction');
        continue;
      }
      const interrupted: ExecutionRecord = { ...record, status: 'failed', error: interruptedError, completed_at: now };
      operations.push({ type: 'put', key: recordKey(id), value: JSON.stringify(interrupted) });
      interruptedCount++;
      let bytes = 0;
      for await (const line of this.db.values({ gt: `o!${id}!`, lt: `o!${id}!~` })) bytes += lineBytes(line);
      for await (const chunk of this.db.values({ gt: `k!${id}!`, lt: `k!${id}!~` })) bytes += lineBytes(chunk);
      if (bytes > 0) operations.push({ type: 'put', key: bytesKey(id), value: String(bytes) });
    }
    if (operations.length > 0) {
      await this.db.batch(operations);
      if (interruptedCount > 0) this.logger?.warn({ count: interruptedCount }, 'executions interrupted by the last stop marked failed');
    }
  }

  private async countRecords(): Promise<void> {
    let count = 0;
    for await (const _key of this.db.keys({ gt: 'r!', lt: 'r~' })) count++;
    this.recordCount = count;
    let bytes = 0;
    for await (const value of this.db.values({ gt: 'b!', lt: 'b~' })) bytes += Number(value);
    this.outputBytes = bytes;
  }

  /**
   * `urgent` false: nobody is told the id until the run's outcome (a request with wait_ms), so the
   * record may wait up to `lazyCreateDelayMs` for company, usually its own finish: one batch per
   * short run instead of two.
   */
  async create(record: ExecutionRecord, urgent = true): Promise<void> {
    assert(record.status === 'running', 'a record is created running');
    this.outputs.set(record.execution_id, { flushedLines: 0, pending: [], bytes: 0, open: null, created: record, droppedLines: 0 });
    this.indexes.track(record.execution_id);
    this.remember(record);
    // Its keys are made when a batch takes it (`takeBatch`): a create that shares its batch with its
    // finish (a wait_ms run's, usually) is then not written at all.
    await this.writeRecord(record.execution_id, urgent ? 'now' : 'lazy', [], 'create');
    this.recordCount++;
    this.evictIfOver();
  }

  /**
   * Starts an eviction, off the request path, when a bound is passed; it frees a chunk more than
   * it must (1 % of each bound), so it runs once per many executions rather than on every one.
   */
  private evictIfOver(): void {
    if (this.closing) return;
    if (this.evicting !== null) {
      // A record finished or was made while an eviction ran on an older view: look once more after it.
      this.evictAgain = true;
      return;
    }
    this.evictAgain = false;
    const target: EvictionTarget = {
      records: this.recordCount > this.recordsMax ? this.recordCount - this.recordsMax + Math.ceil(this.recordsMax * evictionChunkShare) : 0,
      bytes: this.outputBytes > this.outputBytesMax ? this.outputBytes - this.outputBytesMax + Math.ceil(this.outputBytesMax * evictionChunkShare) : 0,
    };
    if (target.records === 0 && target.bytes === 0) return;
    this.evicting = this.evictOldest(target)
      .catch((error: unknown) => { this.logger?.error({ err: error }, 'evicting old execution records failed; will retry'); return 0; })
      .then((evicted) => {
        this.evicting = null;
        // Executions that finished meanwhile found this eviction under way and started none:
        // look again for them, and as long as evicting makes progress (running records are never evicted).
        if (evicted > 0 || this.evictAgain) this.evictIfOver();
      });
  }

  /** Queues one console line of a running execution; false if it was dropped (the store is past unwrittenCharsMax). */
  appendOutput(id: string, line: string): boolean {
    // Checked here, per execution, before the line joins the batch that every execution's writes
    // share: a value LevelDB refuses (null) failed whole batches, other runs' records with them.
    if (typeof line !== 'string') throw new TypeError(`console output of execution ${id} must be text, not ${line === null ? 'null' : typeof line}`);
    const output = this.outputs.get(id);
    assert(output !== undefined, `output appended to a running execution (${id})`);
    // Chunks are stored joined by newlines; ConsoleBudget splits the sandbox's batches on them.
    assert(!line.includes('\n'), 'a console line holds no newline');
    if (this.unwrittenChars + line.length + 1 > this.unwrittenCharsMax) {
      if (output.droppedLines++ === 0) {
        this.logger?.warn({ executionId: id, unwrittenChars: this.unwrittenChars }, 'the execution store is behind: console lines are dropped until its writes catch up');
        this.queueLine(id, output, droppedOutputLine(this.unwrittenCharsMax));
      }
      return false;
    }
    this.endDropped(id, output);
    this.queueLine(id, output, line);
    return true;
  }

  /** If lines of `id` were being dropped: the line saying how many, before whatever comes next. */
  private endDropped(id: string, output: OutputCounters): void {
    if (output.droppedLines === 0) return;
    this.queueLine(id, output, resumedOutputLine(output.droppedLines));
    output.droppedLines = 0;
  }

  private queueLine(id: string, output: OutputCounters, line: string): void {
    this.unwrittenChars += line.length + 1;
    output.pending.push(line);
    let chunk = output.open;
    if (chunk === null || chunk.lines.length >= chunkLinesMax || chunk.chars + line.length > chunkCharsMax) {
      chunk = { kind: 'chunk', id, firstLine: output.flushedLines + output.pending.length, lines: [], chars: 0 };
      output.open = chunk;
      this.queue.push(chunk);
    }
    chunk.lines.push(line);
    chunk.chars += line.length + 1;
    this.queuedLines++;
    const bytes = lineBytes(line);
    output.bytes += bytes;
    this.outputBytes += bytes;
    this.indexes.appendLine(id, line, bytes);
    this.scheduleWrite();
  }

  /** Resolves once everything queued before this call is written (a failed batch is logged, not thrown). */
  flush(): Promise<void> {
    if (this.queue.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.queue.push({ kind: 'barrier', resolve });
      this.queuedUrgent++;
      this.scheduleWrite();
    });
  }

  /**
   * The run's final fields. In memory at once, before this returns: `get` and `list` answer the
   * finished record from here on (a reply from memory, then get_execution, agree), while its write
   * is queued behind every line of the execution; the promise resolves once it is written.
   * `urgent`: somebody waits for this record, so its batch starts at once rather than after
   * `finishFlushDelayMs`. A crash before the batch is written leaves the record running on disk,
   * and the next start marks it interrupted (docs/storage.md).
   */
  finish(id: string, final: FinalRecordFields, urgent = false): Promise<void> {
    const output = this.outputs.get(id);
    assert(output !== undefined, `finish of an execution created by this store and not yet finished (${id})`);
    const finished: ExecutionRecord = { ...output.created, ...final };
    this.endDropped(id, output);
    const bytes = output.bytes;
    // Finished in memory even when the write fails: a poll must not see "running" for ever.
    // On disk the record keeps its running marker, and the next start marks it interrupted.
    this.remember(finished);
    this.indexes.finished(id);
    // Queued after every line of this execution, so written with them or after them. Until then
    // its unwritten lines stay readable from `outputs`.
    const written = this.writeRecord(id, urgent ? 'now' : 'soon', [
      { type: 'put', key: recordKey(id), value: JSON.stringify(finished) },
      ...(bytes > 0 ? [{ type: 'put' as const, key: bytesKey(id), value: String(bytes) }] : []),
    ], 'finish');
    return written.then(() => {
      this.outputs.delete(id);
      if (bytes > 0) this.evictIfOver();
    }, (error: unknown) => {
      this.outputs.delete(id);
      throw error;
    });
  }

  private writeRecord(id: string, when: WriteWhen, operations: BatchOperation[], stage?: 'create' | 'finish'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'record', id, when, operations, resolve, reject, ...(stage === undefined ? {} : { stage }) });
      this.countQueued(when, 1);
      this.scheduleWrite();
    });
  }

  private countQueued(when: WriteWhen, delta: 1 | -1): void {
    if (when === 'now') this.queuedUrgent += delta;
    else if (when === 'soon') this.queuedFinishes += delta;
    else this.queuedLazy += delta;
  }

  /** Starts the next batch: at once for a create or a flush, soon for a finish, later for lines or a lazy create. */
  private scheduleWrite(): void {
    if (this.writing || this.queue.length === 0) return;
    if (this.queuedUrgent > 0 || this.queuedLines >= outputFlushLinesMax) {
      this.flushImmediate ??= setImmediate(() => { this.flushImmediate = null; this.writeBatch(); });
      return;
    }
    const delayMs = this.queuedFinishes > 0 ? finishFlushDelayMs : this.queuedLines > 0 ? outputFlushDelayMs : lazyCreateDelayMs;
    if (this.flushTimer !== null && this.flushTimerDelayMs <= delayMs) return;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimerDelayMs = delayMs;
    this.flushTimer = setTimeout(() => { this.flushTimer = null; this.writeBatch(); }, delayMs);
  }

  /** Writes the head of the queue as one LevelDB batch; the next one starts when it is done. */
  private writeBatch(): void {
    if (this.writing || this.queue.length === 0) return;
    if (this.flushTimer !== null) { clearTimeout(this.flushTimer); this.flushTimer = null; }
    if (this.flushImmediate !== null) { clearImmediate(this.flushImmediate); this.flushImmediate = null; }
    const { operations, entries, lineCounts } = this.takeBatch();
    this.writing = true;
    const written = operations.length === 0 ? Promise.resolve() : this.db.batch(operations);
    written.then(() => this.batchDone(entries, lineCounts, { ok: true }), (error: unknown) => this.batchDone(entries, lineCounts, { ok: false, error }));
  }

  /**
   * The entries of the next batch, in queue order, but a record need not wait behind other
   * executions' chunks: once the batch holds 1 MiB of lines (a 32 MiB flood is 32 batches), later
   * chunks stay queued, while creates and finishes of other executions still go in this batch.
   * What stays in order: everything of one execution (its create, chunks, finish), and a barrier
   * after everything queued before it.
   */
  private takeBatch(): { operations: BatchOperation[]; entries: QueuedWrite[]; lineCounts: Map<string, number> } {
    let chars = 0;
    const operations: BatchOperation[] = [];
    const entries: QueuedWrite[] = [];
    const kept: QueuedWrite[] = [];
    const lineCounts = new Map<string, number>();
    /** Executions with an entry left in the queue: their later entries stay behind it. */
    const waiting = new Set<string>();
    /** Creates taken into this batch, whose keys go in at its end unless their finish joins it too. */
    const creates = new Set<string>();
    for (const entry of this.queue) {
      const full = operations.length + 2 * creates.size >= batchOperationsMax;
      const take = entry.kind === 'barrier' ? kept.length === 0 : !full && !waiting.has(entry.id) && (entry.kind === 'record' || chars < batchCharsMax);
      if (!take) {
        kept.push(entry);
        if (entry.kind !== 'barrier') waiting.add(entry.id);
        continue;
      }
      entries.push(entry);
      if (entry.kind === 'record') {
        this.takeRecord(entry, operations, creates);
        this.countQueued(entry.when, -1);
      } else if (entry.kind === 'barrier') {
        this.queuedUrgent--;
      } else {
        // Taken: later lines of this execution start a chunk of their own.
        const output = this.outputs.get(entry.id);
        if (output?.open === entry) output.open = null;
        operations.push({ type: 'put', key: chunkKey(entry.id, entry.firstLine), value: entry.lines.join('\n') });
        chars += entry.chars;
        this.queuedLines -= entry.lines.length;
        lineCounts.set(entry.id, (lineCounts.get(entry.id) ?? 0) + entry.lines.length);
      }
    }
    this.queue = kept;
    for (const id of creates) operations.push(...createOperations(this.outputs.get(id)!.created));
    return { operations, entries, lineCounts };
  }

  /**
   * A record's keys into the batch being taken. A create waits in `creates` for the end of the
   * batch; its finish, if it comes in the same batch, replaces it: one put of the final record,
   * and no running marker to put and delete (the batch is atomic, so disk sees the same states).
   * A finish whose create went in an earlier batch deletes that marker.
   */
  private takeRecord(entry: QueuedWrite & { kind: 'record' }, operations: BatchOperation[], creates: Set<string>): void {
    if (entry.stage === 'create') {
      creates.add(entry.id);
      return;
    }
    operations.push(...entry.operations);
    if (entry.stage === 'finish' && !creates.delete(entry.id)) operations.push({ type: 'del', key: runningKey(entry.id) });
  }

  private batchDone(entries: QueuedWrite[], lineCounts: Map<string, number>, outcome: { ok: true } | { ok: false; error: unknown }): void {
    this.writing = false;
    if (!outcome.ok) this.logger?.error({ err: outcome.error }, 'an execution store batch could not be written');
    // Lines of a failed batch are lost from the database either way: count them as done so the
    // line numbers of later lines stay right.
    for (const [id, count] of lineCounts) {
      const output = this.outputs.get(id);
      if (output === undefined) continue;
      output.flushedLines += count;
      output.pending.splice(0, count);
    }
    for (const entry of entries) {
      if (entry.kind === 'chunk') this.unwrittenChars -= entry.chars;
      else if (entry.kind === 'barrier') entry.resolve();
      else if (entry.kind === 'record') {
        if (outcome.ok) entry.resolve();
        else entry.reject(outcome.error);
      }
    }
    this.scheduleWrite();
  }

  private remember(record: ExecutionRecord): void {
    this.recent.set(record.execution_id, record);
  }

  async get(id: string): Promise<ExecutionRecord | undefined> {
    const cached = this.recent.get(id);
    if (cached !== undefined) return { ...cached };
    const text = await this.db.get(recordKey(id));
    if (text === undefined) return undefined;
    const record = parseRecord(text);
    if (record === null) {
      this.logger?.error({ executionId: id }, 'a stored execution record cannot be read');
      throw new McpV8Error('STORED_DATA_DAMAGED', `The stored record of execution ${id} cannot be read (it is damaged in the execution database): its result and output are lost.`);
    }
    return record;
  }

  /** Newest first: `offset` records that match are skipped, then at most `limit` returned. */
  async list(options: { limit?: number; offset?: number; status?: ExecutionStatus } = {}): Promise<ExecutionRecord[]> {
    const limit = options.limit ?? listLimitDefault;
    let skip = options.offset ?? 0;
    const records: ExecutionRecord[] = [];
    // Without a filter LevelDB stops after the page; with one, the scan is bounded by recordsMax.
    const scanLimit = options.status === undefined ? skip + limit : -1;
    // A wait_ms run's create may wait for its finish, so its record is in memory only; the page is
    // read from LevelDB, so such creates (and what was queued before them) are written first, and
    // so is a batch being written (a run answered a moment ago may have its one batch in flight:
    // with only queued lazy creates flushed, such a run was missing from the page). A finish alone
    // still waits for company: a record whose create is written is found and then read from memory
    // as it is now.
    if (this.queuedLazy > 0 || this.writing) await this.flush();
    for await (const value of this.db.values({ gt: 'r!', lt: 'r~', reverse: true, limit: scanLimit })) {
      const record = parseRecord(value);
      if (record === null) {
        this.logger?.error('a stored execution record cannot be read; list_executions leaves it out');
        continue;
      }
      const current = this.recent.get(record.execution_id) ?? record;
      if (options.status !== undefined && current.status !== options.status) continue;
      if (skip > 0) { skip--; continue; }
      records.push(current);
      if (records.length >= limit) break;
    }
    return records;
  }

  async readOutput(id: string, query: OutputQuery): Promise<OutputPage> {
    const record = await this.get(id);
    if (record === undefined) throw executionNotFound(id);
    // Nothing printed so far, known from memory (every wait_ms reply of a run without console
    // output asks): the page of an empty output, without a line source or the index cache.
    if (this.outputs.get(id)?.bytes === 0) {
      const page = query.mode === 'line' ? await pageByLines(emptyIndex, noLines, query.lineOffset, query.lineLimit, query.bytesMax) : await pageByBytes(emptyIndex, noLines, query.byteOffset, query.byteLimit);
      return { execution_id: id, ...page, status: record.status };
    }
    const source = this.lineSource(id);
    const index = await this.indexes.load(id, source);
    const page = query.mode === 'line'
      ? await pageByLines(index, source, query.lineOffset, query.lineLimit, query.bytesMax)
      : await pageByBytes(index, source, query.byteOffset, query.byteLimit);
    return { execution_id: id, ...page, status: record.status };
  }

  /** Lines appended so far to the output of an execution running here; null when none runs here. */
  liveLineCount(id: string): number | null {
    const output = this.outputs.get(id);
    return output === undefined ? null : output.flushedLines + output.pending.length;
  }

  /** Reads lines [first, last] (1-based), from LevelDB and from the queue of a running execution. */
  private lineSource(id: string): LineSource {
    return {
      liveLineCount: () => this.liveLineCount(id),
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
    const beyond = last >= 10 ** lineKeyDigits;
    // The chunk that holds `first` starts at it or before it: the last chunk key up to it.
    const [holding] = await this.db.keys({ gt: `k!${id}!`, lte: chunkKey(id, first), reverse: true, limit: 1 }).all();
    for await (const [key, value] of this.db.iterator({ gte: holding ?? chunkKey(id, first), lte: beyond ? `k!${id}!~` : chunkKey(id, last) })) {
      const firstLine = Number(key.slice(key.lastIndexOf('!') + 1));
      const chunk = value.split('\n');
      for (let at = Math.max(0, first - firstLine); at < chunk.length && firstLine + at <= last; at++) lines.push(chunk[at]!);
    }
    if (lines.length > 0) return lines;
    // Output written one line per key, before chunks.
    for await (const value of this.db.values({ gte: lineKey(id, first), lte: beyond ? `o!${id}!~` : lineKey(id, last) })) lines.push(value);
    return lines;
  }

  /**
   * Deletes the oldest finished records and their output, in batches, until `target` is freed or
   * none is left (ids are time-ordered, so key order is age). A running record is skipped and
   * stays, and so the next eviction starts reading at it. Returns how many records it evicted.
   */
  private async evictOldest(target: EvictionTarget): Promise<number> {
    const evicted = new Set<string>();
    let evictedBytes = 0;
    let passedRunning = false;
    let lastKey: string | null = null;
    let page: string[] = [];
    const enough = () => evicted.size >= target.records && evictedBytes >= target.bytes;
    // A page of candidates at a time, so that their byte counts are read in one call.
    const takePage = async () => {
      const counts = await this.db.getMany(page.map(bytesKey));
      for (let index = 0; index < page.length && !enough(); index++) {
        evicted.add(page[index]!);
        evictedBytes += Number(counts[index] ?? 0);
        if (!passedRunning) lastKey = recordKey(page[index]!);
      }
      page = [];
    };
    for await (const [key, value] of this.db.iterator({ gt: this.evictedThrough, lt: 'r~' })) {
      if (enough()) break;
      // An unreadable record is evicted like a finished one: it must not hold the store past its bounds.
      if (parseRecord(value)?.status === 'running') {
        if (page.length > 0) await takePage();
        passedRunning = true;
      } else {
        page.push(key.slice(2));
        if (page.length >= evictionPageRecords) await takePage();
      }
    }
    if (page.length > 0 && !enough()) await takePage();
    if (evicted.size === 0) return 0;
    const ids = [...evicted];
    const operations: BatchOperation[] = ids.flatMap((id) => [{ type: 'del', key: recordKey(id) }, { type: 'del', key: bytesKey(id) }]);
    // Output of every evicted id lies between the first's and the last's keys (chunks, and lines
    // of servers before chunks); output of a running record in between is kept.
    for (const prefix of ['k!', 'o!']) {
      for await (const key of this.db.keys({ gt: `${prefix}${ids[0]}!`, lt: `${prefix}${ids[ids.length - 1]}!~` })) {
        if (evicted.has(key.slice(2, key.indexOf('!', 2)))) operations.push({ type: 'del', key });
      }
    }
    for (let from = 0; from < operations.length; from += batchOperationsMax) {
      await this.db.batch(operations.slice(from, from + batchOperationsMax));
    }
    for (const id of ids) {
      this.indexes.forget(id);
      this.recent.delete(id);
    }
    this.recordCount -= ids.length;
    this.outputBytes -= evictedBytes;
    if (lastKey !== null) this.evictedThrough = lastKey;
    return ids.length;
  }

  /** Records kept (metrics). */
  get storedRecords(): number {
    return this.recordCount;
  }

  /** Output bytes of every record kept (tests, metrics). */
  get storedOutputBytes(): number {
    return this.outputBytes;
  }

  /** Resolves when no eviction is under way, including those an eviction started after it (tests). */
  async whenEvicted(): Promise<void> {
    while (this.evicting !== null) await this.evicting;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.whenEvicted();
    await this.flush();
    await this.db.close();
  }
}
