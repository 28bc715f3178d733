// SIGKILL of the leader under load: a new leader is elected, and nothing acknowledged is lost:
// no session entry, no tag write (the clients' history is linearizable, checked with the
// checker of test/raft/sim), no heap (every acknowledged heap resumes on the survivors).
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { kvModel } from '../raft/sim/kv-model.ts';
import { checkOperations } from '../raft/sim/linearizability.ts';
import { recordTagHistory } from '../support/cluster-history.ts';
import { api, run, startCluster, stopAll, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

describe('failover', () => {
  let nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('SIGKILL of the leader under load: a new leader, no acknowledged session entry, tag or heap lost', async (t) => {
    // Peers as host:port only (the reference's other spelling): the nodes learn each other's ids.
    nodes = await startCluster({ size: 3, dir: tempDir('cluster-failover'), peersById: false });
    assert.ok(nodes[0]!.args.join(' ').includes(`--peers 127.0.0.1:${nodes[1]!.clusterPort},`), 'peers given without ids');
    const leader = await waitForLeader(nodes);
    const dead = new Set<TestNode>();
    const alive = (node: TestNode) => !dead.has(node);
    const heaps: string[] = [];
    for (let i = 0; i < 3; i++) heaps.push((await run(nodes[i]!, `globalThis.key = ${i}`)).heap as string);
    const recorder = recordTagHistory({ nodes, heaps, clients: 3, alive });

    // A session written through the nodes that survive, while the tag clients run.
    const followers = nodes.filter((node) => node !== leader);
    const sessionHeaps: string[] = [];
    let sessionStopping = false;
    const sessionWriter = (async () => {
      for (let step = 0; !sessionStopping; step++) {
        const record = await run(followers[step % 2]!, `globalThis.total = (globalThis.total ?? 0) + 1; total`, { session: 'durable' }).catch(() => null);
        if (record?.status === 'completed') sessionHeaps.push(record.heap as string);
      }
    })();

    await waitUntil('20 acknowledged calls before the kill', async () => (recorder.acknowledged >= 20 && sessionHeaps.length >= 2 ? true : undefined));
    const killedAt = performance.now();
    dead.add(leader);
    await leader.process!.stop('SIGKILL');
    const survivors = nodes.filter(alive);
    const next = await waitForLeader(survivors);
    const failoverMs = performance.now() - killedAt;
    t.diagnostic(`new leader ${next.name} seen ${Math.round(failoverMs)} ms after SIGKILL of ${leader.name} (status polled every 100 ms)`);
    assert.notEqual(next, leader);
    const before = recorder.acknowledged;
    await waitUntil('20 more acknowledged calls after the failover', async () => (recorder.acknowledged >= before + 20 && sessionHeaps.length >= 4 ? true : undefined));
    sessionStopping = true;
    await Promise.all([recorder.stop(), sessionWriter]);

    assert.equal(checkOperations(kvModel, recorder.history), 'ok', 'the tag history is linearizable');
    for (const node of survivors) {
      const listed = await api(node, '/api/tools/list_session_snapshots', { session: 'durable', fields: 'output_heap' });
      const logged = (listed.body.entries as Array<{ output_heap: string }>).map((entry) => entry.output_heap);
      for (const heap of sessionHeaps) assert.ok(logged.includes(heap), `${node.name} has the acknowledged session entry of heap ${heap}`);
      // The session is one chain: each run counted one more.
      const latest = await run(node, 'total', { heap: sessionHeaps.at(-1) });
      assert.equal(latest.status, 'completed', JSON.stringify(latest));
    }
    for (const heap of [...heaps, ...sessionHeaps]) {
      const resumed = await run(survivors[0]!, '1', { heap });
      assert.equal(resumed.status, 'completed', `heap ${heap} resumes after the failover: ${JSON.stringify(resumed)}`);
    }
  });
});
