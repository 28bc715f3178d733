// Streamable HTTP sessions behind a load balancer that knows nothing of them: three real nodes
// (with a cluster secret, so forwarded requests are signed), Debian's nginx round-robin in front
// (the deployment's own configuration), real MCP SDK clients. A session made on one node is served
// by every other one (forwarded to its holder, streams included); its holder killed, the same client
// goes on in the same session (a survivor rebuilds it from its replicated record).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { nginxConfig } from '../../deploy/topology.ts';
import { nodeHash } from '../../src/exec/ids.ts';
import { mcpSessionNodeHash } from '../../src/cluster/mcp-sessions.ts';
import { freePort, startCluster, stopAll, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { tempDir } from '../support/server-process.ts';

const secret = 'mcp-sessions-test-secret-0123456789abcdef';
const upstreamHeader = 'x-test-upstream';

interface Seen {
  method: string;
  status: number;
  upstream: string | null;
}

/** A client through `url` that records, per HTTP request, which node nginx chose ($upstream_addr). */
function recordingClient(url: string, seen: Seen[], sessionId?: string): { client: Client; transport: StreamableHTTPClientTransport } {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(sessionId === undefined ? {} : { sessionId }),
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      seen.push({ method: init?.method ?? 'GET', status: response.status, upstream: response.headers.get(upstreamHeader) });
      return response;
    },
  });
  return { client: new Client({ name: 'behind-nginx', version: '1.0.0' }), transport };
}

