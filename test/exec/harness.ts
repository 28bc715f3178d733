// One engine per test file and the small helpers every exec test uses.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import type { Engine, ExecutionEnvironment, RunOutcome } from '../../src/exec/types.ts';

export interface Ran extends RunOutcome { lines: string[] }

export interface RunOptions {
  timeoutMs?: number;
  memoryMb?: number;
  signal?: AbortSignal;
  environment?: ExecutionEnvironment;
  onLine?: (line: string) => void;
}

export async function engineForFile(maxConcurrentExecutions = 2): Promise<{ engine: Engine; run: (code: string, options?: RunOptions) => Promise<Ran>; result: (code: string) => Promise<string | null> }> {
  const engine = await createEngine({ maxConcurrentExecutions });
  after(() => engine.close());
  async function run(code: string, options: RunOptions = {}): Promise<Ran> {
    const lines: string[] = [];
    const outcome = await engine.run({
      code,
      limits: { heapMemoryMaxMb: options.memoryMb ?? 8, executionTimeoutMs: options.timeoutMs ?? 5_000 },
      signal: options.signal ?? new AbortController().signal,
      ...(options.environment === undefined ? {} : { environment: options.environment }),
      onConsoleLine: (line) => { lines.push(line); options.onLine?.(line); },
    });
    return { ...outcome, lines };
  }
  async function result(code: string): Promise<string | null> {
    const ran = await run(code);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    return ran.result;
  }
  return { engine, run, result };
}
