// A stateful node in-process, on real storage (a heap directory, LevelDB for sessions and
// execution records), that a test can "restart": close everything and open the same paths again,
// so that every heap must be rebuilt from storage.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createEngine } from '../../src/exec/engine.ts';
import { HeapService, type HeapLogger } from '../../src/service/heaps.ts';
import { ExecutionService, type SubmitRequest } from '../../src/service/executions.ts';
import type { Engine, LiveHeaps } from '../../src/exec/types.ts';
import { Metrics } from '../../src/metrics.ts';
import { DirectoryHeapStore } from '../../src/storage/directory-heap-store.ts';
import type { ExecutionRecord } from '../../src/storage/execution-store.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { SessionDb } from '../../src/storage/session-db.ts';
import { tempDir } from '../support/server-process.ts';

export interface Stack {
  service: ExecutionService;
  heaps: HeapService;
  /** The engine's live contexts of stateful runs, by heap id. */
  live: LiveHeaps;
  /** Submits and waits; the finished record and its console lines. */
  run(code: string, options?: Omit<Partial<SubmitRequest>, 'code'> & { heap?: string; session?: string; tags?: Record<string, string> }): Promise<ExecutionRecord & { lines: string[] }>;
  close(): Promise<void>;
}

export async function openStack(root = tempDir('stateful'), options: { liveHeapsMax?: number; logger?: HeapLogger } = {}): Promise<Stack & { root: string }> {
  const engine: Engine = await createEngine({ maxConcurrentExecutions: 2, ...(options.liveHeapsMax === undefined ? {} : { liveHeapsMax: options.liveHeapsMax }) });
  const store = await ExecutionStore.open({ path: join(root, 'executions') });
  const heapStore = await DirectoryHeapStore.open(join(root, 'heaps'));
  const sessions = await SessionDb.open(join(root, 'sessions'));
  const heaps = new HeapService({ store: heapStore, sessions, ...(options.logger === undefined ? {} : { logger: options.logger }) });
  const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'test', heaps });
  return {
    root, service, heaps, live: engine.live,
    async run(code, runOptions = {}) {
      const id = await service.submit({
        code, heapMemoryMaxMb: runOptions.heapMemoryMaxMb ?? 8, executionTimeoutSecs: runOptions.executionTimeoutSecs ?? 10,
        stateful: { heap: runOptions.heap ?? null, session: runOptions.session ?? null, tags: runOptions.tags ?? null },
      });
      const record = await service.wait(id, 60_000);
      assert.notEqual(record.status, 'running');
      const page = await service.output(id, { mode: 'line', lineOffset: 1, lineLimit: 10_000 });
      return { ...record, lines: page.data === '' ? [] : page.data.slice(0, -1).split('\n') };
    },
    async close() {
      await service.close();
      await engine.close();
      await store.close();
      await sessions.close();
      await heapStore.close();
    },
  };
}

/** Runs, expects completion and a heap; answers the heap. */
export async function heapOf(stack: Stack, code: string, options: Parameters<Stack['run']>[1] = {}): Promise<{ heap: string; result: string | null }> {
  const record = await stack.run(code, options);
  assert.equal(record.status, 'completed', record.error ?? '');
  assert.match(record.heap ?? '', /^[0-9a-f]{64}$/);
  return { heap: record.heap!, result: record.result };
}
