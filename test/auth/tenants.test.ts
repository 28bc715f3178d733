// Tenants: with tokens on, bob tries every tool on alice's executions, output, sessions, heaps
// and tags, through the SDK's Client over Streamable HTTP and SSE and through the plain API
// (fast path included), and finds nothing; alice finds all of hers. --share-heaps lets bob resume
// a heap whose id he knows, and still lists nothing of hers. Per-principal limits: executions
// queued or running, and the request rate (429 with Retry-After).
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectClient } from '../support/http-surfaces.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { rawRequest } from '../support/raw-http.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const alice = 'alice-token-0123456789abcdef012345';
const bob = 'bob-token-0123456789abcdef01234567';
const tokenFlags = ['--auth-token', `alice=${alice}`, '--auth-token', `bob=${bob}`];

function statefulArgs(name: string, transport: '--http-port' | '--sse-port' = '--http-port'): string[] {
  const root = tempDir(name);
  return [transport, '0', '--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions'), ...tokenFlags];
}

function connect(server: ServerProcess, token: string, kind: 'http' | 'sse' = 'http'): Promise<Client> {
  return connectClient(server.baseUrl, kind, token);
}

/** Opens GET /sse and reads the endpoint event that names the session's /message path. */
function sseEndpoint(server: ServerProcess, token: string): Promise<{ path: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const request = httpGet({ host: '127.0.0.1', port: server.port, path: '/sse', headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        const match = /event: endpoint\ndata: (\S+)/.exec(text);
        if (match !== null) resolve({ path: match[1]!, close: () => request.destroy() });
      });
      response.once('end', () => reject(new Error(`the stream ended before its endpoint event: ${text}`)));
    });
    request.once('error', reject);
  });
}

