// Execution records and their console output outlive the process: after a clean stop, and after
// kill -9 in the middle of a run (that run is then reported as interrupted, not left running).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../src/config.ts';
import { startServer } from '../../src/server.ts';
import { runToExit, startServerProcess, tempDir } from '../support/server-process.ts';

async function post(baseUrl: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

async function get(baseUrl: string, path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${baseUrl}${path}`)).json()) as Record<string, unknown>;
}

describe('durability of execution records', () => {
  test('records and output survive a restart', async () => {
    const dbPath = tempDir('durable');
    const args = ['--stateless', '--http-port', '0', '--execution-db-path', dbPath];
    const first = await startServerProcess(args);
    const run = await post(first.baseUrl, '/api/exec', { code: "for (let i = 0; i < 300; i++) console.log('row ' + i + ' ✓'); 'kept'", wait_ms: 20_000 });
    assert.equal(run.status, 'completed');
    const before = await get(first.baseUrl, `/api/executions/${String(run.execution_id)}/output?byte_offset=0&byte_limit=100000`);
    assert.equal(await first.stop('SIGTERM'), 0);

    const second = await startServerProcess(args);
    try {
      const record = await get(second.baseUrl, `/api/executions/${String(run.execution_id)}`);
      assert.equal(record.status, 'completed');
      assert.equal(record.result, 'kept');
      const after = await get(second.baseUrl, `/api/executions/${String(run.execution_id)}/output?byte_offset=0&byte_limit=100000`);
      assert.deepEqual(after, before);
      assert.equal(after.total_lines, 300);
    } finally {
      await second.stop();
    }
  });

  test('kill -9 during a run: after restart the run is failed as interrupted, its streamed output kept', async () => {
    const dbPath = tempDir('killed');
    const args = ['--stateless', '--http-port', '0', '--execution-db-path', dbPath];
    const first = await startServerProcess(args);
    const code = "console.log('before the crash'); await new Promise((resolve) => setTimeout(resolve, 120_000))";
    const { execution_id: id } = await post(first.baseUrl, '/api/exec', { code, execution_timeout_secs: 300 });
    // The line is streamed while the run waits: a long poll on another run that finishes makes
    // the store write its group commit, which holds every line queued so far, this one included.
    let page: Record<string, unknown> = {};
    for (let attempt = 0; attempt < 50 && page.total_lines !== 1; attempt++) {
      await post(first.baseUrl, '/api/exec', { code: '0', wait_ms: 10_000 });
      page = await get(first.baseUrl, `/api/executions/${String(id)}/output`);
    }
    assert.equal(page.total_lines, 1);
    await post(first.baseUrl, '/api/exec', { code: '0', wait_ms: 10_000 });
    assert.equal(await first.stop('SIGKILL'), 'SIGKILL');

    const second = await startServerProcess(args);
    try {
      const record = await get(second.baseUrl, `/api/executions/${String(id)}`);
      assert.equal(record.status, 'failed');
      assert.match(record.error as string, /^Interrupted/);
      const output = await get(second.baseUrl, `/api/executions/${String(id)}/output`);
      assert.equal(output.data, 'before the crash\n');
    } finally {
      await second.stop();
    }
  });

  test('a wait_ms reply comes from memory: a GET right after it finds the same record; an id answered while its run goes on is on disk; kill -9 then leaves every finished record completed', async () => {
    const dbPath = tempDir('reply-then-kill');
    const args = ['--stateless', '--http-port', '0', '--execution-db-path', dbPath];
    const first = await startServerProcess(args);
    const results: Array<{ id: string; result: unknown }> = [];
    for (let index = 0; index < 20; index++) {
      const run = await post(first.baseUrl, '/api/exec', { code: `console.log('line ${index}'); 'r${index}'`, wait_ms: 10_000 });
      assert.equal(run.status, 'completed');
      const id = String(run.execution_id);
      const record = await get(first.baseUrl, `/api/executions/${id}`);
      assert.deepEqual({ status: record.status, result: record.result }, { status: 'completed', result: `r${index}` });
      assert.equal((await get(first.baseUrl, `/api/executions/${id}/output`)).data, `line ${index}\n`);
      results.push({ id, result: run.result });
    }
    // A wait that ends before the run does answers the id only once the record is written.
    const going = await post(first.baseUrl, '/api/exec', { code: 'await new Promise((resolve) => setTimeout(resolve, 120_000))', wait_ms: 1 });
    assert.equal(going.status, 'running');
    assert.equal(await first.stop('SIGKILL'), 'SIGKILL');

    const second = await startServerProcess(args);
    try {
      for (const [index, { id, result }] of results.entries()) {
        const record = await get(second.baseUrl, `/api/executions/${id}`);
        // Each was written no later than the next run's create, which the last reply waited for.
        assert.deepEqual({ status: record.status, result: record.result }, { status: 'completed', result }, `run ${index}`);
        assert.equal((await get(second.baseUrl, `/api/executions/${id}/output`)).data, `line ${index}\n`);
      }
      const interrupted = await get(second.baseUrl, `/api/executions/${String(going.execution_id)}`);
      assert.equal(interrupted.status, 'failed');
      assert.match(String(interrupted.error), /^Interrupted/);
    } finally {
      await second.stop();
    }
  });

  test('SIGTERM while executions are being submitted: exit 0, and every accepted execution has its final record', async () => {
    const dbPath = tempDir('stop-under-load');
    const args = ['--stateless', '--http-port', '0', '--execution-db-path', dbPath];
    const first = await startServerProcess(args);
    const accepted: string[] = [];
    let stopping = false;
    let answersAfterStop = 0;
    // Clients that keep submitting, so that the signal finds requests at every stage: parsed,
    // creating their record, queued, running. A request answered after the signal is refused
    // with 503 and the STOPPING code, or its connection is closed.
    const client = async () => {
      while (true) {
        let response: Response;
        try {
          response = await fetch(`${first.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: '[1, 2, 3].map((n) => n * 2)' }) });
        } catch {
          return;
        }
        const body = (await response.json()) as Record<string, unknown>;
        if (response.status === 202) accepted.push(String(body.execution_id));
        else {
          assert.equal(response.status, 503, JSON.stringify(body));
          assert.equal(body.code, 'MCPV8_ERR_STOPPING');
        }
        if (stopping) answersAfterStop++;
        if (stopping && answersAfterStop > 200) return;
      }
    };
    const clients = Array.from({ length: 24 }, client);
    while (accepted.length < 300) await new Promise((resolve) => setImmediate(resolve));
    stopping = true;
    assert.equal(await first.stop('SIGTERM'), 0, first.stderr());
    await Promise.all(clients);

    const second = await startServerProcess(args);
    try {
      for (const id of accepted) {
        const record = await get(second.baseUrl, `/api/executions/${id}`);
        assert.ok(record.status === 'completed' || record.status === 'cancelled', `${id}: ${JSON.stringify(record)}`);
      }
      assert.doesNotMatch(second.stderr(), /interrupted by the last stop/);
    } finally {
      await second.stop();
    }
  });

  test('listening beyond loopback without auth refuses to start; --allow-unauthenticated starts it with a warning', async () => {
    const refused = await runToExit(['--stateless', '--http-port', '0', '--bind-host', '0.0.0.0', '--execution-db-path', tempDir('bind')]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--bind-host 0\.0\.0\.0: listening beyond loopback without authentication .* --auth-token or --jwks-url, or --allow-unauthenticated/);
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--bind-host', '0.0.0.0', '--allow-unauthenticated', '--execution-db-path', tempDir('bind')]);
    try {
      assert.match(server.stderr(), /listening beyond loopback with no authentication/);
    } finally {
      await server.stop();
    }
  });
});

