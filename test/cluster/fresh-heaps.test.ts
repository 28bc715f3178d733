// Fresh heaps (no parent, no session) on a three-node cluster whose heap records go through the log
// (no S3), as the reference's stateful load makes them. A cheap one is kept live by no node
// (src/service/heaps.ts, `keptLive`): its record names no node, so a run from it asked on another
// node runs there, replaying the one run, with no hop; a costly one stays live on the node that ran
// it, where a run from it goes. With that node SIGKILLed, heaps it saved resume on the survivors
// from the replicated records. Which node ran a run is read from its execution id.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ranOn, run, startCluster, stopAll, waitForLeader, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

/** 2·10⁶ loop steps in a stateful sandbox: 584 ms of its isolate's CPU here, past `freshHeapLiveCpuMsMin` (100 ms). */
const costly = 'globalThis.sum = (() => { let s = 0; for (let i = 0; i < 2e6; i++) s = (s + i) % 1000003; return s; })(); globalThis.rows = [sum]; rows.length';

describe('fresh heaps on a cluster with the records in the log', () => {
  const nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('a cheap fresh heap resumes where it is asked, a costly one where it is live; both survive the SIGKILL of their node', async () => {
    nodes.push(...await startCluster({ size: 3, dir: tempDir('cluster-fresh') }));
    await waitForLeader(nodes);
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    const cheap = await run(n1, 'globalThis.rows = [1, 2]; rows.length');
    assert.equal(cheap.status, 'completed', JSON.stringify(cheap));
    assert.equal(ranOn(nodes, cheap), 'n1');
    const made = await run(n1, costly);
    assert.equal(made.status, 'completed', JSON.stringify(made));

    // Nobody holds the cheap heap live: asked on n2, the run replays it on n2.
    const fromCheap = await run(n2, 'rows.push(3); rows.join()', { heap: cheap.heap });
    assert.equal(fromCheap.result, '1,2,3', JSON.stringify(fromCheap));
    assert.equal(ranOn(nodes, fromCheap), 'n2', 'no hop to n1, which did not keep the heap');
    // n1 holds the costly heap live: asked on n3, the run goes there.
    const fromCostly = await run(n3, 'rows.push(4); rows.length', { heap: made.heap });
    assert.equal(fromCostly.result, '2', JSON.stringify(fromCostly));
    assert.equal(ranOn(nodes, fromCostly), 'n1', 'n3 sent the run to n1, which holds the heap live');

    // A cheap fresh heap saved on n1, then n1 dies: the survivors resume it and n1's live heap from the log.
    const saved = await run(n1, "globalThis.note = 'saved on n1'; note");
    assert.equal(saved.status, 'completed', JSON.stringify(saved));
    await n1.process!.stop('SIGKILL');
    await waitForLeader([n2, n3]);
    const resumed = await run(n2, "note + ', resumed'", { heap: saved.heap });
    assert.equal(resumed.result, 'saved on n1, resumed', JSON.stringify(resumed));
    assert.equal(ranOn(nodes, resumed), 'n2');
    const replayed = await run(n3, "[rows.length, rows[0] === sum, rows[1]].join()", { heap: fromCostly.heap });
    assert.equal(replayed.result, '2,true,4', JSON.stringify(replayed));
    assert.equal(ranOn(nodes, replayed), 'n3', 'its node dead, the heap is replayed where it was asked for');
  });
});
