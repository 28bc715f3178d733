// A follower killed and restarted catches up (from a snapshot: the log is compacted every 20
// entries here); a node started with --join catches up as a learner, becomes a voter, and leaves.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { kvModel } from '../raft/sim/kv-model.ts';
import { checkOperations } from '../raft/sim/linearizability.ts';
import { recordTagHistory } from '../support/cluster-history.ts';
import { runAndWait } from '../support/mcp-client.ts';
import { api, freePort, launch, nodeArgs, raftStatus, run, startCluster, stopAll, waitForApplied, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { runToExit, tempDir } from '../support/server-process.ts';

const compactEvery = ['--raft-snapshot-entries', '20'];

async function tagMany(node: TestNode, heap: string, count: number, label: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const answer = await api(node, '/api/tools/set_heap_tags', { heap, tags: { [label]: String(i) } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  }
}

describe('membership and catch-up', () => {
  const nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('a follower killed and restarted catches up, from a snapshot once the log was compacted past it', async () => {
    const dir = tempDir('cluster-membership');
    nodes.push(...await startCluster({ size: 3, dir, extra: compactEvery }));
    const leader = await waitForLeader(nodes);
    const follower = nodes.find((node) => node !== leader)!;
    const heap = (await run(leader, 'globalThis.v = "kept"; v', { session: 'catch-up' })).heap as string;
    await follower.process!.stop('SIGKILL');
    const live = nodes.filter((node) => node !== follower);
    await tagMany(live[0]!, heap, 45, 'while-down');
    const leaderStatus = await raftStatus(await waitForLeader(live));
    assert.ok(leaderStatus.snapshot_index > 0, 'the leader compacted its log');
    await launch(follower);
    await waitForApplied([follower], leaderStatus.commit);
    const status = await raftStatus(follower);
    assert.ok(status.snapshot_index >= leaderStatus.snapshot_index - 20, `the follower caught up from a snapshot: ${JSON.stringify(status)}`);
    assert.deepEqual((await api(follower, '/api/tools/get_heap_tags', { heap })).body.tags, { 'while-down': '44' });
    const resumed = await run(follower, 'v + "!"', { session: 'catch-up' });
    assert.equal(resumed.result, 'kept!');
  });

  test('--join adds a learner that catches up from a snapshot, then a voter; leave removes it; under load, linearizable throughout', async () => {
    const seed = nodes[0]!;
    const founders = [...nodes];
    const heaps = [(await run(founders[0]!, '"k1"')).heap as string, (await run(founders[1]!, '"k2"')).heap as string];
    const load = recordTagHistory({ nodes: founders, heaps, clients: 2, alive: () => true });
    const clusterPort = await freePort();
    const joiner: TestNode = {
      name: 'n4', clusterPort, dir: seed.dir, process: null, baseUrl: '',
      args: nodeArgs({ name: 'n4', clusterPort, dir: seed.dir, join: `127.0.0.1:${seed.clusterPort}`, extra: compactEvery }),
    };
    // A node id already in the cluster is refused at start, with the reason.
    const clash = await runToExit(nodeArgs({ name: 'n2', clusterPort: await freePort(), dir: tempDir('cluster-clash'), join: `127.0.0.1:${seed.clusterPort}` }));
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /node id n2 is already a member of the cluster, at 127\.0\.0\.1:\d+/);
    await launch(joiner);
    nodes.push(joiner);
    await joiner.process!.waitForStderr(/joined the cluster as a learner/);
    await waitUntil('n4 promoted to voter on every node', async () => {
      const statuses = await Promise.all(nodes.map(raftStatus));
      return statuses.every((status) => status.members.some((member) => member.node_id === 'n4' && member.suffrage === 'voter')) ? true : undefined;
    });
    const joined = await raftStatus(joiner);
    assert.equal(joined.suffrage, 'voter');
    assert.ok(joined.snapshot_index > 0, 'the joiner started from a snapshot (the log was compacted)');
    // What was written before it joined is there, and it takes writes.
    const sessions = await api(joiner, '/api/tools/list_session_snapshots', { session: 'catch-up', fields: 'index' });
    assert.deepEqual(sessions.body.entries, [{ index: 0 }, { index: 1 }]);
    const made = await run(joiner, 'v + "?"', { session: 'catch-up' });
    assert.equal(made.result, 'kept?');
    // The reference's scenario: an MCP client on the node that joined.
    const client = new Client({ name: 'on-the-joiner', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${joiner.baseUrl}/mcp`)));
    try {
      assert.equal((await runAndWait(client, 'v + "!"', { session: 'catch-up' })).result, 'kept!');
    } finally {
      await client.close();
    }

    const leave = await fetch(`http://127.0.0.1:${nodes[1]!.clusterPort}/raft/leave`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node_id: 'n4' }) });
    assert.deepEqual(await leave.json(), { removed: true });
    const remaining = nodes.filter((node) => node !== joiner);
    await waitUntil('n4 gone from every member list', async () => {
      const statuses = await Promise.all(remaining.map(raftStatus));
      return statuses.every((status) => status.members.length === 3 && !status.members.some((member) => member.node_id === 'n4')) ? true : undefined;
    });
    // The three go on without it.
    const after3 = await run(remaining[2]!, 'v', { session: 'catch-up' });
    assert.equal(after3.result, 'kept');
    const before = load.acknowledged;
    await waitUntil('more acknowledged tag calls after the leave', async () => (load.acknowledged >= before + 10 ? true : undefined));
    await load.stop();
    assert.ok(load.history.length > 20, `tag calls made during the join and the leave: ${load.history.length}`);
    assert.equal(checkOperations(kvModel, load.history), 'ok', 'the tag history across the join and the leave is linearizable');

    // A leader stopped with SIGTERM hands leadership over before it goes.
    const leader = await waitForLeader(remaining);
    await leader.process!.stop('SIGTERM');
    assert.match(leader.process!.stderr(), /stopping: handed leadership over/);
    const successor = await waitForLeader(remaining.filter((node) => node !== leader));
    assert.notEqual(successor, leader);
  });
});