describe('several local servers on the defaults', () => {
  // In-process (startServer with a Config), so that "the default path" can be a temporary one:
  // the real defaults (/tmp/mcp-v8-*) belong to the user's servers, and a test must not touch them.
  test('a second server whose default execution database is taken starts on its own, says so, and deletes it when it stops', async () => {
    const parsed = parseConfig(['--stateless', '--http-port', '0', '--max-concurrent-executions', '1', '--log-level', 'warn'], {});
    assert.equal(parsed.action, 'run');
    const defaultPath = join(tempDir('defaults'), 'executions');
    const config: Config = { ...(parsed as { config: Config }).config, executionDbPath: defaultPath, executionDbPathExplicit: false };
    assert.equal(config.executionDbPathExplicit, false);
    const logged: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => { logged.push(line); } });
    const first = await startServer(config, logger);
    const second = await startServer(config, logger);
    const ownPath = `${defaultPath}-${process.pid}`;
    try {
      assert.ok(logged.some((line) => line.includes('default execution database is in use by another mcp-v8')), logged.join(''));
      assert.ok(existsSync(ownPath), 'the second server has a database of its own');
      for (const server of [first, second]) {
        const run = await post(`http://127.0.0.1:${server.port}`, '/api/exec', { code: '1 + 2', wait_ms: 10_000 });
        assert.equal(run.result, '3');
      }
    } finally {
      await second.close();
      await first.close();
    }
    assert.equal(existsSync(ownPath), false, 'deleted when its server stopped');
    assert.equal(existsSync(defaultPath), true, 'the default database stays');
  });

  test('an explicit path that is taken is refused with a line naming the flag', async () => {
    const dbPath = tempDir('taken');
    const first = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', dbPath]);
    try {
      await assert.rejects(startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', dbPath]), /in use by another mcp-v8 process; give this one its own --execution-db-path/);
    } finally {
      await first.stop();
    }
  });

  test('a port in use or an address not of this machine is refused with a line naming the flag', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await assert.rejects(startServerProcess(['--stateless', '--sse-port', String(port), '--execution-db-path', tempDir('port')]), new RegExp(`--sse-port ${port}: the port is in use on 127.0.0.1 by another process`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it.
    await assert.rejects(startServerProcess(['--stateless', '--http-port', '0', '--bind-host', '192.0.2.1', '--allow-unauthenticated', '--execution-db-path', tempDir('host')]), /--bind-host 192\.0\.2\.1: not an address of this machine/);
  });
});
