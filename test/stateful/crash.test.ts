// Durability of stateful runs under kill -9 (issue 3): a real server is killed at arbitrary
// moments while runs of one session, with tags, are being applied; after each restart, every
// acknowledged heap is there with its session entry and its tags, every session entry points to
// a heap that resumes with exactly the state of its place in the session, and nothing is half
// written (an entry without its tags, or a reference to a missing heap).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

async function post(baseUrl: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}
async function tool(baseUrl: string, name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  return post(baseUrl, `/api/tools/${name}`, args);
}

describe('stateful durability under kill -9', () => {
  test('acknowledged heaps, their session entries and tags survive; nothing is half written', async () => {
    const root = tempDir('stateful-crash');
    const args = ['--http-port', '0', '--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')];
    const acknowledged: Array<{ heap: string; run: number; count: string }> = [];
    let run = 0;
    for (let round = 0; round < 3; round++) {
      const server: ServerProcess = await startServerProcess(args);
      let killed = false;
      try {
        const ids: Array<{ id: string; run: number }> = [];
        for (let index = 0; index < 25; index++, run++) {
          const code = `/* run ${run} */ var c = (typeof c === 'undefined' ? 0 : c) + 1; for (let i = 0; i < 200000; i++); c`;
          const created = await post(server.baseUrl, '/api/exec', { code, session: 'crash', tags: { run: String(run) } });
          ids.push({ id: created.execution_id as string, run });
        }
        // Kill once a few runs of this round are acknowledged (their heap is in get_execution),
        // while the rest are queued or running.
        const needed = 3 + round * 2;
        let acked = 0;
        for (const { id, run: runNumber } of ids) {
          if (acked >= needed) break;
          // Waited for as long as it runs: a busy machine may need more than one wait.
          let record = await tool(server.baseUrl, 'get_execution', { execution_id: id, wait_ms: 20_000 });
          while (record.status === 'running') record = await tool(server.baseUrl, 'get_execution', { execution_id: id, wait_ms: 20_000 });
          assert.equal(record.status, 'completed', String(record.error));
          acknowledged.push({ heap: record.heap as string, run: runNumber, count: record.result as string });
          acked++;
        }
        assert.equal(await server.stop('SIGKILL'), 'SIGKILL');
        killed = true;
      } finally {
        // A failed assertion above must not leave this round's server running (the test
        // process would wait on it for ever).
        if (!killed) await server.stop('SIGKILL');
      }
    }

    const server = await startServerProcess(args);
    try {
      const entries = (await tool(server.baseUrl, 'list_session_snapshots', { session: 'crash' })).entries as Array<{ index: number; input_heap: string | null; output_heap: string; code: string }>;
      assert.ok(entries.length >= acknowledged.length);
      const byHeap = new Map(entries.map((entry) => [entry.output_heap, entry]));
      for (const ack of acknowledged) {
        const entry = byHeap.get(ack.heap);
        assert.ok(entry, `acknowledged heap of run ${ack.run} has its session entry`);
        assert.equal(Number(ack.count), entry.index + 1, 'its place in the session');
      }
      for (const [index, entry] of entries.entries()) {
        assert.equal(entry.index, index);
        assert.equal(entry.input_heap, index === 0 ? null : entries[index - 1]!.output_heap, 'each entry continues the one before');
        const runNumber = /\/\* run (\d+) \*\//.exec(entry.code)![1];
        assert.deepEqual((await tool(server.baseUrl, 'get_heap_tags', { heap: entry.output_heap })).tags, { run: runNumber }, 'entry and tags written together');
      }
      // The session's latest heap is rebuilt from storage with the count of its place.
      const resumed = await post(server.baseUrl, '/api/exec', { code: 'c', session: 'crash', wait_ms: 30_000 });
      assert.equal(resumed.status, 'completed', String(resumed.error));
      assert.equal(resumed.result, String(entries.length));
      const interrupted = (await tool(server.baseUrl, 'list_executions', {})).executions as Array<{ status: string }>;
      assert.ok(interrupted.every((execution) => execution.status !== 'running'), 'no execution is left running after the restart');
    } finally {
      await server.stop();
    }
  });
});
