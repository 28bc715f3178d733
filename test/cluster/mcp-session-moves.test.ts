// MCP sessions that moved while a node was not looking, with real processes and a FaultProxy on
// every link between nodes (test/support/fault-proxy.ts stands in for the network):
// - a node cut off from the log (it has not applied an adoption) forwards a request to the old
//   owner, which answers that the session moved and names its owner: the request is served there,
//   not answered 404 (the client would have had to initialize again);
// - an owner cut off while its session is taken over elsewhere, then caught up from a snapshot
//   (the log compacted past the adoption), lets its live copy go: its open GET stream ends, and the
//   client's new GET stream on another node is served by the new owner (a Last-Event-ID of the old
//   owner's events is refused there with the reason: it has none of them).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { FaultProxy } from '../support/fault-proxy.ts';
import { freePort, raftStatus, startCluster, stopAll, waitForApplied, waitForLeader, waitUntil, clusterWaitMs, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

const size = 4;

function headers(sessionId?: string): Record<string, string> {
  return {
    accept: 'application/json, text/event-stream', 'content-type': 'application/json',
    ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION }),
  };
}

async function initialize(node: TestNode): Promise<string> {
  const init = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: headers(), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'moves', version: '1' } } }) });
  assert.equal(init.status, 200, await init.text());
  const sessionId = init.headers.get('mcp-session-id')!;
  const initialized = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: headers(sessionId), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  assert.equal(initialized.status, 202, await initialized.text());
  return sessionId;
}

async function listTools(node: TestNode, sessionId: string): Promise<{ status: number; listed: boolean; text: string }> {
  const answer = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: headers(sessionId), body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
  const text = await answer.text();
  return { status: answer.status, listed: text.includes('"run_js"'), text };
}

function logged(node: TestNode, what: string, sessionId: string): boolean {
  return node.process!.stderr().split('\n').some((line) => line.includes(what) && line.includes(sessionId));
}

