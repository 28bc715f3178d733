// V8 out of memory beyond recovery, inside a builtin's own loop: fill over an array of length
// 1e9, reached through a proxy whose `length` answers 1 to the bound on such loops
// (src/exec/sandbox/bounds.js; a case it does not catch) and 1e9 to V8. fill's loop never checks
// for termination and grows the array's dictionary past the 16 MiB limit, past the termination
// and the one grant of memory a terminated isolate gets (scripts/patch-isolated-vm.mjs), until
// V8 gives up (≈ 50 MB, "CALL_AND_RETRY_LAST"). Without isolated-vm's onCatastrophicError
// handler V8 aborts the whole server there. With it the run fails out of memory, the server
// serves on, and the parked isolate thread is counted; at SIGTERM the server closes its stores
// and ends by SIGTERM, since isolated-vm's exit handler would wait for that thread forever. A
// real server process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorTexts } from '../../src/exec/types.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

async function exec(server: ServerProcess, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.baseUrl}/api/exec`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ wait_ms: 50_000, ...body }),
    signal: AbortSignal.timeout(90_000),
  });
  return (await response.json()) as Record<string, unknown>;
}

const bombCode = "let reads = 0; Array.prototype.fill.call(new Proxy(Array(1e9), { get: (target, key) => key === 'length' ? (reads++ === 0 ? 1 : 1e9) : target[key] }), 0)";

describe('V8 out of memory beyond recovery', () => {
  let server: ServerProcess;
  before(async () => {
    const root = tempDir('catastrophic');
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', join(root, 'executions'), '--max-concurrent-executions', '1']);
  });
  after(async () => { await server?.stop('SIGKILL'); });

  test('the run fails out of memory, the server serves on, and SIGTERM still ends it', async () => {
    // Only memory may end it: fill's loop ignores the termination at the limit and grows the
    // dictionary until V8 gives up (seconds on a quiet machine, a minute on a loaded one).
    const submitted = await exec(server, { code: bombCode, heap_memory_max_mb: 16, execution_timeout_secs: 300, wait_ms: 0 });
    let bomb: Record<string, unknown> = { status: 'queued' };
    while (bomb.status === 'running' || bomb.status === 'queued') {
      const response = await fetch(`${server.baseUrl}/api/executions/${String(submitted.execution_id)}?wait_ms=50000`, { signal: AbortSignal.timeout(90_000) });
      bomb = (await response.json()) as Record<string, unknown>;
    }
    assert.equal(bomb.status, 'failed', JSON.stringify(bomb));
    assert.equal(bomb.error, ErrorTexts.outOfMemory(16));
    await server.waitForStderr(/"v8":"Catastrophic out-of-memory error".*V8 ran out of memory in an isolate beyond recovery/);

    // One slot: the next run can only complete if the bomb's run gave it back.
    const next = await exec(server, { code: '[1, 2, 3].map((n) => n * 2).join()', execution_timeout_secs: 5 });
    assert.equal(next.status, 'completed', JSON.stringify(next));
    assert.equal(next.result, '2,4,6');
    const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as { status: string; stuck_isolates: number };
    assert.equal(health.status, 'degraded');
    assert.equal(health.stuck_isolates, 1);


    assert.equal(await server.stop('SIGTERM'), 'SIGTERM');
    assert.match(server.stderr(), /"stuckIsolates":1,"exitCode":0,.*the process ends by SIGTERM/);
  });
});
