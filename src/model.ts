// Shared record and status types: what the service layer, the engine and the stores all speak
// of. It imports nothing of theirs, so `storage` and `exec` both depend on it and not on each
// other (docs/architecture.md).

export type ExecutionStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out';
export type FinalStatus = Exclude<ExecutionStatus, 'running'>;

export const executionStatuses: readonly ExecutionStatus[] = ['running', 'completed', 'failed', 'cancelled', 'timed_out'];
export const finalStatuses: readonly FinalStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];

/** One execution as the tools answer it and the execution store keeps it. */
export interface ExecutionRecord {
  execution_id: string;
  status: ExecutionStatus;
  result: string | null;
  /** typeof of the completion value ('null' for null) when completed, so "1" and 1 differ. */
  result_type?: string;
  heap: string | null;
  error: string | null;
  /** When the run left the queue and began; null while it waits (or when it never started). */
  started_at: string | null;
  completed_at: string | null;
  /** The principal that ran it, when access control is on (src/auth/tenants.ts); never shown to clients. */
  owner?: string;
  /** The start of the code, on one line, so that a list of runs tells them apart. */
  code_snippet?: string;
}

/** A heap id: the SHA-256 of the heap record's bytes, 64 lowercase hex digits. The one pattern. */
/**
 * The format of result and error texts this build writes (the sandbox's textFormatCurrent in
 * prelude/control.js; docs/stateful.md, "Text format"). A heap record made before formats existed has format 1.
 */
export const textFormatCurrent = 2;

/**
 * The V8 heap limit of a run that names none (`--heap-memory-max`), in MiB: enough for an array
 * of 1,000,000 numbers (`Array.from({length: 1e6}, (_, i) => i)` needs 16) with room to work on it.
 * A higher limit costs nothing until used: a warm isolate holds ≈ 2 MiB of RSS at 8 or 32.
 */
export const heapMemoryMbDefault = 32;

export const heapIdPattern = /^[0-9a-f]{64}$/;

/**
 * What a run observed that its code does not determine (docs/exec.md, "Determinism hooks"):
 * enough for a replayer to deliver the same values and the same macrotask order again.
 */
export interface DeterminismRecord {
  /** Seed of Math.random, crypto.getRandomValues and crypto.randomUUID (32-bit unsigned). */
  seed: number;
  /** Every clock reading user code made (Date.now, new Date(), Date(), performance.now), in order. */
  clockReadingsMs: number[];
  /**
   * Every macrotask delivered into the isolate, in delivery order: a timer (with the clock when it
   * fired), or work V8 finished outside the event loop (an async WebAssembly compile) reaching
   * user code.
   */
  events: DeterminismEvent[];
  /** False when a bound cut the log short: such a run cannot be replayed exactly. */
  complete: boolean;
  /**
   * What the run brought in from outside (fetch responses, fs results), in call order, answered
   * from here on replay (src/exec/effects.ts). Absent when the run made no such call.
   */
  effects?: EffectEntry[];
  /** The pre-loaded WebAssembly modules the run used (name → sha256 of the file); absent when none. */
  wasmModules?: Record<string, string>;
}

/**
 * One call of a run to the world outside: its kind ('fetch', 'fs'; 'module' later), the SHA-256
 * of its request, and its answer as JSON (bytes as {"$bytes": base64}); null: never answered
 * while the run lasted (the sandbox never saw an answer, so a replay gives none either).
 */
export interface EffectEntry {
  kind: string;
  digest: string;
  response: { ok: true; value: unknown } | { ok: false; error: string; code?: string } | null;
}

export type DeterminismEvent = { kind: 'timer'; timerId: number; atMs: number } | { kind: 'work'; workId: number };


/** list_executions: runs per page when the caller names no limit (src/tools, src/auth/tenants.ts). */
export const listLimitDefault = 20;

/** Characters of a heap's checkpoint at most (docs/stateful.md, "Checkpoints"; sandbox/prelude/checkpoint.js has the same bound). */
export const checkpointCharsMax = 1024 * 1024;