describe('MCP sessions that moved while a node was cut off', () => {
  let nodes: TestNode[] = [];
  const proxies = new Map<string, FaultProxy>();
  after(async () => {
    await stopAll(nodes);
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
  });
  /** Every link into (or out of) node `index`. */
  const links = (index: number, direction: 'in' | 'out') => [...proxies].filter(([key]) => key.split('-')[direction === 'in' ? 1 : 0] === String(index)).map(([, proxy]) => proxy);

  test('a stale forwarder is sent on to the new owner; an owner that catches up from a snapshot lets its live copy (and GET stream) go', async () => {
    const ports: number[] = [];
    for (let i = 0; i < size; i++) ports.push(await freePort());
    for (let from = 0; from < size; from++) {
      for (let to = 0; to < size; to++) if (from !== to) proxies.set(`${from}-${to}`, await FaultProxy.start(ports[to]!));
    }
    nodes = await startCluster({ size, dir: tempDir('mcp-moves'), ports, extra: ['--raft-snapshot-entries', '20'], peerAddr: (from, to) => `127.0.0.1:${proxies.get(`${from}-${to}`)!.port}` });
    const leader = await waitForLeader(nodes);
    const [owner, adopter, stale] = nodes.filter((node) => node !== leader) as [TestNode, TestNode, TestNode];
    const at = (node: TestNode) => nodes.indexOf(node);
    const link = (from: TestNode, to: TestNode) => proxies.get(`${at(from)}-${at(to)}`)!;

    // 1. The stale forwarder. `stale` knows the session (owner: `owner`), then hears nothing more.
    const first = await initialize(owner);
    await waitForApplied([stale], (await raftStatus(leader)).commit);
    for (const proxy of links(at(stale), 'in')) proxy.cut();
    // `adopter` cannot reach `owner` (refused, as if it were down) and takes the session over.
    await link(adopter, owner).refuse();
    const taken = await listTools(adopter, first);
    assert.ok(taken.listed, taken.text);
    assert.ok(logged(adopter, 'took over an MCP session', first));
    // `owner` applies the adoption (it is connected to the leader) and lets its copy go.
    await owner.process!.waitForStderr(new RegExp(`"sessionId":"${first}"[^\\n]*let go of an MCP session another node took over`), clusterWaitMs);
    // `stale` still thinks `owner` holds it and forwards there: `owner` names `adopter`, and the
    // request is served there. The client is the SDK's, going on in its session (no initialize).
    const client = new Client({ name: 'moves', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${stale.baseUrl}/mcp`), { sessionId: first }));
    const throughStale = await client.listTools();
    assert.ok(throughStale.tools.some((tool) => tool.name === 'run_js'), JSON.stringify(throughStale));
    await client.close();
    assert.ok(logged(stale, 'went to a node the session moved away from', first), 'the forwarder was told the session moved');
    assert.equal(logged(stale, 'took over an MCP session', first) || logged(owner, 'restored an MCP session', first), false, 'nobody else rebuilt it');
    for (const proxy of links(at(stale), 'in')) proxy.heal();
    await link(adopter, owner).reopen();
    await waitForApplied(nodes, (await raftStatus(leader)).commit);

    // 2. The owner catching up from a snapshot. A session on `owner` with its GET stream open there.
    const second = await initialize(owner);
    const stream = await fetch(`${owner.baseUrl}/mcp`, { headers: headers(second) });
    assert.equal(stream.status, 200);
    const streamEnded = stream.text().then(() => 'ended', () => 'ended');
    await waitForApplied(nodes, (await raftStatus(leader)).commit);
    // `owner` cut off both ways; `adopter` finds it refusing and takes the session over.
    for (const proxy of [...links(at(owner), 'in'), ...links(at(owner), 'out')]) proxy.cut();
    await link(adopter, owner).refuse();
    assert.ok((await listTools(adopter, second)).listed);
    assert.ok(logged(adopter, 'took over an MCP session', second));
    const adoptedAt = (await raftStatus(leader)).commit;
    // Writes until the majority's log is compacted past the adoption: `owner` can only catch up from a snapshot.
    await waitUntil('the log compacted past the adoption', async () => {
      const ended = await initialize(adopter);
      assert.equal((await fetch(`${adopter.baseUrl}/mcp`, { method: 'DELETE', headers: headers(ended) })).status, 200);
      const statuses = await Promise.all([leader, adopter, stale].map(raftStatus));
      return statuses.every((status) => status.snapshot_index > adoptedAt) ? true : undefined;
    });
    assert.equal(logged(owner, 'let go of an MCP session', second), false, 'cut off, the owner still holds its copy');
    const snapshotsBefore = (await raftStatus(owner)).requests_in['/raft/snapshot'].requests;
    for (const proxy of [...links(at(owner), 'in'), ...links(at(owner), 'out')]) proxy.heal();
    await link(adopter, owner).reopen();
    await waitForApplied([owner], (await raftStatus(leader)).commit);
    assert.ok((await raftStatus(owner)).requests_in['/raft/snapshot'].requests > snapshotsBefore, 'the owner caught up from a snapshot');
    // Its live copy goes, and with it the GET stream the client had open there.
    await owner.process!.waitForStderr(new RegExp(`"sessionId":"${second}"[^\\n]*let go of an MCP session another node took over`), clusterWaitMs);
    let timer: NodeJS.Timeout | undefined;
    const stillOpen = new Promise((resolve) => { timer = setTimeout(resolve, clusterWaitMs, 'still open'); });
    assert.equal(await Promise.race([streamEnded, stillOpen]).finally(() => clearTimeout(timer)), 'ended');
    // The client opens its GET stream again, on another node: the new owner serves it (forwarded).
    const reopened = await fetch(`${stale.baseUrl}/mcp`, { headers: headers(second) });
    assert.equal(reopened.status, 200, await (reopened.status === 200 ? Promise.resolve('') : reopened.text()));
    assert.match(reopened.headers.get('content-type') ?? '', /text\/event-stream/);
    await reopened.body?.cancel();
    // A Last-Event-ID of events the old owner kept (src/transport/mcp-events.ts) reaches the new owner, which
    // has none of them: refused with the reason, never served as if nothing had been missed.
    const resumed = await fetch(`${stale.baseUrl}/mcp`, { headers: { ...headers(second), 'last-event-id': 'a-stream-on-the-old-owner.3' } });
    const refusal = await resumed.text();
    assert.equal(resumed.status, 400, refusal);
    assert.match(refusal, /cannot resume from Last-Event-ID: this node has no events of stream 'a-stream-on-the-old-owner'/);
    // And through the old owner, its requests go to the new one.
    const throughOwner = await listTools(owner, second);
    assert.ok(throughOwner.listed, throughOwner.text);
    assert.equal(logged(owner, 'restored an MCP session', second), false);
  });
});
