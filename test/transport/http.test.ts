// Streamable HTTP at /mcp (sessions and stateless requests), the plain API, health and metrics,
// against the real server process, with the SDK's own client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const jsonRpcHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function connect(baseUrl: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'http-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`));
  await client.connect(transport);
  return { client, transport };
}

describe('Streamable HTTP transport and plain API', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('http')]);
  });
  after(async () => { await server.stop(); });

  test('a session lists the tools with their schemas and runs code, result and output in one reply', async () => {
    const { client, transport } = await connect(server.baseUrl);
    assert.ok(transport.sessionId, 'the server assigned a session id');
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name).sort();
    assert.deepEqual(names, ['cancel_execution', 'get_execution', 'get_execution_output', 'list_executions', 'run_js']);
    for (const tool of tools) assert.ok(tool.outputSchema, `${tool.name} has an output schema`);
    const run = await runAndWait(client, "console.log('hi'); console.warn('careful'); 6 * 7");
    assert.equal(run.status, 'completed');
    assert.equal(run.result, '42');
    assert.equal('heap' in run, false, 'a stateless server answers no heap field');
    assert.equal((run.output as { data: string }).data, 'hi\n[WARN] careful\n');
    await transport.terminateSession();
    await client.close();
  });

  test('run_js answers at once with only an id; the run can be watched and cancelled', async () => {
    const { client } = await connect(server.baseUrl);
    const started = await callTool(client, 'run_js', { code: 'await new Promise((resolve) => setTimeout(resolve, 60_000))' });
    assert.deepEqual(Object.keys(started.value), ['execution_id']);
    const id = started.value.execution_id as string;
    assert.equal((await callTool(client, 'get_execution', { execution_id: id })).value.status, 'running');
    assert.deepEqual((await callTool(client, 'cancel_execution', { execution_id: id })).value, { ok: true });
    const record = (await callTool(client, 'get_execution', { execution_id: id })).value;
    assert.equal(record.status, 'cancelled');
    assert.equal(record.error, 'Cancelled by user');
    const again = await callTool(client, 'cancel_execution', { execution_id: id });
    assert.equal(again.value.ok, false);
    assert.match(again.value.error as string, /not running \(status: cancelled\)/);
    const listed = (await callTool(client, 'list_executions')).value.executions as Array<{ execution_id: string }>;
    assert.ok(listed.some((entry) => entry.execution_id === id));
    await client.close();
  });

  test('bad tool arguments and unknown ids are tool errors that say what to do', async () => {
    const { client } = await connect(server.baseUrl);
    const unknown = await callTool(client, 'get_execution', { execution_id: '00000000-0000-8000-8000-000000000000' });
    assert.equal(unknown.isError, true);
    assert.match(unknown.text, /MCPV8_ERR_EXECUTION_NOT_FOUND: No execution with id/);
    const malformed = await callTool(client, 'get_execution', { execution_id: 'nope' });
    assert.match(malformed.text, /execution_id must be a UUID/);
    const tooBig = await callTool(client, 'run_js', { code: '1', heap_memory_max_mb: 100 });
    assert.equal(tooBig.isError, true);
    assert.match(tooBig.text, /heap_memory_max_mb/);
    const stateful = await callTool(client, 'run_js', { code: '1', heap: 'a'.repeat(64) });
    assert.match(stateful.text, /MCPV8_ERR_STATEFUL_ONLY: heap: only in stateful mode/);
    const bothModes = await callTool(client, 'get_execution_output', { execution_id: '00000000-0000-8000-8000-000000000000', line_offset: 1, byte_offset: 0 });
    assert.equal(bothModes.isError, true);
    assert.equal((await client.listTools()).tools.length, 5, 'the connection survived every error');
    await client.close();
  });

  test('a request without a session is served statelessly, as a load balancer needs', async () => {
    const response = await fetch(`${server.baseUrl}/mcp`, {
      method: 'POST', headers: jsonRpcHeaders,
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'run_js', arguments: { code: '2 ** 10', wait_ms: 10_000 } } }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('mcp-session-id'), null);
    const message = (await response.json()) as { id: number; result: { structuredContent: { result: string } } };
    assert.equal(message.id, 7);
    assert.equal(message.result.structuredContent.result, '1024');
  });

  test('an unknown session id is 404 so the client re-initializes', async () => {
    const response = await fetch(`${server.baseUrl}/mcp`, {
      method: 'POST', headers: { ...jsonRpcHeaders, 'mcp-session-id': 'gone' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(response.status, 404);
    assert.match(JSON.stringify(await response.json()), /Session not found/);
  });

  test('POST /api/exec then GET the record and its output pages', async () => {
    const accepted = await fetch(`${server.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: "for (let i = 1; i <= 5; i++) console.log('line ' + i); 'done'" }) });
    assert.equal(accepted.status, 202);
    const { execution_id: id } = (await accepted.json()) as { execution_id: string };
    const waited = await fetch(`${server.baseUrl}/api/tools/run_js`, { method: 'POST', body: JSON.stringify({ code: '0', wait_ms: 10_000 }) });
    assert.equal(waited.status, 200);
    const record = (await (await fetch(`${server.baseUrl}/api/executions/${id}?wait_ms=10000`)).json()) as Record<string, unknown>;
    assert.equal(record.status, 'completed');
    assert.equal(record.result, 'done');
    assert.match(record.started_at as string, /^\d{4}-\d\d-\d\dT/);
    const page = (await (await fetch(`${server.baseUrl}/api/executions/${id}/output?line_offset=2&line_limit=2`)).json()) as Record<string, unknown>;
    assert.equal(page.data, 'line 2\nline 3\n');
    assert.equal(page.total_lines, 5);
    assert.equal(page.next_line_offset, 4);
    assert.equal(page.has_more, true);
    const list = (await (await fetch(`${server.baseUrl}/api/executions`)).json()) as { executions: Array<{ execution_id: string }> };
    assert.ok(list.executions.some((entry) => entry.execution_id === id));
  });

  test('bad HTTP input gets a clear status and message, and the server stays up', async () => {
    const post = (path: string, body: string) => fetch(`${server.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const badJson = await post('/api/exec', '{"code": ');
    assert.equal(badJson.status, 400);
    assert.match(((await badJson.json()) as { error: string }).error, /not valid JSON/);
    const missingCode = await post('/api/exec', '{}');
    assert.equal(missingCode.status, 400);
    assert.match(((await missingCode.json()) as { error: string }).error, /code/);
    const extraField = await post('/api/exec', '{"code": "1", "cod": 2}');
    assert.equal(extraField.status, 400);
    const notObject = await post('/api/exec', '[1]');
    assert.equal(notObject.status, 400);
    const huge = await post('/api/exec', JSON.stringify({ code: 'x'.repeat(5 * 1024 * 1024) }));
    assert.equal(huge.status, 413);
    assert.equal((await fetch(`${server.baseUrl}/api/executions/00000000-0000-8000-8000-000000000000`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/api/executions/not-an-id`)).status, 400);
    const badOffset = await fetch(`${server.baseUrl}/api/executions/00000000-0000-8000-8000-000000000000/output?line_offset=abc`);
    assert.equal(badOffset.status, 400);
    const noRoute = await fetch(`${server.baseUrl}/nowhere`);
    assert.equal(noRoute.status, 404);
    assert.match(((await noRoute.json()) as { error: string }).error, /no route for GET \/nowhere/);
    assert.equal((await fetch(`${server.baseUrl}/healthz`)).status, 200);
  });

  test('/healthz and Prometheus /metrics describe the node', async () => {
    const health = (await (await fetch(`${server.baseUrl}/healthz`)).json()) as Record<string, unknown>;
    assert.equal(health.status, 'ok');
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    assert.match(metrics, /^mcp_v8_executions_total\{status="completed"\} [1-9]\d*$/m);
    assert.match(metrics, /^mcp_v8_execution_queue_depth \d+$/m);
    // Earlier tests of this server printed lines and finished runs: the store's gauges count them.
    assert.match(metrics, /^mcp_v8_stored_executions [1-9]\d*$/m);
    assert.match(metrics, /^mcp_v8_stored_output_bytes [1-9]\d*$/m);
    const active = Number(/^nodejs_eventloop_active_seconds_total ([\d.e-]+)$/m.exec(metrics)?.[1]);
    const idle = Number(/^nodejs_eventloop_idle_seconds_total ([\d.e-]+)$/m.exec(metrics)?.[1]);
    assert.ok(active > 0 && idle > 0, `event loop active ${active} s, idle ${idle} s`);
    assert.match(metrics, /^mcp_v8_execution_duration_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
    assert.match(metrics, /^# TYPE mcp_v8_execution_duration_seconds histogram$/m);
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(metrics)?.[1]);
    const heap = Number(/^nodejs_heap_used_bytes (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(rss > 20 * 2 ** 20 && heap > 0 && heap < rss, `resident ${rss} and heap used ${heap} bytes`);
  });
});

describe('--stateless-http', () => {
  test('no session is ever created; the SDK client works all the same', async () => {
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--stateless-http', '--execution-db-path', tempDir('stateless-http')]);
    try {
      const { client, transport } = await connect(server.baseUrl);
      assert.equal(transport.sessionId, undefined);
      const run = await runAndWait(client, "'ok'");
      assert.equal(run.result, 'ok');
      await client.close();
    } finally {
      await server.stop();
    }
  });
});

/** An MCP session opened by hand, as a client that may go away without saying so. */
async function openRawSession(baseUrl: string): Promise<string> {
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  const response = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: jsonRpcHeaders, body: JSON.stringify(initialize) });
  await response.text();
  assert.equal(response.status, 200);
  const sessionId = response.headers.get('mcp-session-id');
  assert.ok(sessionId !== null, 'a session id');
  const initialized = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...jsonRpcHeaders, 'mcp-session-id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  assert.equal(initialized.status, 202);
  return sessionId;
}

/** The HTTP status of a tools/list on a session (200 while it is open, 404 once closed). */
async function listToolsStatus(baseUrl: string, sessionId: string): Promise<number> {
  const response = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...jsonRpcHeaders, 'mcp-session-id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
  await response.text();
  return response.status;
}

/**
 * Opens the session's GET stream (a client listening for notifications) and reads it; resolves
 * once the server answered it. The body is read, not left alone: undici cancels the body of a
 * Response that is garbage collected unread, which closed the stream under the test now and then
 * (the server then rightly took the session for idle).
 */
async function openStream(baseUrl: string, sessionId: string): Promise<() => void> {
  const controller = new AbortController();
  const response = await fetch(`${baseUrl}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId }, signal: controller.signal });
  assert.equal(response.status, 200);
  void response.body!.pipeTo(new WritableStream()).catch(() => undefined);
  return () => controller.abort();
}

describe('MCP sessions that clients abandon', () => {
  test('a session with no request or stream open for --mcp-session-idle-timeout is closed; a listening client keeps its own', async () => {
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--mcp-session-idle-timeout', '1', '--execution-db-path', tempDir('idle')]);
    try {
      const abandoned = await openRawSession(server.baseUrl);
      const listening = await openRawSession(server.baseUrl);
      const closeStream = await openStream(server.baseUrl, listening);
      const { client } = await connect(server.baseUrl);
      await server.waitForStderr(new RegExp(`"sessionId":"${abandoned}".*"msg":"closed an idle MCP session"`));
      assert.equal(await listToolsStatus(server.baseUrl, abandoned), 404, 'the abandoned session is gone: the client must initialize again');
      assert.equal(await listToolsStatus(server.baseUrl, listening), 200, 'a session with its stream open is in use');
      assert.equal((await runAndWait(client, "'still here'")).result, 'still here', 'the SDK client listens on its stream too');
      closeStream();
      await client.close();
    } finally {
      await server.stop();
    }
  });

  test('at --mcp-sessions-max the least recently used idle session makes room; with every session in use a new one is refused', async () => {
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--mcp-sessions-max', '2', '--execution-db-path', tempDir('bound')]);
    try {
      const inUse = await openRawSession(server.baseUrl);
      const closeFirst = await openStream(server.baseUrl, inUse);
      const idle = await openRawSession(server.baseUrl);
      const third = await openRawSession(server.baseUrl);
      await server.waitForStderr(new RegExp(`"sessionId":"${idle}".*"msg":"closed the least recently used idle MCP session`));
      assert.equal(await listToolsStatus(server.baseUrl, idle), 404);
      assert.equal(await listToolsStatus(server.baseUrl, inUse), 200, 'the older session was kept: its stream is open');
      const closeThird = await openStream(server.baseUrl, third);
      const refused = await fetch(`${server.baseUrl}/mcp`, { method: 'POST', headers: jsonRpcHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
      assert.equal(refused.status, 503);
      assert.match(((await refused.json()) as { error: { message: string } }).error.message, /too many open MCP sessions \(2\), all in use/);
      closeThird();
      closeFirst();
    } finally {
      await server.stop();
    }
  });
});

describe('polls while runs wait in the queue', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess(['--stateless', '--http-port', '0', '--max-concurrent-executions', '1', '--execution-db-path', tempDir('busy-polls')]);
  });
  after(async () => { await server.stop(); });

  const submit = async (code: string): Promise<string> => {
    const response = await fetch(`${server.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    assert.equal(response.status, 202);
    return ((await response.json()) as { execution_id: string }).execution_id;
  };
  const poll = async (id: string, query = ''): Promise<Record<string, unknown>> => (await (await fetch(`${server.baseUrl}/api/executions/${id}${query}`)).json()) as Record<string, unknown>;
  // Busy, not awaiting: a run that awaits a timer gives its lane back (src/exec/scheduler.ts), and
  // one that holds it past the long-run bound (500 ms) no longer counts against the slot.
  const sleeper = "for (const end = Date.now() + 300; Date.now() < end;) {} 'slept'";

  test('with runs queued, a poll answers when its execution finishes; otherwise, and with wait_ms, at once', async () => {
    // One slot: the sleeper holds it, so the second run waits in the queue.
    await submit(sleeper);
    const queued = await submit("'second'");
    const held = await poll(queued);
    assert.equal(held.status, 'completed', 'the poll waited for the run instead of answering "running"');
    assert.equal(held.result, 'second');

    // wait_ms given (even 0) is obeyed as asked.
    await submit(sleeper);
    const queuedAgain = await submit("'third'");
    assert.equal((await poll(queuedAgain, '?wait_ms=0')).status, 'running');
    await poll(queuedAgain, '?wait_ms=10000');

    // MCP's get_execution without wait_ms behaves as the plain API's poll.
    const client = new Client({ name: 'busy-polls', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.baseUrl}/mcp`)));
    await submit(sleeper);
    const viaMcp = await submit("'fourth'");
    assert.equal((await callTool(client, 'get_execution', { execution_id: viaMcp })).value.status, 'completed');
    await client.close();

    // Nothing queued: a poll of a running execution answers at once.
    await poll(viaMcp, '?wait_ms=10000');
    const alone = await submit(sleeper);
    assert.equal((await poll(alone)).status, 'running');
    assert.equal((await poll(alone, '?wait_ms=10000')).status, 'completed');
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    assert.match(metrics, /^mcp_v8_polls_held_total 2$/m, 'the two polls made while runs were queued, and only those');
  });
});
