// A Streamable HTTP session rebuilt from its record (src/transport/mcp-restore.ts): the SDK's
// transport, after the replayed initialize, serves a real SDK client that never initialized with
// it, and its server knows the client's info and capabilities; the id is the recorded one, a second
// initialize is refused, another id is not found.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { initializeOf, replayInitialize, type RestorableSession } from '../../src/transport/mcp-restore.ts';

const recorded: RestorableSession = {
  id: '0a1b2c3d-6f1c2a4e-1111-4222-8333-944455556666', principal: 'alice', protocol_version: '2025-06-18',
  client_info: { name: 'the-original-client', version: '7.1' }, capabilities: { roots: { listChanged: true }, sampling: {} },
};

describe('an MCP session rebuilt from its record', () => {
  let http: Server;
  let url = '';
  let mcp: McpServer;
  let transport: StreamableHTTPServerTransport;

  before(async () => {
    transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => recorded.id });
    mcp = new McpServer({ name: 'restore-test', version: '1' });
    mcp.registerTool('echo', { description: 'echo' }, async () => ({ content: [{ type: 'text', text: 'still here' }] }));
    await mcp.connect(transport);
    await replayInitialize(transport, recorded);
    http = createServer((request, response) => {
      let text = '';
      request.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; }).on('end', () => {
        void transport.handleRequest(request, response, text === '' ? undefined : JSON.parse(text));
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  });

  after(async () => {
    await transport.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  test('serves a client that continues the session without initializing; the server knows the client as the original did', async () => {
    assert.equal(transport.sessionId, recorded.id);
    assert.deepEqual(mcp.server.getClientVersion(), recorded.client_info);
    assert.deepEqual(mcp.server.getClientCapabilities(), recorded.capabilities);
    const client = new Client({ name: 'another-process', version: '1' });
    const clientTransport = new StreamableHTTPClientTransport(new URL(url), { sessionId: recorded.id });
    await client.connect(clientTransport);
    try {
      const called = await client.callTool({ name: 'echo', arguments: {} });
      assert.deepEqual(called.content, [{ type: 'text', text: 'still here' }]);
    } finally {
      await clientTransport.close();
    }
  });

  test('a second initialize is refused; another session id is not found', async () => {
    const post = (sessionId: string | null, body: unknown) => fetch(url, {
      method: 'POST', body: JSON.stringify(body),
      headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...(sessionId === null ? {} : { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' }) },
    });
    const again = await post(null, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    assert.equal(again.status, 400);
    assert.match(await again.text(), /already initialized/);
    const other = await post(recorded.id.replace(/.$/, '7'), { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(other.status, 404);
    await other.body?.cancel();
  });

  test('the record of an initialize: the negotiated version (an unknown one becomes the latest), client info, capabilities', () => {
    const request = (protocolVersion: string) => ({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: { roots: {} }, clientInfo: { name: 'c', version: '2' } } });
    assert.deepEqual(initializeOf(request('2025-06-18'), 's', 'bob'), { id: 's', principal: 'bob', protocol_version: '2025-06-18', client_info: { name: 'c', version: '2' }, capabilities: { roots: {} } });
    assert.notEqual(initializeOf(request('1999-01-01'), 's', 'bob')?.protocol_version, '1999-01-01');
    assert.equal(initializeOf([request('2025-06-18')], 's', 'bob')?.id, 's');
    assert.equal(initializeOf({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, 's', 'bob'), null);
  });

  test('a record whose initialize the SDK refuses is a clear error, not a half-made session', async () => {
    const fresh = new StreamableHTTPServerTransport({ sessionIdGenerator: () => 'other-id' });
    const server = new McpServer({ name: 'restore-test', version: '1' });
    await server.connect(fresh);
    // The generator answers another id than the record's: the rebuilt session would not be the recorded one.
    await assert.rejects(replayInitialize(fresh, recorded), /restoring MCP session .*: the replayed initialize was answered 200/);
    await fresh.close();
  });
});
