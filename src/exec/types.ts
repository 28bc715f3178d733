// The contract between the execution service (ids, records, output, queueing policy) and the
// engine (isolates, limits, the sandbox's event loop). Transports never see the engine.

export type ExecutionStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out';
export type FinalStatus = Exclude<ExecutionStatus, 'running'>;

export interface RunLimits {
  /** V8 heap limit of the isolate the run uses, in MiB (4–64 per tool call, 1–64 per flag). */
  heapMemoryMaxMb: number;
  /** Wall-clock limit, including time spent awaiting promises and timers. */
  executionTimeoutMs: number;
}

/** Receives one console line at a time (no trailing newline), while the code runs. */
export type ConsoleLineSink = (line: string) => void;

/**
 * What a run observed that its code does not determine (docs/exec.md, "Determinism hooks"):
 * enough for a replayer to deliver the same values and the same macrotask order again.
 */
export interface DeterminismRecord {
  /** Seed of Math.random, crypto.getRandomValues and crypto.randomUUID (32-bit unsigned). */
  seed: number;
  /** Every clock reading user code made (Date.now, new Date(), Date(), performance.now), in order. */
  clockReadingsMs: number[];
  /** Every macrotask delivered into the isolate, in delivery order, with the clock at delivery. */
  events: Array<{ kind: 'timer'; timerId: number; atMs: number }>;
  /** False when a bound cut the log short: such a run cannot be replayed exactly. */
  complete: boolean;
}

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
}

export interface RunOutcome {
  status: FinalStatus;
  /** Completion value of the code as a string (`"var x = 1; x;"` → `"1"`), null unless completed. */
  result: string | null;
  /** Error text for failed, cancelled, timed_out (texts of api.md), else null. */
  error: string | null;
  /**
   * What the run observed, for a recorder; present for completed and failed runs (which replay can
   * reproduce), null for cancelled, timed out and out-of-memory runs (which it cannot).
   */
  record?: DeterminismRecord | null;
}

export interface Engine {
  run(request: RunRequest): Promise<RunOutcome>;
  /** Executions waiting for a free slot (queue depth, for /metrics). */
  readonly queuedCount: number;
  readonly runningCount: number;
  close(): Promise<void>;
}

/** Error texts fixed by api.md. */
export const ErrorTexts = {
  timeout: 'Execution timed out',
  cancelled: 'Cancelled by user',
  outOfMemory: 'Out of memory: V8 heap limit exceeded. Try increasing heap_memory_max_mb.',
} as const;
