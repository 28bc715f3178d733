// A partitioned leader: every link between nodes goes through a FaultProxy (test/support), so the
// test can cut the leader off. Cut off, it cannot commit: a write on it fails with NO_QUORUM within
// the client's timeout instead of hanging; it steps down; a run that needs no replicated state
// still completes on it; the majority elects a leader and goes on; healed, the old leader catches up.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FaultProxy } from '../support/fault-proxy.ts';
import { api, freePort, raftStatus, run, startCluster, stopAll, waitForApplied, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

describe('partition', () => {
  let nodes: TestNode[] = [];
  const proxies = new Map<string, FaultProxy>();
  after(async () => {
    await stopAll(nodes);
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
  });

  test('a partitioned leader cannot commit, answers NO_QUORUM in time and steps down; the majority goes on', async (t) => {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let from = 0; from < 3; from++) {
      for (let to = 0; to < 3; to++) if (from !== to) proxies.set(`${from}-${to}`, await FaultProxy.start(ports[to]!));
    }
    nodes = await startCluster({ size: 3, dir: tempDir('cluster-partition'), ports, extra: ['--cluster-write-timeout', '4000'], peerAddr: (from, to) => `127.0.0.1:${proxies.get(`${from}-${to}`)!.port}` });
    const leader = await waitForLeader(nodes);
    const heap = (await run(leader, 'globalThis.mark = "before"; mark')).heap as string;
    const index = nodes.indexOf(leader);
    for (const [key, proxy] of proxies) if (key.split('-').includes(String(index))) proxy.cut();

    const started = Date.now();
    const refused = await api(leader, '/api/tools/set_heap_tags', { heap, tags: { during: 'partition' } }, 20_000);
    t.diagnostic(`the cut-off leader answered ${refused.status} after ${Date.now() - started} ms`);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, 'MCPV8_ERR_NO_QUORUM', JSON.stringify(refused.body));
    await waitUntil('the cut-off leader stepping down', async () => ((await raftStatus(leader)).role !== 'leader' ? true : undefined));

    const majority = nodes.filter((node) => node !== leader);
    const next = await waitForLeader(majority);
    assert.notEqual(next, leader);
    const written = await api(majority[0]!, '/api/tools/set_heap_tags', { heap, tags: { during: 'majority' } });
    assert.equal(written.status, 200, JSON.stringify(written.body));

    // Code that asks for no session and no tags still runs on the cut-off node.
    const alone = await run(leader, '6 * 7');
    assert.equal(alone.status, 'completed', JSON.stringify(alone));
    assert.equal(alone.result, '42');

    for (const proxy of proxies.values()) proxy.heal();
    const status = await raftStatus(await waitForLeader(nodes));
    await waitForApplied([leader], status.commit);
    assert.deepEqual((await api(leader, '/api/tools/get_heap_tags', { heap })).body.tags, { during: 'majority' }, 'the uncommitted write of the cut-off leader was never applied');
  });
});
