// MCP over stdio, as Claude Desktop, Claude Code and Cursor start the server: the SDK's client,
// the MCP Inspector CLI, and a raw reader that proves stdout carries JSON-RPC and nothing else.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { repoRoot, runToExit, serverCommand, tempDir } from '../support/server-process.ts';

describe('stdio transport', () => {
  test('the SDK client runs code and reads its output', async () => {
    const { command, args } = serverCommand(['--stateless', '--execution-db-path', tempDir('stdio')]);
    const transport = new StdioClientTransport({ command, args, stderr: 'pipe' });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport);
    assert.equal(client.getServerVersion()?.name, 'mcp-v8');
    const run = await runAndWait(client, "console.log([1, 2, 3].map((x) => x * 2)); 'ok'");
    assert.equal(run.result, 'ok');
    assert.equal((run.output as { data: string }).data, '[ 2, 4, 6 ]\n');
    const page = await callTool(client, 'get_execution_output', { execution_id: run.execution_id, byte_offset: 0, byte_limit: 3 });
    assert.equal(page.value.data, '[ 2');
    await client.close();
  });

  test('stateful mode over stdio: a heap resumes, a session continues, tags are found', async () => {
    const root = tempDir('stdio-stateful');
    const { command, args } = serverCommand(['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')]);
    const transport = new StdioClientTransport({ command, args, stderr: 'pipe' });
    const client = new Client({ name: 'stdio-stateful-test', version: '1.0.0' });
    await client.connect(transport);
    const first = await runAndWait(client, 'const notes = ["a"]; notes.length', { session: 'desk', tags: { kind: 'notes' } });
    assert.match(String(first.heap), /^[0-9a-f]{64}$/);
    assert.equal((await runAndWait(client, 'notes.push("b"); notes.join()', { session: 'desk' })).result, 'a,b');
    assert.equal((await runAndWait(client, 'notes.join()', { heap: first.heap })).result, 'a');
    assert.deepEqual((await callTool(client, 'query_heaps_by_tags', { tags: { kind: 'notes' } })).value.results, [{ heap: first.heap, tags: { kind: 'notes' } }]);
    await client.close();
  });

  test('stdout carries only JSON-RPC, whatever the sandboxed code prints', async () => {
    const { command, args } = serverCommand(['--stateless', '--execution-db-path', tempDir('stdio-raw')]);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout });
    const received: unknown[] = [];
    const send = (message: unknown) => child.stdin.write(JSON.stringify(message) + '\n');
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const noisy = "for (let i = 0; i < 2000; i++) console.log('noise ' + i); console.error('to stderr?'); typeof process + ',' + typeof require";
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'run_js', arguments: { code: noisy, wait_ms: 20_000 } } });
    for await (const line of lines) {
      const message = JSON.parse(line) as { jsonrpc: string; id?: number; result?: { structuredContent: { result: string } } };
      assert.equal(message.jsonrpc, '2.0', `not JSON-RPC: ${line.slice(0, 200)}`);
      received.push(message);
      if (message.id === 2) {
        assert.equal(message.result!.structuredContent.result, 'undefined,undefined');
        break;
      }
    }
    child.stdin.end();
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, 'the server exits cleanly when its client goes away');
    assert.equal(received.length, 2);
  });

  test('a client that closes stdout while an answer is on its way: the server stops cleanly (exit 0), the run recorded', async () => {
    const dbPath = tempDir('stdio-epipe');
    const { command, args } = serverCommand(['--stateless', '--execution-db-path', dbPath]);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const lines = createInterface({ input: child.stdout });
    const send = (message: unknown) => child.stdin.write(JSON.stringify(message) + '\n');
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    for await (const line of lines) if ((JSON.parse(line) as { id?: number }).id === 1) break;
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    // The answer comes once the run has waited; by then nobody reads stdout (stdin stays open).
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'run_js', arguments: { code: "await new Promise((resolve) => setTimeout(resolve, 300)); 'done'", wait_ms: 5_000 } } });
    lines.close();
    child.stdout.destroy();
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Uncaught|EPIPE.*\n\s+at /);
    child.stdin.destroy();
    const store = await ExecutionStore.open({ path: dbPath });
    try {
      const records = await store.list();
      assert.equal(records.length, 1);
      assert.ok(records[0]!.status === 'completed' || records[0]!.status === 'cancelled', `recorded as it ended, not interrupted: ${JSON.stringify(records[0])}`);
    } finally {
      await store.close();
    }
  });

  test('a line that is not JSON-RPC is logged and skipped; a line past 10 MiB is logged and ends the session cleanly', async () => {
    const { command, args } = serverCommand(['--stateless', '--execution-db-path', tempDir('stdio-garbage')]);
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    // stdout and stderr are separate pipes: the answer to the next message may come before the
    // log line about the bad one, so that line is awaited (10 s at most), not assumed there.
    const loggedBadLine = new Promise<void>((resolve, reject) => {
      const late = setTimeout(() => reject(new Error(`no log line about the bad message in:\n${stderr}`)), 10_000);
      const check = () => {
        if (!/"msg":"an MCP message could not be read"/.test(stderr)) return;
        clearTimeout(late);
        child.stderr.off('data', check);
        resolve();
      };
      child.stderr.on('data', check);
    });
    child.stdin.on('error', () => undefined); // the server may close its stdin while the long line is still being written
    const lines = createInterface({ input: child.stdout });
    const send = (message: unknown) => child.stdin.write(JSON.stringify(message) + '\n');
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    child.stdin.write('{not json\n');
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    for await (const line of lines) if ((JSON.parse(line) as { id?: number }).id === 2) break; // the next message is answered
    await loggedBadLine;
    // 'close', not 'exit': stderr may still hold the last lines when the process has exited.
    const exited = once(child, 'close');
    child.stdin.write('{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"pad":"' + 'x'.repeat(11 * 1024 * 1024) + '"}}\n');
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /ReadBuffer exceeded maximum size/);
  });

  test('a bad flag exits non-zero with one line naming it, and nothing on stdout', async () => {
    const result = await runToExit(['--heap-memory-max', '100']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'mcp-v8: --heap-memory-max must be from 1 to 64, got 100\n');
  });

  test('the MCP Inspector CLI lists the tools and calls run_js', async () => {
    const inspector = join(repoRoot, 'node_modules', '.bin', 'mcp-inspector');
    const { command, args } = serverCommand(['--stateless', '--execution-db-path', tempDir('inspector')]);
    const run = promisify(execFile);
    const listed = await run(inspector, ['--cli', command, ...args, '--method', 'tools/list'], { cwd: repoRoot, timeout: 60_000 });
    const tools = (JSON.parse(listed.stdout) as { tools: Array<{ name: string }> }).tools.map((tool) => tool.name);
    assert.ok(tools.includes('run_js') && tools.includes('get_execution_output'), listed.stdout.slice(0, 500));
    const called = await run(inspector, ['--cli', command, ...args, '--method', 'tools/call', '--tool-name', 'run_js', '--tool-arg', 'code=6*7', '--tool-arg', 'wait_ms=10000'], { cwd: repoRoot, timeout: 60_000 });
    const result = JSON.parse(called.stdout) as { structuredContent: { status: string; result: string } };
    assert.equal(result.structuredContent.status, 'completed');
    assert.equal(result.structuredContent.result, '42');
  });
});
