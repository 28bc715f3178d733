// V8 out of memory beyond recovery, inside a builtin's own loop: replaceAll over a string of
// 2 ** 28 characters (a rope, which costs nothing to make) never checks for termination and
// builds its result past its 16 MiB limit until V8 has no memory left to give. (The bound on
// such strings, src/exec/sandbox/bounds.js, checks a primitive receiver; a String object is
// one of the cases it does not catch.) Without isolated-vm's
// onCatastrophicError handler V8 aborts the whole server there. With it the run fails out of memory, the server serves on, and the parked
// isolate thread is counted; at SIGTERM the server closes its stores and ends by SIGTERM, since
// isolated-vm's exit handler would wait for that thread forever. A real server process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorTexts } from '../../src/exec/types.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

async function exec(server: ServerProcess, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.baseUrl}/api/exec`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ wait_ms: 60_000, ...body }),
    signal: AbortSignal.timeout(90_000),
  });
  return (await response.json()) as Record<string, unknown>;
}

describe('V8 out of memory beyond recovery', () => {
  let server: ServerProcess;
  before(async () => {
    const root = tempDir('catastrophic');
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', join(root, 'executions'), '--max-concurrent-executions', '1']);
  });
  after(async () => { await server?.stop('SIGKILL'); });

  test('the run fails out of memory, the server serves on, and SIGTERM still ends it', async () => {
    const started = Date.now();
    const bomb = await exec(server, { code: "String.prototype.replaceAll.call(new String('ab'.repeat(2 ** 27)), 'a', 'bb').length", heap_memory_max_mb: 16, execution_timeout_secs: 60 });
    assert.equal(bomb.status, 'failed', JSON.stringify(bomb));
    assert.equal(bomb.error, ErrorTexts.outOfMemory);
    assert.ok(Date.now() - started < 60_000, 'ended by V8 running out of memory, not by its timeout');
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
