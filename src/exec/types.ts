// The contract between the execution service (ids, records, output, queueing policy) and the
// engine (isolates, limits, the sandbox's event loop). Transports never see the engine.

export type { ExecutionStatus, FinalStatus } from '../model.ts';
import type { DeterminismRecord, FinalStatus } from '../model.ts';
import type { ImportRequest } from './module-rewrite.ts';
import type { ModuleJournal } from './modules.ts';

/** What a run imported (its code's import requests) and how each import was answered (docs/modules.md). */
export interface RunModules {
  imports: ImportRequest[];
  journal: ModuleJournal;
}
export type { DeterminismEvent, DeterminismRecord, EffectEntry } from '../model.ts';

export interface RunLimits {
  /** V8 heap limit of the isolate the run uses, in MiB (4–64 per tool call, 1–64 per flag). */
  heapMemoryMaxMb: number;
  /** Wall-clock limit, including time spent awaiting promises and timers. */
  executionTimeoutMs: number;
}

/** Receives one console line at a time (no trailing newline), while the code runs. */
export type ConsoleLineSink = (line: string) => void;

/** Per-run inputs of the determinism hooks; everything omitted is chosen fresh. */
export interface ExecutionEnvironment {
  seed?: number;
}

export interface RunRequest {
  code: string;
  /** Optional: the seed to use (a replay, a reproducible test); by default a fresh random one. */
  environment?: ExecutionEnvironment;
  limits: RunLimits;
  /** Aborting cancels the run: it ends with status `cancelled`, error `Cancelled by user`. */
  signal: AbortSignal;
  onConsoleLine: ConsoleLineSink;
  /**
   * Who asked (a principal), for the fair share between clients (scheduler.ts); every run
   * without one is one client.
   */
  client?: string;
  /** Called once when the run leaves the queue and takes its slot (never for a run cancelled before). */
  onStarted?: () => void;
  /** Stateful mode: where the run starts; absent for a stateless run (a fresh, throwaway context). */
  stateful?: StatefulStart;
}

/**
 * One earlier run to replay: its code, limits and what it observed, and the outcome it had (a
 * replay that ends otherwise has diverged). `heap` names it in errors.
 */
export interface ReplayStep {
  heap: string;
  code: string;
  limits: RunLimits;
  observed: DeterminismRecord;
  outcome: { status: 'completed' | 'failed'; result: string | null; error: string | null };
  /** The format its result and error texts were written in (outcome.ts textFormatCurrent; 1 before formats existed). */
  textFormat: number;
  /** The modules the run imported, answered from its record (the sources from the heap store). */
  modules?: RunModules;
}

/**
 * The live contexts of stateful runs, held by the engine (src/exec/live-heaps.ts) and named by
 * heap id: whoever runs stateful code names contexts, never holds one.
 */
export interface LiveHeaps {
  readonly size: number;
  /** Resident bytes the live contexts' isolates held when they were kept (the memory bound counts these). */
  readonly heapBytes: number;
  /** The bound on `heapBytes` (--live-heaps-memory-mb). */
  readonly bytesMax: number;
  /** Contexts released to stay within the bounds, since start. */
  readonly evictions: number;
  /** Contexts runs left that no commit has named or released yet. */
  readonly unnamed: number;
  /** Whether `heap` is live here; with `heapMemoryMaxMb`, for a run of that limit (a resume can take it). */
  has(heap: string, heapMemoryMaxMb?: number): boolean;
  /** Names the context a run left (its outcome's `kept`) after the heap it made: it joins the cache. */
  keep(kept: number, heap: string): void;
  /** Frees the context a run left (its outcome's `kept`): no heap is made of it. */
  release(kept: number): void;
  /** Frees the live context of `heap`, if any. */
  drop(heap: string): void;
  clear(): void;
}

/**
 * Where a stateful run starts: the live context of a heap (`resume`, taken from the engine's live
 * heaps when the run is submitted; gone by then, the engine replays `history()` instead, and a
 * history that cannot be read fails the run; `history` may answer a checkpoint and the runs after
 * it), or a fresh context on which the steps, oldest first, are replayed before the code runs
 * (none: a fresh start), after `checkpoint` is restored if there is one.
 */
export type StatefulStart = { resume: string; history: () => Promise<ReplayStep[] | ReplayStart> } | ReplayStart;

/** A fresh context's start: a checkpoint to restore, if any, then the steps to replay. */
export interface ReplayStart { replay: ReplayStep[]; checkpoint?: CheckpointStart }

/**
 * A checkpoint to restore before `replay` (then only the runs after it): the state the history
 * left after run `heap` (docs/stateful.md, "Checkpoints"). One that the sandbox refuses (corrupt,
 * foreign) is reported with `fallback`, which answers the whole history to replay instead.
 */
export interface CheckpointStart {
  heap: string;
  state: string;
  fallback(reason: string): Promise<ReplayStep[]>;
}

