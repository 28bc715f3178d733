// Faults of the host, not of the code: storage failing while a heap is saved or while the final
// record is written, and a failed assertion (a bug of ours). Each is logged with its cause, no
// record is left "running", and after a failed assertion the service takes no new work.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { createEngine } from '../../src/exec/engine.ts';
import type { Engine, RunOutcome, RunRequest } from '../../src/exec/types.ts';
import { AssertionFailed, McpV8Error } from '../../src/errors.ts';
import { Metrics } from '../../src/metrics.ts';
import { ExecutionService } from '../../src/service/executions.ts';
import { HeapService } from '../../src/service/heaps.ts';
import { DirectoryHeapStore } from '../../src/storage/directory-heap-store.ts';
import { ExecutionStore, type ExecutionRecord } from '../../src/storage/execution-store.ts';
import { SessionDb } from '../../src/storage/session-db.ts';
import { errorAnswer } from '../../src/transport/api-fast-path.ts';
import { collectBeforeExit } from '../exec/harness.ts';
import { tempDir } from '../support/server-process.ts';

/** A pino logger whose lines a test can read. */
function capturedLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
  return { logger, lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const engine = await createEngine({ maxConcurrentExecutions: 2 });
after(async () => {
  await engine.close();
  collectBeforeExit();
});

const request = (code: string) => ({ code, heapMemoryMaxMb: 8, executionTimeoutSecs: 60 });

describe('host faults', () => {
  test('a heap store that fails while the heap is saved: the run fails, the log has the cause', async () => {
    const root = tempDir('host-fault-heap');
    const store = await ExecutionStore.open({ path: join(root, 'executions') });
    const heapStore = await DirectoryHeapStore.open(join(root, 'heaps'));
    const sessions = await SessionDb.open(join(root, 'sessions'));
    const heaps = new HeapService({ store: heapStore, sessions });
    const { logger, lines } = capturedLogger();
    const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'test', heaps, logger });
    try {
      // The heap directory becomes a file: every write below it fails (ENOTDIR), as a full or
      // vanished volume would.
      rmSync(join(root, 'heaps'), { recursive: true });
      writeFileSync(join(root, 'heaps'), 'not a directory');
      const id = await service.submit({ ...request('var kept = 1; kept'), stateful: {} });
      const record = await service.wait(id, 60_000);
      assert.equal(record.status, 'failed');
      assert.match(record.error ?? '', /^Internal error: .*ENOTDIR/);
      assert.equal(record.heap, null);
      assert.equal((await store.get(id))?.status, 'failed', 'the stored record is final too');
      const logged = lines().find((line) => line.msg === 'a host fault failed this execution');
      assert.ok(logged !== undefined, JSON.stringify(lines()));
      assert.equal(logged.executionId, id);
      assert.match(JSON.stringify(logged.err), /ENOTDIR/);
    } finally {
      await service.close();
      await store.close();
      await sessions.close();
    }
  });

  test('a final write that fails: the record is finished in memory and the failure logged; the next start marks it interrupted', async () => {
    const path = join(tempDir('host-fault-final'), 'executions');
    const store = await ExecutionStore.open({ path });
    const { logger, lines } = capturedLogger();
    const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'test', logger });
    const id = await service.submit(request('await new Promise((resolve) => setTimeout(resolve, 60_000))'));
    await store.close();
    assert.deepEqual(await service.cancel(id), { ok: true });
    const record = await service.get(id);
    assert.equal(record.status, 'cancelled', 'not left running');
    assert.ok(lines().some((line) => line.msg === 'the final record of an execution could not be written' && line.executionId === id), JSON.stringify(lines()));
    await service.close();
    const reopened = await ExecutionStore.open({ path });
    try {
      const stored = await reopened.get(id);
      assert.equal(stored?.status, 'failed');
      assert.match(stored?.error ?? '', /^Interrupted/);
    } finally {
      await reopened.close();
    }
  });

  test('a record whose create cannot be written: the submission fails with the cause (awaited: the run fails with it), and the run, started beside the write, is stopped', async () => {
    const path = join(tempDir('host-fault-create'), 'executions');
    const store = await ExecutionStore.open({ path });
    const { logger } = capturedLogger();
    const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'test', logger });
    const finished: ExecutionRecord[] = [];
    service.on('finished', (record) => finished.push(record));
    await store.close();
    const slow = request('await new Promise((resolve) => setTimeout(resolve, 60_000))');
    await assert.rejects(service.submit(slow), /closed|not open/i);
    // A run somebody waits for (wait_ms) has its id before the write: its record says why it stopped.
    const awaited = await service.submit({ ...slow, awaited: true });
    const record = await service.wait(awaited, 60_000);
    assert.equal(record.status, 'failed');
    assert.match(record.error ?? '', /^Internal error: the execution's record could not be written \(.*(closed|not open).*\); the run was stopped$/i);
    await service.close();
    assert.equal(finished.length, 2);
    assert.equal(finished[0]!.status, 'failed', 'the run did not go on for a submission that failed');
    assert.match(finished[0]!.error ?? '', /the run was stopped$/);
    assert.equal(service.liveExecutions, 0);
  });

  test('a failed assertion: logged as fatal, and the service takes no new executions (fault injected: no real path fails one on purpose)', async () => {
    /** The real engine, except that its run throws a failed assertion, as a bug in it would. */
    class AssertingEngine implements Engine {
      run(_request: RunRequest): Promise<RunOutcome> { return Promise.reject(new AssertionFailed('injected by the test')); }
      get queuedCount() { return engine.queuedCount; }
      get runningCount() { return engine.runningCount; }
      get retiring() { return engine.retiring; }
      get stuckIsolates() { return engine.stuckIsolates; }
      get live() { return engine.live; }
      get contextsInUse() { return engine.contextsInUse; }
      get isolatesRetired() { return engine.isolatesRetired; }
      close() { return Promise.resolve(); }
    }
    const store = await ExecutionStore.open({ path: join(tempDir('host-fault-assert'), 'executions') });
    const { logger, lines } = capturedLogger();
    const service = new ExecutionService({ engine: new AssertingEngine(), store, metrics: new Metrics(), nodeId: 'test', logger });
    try {
      const id = await service.submit(request('1'));
      const record = await service.wait(id, 60_000);
      assert.equal(record.status, 'failed');
      assert.match(record.error ?? '', /assertion failed: injected by the test/);
      const fatal = lines().find((line) => line.level === 60);
      assert.match(String(fatal?.msg), /takes no new executions/);
      await assert.rejects(service.submit(request('1')), (error: unknown) => error instanceof McpV8Error && error.code === 'SERVER_FAULT' && error.httpStatus === 503);
      assert.match(service.load().fault ?? '', /injected by the test/);
      assert.match(service.metricsText(), /^mcp_v8_faulted 1$/m);
    } finally {
      await service.close();
      await store.close();
    }
  });

  test('a full queue is 503 BUSY with Retry-After, not a bad argument', () => {
    const busy = new McpV8Error('BUSY', 'too many executions in flight', { retryAfterSecs: 1 });
    const answer = errorAnswer(busy, pino({ level: 'silent' }), '/api/exec');
    assert.equal(answer.status, 503);
    assert.deepEqual(answer.headers, { 'retry-after': '1' });
    assert.equal(answer.body.code, 'MCPV8_ERR_BUSY');
  });
});
