// Resumable Streamable HTTP streams in a cluster of three real nodes, with the SDK's own Client: a
// tool call's SSE stream is cut after its priming event, and the client's reconnection (Last-Event-ID)
// lands on a node that does not hold the session: that node forwards it to the holder, which has
// the stream's events, and the answer arrives. With the holder SIGKILLed, its events are gone with
// it: the survivor that takes the session over refuses the cursor with the reason (never an answer
// made up, never a replay with a hole).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { nodeHash } from '../../src/exec/ids.ts';
import { mcpSessionNodeHash } from '../../src/cluster/mcp-sessions.ts';
import { startCluster, stopAll, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { cuttingClient, runningId } from '../support/cut-stream.ts';
import { callTool } from '../support/mcp-client.ts';
import { tempDir } from '../support/server-process.ts';

const longRun = 'await new Promise((resolve) => setTimeout(resolve, 600_000))';

describe('a cut SSE stream resumed through another node of a cluster', () => {
  let nodes: TestNode[] = [];
  let observer: Client;
  before(async () => {
    nodes = await startCluster({ size: 3, dir: tempDir('mcp-resume'), extra: ['--cluster-secret', 'mcp-resume-test-secret-0123456789abcdef'] });
    await waitForLeader(nodes);
    observer = new Client({ name: 'observer', version: '1.0.0' });
    await observer.connect(new StreamableHTTPClientTransport(new URL(`${nodes[2]!.baseUrl}/mcp`)));
  });
  after(async () => {
    await observer.close().catch(() => {});
    await stopAll(nodes);
  });

  test('the reconnection reaches a node without the stream: forwarded to the holder, the answer arrives', async () => {
    const holder = nodes[0]!;
    const { client, resumedFrom, reconnected } = await cuttingClient(holder.baseUrl, Promise.resolve(), nodes[1]!.baseUrl);
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    assert.equal(mcpSessionNodeHash(sessionId), nodeHash(holder.name), 'the session is held where it was initialized');
    const answer = callTool(client, 'run_js', { code: longRun, wait_ms: 50_000 });
    const id = await runningId(observer);
    await reconnected;
    assert.equal((await callTool(observer, 'cancel_execution', { execution_id: id })).value.ok, true);
    const outcome = await answer;
    assert.equal(outcome.value.status, 'cancelled', outcome.text);
    assert.ok(resumedFrom.length >= 1, 'the client reconnected');
    // nodes[1] served the reconnection by forwarding (it has no events of its own and did not take the session over).
    assert.ok(!nodes[1]!.process!.stderr().split('\n').some((line) => line.includes(sessionId) && /took over|restored/.test(line)), nodes[1]!.process!.stderr().slice(-2000));
    await client.close();
  });

  test('the holder SIGKILLed after the cut: the survivor taking the session over refuses the cursor and says why', async () => {
    const holder = nodes[0]!;
    let release = (): void => {};
    const { client, resumedFrom } = await cuttingClient(holder.baseUrl, new Promise<void>((resolve) => { release = resolve; }), nodes[1]!.baseUrl);
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    void callTool(client, 'run_js', { code: longRun, wait_ms: 50_000 }).catch(() => {});
    await runningId(observer);
    const cursor = await waitUntil('the client to try to resume', () => Promise.resolve(resumedFrom[0]));
    await holder.process!.stop('SIGKILL');
    holder.process = null;
    await waitForLeader(nodes.slice(1));
    const refused = await fetch(`${nodes[1]!.baseUrl}/mcp`, {
      headers: { accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION, 'last-event-id': cursor },
    });
    const text = await refused.text();
    assert.equal(refused.status, 400, text);
    assert.match(text, /cannot resume from Last-Event-ID: this node has no events of stream .* the node that held the session stopped/);
    // The session itself goes on at the survivor: a new request in it is answered.
    const listed = await fetch(`${nodes[1]!.baseUrl}/mcp`, {
      method: 'POST',
      headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-session-id': sessionId, 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
      body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list' }),
    });
    assert.equal(listed.status, 200, await listed.text());
    release();
    await client.close();
  });
});