/** Raw Streamable HTTP headers of a session's request. */
function sessionHeaders(sessionId: string): Record<string, string> {
  return { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-session-id': sessionId, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
}

describe('Streamable HTTP sessions behind nginx, no --stateless-http', () => {
  let nodes: TestNode[] = [];
  let nginx: ChildProcess | null = null;
  let nginxLog = '';
  let lb = '';

  before(async () => {
    const dir = tempDir('mcp-sessions');
    nodes = await startCluster({ size: 3, dir, extra: ['--cluster-secret', secret] });
    const nginxDir = join(dir, 'nginx');
    mkdirSync(nginxDir, { recursive: true });
    const port = await freePort();
    // The deployment's configuration, with the chosen node added to each answer so the test can see the round-robin.
    const config = nginxConfig({ listenPort: port, upstreams: nodes.map((node) => `127.0.0.1:${node.process!.port}`), prefix: nginxDir })
      .replace('      proxy_buffering off;', `      proxy_buffering off;\n      add_header ${upstreamHeader} $upstream_addr always;`);
    writeFileSync(join(nginxDir, 'nginx.conf'), config);
    nginx = spawn('nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.setEncoding('utf8').on('data', (chunk: string) => { nginxLog += chunk; });
    lb = `http://127.0.0.1:${port}`;
    await waitUntil('nginx answering', async () => ((await fetch(`${lb}/healthz`, { signal: AbortSignal.timeout(2_000) })).status === 200 ? true : undefined))
      .catch((error: Error) => { throw new Error(`${error.message}\n${nginxLog.slice(-2000)}`); });
    await waitForLeader(nodes);
  });

  after(async () => {
    // SIGTERM, not SIGKILL: nginx's master stops its worker (which holds our stderr pipe) before it exits.
    if (nginx !== null && nginx.exitCode === null && nginx.signalCode === null) {
      const closed = once(nginx, 'close');
      nginx.kill('SIGTERM');
      await closed;
    }
    await stopAll(nodes);
  });

  test('a session made through nginx is served by every node; its GET stream and DELETE are forwarded; its holder SIGKILLed, the same client goes on in the same session', async () => {
    const seen: Seen[] = [];
    const { client, transport } = recordingClient(`${lb}/mcp`, seen);
    await client.connect(transport);
    const sessionId = transport.sessionId!;
    const holderHash = mcpSessionNodeHash(sessionId);
    const holder = nodes.find((node) => nodeHash(node.name) === holderHash);
    assert.ok(holder !== undefined, `the session id ${sessionId} names one of the nodes`);

    const tools = await client.listTools();
    assert.ok(tools.tools.some((tool) => tool.name === 'run_js'));
    const started = await callTool(client, 'run_js', { code: 'globalThis.x = 20; x + 1' });
    assert.equal(started.isError, false, started.text);
    const id = started.value.execution_id as string;
    const done = await waitUntil('the run to finish, polled through nginx', async () => {
      const polled = await callTool(client, 'get_execution', { execution_id: id, wait_ms: 2_000 });
      assert.equal(polled.isError, false, polled.text);
      return polled.value.status === 'running' || polled.value.status === 'queued' ? undefined : polled.value;
    });
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.result, '21');
    // Round-robin: the session's POSTs reached more than one node, and every one was answered.
    const posts = seen.filter((request) => request.method === 'POST');
    assert.ok(posts.every((request) => request.status === 200 || request.status === 202), JSON.stringify(posts));
    const upstreams = new Set(posts.map((request) => request.upstream));
    assert.ok(upstreams.size >= 2, `requests of one session reached ${[...upstreams].join(', ')}`);
    // The client's GET stream (opened after initialize) was answered as a stream, wherever it landed.
    const stream = seen.find((request) => request.method === 'GET');
    assert.equal(stream?.status, 200, JSON.stringify(seen));

    // Every node, asked directly, serves the session (two of them by forwarding to its holder).
    for (const node of nodes) {
      const direct = recordingClient(`${node.baseUrl}/mcp`, [], sessionId);
      await direct.client.connect(direct.transport);
      const again = await callTool(direct.client, 'get_execution', { execution_id: id });
      assert.equal(again.value.result, '21', `${node.name}: ${again.text}`);
      await direct.transport.close();
    }

    // A second session, by hand: its GET stream opened on a node that does not hold it is streamed
    // (headers before any event), and a DELETE through a third node ends it there.
    const other = nodes.filter((node) => node !== holder);
    const init = await fetch(`${holder.baseUrl}/mcp`, {
      method: 'POST', headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    assert.equal(init.status, 200);
    const second = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    assert.equal(mcpSessionNodeHash(second), nodeHash(holder.name));
    const initialized = await fetch(`${other[0]!.baseUrl}/mcp`, { method: 'POST', headers: sessionHeaders(second), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    assert.equal(initialized.status, 202, await initialized.text());
    const get = await fetch(`${other[0]!.baseUrl}/mcp`, { headers: sessionHeaders(second) });
    assert.equal(get.status, 200);
    assert.match(get.headers.get('content-type') ?? '', /text\/event-stream/);
    const streamEnded = get.text();
    const deleted = await fetch(`${other[1]!.baseUrl}/mcp`, { method: 'DELETE', headers: sessionHeaders(second) });
    assert.equal(deleted.status, 200, await deleted.text());
    await streamEnded; // the holder closed the session: the forwarded stream ends on the node that carried it
    const gone = await fetch(`${other[0]!.baseUrl}/mcp`, { method: 'POST', headers: sessionHeaders(second), body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    assert.equal(gone.status, 404);

    // A stateful run in the session, before its holder dies.
    const before = await runAndWait(client, 'globalThis.count = 40; count', { session: 'survives-its-node' });
    assert.equal(before.result, '40');

    // The holder killed: the same client, the same session id, no new initialize, goes on through
    // nginx. A survivor takes the session over from its replicated record and answers.
    await holder.process!.stop('SIGKILL');
    holder.process = null;
    const survivors = nodes.filter((node) => node !== holder);
    await waitForLeader(survivors);
    const afterKill = seen.length;
    assert.ok((await client.listTools()).tools.some((tool) => tool.name === 'run_js'));
    const continued = await runAndWait(client, 'count += 2; count', { session: 'survives-its-node' });
    assert.equal(continued.result, '42', JSON.stringify(continued));
    const polled = await callTool(client, 'get_execution', { execution_id: continued.execution_id as string });
    assert.equal(polled.value.result, '42', polled.text);
    assert.equal(transport.sessionId, sessionId, 'the client kept its session');
    const later = seen.slice(afterKill);
    assert.ok(later.length > 0 && later.every((request) => request.status === 200 || request.status === 202), JSON.stringify(later));
    assert.ok(!seen.slice(1).some((request) => request.method === 'POST' && request.status === 404), 'never told to initialize again');
    // One survivor took it over (one adoption committed), and every survivor serves it (the other by forwarding to the new owner).
    const takers = survivors.filter((node) => node.process!.stderr().split('\n').some((line) => line.includes('took over an MCP session') && line.includes(sessionId)));
    assert.equal(takers.length, 1, survivors.map((node) => node.process!.stderr().split('\n').filter((line) => line.includes(sessionId)).join('\n')).join('\n---\n'));
    for (const node of survivors) {
      const direct = recordingClient(`${node.baseUrl}/mcp`, [], sessionId);
      await direct.client.connect(direct.transport);
      const again = await runAndWait(direct.client, 'count', { session: 'survives-its-node' });
      assert.equal(again.result, '42', `${node.name}: ${JSON.stringify(again)}`);
      await direct.transport.close();
    }
    await client.close();

    // The second session was DELETEd before the kill: it stays gone everywhere (its record went with it).
    for (const node of survivors) {
      const stillGone = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: sessionHeaders(second), body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }) });
      assert.equal(stillGone.status, 404, `${node.name}: ${await stillGone.text()}`);
    }
  });
});