export interface RunOutcome {
  status: FinalStatus;
  /** Completion value of the code as a string (`"var x = 1; x;"` → `"1"`), null unless completed. */
  result: string | null;
  /** typeof of the completion value ('null' for null), when completed: tells "1" from 1. */
  resultType?: string;
  /** Error text for failed, cancelled, timed_out (texts of api.md), else null. */
  error: string | null;
  /**
   * What the run observed, for a recorder; present for completed and failed runs (which replay can
   * reproduce), null for cancelled, timed out and out-of-memory runs (which it cannot).
   */
  record?: DeterminismRecord | null;
  /**
   * Stateful runs that ended cleanly: the number of the context, alive, that the engine holds
   * until the caller names it after a heap (`LiveHeaps.keep`) or releases it: one of the two, once.
   * With `record` null (a source error: no code ran) it still holds the state the run started from.
   */
  kept?: number | null;
  /** Stateful runs that ended cleanly: the CPU its isolate used for the run, in ms (about what a replay of it costs). */
  cpuMs?: number;
  /** Stateful runs: the source that ran (types stripped, rewritten), what a replay runs again. */
  source?: string | null;
  /** Stateful runs: what the run imported, and the sources, which its heap keeps. */
  modules?: RunModules | null;
  /** Stateful runs that completed: the checkpoint of the state they left (taken every `checkpointRunsEvery` runs of a context), if its globals are plain data. */
  checkpoint?: string | null;
  /** Set (by the engine, for itself) when the runs after a restored checkpoint diverged: why. */
  checkpointDiverged?: string;
  /** Stateful runs: unref'd timers still pending at the end, which a heap does not carry over. */
  timersLeft?: number;
  /** Stateful runs: async work (a WebAssembly compile) still pending at the end, which never completes. */
  pendingWorkLeft?: number;
}

export interface Engine {
  run(request: RunRequest): Promise<RunOutcome>;
  /** The live contexts of stateful runs, by heap id. */
  readonly live: LiveHeaps;
  /** Contexts runs hold now (each with its isolate): none once every run has ended (tests). */
  readonly contextsInUse: number;
  /** Warm isolates disposed after clean runs, by why (src/exec/isolate-pool.ts, `release`; /metrics). */
  readonly isolatesRetired: Readonly<Record<'heap' | 'contexts' | 'unanswered', number>>;
  /** Executions waiting to start: for their code to be made ready, or for a free slot (queue depth, for /metrics). */
  readonly queuedCount: number;
  readonly runningCount: number;
  /** Isolates whose thread is lost: stopped runs' isolates that have not answered (busy), or that V8 ran out of memory in (parked) (/metrics, /healthz). */
  readonly stuckIsolates: number;
  /**
   * Why the node takes no more runs, or null: its stuck isolates passed their bound (engine.ts,
   * `stuckIsolatesMax`, `stuckRssBytesMax`); it exits for its supervisor to replace it.
   */
  readonly retiring: string | null;
  close(): Promise<void>;
}

/** The largest heap limit a run may ask for (`heap_memory_max_mb`, `--heap-memory-max`), in MiB. */
export const heapMemoryMbMax = 64;

/** The limit a text names: a limit at its maximum is not worth raising. */
const raise = (name: string, value: number, max: number, unit: string): string =>
  value < max ? `raise ${name} (at most ${max})` : `${name} is already at its maximum (${max} ${unit})`;

/** Error texts fixed by api.md: each names the limit that ended the run, and its value. */
export const ErrorTexts = {
  /** `timerKeptAlive`: the code had settled, but a pending ref'd timer (setInterval) kept the run going. */
  timeout: (timeoutSecs: number, timerKeptAlive = false): string =>
    `Execution timed out: it ran past execution_timeout_secs (${timeoutSecs} s)` +
    (timerKeptAlive
      ? '. The code itself had finished, but its timers kept the run going (a setInterval never cleared, a pending setTimeout, or a timer callback that did not end), so its result was lost: clear them (clearInterval, clearTimeout) before the end.'
      : '.'),
  cancelled: 'Cancelled by user',
  outOfMemory: (memoryMb: number): string =>
    `Out of memory: V8 heap limit exceeded (heap_memory_max_mb: ${memoryMb} MiB)` +
    (memoryMb < heapMemoryMbMax
      ? `. Try increasing heap_memory_max_mb (at most ${heapMemoryMbMax}), or use less memory.`
      : `, which is its maximum: use less memory (typed arrays instead of arrays of objects, process data in parts).`),
  /** Appended to V8's "RangeError: Array buffer allocation failed". */
  arrayBufferTooLarge: (memoryMb: number): string =>
    ` (an ArrayBuffer or typed array larger than the run's memory allows: heap_memory_max_mb is ${memoryMb} MiB; ${raise('heap_memory_max_mb', memoryMb, heapMemoryMbMax, 'MiB')})`,
  /** A replay that rebuilds a heap ran out of memory: the heap needs a larger limit to resume. */
  replayOutOfMemory: (heap: string, run: number, runs: number, memoryMb: number): string =>
    `Could not resume heap ${heap}: replaying its history (run ${run} of ${runs}) ran out of memory: V8 heap limit exceeded (heap_memory_max_mb: ${memoryMb} MiB). ` +
    (memoryMb < heapMemoryMbMax
      ? `Resume it with a larger heap_memory_max_mb (at most ${heapMemoryMbMax}).`
      : `heap_memory_max_mb is already at its maximum (${heapMemoryMbMax} MiB): this heap cannot be rebuilt here; start again from an earlier heap.`),
  /** A replay ran past its budget: the sum of its runs' execution_timeout_secs, at most replayTimeoutMsMax. */
  replayTimeout: (heap: string, runs: number, budgetSecs: number, budgetSecsMax: number): string =>
    `Could not resume heap ${heap}: replaying its history (${runs} run${runs === 1 ? '' : 's'}) ran past its time limit of ${budgetSecs} s ` +
    `(the sum of the execution_timeout_secs its runs were made with, at most ${budgetSecsMax} s). A busy server replays slower: try again, ` +
    'or resume from an earlier heap; a heap still held live resumes without a replay.',
  retiring: 'This node takes no more executions: isolate threads V8 cannot stop passed their bound, and it restarts. Submit the code again (to another node, or to this one once it is back).',
} as const;
