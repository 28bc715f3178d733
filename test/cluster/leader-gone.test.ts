// SIGKILL of the leader: its followers see its connections close and elect a new leader at once,
// without waiting out an election timeout (Raft.leaderLooksGone, ClusterNode.leaderGoneHint). The
// election timeouts here are long (4-8 s) so the path taken shows in the nodes' counters: a
// survivor whose election timer fired counts it in `elections.on_timeout`.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { raftStatus, run, startCluster, stopAll, waitForLeader, type RaftStatus, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

type Elections = { on_timeout: number; on_leader_gone: number; leader_gone_hints: number };
const electionsOf = (status: RaftStatus) => (status as RaftStatus & { elections: Elections }).elections;

describe('leader gone', () => {
  let nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('SIGKILL of the leader under writes: the survivors elect a leader in the next term on the closed connections, before any election timer fires', async (t) => {
    nodes = await startCluster({ size: 3, dir: tempDir('cluster-leader-gone'), extra: ['--election-timeout-min', '4000', '--election-timeout-max', '8000'] });
    const leader = await waitForLeader(nodes);
    const survivors = nodes.filter((node) => node !== leader);
    // Writes through both followers (forwarded to the leader) while it dies.
    let stopping = false;
    let acknowledged = 0;
    const writer = (async () => {
      for (let step = 0; !stopping; step++) {
        const record = await run(survivors[step % 2]!, 'globalThis.n = (globalThis.n ?? 0) + 1; n', { session: 'gone' }).catch(() => null);
        if (record?.status === 'completed') acknowledged++;
      }
    })();
    while (acknowledged < 3) await new Promise((resolve) => setTimeout(resolve, 50)); // polls a counter the writer moves
    const before = await Promise.all(survivors.map(raftStatus));
    const term = (await raftStatus(leader)).term;
    assert.ok(before.every((status) => status.term === term && status.leader?.node_id === leader.name), 'the survivors follow the leader');

    const killedAt = performance.now();
    await leader.process!.stop('SIGKILL');
    const next = await waitForLeader(survivors);
    t.diagnostic(`new leader ${next.name} seen ${Math.round(performance.now() - killedAt)} ms after SIGKILL of ${leader.name} (election timeout 4-8 s; status polled every 100 ms)`);
    const afterKill = await Promise.all(survivors.map(raftStatus));
    stopping = true;
    await writer;

    assert.notEqual(next.name, leader.name);
    for (const [i, status] of afterKill.entries()) {
      const was = electionsOf(before[i]!);
      const now = electionsOf(status);
      assert.equal(status.term, term + 1, `${status.node_id}: one election, in the next term (no split vote)`);
      assert.equal(now.on_timeout, was.on_timeout, `${status.node_id}: no election timer fired`);
      assert.ok(now.leader_gone_hints > was.leader_gone_hints, `${status.node_id} saw the leader's connections close: ${JSON.stringify(now)}`);
    }
    const winner = afterKill.find((status) => status.node_id === next.name)!;
    assert.ok(electionsOf(winner).on_leader_gone > electionsOf(before[survivors.indexOf(next)]!).on_leader_gone, 'the winner stood on the hint');
    // The new leader takes writes.
    const record = await run(next, 'globalThis.n = (globalThis.n ?? 0) + 1; n', { session: 'gone' });
    assert.equal(record.status, 'completed', JSON.stringify(record));
  });
});
