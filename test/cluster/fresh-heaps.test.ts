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
    /** Runs `code` asked on `asked` and checks its result and the node that ran it; answers the record. */
    const ranAs = async (asked: TestNode, code: string, extra: Record<string, unknown>, expected: { result: string; on: string; why: string }) => {
      const record = await run(asked, code, extra);
      assert.equal(record.result, expected.result, JSON.stringify(record));
      assert.equal(ranOn(nodes, record), expected.on, expected.why);
      return record;
    };
    const cheap = await ranAs(n1, 'globalThis.rows = [1, 2]; rows.length', {}, { result: '2', on: 'n1', why: 'made on n1' });
    const made = await ranAs(n1, costly, {}, { result: '1', on: 'n1', why: 'made on n1' });

    // Nobody holds the cheap heap live: asked on n2, the run replays it on n2.
    await ranAs(n2, 'rows.push(3); rows.join()', { heap: cheap.heap }, { result: '1,2,3', on: 'n2', why: 'no hop to n1, which did not keep the heap' });
    // n1 holds the costly heap live: asked on n3, the run goes there.
    const fromCostly = await ranAs(n3, 'rows.push(4); rows.length', { heap: made.heap }, { result: '2', on: 'n1', why: 'n3 sent the run to n1, which holds the heap live' });

    // A cheap fresh heap saved on n1, then n1 dies: the survivors resume it and n1's live heap from the log.
    const saved = await ranAs(n1, "globalThis.note = 'saved on n1'; note", {}, { result: 'saved on n1', on: 'n1', why: 'made on n1' });
    await n1.process!.stop('SIGKILL');
    await waitForLeader([n2, n3]);
    await ranAs(n2, "note + ', resumed'", { heap: saved.heap }, { result: 'saved on n1, resumed', on: 'n2', why: 'its node dead, resumed where asked' });
    await ranAs(n3, '[rows.length, rows[0] === sum, rows[1]].join()', { heap: fromCostly.heap }, { result: '2,true,4', on: 'n3', why: 'its node dead, the heap is replayed where it was asked for' });
  });
});
