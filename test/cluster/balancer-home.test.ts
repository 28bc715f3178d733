// Runs routed by their session at the load balancer: nginx (the deployment's configuration,
// deploy/topology.ts) hashes the Mcp-V8-Session header, and the nodes pick a session's home with
// the same function (src/cluster/session-home.ts), so a run that names its session in the header
// reaches its home node through nginx and is not forwarded. First nginx's choice itself, against
// three stand-in upstreams that only say which of them was asked (no node is needed to see where
// nginx sends a request); then three real nodes behind nginx.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { executionNodeHash, nodeHash } from '../../src/exec/ids.ts';
import { homeAmong, homeIndex } from '../../src/cluster/session-home.ts';
import { sessionHeader, sessionRoutingKey } from '../../src/transport/session-header.ts';
import { mcpSessionNodeHash } from '../../src/cluster/mcp-sessions.ts';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { raftStatus, startCluster, stopAll, waitForLeader, type TestNode } from '../support/cluster.ts';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { tempDir } from '../support/server-process.ts';

/** Session names of several shapes: sequential, long, with spaces, slashes and non-ASCII letters (percent-encoded in the header). */
const names = [
  ...Array.from({ length: 60 }, (_, i) => `task-${i}`),
  ...Array.from({ length: 30 }, (_, i) => `agent/${i}/séance ${'x'.repeat(i)}`),
  ...Array.from({ length: 30 }, (_, i) => `会话-${i * 7919}`),
];

function post(url: string, body: unknown, session?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session !== undefined) headers[sessionHeader] = session;
  return fetch(`${url}/api/exec`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
}

