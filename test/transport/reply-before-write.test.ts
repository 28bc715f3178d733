// The time to result of `POST /api/exec` with wait_ms holds no storage wait (issue 23): the reply
// is made from the finished record in memory, while LevelDB still has every write of the run
// queued and the store's group-commit timers are frozen; the record reaches the disk afterwards.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Level } from 'level';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../src/config.ts';
import { startServer } from '../../src/server.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { tempDir } from '../support/server-process.ts';

/** How long a reply may take before the test says it waits for storage (a hang bound, not a speed target; AbortSignal.timeout is not frozen). */
const replyWaitMsMax = 30_000;

/** One request over node:http (no client library timers: this file freezes setTimeout). */
function call(port: number, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    // A reply that waits for the held writes never comes: fail with that, not at the test's timeout.
    const signal = AbortSignal.timeout(replyWaitMsMax);
    signal.addEventListener('abort', () => reject(new Error(`no reply to ${method} ${path} within ${replyWaitMsMax} ms while LevelDB's writes were held: the reply waits for storage`)));
    const outgoing = request({ host: '127.0.0.1', port, method, path, signal, headers: payload === undefined ? {} : { 'content-type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

type Batch = (this: Level<string, string>, ...args: unknown[]) => Promise<void>;

describe('a wait_ms reply does not wait for storage', () => {
  test('with every LevelDB batch held and setTimeout frozen, POST /api/exec answers the result; GET agrees; the record is on disk once the batch is let go', { timeout: 120_000 }, async (t) => {
    const dbPath = join(tempDir('reply-before-write'), 'executions');
    const parsed = parseConfig(['--stateless', '--http-port', '0', '--max-concurrent-executions', '1', '--log-level', 'warn', '--execution-db-path', dbPath], {});
    assert.equal(parsed.action, 'run');
    const server = await startServer((parsed as { config: Config }).config, pino({ level: 'warn' }));
    const port = server.port!;
    const original = Level.prototype.batch as unknown as Batch;
    const held: Array<{ keys: string[]; release: () => void }> = [];
    let id = '';
    try {
      // Warm: the first run of a server starts what later runs find started.
      assert.equal((await call(port, 'POST', '/api/exec', { code: '1 + 1', wait_ms: 10_000 })).json.result, '2');

      t.mock.timers.enable({ apis: ['setTimeout'] });
      (Level.prototype as unknown as { batch: Batch }).batch = function heldBatch(this: Level<string, string>, ...args: unknown[]) {
        const operations = args[0] as Array<{ key: string }>;
        return new Promise<void>((resolve, reject) => {
          held.push({ keys: operations.map((operation) => operation.key), release: () => { original.apply(this, args).then(resolve, reject); } });
        });
      };
      const reply = await call(port, 'POST', '/api/exec', { code: "console.log('printed'); 6 * 7", wait_ms: 10_000 });
      assert.equal(reply.status, 200);
      assert.deepEqual({ status: reply.json.status, result: reply.json.result }, { status: 'completed', result: '42' });
      assert.deepEqual(reply.json.output, { data: 'printed\n', total_lines: 1, total_bytes: 8, next_line_offset: 2, has_more: false }, 'its console lines, from memory');
      id = String(reply.json.execution_id);
      // The reply came with every batch since the hold still held and the store's group-commit
      // timer frozen, so the run's record was not on disk: it sits in a held batch or still in the
      // store's queue (which one depends on when the warm run's own write went; a check of it
      // raced). A reply that waited for it would not have come (`call` fails with that).
      const got = await call(port, 'GET', `/api/executions/${id}`);
      assert.deepEqual({ status: got.json.status, result: got.json.result }, { status: 'completed', result: '42' });
    } finally {
      (Level.prototype as unknown as { batch: Batch }).batch = original;
      t.mock.timers.reset();
      for (const batch of held) batch.release();
      await server.close();
    }
    const reopened = await ExecutionStore.open({ path: dbPath });
    try {
      const record = await reopened.get(id);
      assert.deepEqual({ status: record?.status, result: record?.result }, { status: 'completed', result: '42' }, 'written once let go, before the server stopped');
    } finally {
      await reopened.close();
    }
  });
});
