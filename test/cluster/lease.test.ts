// Lease reads (--raft-lease-reads) in real processes: the leader answers reads without a heartbeat
// round while a quorum answered one within its lease (src/raft/reads.ts, leaseTicks: shorter than
// the election timeout by the clock-drift margin). Cut off from its followers, it must not answer
// with what it holds once the majority may have moved on: every link between nodes goes through a
// FaultProxy, the old leader is read in a loop while the majority elects a leader and writes, and
// no read that began after that write was acknowledged may return the value before it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FaultProxy } from '../support/fault-proxy.ts';
import { api, freePort, run, startCluster, stopAll, waitForApplied, waitForLeader, raftStatus, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

interface Read {
  startedAt: number;
  endedAt: number;
  status: number;
  tags: unknown;
}

describe('lease reads', () => {
  const clusters: Array<{ nodes: TestNode[]; proxies: Map<string, FaultProxy> }> = [];
  after(async () => {
    for (const { nodes, proxies } of clusters) {
      for (const node of nodes) if (node.process !== null) process.kill(node.process.child.pid!, 'SIGCONT');
      await stopAll(nodes);
      await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
    }
  });

  /** Three nodes with lease reads, every link between them through a FaultProxy; a heap tagged {v: 'before'} read on every node. */
  async function startCut(name: string) {
    const proxies = new Map<string, FaultProxy>();
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let from = 0; from < 3; from++) {
      for (let to = 0; to < 3; to++) if (from !== to) proxies.set(`${from}-${to}`, await FaultProxy.start(ports[to]!));
    }
    const cluster = { nodes: [] as TestNode[], proxies };
    clusters.push(cluster);
    const nodes = cluster.nodes = await startCluster({ size: 3, dir: tempDir(name), ports, extra: ['--raft-lease-reads', '--cluster-write-timeout', '3000'], peerAddr: (from, to) => `127.0.0.1:${proxies.get(`${from}-${to}`)!.port}` });
    const leader = await waitForLeader(nodes);
    const heap = (await run(leader, '1')).heap as string;
    assert.equal((await api(leader, '/api/tools/set_heap_tags', { heap, tags: { v: 'before' } })).status, 200);
    await waitForApplied(nodes, (await raftStatus(leader)).commit);
    for (const node of nodes) assert.deepEqual((await api(node, '/api/tools/get_heap_tags', { heap })).body.tags, { v: 'before' }, node.name);
    const cut = () => {
      const index = nodes.indexOf(leader);
      for (const [key, proxy] of proxies) if (key.split('-').includes(String(index))) proxy.cut();
    };
    const heal = () => { for (const proxy of proxies.values()) proxy.heal(); };
    return { nodes, leader, heap, cut, heal };
  }

  test('a leader cut off from its followers serves no stale read once the majority has written', async (t) => {
    const { nodes, leader, heap, cut, heal } = await startCut('cluster-lease');
    cut();
    const reads: Read[] = [];
    let writtenAt = Infinity;
    let readsAfterWrite = 0;
    // The old leader, read one request after another from the cut on, until two reads began after the majority's write.
    const reader = (async () => {
      while (readsAfterWrite < 2) {
        const startedAt = Date.now();
        const answer = await api(leader, '/api/tools/get_heap_tags', { heap }, 20_000);
        reads.push({ startedAt, endedAt: Date.now(), status: answer.status, tags: answer.body.tags ?? answer.body.code });
        if (startedAt > writtenAt) readsAfterWrite++;
      }
    })();
    const majority = nodes.filter((node) => node !== leader);
    const next = await waitForLeader(majority);
    assert.notEqual(next, leader);
    const written = await api(majority[0]!, '/api/tools/set_heap_tags', { heap, tags: { v: 'after' } });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    writtenAt = Date.now();
    await reader;
    t.diagnostic(`reads of the cut-off leader: ${reads.map((read) => `${read.startedAt - writtenAt} ms ${read.status} ${JSON.stringify(read.tags)}`).join('; ')}`);
    for (const read of reads) {
      if (read.startedAt > writtenAt) {
        assert.equal(read.status, 503, `a read begun after the majority's write is refused, not served stale: ${JSON.stringify(read)}`);
        assert.equal(read.tags, 'MCPV8_ERR_NO_QUORUM');
      } else {
        assert.ok(read.status === 503 || JSON.stringify(read.tags) === JSON.stringify({ v: 'before' }), JSON.stringify(read));
      }
    }

    heal();
    await waitForApplied([leader], (await raftStatus(await waitForLeader(nodes))).commit);
    assert.deepEqual((await api(leader, '/api/tools/get_heap_tags', { heap })).body.tags, { v: 'after' });
  });

  test('a leader stopped past its lease (SIGSTOP) counts the time it was stopped: it wakes to no stale read', async (t) => {
    const { nodes, leader, heap, cut, heal } = await startCut('cluster-lease-stopped');
    // Stopped within a heartbeat of a quorum's answer, its lease had most of its ticks left; its
    // timer fires once when it wakes, whatever the time it was stopped.
    process.kill(leader.process!.child.pid!, 'SIGSTOP');
    cut();
    const majority = nodes.filter((node) => node !== leader);
    const next = await waitForLeader(majority);
    assert.notEqual(next, leader);
    const written = await api(majority[0]!, '/api/tools/set_heap_tags', { heap, tags: { v: 'after' } });
    assert.equal(written.status, 200, JSON.stringify(written.body));
    // Asked while it is stopped (the request waits in its socket), answered once it wakes.
    const read = api(leader, '/api/tools/get_heap_tags', { heap }, 20_000);
    process.kill(leader.process!.child.pid!, 'SIGCONT');
    const answer = await read;
    t.diagnostic(`the woken leader answered ${answer.status} ${JSON.stringify(answer.body.tags ?? answer.body.code)}`);
    assert.equal(answer.status, 503, `not the value before the majority's write: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.code, 'MCPV8_ERR_NO_QUORUM');
    heal();
    await waitForApplied([leader], (await raftStatus(await waitForLeader(nodes))).commit);
    assert.deepEqual((await api(leader, '/api/tools/get_heap_tags', { heap })).body.tags, { v: 'after' });
  });
});
