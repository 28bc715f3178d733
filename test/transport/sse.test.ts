// The legacy SSE transport (/sse + /message), as hosted MCP clients reach the server.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { startServerProcess, tempDir } from '../support/server-process.ts';

describe('SSE transport', () => {
  test('the SDK client connects over /sse, runs code, and the plain API is served beside it', async () => {
    const server = await startServerProcess(['--stateless', '--sse-port', '0', '--execution-db-path', tempDir('sse')]);
    try {
      const client = new Client({ name: 'sse-test', version: '1.0.0' });
      await client.connect(new SSEClientTransport(new URL(`${server.baseUrl}/sse`)));
      const run = await runAndWait(client, "console.info('from sse'); [1, 2].length");
      assert.equal(run.result, '2');
      assert.equal((run.output as { data: string }).data, '[INFO] from sse\n');
      const record = await callTool(client, 'get_execution', { execution_id: run.execution_id });
      assert.equal(record.value.status, 'completed');
      const viaApi = await fetch(`${server.baseUrl}/api/executions/${String(run.execution_id)}`);
      assert.equal(viaApi.status, 200);
      const unknownSession = await fetch(`${server.baseUrl}/message?sessionId=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
      assert.equal(unknownSession.status, 404);
      await client.close();
    } finally {
      await server.stop();
    }
  });

  test('stateful mode over SSE: a heap resumes and the session tools answer', async () => {
    const root = tempDir('sse-stateful');
    const server = await startServerProcess(['--sse-port', '0', '--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')]);
    try {
      const client = new Client({ name: 'sse-stateful-test', version: '1.0.0' });
      await client.connect(new SSEClientTransport(new URL(`${server.baseUrl}/sse`)));
      const first = await runAndWait(client, 'class Box { constructor(v) { this.v = v } }; var box = new Box(7); box.v', { session: 'hosted' });
      assert.equal((await runAndWait(client, 'box instanceof Box && box.v * 6', { heap: first.heap })).result, '42');
      const entries = (await callTool(client, 'list_session_snapshots', { session: 'hosted', fields: 'output_heap' })).value.entries;
      assert.deepEqual(entries, [{ output_heap: first.heap }]);
      await client.close();
    } finally {
      await server.stop();
    }
  });
});