function api(server: ServerProcess, token: string, method: string, path: string, body?: unknown) {
  return rawRequest(server.port, { method, path, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function assertToolError(client: Client, name: string, args: Record<string, unknown>, code: RegExp): Promise<void> {
  const outcome = await callTool(client, name, args);
  assert.equal(outcome.isError, true, `${name} ${JSON.stringify(args)}: ${outcome.text}`);
  assert.match(outcome.text, code, name);
}

describe('tenants on a stateful server', () => {
  let server: ServerProcess;
  let sse: ServerProcess;
  let aliceClient: Client;
  let bobClient: Client;
  let mine: { executionId: string; heap: string; running: string };
  before(async () => {
    [server, sse] = await Promise.all([startServerProcess(statefulArgs('tenants')), startServerProcess(statefulArgs('tenants-sse', '--sse-port'))]);
    aliceClient = await connect(server, alice);
    bobClient = await connect(server, bob);
    const run = await runAndWait(aliceClient, 'var secret = "alice-only"; console.log("alice output"); secret', { session: 'notes', tags: { project: 'etl' } });
    const running = await callTool(aliceClient, 'run_js', { code: 'await new Promise((resolve) => setTimeout(resolve, 60_000))' });
    mine = { executionId: run.execution_id as string, heap: run.heap as string, running: running.value.execution_id as string };
  });
  after(async () => {
    await aliceClient?.close();
    await bobClient?.close();
    await Promise.all([server?.stop(), sse?.stop()]);
  });

  test('over MCP, bob finds none of alice\'s executions, output, sessions, heaps or tags', async () => {
    for (const id of [mine.executionId, mine.running]) {
      await assertToolError(bobClient, 'get_execution', { execution_id: id }, /MCPV8_ERR_EXECUTION_NOT_FOUND/);
      await assertToolError(bobClient, 'get_execution', { execution_id: id, wait_ms: 10 }, /MCPV8_ERR_EXECUTION_NOT_FOUND/);
      await assertToolError(bobClient, 'get_execution_output', { execution_id: id }, /MCPV8_ERR_EXECUTION_NOT_FOUND/);
      await assertToolError(bobClient, 'cancel_execution', { execution_id: id }, /MCPV8_ERR_EXECUTION_NOT_FOUND/);
    }
    assert.deepEqual((await callTool(bobClient, 'list_executions')).value.executions, []);
    assert.deepEqual((await callTool(bobClient, 'list_sessions')).value.sessions, []);
    assert.deepEqual((await callTool(bobClient, 'list_session_snapshots', { session: 'notes' })).value.entries, []);
    await assertToolError(bobClient, 'run_js', { code: 'secret', heap: mine.heap }, /MCPV8_ERR_HEAP_NOT_FOUND/);
    await assertToolError(bobClient, 'get_heap_tags', { heap: mine.heap }, /MCPV8_ERR_HEAP_NOT_FOUND/);
    await assertToolError(bobClient, 'set_heap_tags', { heap: mine.heap, tags: { project: 'mine-now' } }, /MCPV8_ERR_HEAP_NOT_FOUND/);
    await assertToolError(bobClient, 'delete_heap_tags', { heap: mine.heap }, /MCPV8_ERR_HEAP_NOT_FOUND/);
    assert.deepEqual((await callTool(bobClient, 'query_heaps_by_tags', { tags: { project: 'etl' } })).value.results, []);
    assert.deepEqual((await callTool(bobClient, 'query_heaps_by_tags', { tags: {} })).value.results, []);
    // A session of the same name is bob's own: it starts fresh, without alice's variables.
    const own = await runAndWait(bobClient, 'typeof secret', { session: 'notes' });
    assert.equal(own.result, 'undefined');
    assert.deepEqual((await callTool(bobClient, 'list_sessions')).value.sessions, ['notes']);
    assert.equal(((await callTool(bobClient, 'list_executions')).value.executions as unknown[]).length, 1);
    // The server's own tag cannot be forged, read or removed through the tools.
    await assertToolError(bobClient, 'run_js', { code: '1', tags: { 'mcp-v8:owner': 'alice' } }, /reserved/);
    await assertToolError(bobClient, 'query_heaps_by_tags', { tags: { 'mcp-v8:owner': 'alice' } }, /reserved/);
    await assertToolError(bobClient, 'set_heap_tags', { heap: own.heap, tags: { 'mcp-v8:owner': 'alice' } }, /reserved/);
    await assertToolError(bobClient, 'delete_heap_tags', { heap: own.heap, keys: 'mcp-v8:owner' }, /reserved/);
    const sixtyFour = Object.fromEntries(Array.from({ length: 64 }, (_, index) => [`k${index}`, 'v']));
    await assertToolError(bobClient, 'run_js', { code: '1', tags: sixtyFour }, /at most 63 tags per heap with access control on/);
  });

  test('alice finds all of hers, with the owner never shown', async () => {
    const record = (await callTool(aliceClient, 'get_execution', { execution_id: mine.executionId })).value;
    assert.equal(record.result, 'alice-only');
    assert.ok(!('owner' in record), 'the owner is not part of the record clients see');
    assert.equal((await callTool(aliceClient, 'get_execution_output', { execution_id: mine.executionId })).value.data, 'alice output\n');
    const ids = ((await callTool(aliceClient, 'list_executions')).value.executions as Array<{ execution_id: string }>).map((entry) => entry.execution_id);
    assert.deepEqual(ids.sort(), [mine.executionId, mine.running].sort());
    assert.deepEqual((await callTool(aliceClient, 'list_sessions')).value.sessions, ['notes']);
    assert.equal(((await callTool(aliceClient, 'list_session_snapshots', { session: 'notes' })).value.entries as unknown[]).length, 1);
    assert.deepEqual((await callTool(aliceClient, 'get_heap_tags', { heap: mine.heap })).value.tags, { project: 'etl' });
    assert.deepEqual((await callTool(aliceClient, 'query_heaps_by_tags', { tags: { project: 'etl' } })).value.results, [{ heap: mine.heap, tags: { project: 'etl' } }]);
    assert.equal((await runAndWait(aliceClient, 'secret + "!"', { heap: mine.heap })).result, 'alice-only!');
    assert.equal((await runAndWait(aliceClient, 'secret.length', { session: 'notes' })).result, '10');
    // Replacing and deleting every tag keeps the heap hers.
    assert.equal((await callTool(aliceClient, 'set_heap_tags', { heap: mine.heap, tags: { step: '2' } })).value.ok, true);
    assert.equal((await callTool(aliceClient, 'delete_heap_tags', { heap: mine.heap })).value.ok, true);
    assert.deepEqual((await callTool(aliceClient, 'get_heap_tags', { heap: mine.heap })).value.tags, {});
    assert.equal((await runAndWait(aliceClient, 'secret', { heap: mine.heap })).result, 'alice-only');
    await assertToolError(bobClient, 'run_js', { code: 'secret', heap: mine.heap }, /MCPV8_ERR_HEAP_NOT_FOUND/);
  });

  test('the plain API, fast path included, answers bob as if alice\'s ids did not exist', async () => {
    for (const [method, path, body] of [
      ['GET', `/api/executions/${mine.executionId}`], ['GET', `/api/executions/${mine.executionId}?wait_ms=0`],
      ['GET', `/api/executions/${mine.executionId}/output`], ['POST', `/api/executions/${mine.running}/cancel`, {}],
      ['POST', '/api/tools/get_heap_tags', { heap: mine.heap }], ['POST', '/api/exec', { code: 'secret', heap: mine.heap }],
    ] as Array<[string, string, unknown?]>) {
      const answer = await api(server, bob, method, path, body);
      assert.equal(answer.status, 404, `${method} ${path}: ${answer.text}`);
    }
    const listed = await api(server, bob, 'GET', '/api/executions');
    assert.ok(!listed.text.includes(mine.executionId));
    assert.equal((await api(server, alice, 'GET', `/api/executions/${mine.executionId}`)).json().result, 'alice-only');
  });

  test('bob cannot use alice\'s Streamable HTTP session even with its id', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.baseUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${alice}` } } });
    const client = new Client({ name: 'tenants-test', version: '1.0.0' });
    await client.connect(transport);
    const hijack = await rawRequest(server.port, {
      method: 'POST', path: '/mcp', body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${bob}`, 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': '2025-06-18' },
    });
    assert.equal(hijack.status, 404, hijack.text);
    await client.close();
  });

  test('over SSE, the same separation', async () => {
    const aliceSse = await connect(sse, alice, 'sse');
    const bobSse = await connect(sse, bob, 'sse');
    try {
      const run = await runAndWait(aliceSse, 'var x = 1; x', { session: 's' });
      await assertToolError(bobSse, 'get_execution', { execution_id: run.execution_id }, /MCPV8_ERR_EXECUTION_NOT_FOUND/);
      await assertToolError(bobSse, 'run_js', { code: 'x', heap: run.heap }, /MCPV8_ERR_HEAP_NOT_FOUND/);
      assert.deepEqual((await callTool(bobSse, 'list_sessions')).value.sessions, []);
      assert.deepEqual((await callTool(bobSse, 'list_executions')).value.executions, []);
      assert.equal((await callTool(aliceSse, 'get_execution', { execution_id: run.execution_id })).value.result, '1');
      // Alice's SSE session, opened by hand to learn its id: bob's messages to it are refused.
      const endpoint = await sseEndpoint(sse, alice);
      const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
      const hijack = await rawRequest(sse.port, { method: 'POST', path: endpoint.path, headers: { 'content-type': 'application/json', authorization: `Bearer ${bob}` }, body: ping });
      assert.equal(hijack.status, 404, hijack.text);
      const own = await rawRequest(sse.port, { method: 'POST', path: endpoint.path, headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` }, body: ping });
      assert.equal(own.status, 202, own.text);
      endpoint.close();
    } finally {
      await aliceSse.close();
      await bobSse.close();
    }
  });
});

describe('--share-heaps and per-principal limits', () => {
  test('with --share-heaps bob resumes a heap whose id he knows, and still lists nothing of alice\'s', async () => {
    const server = await startServerProcess([...statefulArgs('tenants-share'), '--share-heaps']);
    try {
      const made = await api(server, alice, 'POST', '/api/exec', { code: 'var shared = 41', tags: { kind: 'shared' }, wait_ms: 20_000 });
      const heap = made.json().heap as string;
      const resumed = await api(server, bob, 'POST', '/api/exec', { code: 'shared + 1', heap, wait_ms: 20_000 });
      assert.equal(resumed.json().result, '42', resumed.text);
      assert.deepEqual((await api(server, bob, 'POST', '/api/tools/query_heaps_by_tags', { tags: { kind: 'shared' } })).json().results, []);
      assert.equal((await api(server, bob, 'GET', `/api/executions/${made.json().execution_id as string}`)).status, 404);
    } finally {
      await server.stop();
    }
  });

  test('--principal-executions-max bounds one principal\'s queued and running executions, not another\'s', async () => {
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('tenants-limit'), ...tokenFlags, '--principal-executions-max', '2', '--max-concurrent-executions', '4']);
    try {
      const long = { code: 'await new Promise((resolve) => setTimeout(resolve, 60_000))' };
      const ids = [];
      for (let index = 0; index < 2; index++) ids.push((await api(server, alice, 'POST', '/api/exec', long)).json().execution_id as string);
      const refused = await api(server, alice, 'POST', '/api/exec', long);
      assert.equal(refused.status, 429, refused.text);
      assert.equal(refused.json().code, 'MCPV8_ERR_LIMIT_EXCEEDED');
      assert.match(refused.json().error as string, /alice has 2 executions queued or running.*--principal-executions-max 2/);
      assert.equal((await api(server, bob, 'POST', '/api/exec', { code: '1', wait_ms: 20_000 })).status, 200, 'bob is not held back');
      assert.deepEqual((await api(server, alice, 'POST', `/api/executions/${ids[0]!}/cancel`, {})).json(), { ok: true });
      assert.equal((await api(server, alice, 'POST', '/api/exec', { code: '2', wait_ms: 20_000 })).status, 200, 'a slot came back');
    } finally {
      await server.stop();
    }
  });

  test('--principal-rate-limit: past it 429 with Retry-After, for that principal only', async () => {
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('tenants-rate'), ...tokenFlags, '--principal-rate-limit', '2']);
    try {
      // 40 at once against a bucket of 2 refilled at 2/s: however slow the machine, most are refused.
      const answers = await Promise.all(Array.from({ length: 40 }, () => api(server, alice, 'GET', '/api/tools')));
      const refused = answers.filter((answer) => answer.status === 429);
      assert.ok(refused.length >= 20, `${refused.length} of 40 refused`);
      assert.ok(answers.some((answer) => answer.status === 200));
      for (const answer of refused) {
        assert.ok(Number(answer.headers['retry-after']) >= 1, 'Retry-After in whole seconds');
        assert.equal(answer.json().code, 'MCPV8_ERR_RATE_LIMITED');
      }
      assert.equal((await api(server, bob, 'GET', '/api/tools')).status, 200, 'bob has his own bucket');
    } finally {
      await server.stop();
    }
  });
});

describe('tenants and the agent surfaces (describe_heap, resources, tasks)', () => {
  const tasksClient = async (baseUrl: string, token: string) => {
    const client = new Client({ name: 'tasks-client', version: '1.0.0' }, { capabilities: { tasks: { list: {}, cancel: {} } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };

  test('bob can neither describe alice\'s heap nor list or read her output as resources', async () => {
    const server = await startServerProcess(statefulArgs('tenants-surfaces'));
    const aliceClient = await connect(server, alice);
    const bobClient = await connect(server, bob);
    try {
      const run = await runAndWait(aliceClient, 'var secret = "alice-only"; console.log("alice output"); secret', { session: 'notes' });
      const described = await callTool(aliceClient, 'describe_heap', { heap: run.heap });
      assert.match(JSON.stringify(described.value), /secret/, 'alice describes her own heap');
      await assertToolError(bobClient, 'describe_heap', { heap: run.heap }, /MCPV8_ERR_HEAP_NOT_FOUND/);
      const uri = `execution://${run.execution_id as string}/output`;
      assert.ok((await aliceClient.listResources()).resources.some((resource) => resource.uri === uri), 'alice lists her output');
      assert.ok(!(await bobClient.listResources()).resources.some((resource) => resource.uri.startsWith('execution://')), 'bob lists none of it');
      assert.match(JSON.stringify(await aliceClient.readResource({ uri })), /alice output/);
      await assert.rejects(bobClient.readResource({ uri }), /not found|No execution/i);
    } finally {
      await aliceClient.close();
      await bobClient.close();
      await server.stop();
    }
  });

  test('with stateless /mcp requests (no MCP session to scope them), bob sees none of alice\'s tasks', async () => {
    const server = await startServerProcess(['--stateless', '--stateless-http', '--http-port', '0', '--execution-db-path', tempDir('tenants-tasks'), ...tokenFlags]);
    const aliceClient = await tasksClient(server.baseUrl, alice);
    const bobClient = await tasksClient(server.baseUrl, bob);
    try {
      const created = await aliceClient.request({ method: 'tools/call', params: { name: 'run_js', arguments: { code: "'alice task'" }, task: {} } }, CreateTaskResultSchema);
      const listedByAlice = await aliceClient.experimental.tasks.listTasks();
      assert.ok(listedByAlice.tasks.some((task) => task.taskId === created.task.taskId), 'alice lists her task');
      const listedByBob = await bobClient.experimental.tasks.listTasks();
      assert.deepEqual(listedByBob.tasks, [], 'bob lists none');
      await assert.rejects(bobClient.experimental.tasks.getTask(created.task.taskId));
      await assert.rejects(bobClient.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema));
    } finally {
      await aliceClient.close();
      await bobClient.close();
      await server.stop();
    }
  });
});
