// A cluster of one (--cluster-port without --peers): it elects itself, serves MCP over SSE, and
// its sessions survive SIGKILL and a restart, rebuilt from the Raft log alone.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { freePort, launch, nodeArgs, raftStatus, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { tempDir } from '../support/server-process.ts';

async function withClient<Value>(node: TestNode, body: (client: Client) => Promise<Value>): Promise<Value> {
  const client = new Client({ name: 'single-node-cluster', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(`${node.baseUrl}/sse`)));
  try {
    return await body(client);
  } finally {
    await client.close();
  }
}

describe('a cluster of one node', () => {
  let node: TestNode | null = null;
  after(() => node?.process?.stop('SIGKILL'));

  test('elects itself, serves SSE, and keeps its sessions across SIGKILL and a restart', async () => {
    const clusterPort = await freePort();
    const dir = tempDir('cluster-single');
    const args = nodeArgs({ name: 'solo', clusterPort, dir, extra: ['--raft-snapshot-entries', '5'] }).map((arg) => (arg === '--http-port' ? '--sse-port' : arg));
    node = await launch({ name: 'solo', clusterPort, dir, args, process: null, baseUrl: '' });
    await waitForLeader([node]);
    const status = await raftStatus(node);
    assert.deepEqual(status.members.map((member) => [member.node_id, member.suffrage]), [['solo', 'voter']]);
    await withClient(node, async (client) => {
      for (let i = 1; i <= 4; i++) assert.equal((await runAndWait(client, `globalThis.n = (globalThis.n ?? 0) + 1; n`, { session: 'solo' })).result, String(i));
    });
    // The snapshot is taken after the entries apply, in the background: wait for it (the check
    // below is that it survived the kill), or a fast kill races it (seen under load).
    const solo = node;
    await waitUntil('the log compacted', async () => ((await raftStatus(solo)).snapshot_index > 0 ? true : undefined));
    await node.process!.stop('SIGKILL');
    await launch(node);
    await waitForLeader([node]);
    assert.ok((await raftStatus(node)).snapshot_index > 0, 'the compacted log survived the kill');
    await withClient(node, async (client) => {
      const entries = (await callTool(client, 'list_session_snapshots', { session: 'solo', fields: 'index' })).value.entries;
      assert.deepEqual(entries, [0, 1, 2, 3].map((index) => ({ index })));
      assert.equal((await runAndWait(client, 'n + 1', { session: 'solo' })).result, '5');
    });
  });
});
