// One engine per test file and the small helpers every exec test uses.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createEngine, type EngineOptions } from '../../src/exec/engine.ts';
import type { Engine, ExecutionEnvironment, RunOutcome } from '../../src/exec/types.ts';

export interface Ran extends RunOutcome { lines: string[] }

export interface RunOptions {
  timeoutMs?: number;
  memoryMb?: number;
  signal?: AbortSignal;
  environment?: ExecutionEnvironment;
  onLine?: (line: string) => void;
}

/**
 * A test file ends when its event loop drains, and Node then tears its isolate down; isolated-vm
 * aborts the process (an assertion in its handles' weak callbacks) if that teardown collects its
 * objects: handles of disposed isolates still waiting for a collection. A full collection while
 * isolated-vm is still set up frees them first. (The server ends with process.exit, which does not
 * tear the isolate down; seen as a SIGABRT of a test file after all its tests passed.)
 */
export function collectBeforeExit(): void {
  v8.setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export async function engineForFile(maxConcurrentExecutions = 2, engineOptions: Partial<EngineOptions> = {}): Promise<{ engine: Engine; run: (code: string, options?: RunOptions) => Promise<Ran>; result: (code: string) => Promise<string | null> }> {
  const engine = await createEngine({ maxConcurrentExecutions, ...engineOptions });
  after(async () => {
    await engine.close();
    collectBeforeExit();
  });
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