describe("nginx's hash of the session header is the nodes' home of the session", () => {
  const standIns: Server[] = [];
  let nginx: Nginx | null = null;
  before(async () => {
    for (let index = 0; index < 3; index++) {
      const server = createServer((request, response) => {
        request.resume();
        request.on('end', () => response.end(String(index)));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      standIns.push(server);
    }
    nginx = await startNginx({ dir: tempDir('balancer-home'), upstreams: standIns.map((server) => `127.0.0.1:${(server.address() as { port: number }).port}`) });
  });
  after(async () => {
    await nginx?.stop();
    for (const server of standIns) server.close();
  });

  test('every session name goes to the upstream homeIndex names; without the header, to every upstream in turn', async () => {
    const reached = [0, 0, 0];
    for (const name of names) {
      const answer = Number(await (await post(nginx!.url, { code: '1', session: name }, sessionRoutingKey(name))).text());
      assert.equal(answer, homeIndex(name, 3), `session '${name}'`);
      reached[answer]!++;
    }
    // The names spread over the three (a hash that sent them all to one node would pass the check above).
    for (const count of reached) assert.ok(count >= names.length / 6, `sessions per upstream: ${reached.join(', ')}`);
    const plain = new Set<number>();
    for (let i = 0; i < 6; i++) plain.add(Number(await (await post(nginx!.url, { code: '1' })).text()));
    assert.deepEqual([...plain].sort(), [0, 1, 2]);
  });
});

describe('runs that name their session in the header reach its home through nginx', () => {
  const nodes: TestNode[] = [];
  let nginx: Nginx | null = null;
  before(async () => {
    const dir = tempDir('balancer-home-cluster');
    nodes.push(...await startCluster({ size: 3, dir }));
    await waitForLeader(nodes);
    // The deployment's configuration, with the upstream that answered added to each answer.
    nginx = await startNginx({
      dir, upstreams: nodes.map((node) => `127.0.0.1:${node.process!.port}`), holders: nodes.map((node) => node.name),
      edit: (config) => config.replace('      proxy_buffering off;', '      proxy_buffering off;\n      add_header x-upstream $upstream_addr always;'),
    });
  });
  after(async () => {
    await nginx?.stop();
    await stopAll(nodes);
  });

  const forwardedRuns = async () => (await Promise.all(nodes.map(raftStatus))).reduce((sum, status) => sum + status.requests_in['/raft/executions'].requests, 0);

  test('with the header every run runs on its home, none is forwarded, and each session goes on in order', async () => {
    const sessions = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    const voters = nodes.map((node) => node.name);
    const forwardedBefore = await forwardedRuns();
    for (let round = 1; round <= 3; round++) {
      for (const session of sessions) {
        const response = await post(nginx!.url, { code: 'globalThis.n = (globalThis.n ?? 0) + 1; n', session, wait_ms: 20_000 }, sessionRoutingKey(session));
        const record = (await response.json()) as { status: string; result: string; execution_id: string };
        assert.equal(response.status, 200, JSON.stringify(record));
        assert.equal(record.result, String(round), `run ${round} of ${session}`);
        assert.equal(executionNodeHash(record.execution_id), nodeHash(homeAmong(session, voters)!), `run ${round} of ${session} ran on its home`);
      }
    }
    assert.equal(await forwardedRuns() - forwardedBefore, 0, 'calls between nodes for runs');
    // Without the header nginx goes round-robin: runs of a session that reach another node are forwarded to its home.
    for (let i = 0; i < 6; i++) {
      const response = await post(nginx!.url, { code: 'n', session: 'alpha', wait_ms: 20_000 });
      assert.equal(((await response.json()) as { result: string }).result, '3');
    }
    assert.ok(await forwardedRuns() - forwardedBefore > 0, 'runs without the header were forwarded');
  });

  test('a run forwarded to its home that outlasts wait_ms is answered 202 running, and its record read later through the node asked', async () => {
    const voters = nodes.map((node) => node.name);
    const asked = nodes.find((node) => node.name !== homeAmong('slow', voters))!;
    const response = await post(asked.baseUrl, { code: 'await new Promise((resolve) => setTimeout(resolve, 1500)); 7', session: 'slow', wait_ms: 100 });
    const reply = (await response.json()) as { execution_id: string; status: string };
    assert.equal(response.status, 202, JSON.stringify(reply));
    assert.equal(reply.status, 'running');
    assert.equal(executionNodeHash(reply.execution_id), nodeHash(homeAmong('slow', voters)!), 'it ran on the home');
    const later = await fetch(`${asked.baseUrl}/api/executions/${reply.execution_id}?wait_ms=20000`, { signal: AbortSignal.timeout(30_000) });
    const record = (await later.json()) as { status: string; result: string };
    assert.deepEqual([record.status, record.result], ['completed', '7']);
  });

  test('a Streamable HTTP session\'s requests through nginx reach the node that holds it (its id names it), none forwarded', async () => {
    const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
    const init = await fetch(`${nginx!.url}/mcp`, {
      method: 'POST', headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    assert.equal(init.status, 200, await init.clone().text());
    await init.text();
    const sessionId = init.headers.get('mcp-session-id')!;
    const holder = nodes.find((node) => nodeHash(node.name) === mcpSessionNodeHash(sessionId))!;
    assert.equal(init.headers.get('x-upstream'), `127.0.0.1:${holder.process!.port}`, 'initialize was answered by the node the id names');
    const session = { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION };
    const initialized = await fetch(`${nginx!.url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    assert.equal(initialized.status, 202, await initialized.text());
    for (let id = 2; id < 8; id++) {
      const ping = await fetch(`${nginx!.url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }) });
      const text = await ping.text();
      assert.equal(ping.status, 200, text);
      assert.match(text, new RegExp(`"id":${id}`));
      assert.equal(ping.headers.get('x-upstream'), `127.0.0.1:${holder.process!.port}`, `ping ${id} went to the holder`);
    }
    // Without the routing (another node asked directly) the request is forwarded to the holder, as before.
    const other = nodes.find((node) => node !== holder)!;
    const forwarded = await fetch(`${other.baseUrl}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) });
    assert.equal(forwarded.status, 200, await forwarded.clone().text());
    assert.match(await forwarded.text(), /"id":9/);
  });

  test('a header that does not name the body\'s session is refused, saying what differs', async () => {
    const other = await post(nodes[0]!.baseUrl, { code: '1', session: 'alpha' }, 'beta');
    assert.equal(other.status, 400);
    assert.match(((await other.json()) as { error: string }).error, /mcp-v8-session header names session 'beta', but the body's session is 'alpha'/);
    const none = await post(nginx!.url, { code: '1' }, 'alpha');
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { error: string }).error, /names session 'alpha', but the body has no session/);
    const malformed = await post(nodes[1]!.baseUrl, { code: '1', session: 'alpha' }, '%E0%A4%A');
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { error: string }).error, /percent-encoded/);
    // Encoded, a name with any characters passes.
    const encoded = await post(nodes[2]!.baseUrl, { code: '1', session: 'séance 1/2', wait_ms: 20_000 }, sessionRoutingKey('séance 1/2'));
    assert.equal(encoded.status, 200, await encoded.clone().text());
  });
});
