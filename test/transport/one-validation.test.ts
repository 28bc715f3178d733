// One definition, one validation: the same inputs through MCP (the SDK's Client over Streamable
// HTTP) and the plain API give the same answers, and the fast path for the polling routes
// (api-fast-path.ts) answers exactly as the Koa routes behind it: status, body and headers.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../src/config.ts';
import { executionTools } from '../../src/tools/execution-tools.ts';
import { heapTools } from '../../src/tools/heap-tools.ts';
import { createHttpApp } from '../../src/transport/http-app.ts';
import { callTool } from '../support/mcp-client.ts';
import { openStack, type Stack } from '../stateful/stack.ts';

/** Ids, heap hashes and times differ from one run to the next; everything else must not. */
function normalized(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/[0-9a-f]{64}/g, '<heap>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>');
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('the same answers on every path', () => {
  let stack: Stack;
  let withFastPath: Server;
  let koaOnly: Server;
  let fastUrl: string;
  let koaUrl: string;
  let client: Client;
  let closeApp: () => Promise<void>;
  before(async () => {
    stack = await openStack();
    const parsed = parseConfig(['--http-port', '0']);
    assert.equal(parsed.action, 'run');
    const config: Config = (parsed as { config: Config }).config;
    const tools = [...executionTools(stack.service, config), ...heapTools(stack.heaps)];
    const { app, close } = createHttpApp({ config, tools, node: stack.service, logger: pino({ level: 'silent' }) });
    closeApp = close;
    withFastPath = createServer(app.callback());
    koaOnly = createServer(app.koaCallback());
    fastUrl = await listen(withFastPath);
    koaUrl = await listen(koaOnly);
    client = new Client({ name: 'one-validation', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${fastUrl}/mcp`)));
  });
  after(async () => {
    await client.close();
    await closeApp();
    withFastPath.closeAllConnections();
    koaOnly.closeAllConnections();
    await new Promise((resolve) => withFastPath.close(resolve));
    await new Promise((resolve) => koaOnly.close(resolve));
    await stack.close();
  });

  const unknownId = '0190a4f2-1c3b-8d4e-9f00-1a2b3c4d5e6f';
  const cases: Array<[tool: string, args: Record<string, unknown>]> = [
    ['run_js', { code: '6 * 7', wait_ms: 20_000 }],
    ['run_js', { code: '1', timeout_secs: 5 }],
    ['run_js', { code: 5 }],
    ['run_js', {}],
    ['run_js', { code: '1', heap_memory_max_mb: 1000 }],
    ['run_js', { code: '1', execution_timeout_secs: 'ten' }],
    ['run_js', { code: '1', wait_ms: -1 }],
    ['run_js', { code: '1', heap: 'not-a-heap' }],
    ['get_execution', { execution_id: 'nope' }],
    ['get_execution', { execution_id: unknownId }],
    ['get_execution', { execution_id: unknownId, waitMs: 10 }],
    ['get_execution_output', { execution_id: unknownId, line_limit: -1 }],
    ['cancel_execution', { execution_id: unknownId }],
    ['list_sessions', { verbose: true }],
    ['set_heap_tags', { heap: 'a'.repeat(64), tags: { team: 1 } }],
    ['query_heaps_by_tags', { tags: { nobody: 'here' } }],
    ['run_python', { code: '1' }],
  ];

  test('MCP and the plain API: the same results and the same coded errors, unknown arguments refused on both', async () => {
    for (const [tool, args] of cases) {
      const viaMcp = await callTool(client, tool, args);
      const response = await fetch(`${koaUrl}/api/tools/${tool}`, { method: 'POST', body: JSON.stringify(args), headers: { 'content-type': 'application/json' } });
      const body = await response.json() as Record<string, unknown>;
      const what = `${tool} ${JSON.stringify(args)}`;
      if (viaMcp.isError) {
        assert.ok(response.status >= 400, `${what}: an error over MCP is one over HTTP too (${response.status})`);
        assert.equal(viaMcp.text, `${body.code}: ${body.error}`, what);
      } else {
        assert.equal(response.status, 200, `${what}: ${JSON.stringify(body)}`);
        assert.equal(normalized(JSON.stringify(viaMcp.value)), normalized(JSON.stringify(body)), what);
      }
    }
    // What the comparison rests on: these are refused, by name, on both.
    const typo = await callTool(client, 'run_js', { code: '1', timeout_secs: 5 });
    assert.equal(typo.isError, true);
    assert.match(typo.text, /^MCPV8_ERR_INVALID_ARGUMENT: run_js: .*timeout_secs/);
    assert.match((await callTool(client, 'run_python', {})).text, /^MCPV8_ERR_TOOL_NOT_FOUND: no tool named 'run_python'/);
  });

  test('tools/list says that no other arguments are taken', async () => {
    const { tools } = await client.listTools();
    for (const tool of tools) assert.equal(tool.inputSchema.additionalProperties, false, tool.name);
  });

  test('the fast path answers POST /api/exec and GET /api/executions/:id as the Koa routes do', async () => {
    const started = await (await fetch(`${koaUrl}/api/exec`, { method: 'POST', body: '{"code":"1"}' })).json() as { execution_id: string };
    await stack.service.wait(started.execution_id, 20_000);
    const requests: Array<[method: string, path: string, body?: string]> = [
      ['POST', '/api/exec', '{"code":"1"}'],
      ['POST', '/api/exec', '{"code":"console.log(1); 2","wait_ms":20000}'],
      // {code, wait_ms} is the fast path's own check (the result scenario of bench/load.ts): the
      // schema's bounds and types, each side of them.
      ['POST', '/api/exec', '{"wait_ms":20000,"code":"3"}'],
      ['POST', '/api/exec', '{"code":"4","wait_ms":0}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":50000}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":50001}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":-1}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":1.5}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":"10"}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":null}'],
      ['POST', '/api/exec', '{"code":"5","wait_ms":1,"bogus":1}'],
      ['POST', '/api/exec', '{"wait_ms":1}'],
      ['POST', '/api/exec', '{"code":"1","bogus":1}'],
      ['POST', '/api/exec', '{"code":1}'],
      ['POST', '/api/exec', '[]'],
      ['POST', '/api/exec', 'not json'],
      ['POST', '/api/exec', ''],
      ['POST', '/api/exec', `{"code":"${'x'.repeat(1_000_001)}"}`],
      ['POST', '/api/exec', `{"code":"${'x'.repeat(5 * 1024 * 1024)}"}`],
      ['GET', `/api/executions/${started.execution_id}`],
      ['GET', `/api/executions/${unknownId}`],
      ['GET', '/api/executions/not-an-id'],
      ['GET', `/api/executions/${started.execution_id}?wait_ms=0`],
    ];
    for (const [method, path, body] of requests) {
      const answers = [];
      for (const base of [fastUrl, koaUrl]) {
        const response = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body }) });
        const text = await response.text();
        const headers = Object.fromEntries([...response.headers].filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name)));
        assert.equal(headers['content-length'], String(Buffer.byteLength(text)), `${method} ${path}: content-length is the body's`);
        answers.push({ status: response.status, headers, body: normalized(text) });
      }
      assert.deepEqual(answers[0], answers[1], `${method} ${path.slice(0, 60)} ${body?.slice(0, 40) ?? ''}`);
    }
  });
});
