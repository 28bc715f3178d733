// A cluster with --s3-bucket (Debian's Swift, its s3api): heap records go to S3 and the log does
// not say which node ran a heap, so a run from a heap asks the other voters which holds it live
// and goes there; with that node SIGKILLed, the run replays the heap from S3 where it arrived,
// and the next run from its output goes to the node that now holds it live. Which node ran a run
// is read from its execution id (src/exec/ids.ts), as a client could.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSwiftS3, type SwiftS3 } from '../fixtures/swift.ts';
import { ranOn, run, startCluster, stopAll, waitForLeader, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

const bucket = 'cluster-heaps';

describe('a cluster with heaps in S3', () => {
  let swift: SwiftS3 | null = null;
  const nodes: TestNode[] = [];
  before(async () => {
    swift = await startSwiftS3();
    await swift.createBucket(bucket);
    // The nodes inherit this process's environment (test/support/server-process.ts): the S3 endpoint and keys.
    Object.assign(process.env, swift.environment);
  });
  after(async () => {
    await stopAll(nodes);
    await swift?.stop();
  });

  test('a run from a heap goes to the node that holds it live; with that node killed, it replays from S3 where it arrived', async () => {
    nodes.push(...await startCluster({ size: 3, dir: tempDir('cluster-s3'), extra: ['--s3-bucket', bucket] }));
    await waitForLeader(nodes);
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    // Made from another heap, so n1 keeps it live (a cheap fresh heap is kept live by no node: service/heaps.ts, `keptLive`).
    const base = await run(n1, 'globalThis.rows = [1]; rows.length');
    const first = await run(n1, 'rows.push(2); rows.length', { heap: base.heap });
    assert.equal(first.status, 'completed', JSON.stringify(first));
    assert.equal(ranOn(nodes, first), 'n1');

    // Asked on n2 and on n3, the runs go to n1, which holds each output live in turn.
    const second = await run(n2, 'rows.push(3); rows.length', { heap: first.heap });
    assert.equal(second.result, '3', JSON.stringify(second));
    assert.equal(ranOn(nodes, second), 'n1', 'n2 sent the run to n1, which holds the heap live');
    const third = await run(n3, 'rows.push(4); rows.length', { heap: second.heap });
    assert.equal(third.result, '4', JSON.stringify(third));
    assert.equal(ranOn(nodes, third), 'n1', 'n3 sent the run to n1 too');

    // n1 dies: nobody holds the heap live, so n2 replays it from the records in S3.
    await n1.process!.stop('SIGKILL');
    await waitForLeader([n2, n3]);
    const replayed = await run(n2, 'rows.push(5); rows.join(",")', { heap: third.heap });
    assert.equal(replayed.status, 'completed', JSON.stringify(replayed));
    assert.equal(replayed.result, '1,2,3,4,5');
    assert.equal(ranOn(nodes, replayed), 'n2');
    // Now n2 holds the output live: asked on n3, the next run goes there.
    const next = await run(n3, 'rows.length', { heap: replayed.heap });
    assert.equal(next.result, '5', JSON.stringify(next));
    assert.equal(ranOn(nodes, next), 'n2', 'n3 sent the run to n2, which holds the heap live now');
  });
});
