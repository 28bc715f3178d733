// Snapshots in chunks between real processes: with --raft-snapshot-chunk-bytes 1024 and the log
// compacted every 20 entries, a node that joins catches up from a snapshot many chunks long, and a
// follower SIGKILLed while a snapshot is arriving (its status shows chunks in assembly) catches up
// from a new transfer after its restart. What was written is there, and heaps resume on them.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { api, freePort, launch, nodeArgs, raftStatus, run, startCluster, stopAll, waitForApplied, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

const chunkChars = 1024;
const extra = ['--raft-snapshot-entries', '20', '--raft-snapshot-chunk-bytes', String(chunkChars)];

/** Runs whose heap records carry `chars` characters of code each: they make the snapshot large. */
async function bulk(node: TestNode, session: string, runs: number, chars: number): Promise<string> {
  let heap = '';
  for (let i = 0; i < runs; i++) {
    const made = await run(node, `globalThis.k = (globalThis.k ?? 0) + 1; ${JSON.stringify('p'.repeat(chars))}.length + k`, { session });
    assert.equal(made.status, 'completed', JSON.stringify(made));
    heap = made.heap as string;
  }
  return heap;
}

/** The chunk counts of the leader's "snapshot sent in chunks" lines so far. */
function chunkCounts(leader: TestNode): number[] {
  return [...leader.process!.stderr().matchAll(/"chunks":(\d+)[^\n]*"msg":"snapshot sent in chunks"/g)].map((match) => Number(match[1]));
}

describe('snapshots in chunks', () => {
  const nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('a joiner catches up from a snapshot of many chunks; a follower killed mid-transfer catches up after its restart', async () => {
    const dir = tempDir('snapshot-chunks');
    nodes.push(...await startCluster({ size: 3, dir, extra }));
    const leader = await waitForLeader(nodes);
    const heap = await bulk(leader, 'big', 25, 20_000);

    const clusterPort = await freePort();
    const joiner: TestNode = { name: 'n4', clusterPort, dir, process: null, baseUrl: '', args: nodeArgs({ name: 'n4', clusterPort, dir, join: `127.0.0.1:${nodes[0]!.clusterPort}`, extra }) };
    await launch(joiner);
    nodes.push(joiner);
    await waitForApplied([joiner], (await raftStatus(leader)).commit);
    const joined = await raftStatus(joiner);
    assert.ok(joined.snapshot_index > 0, `n4 started from a snapshot: ${JSON.stringify(joined)}`);
    const sent = chunkCounts(leader);
    assert.ok(sent.some((chunks) => chunks > 100), `the snapshot went in many chunks of ${chunkChars} characters: ${JSON.stringify(sent)}`);
    assert.equal((await run(joiner, 'k', { heap })).result, '25', 'the heap resumes through the joiner');

    // A follower goes down; the log moves on and is compacted past it; it restarts and a snapshot starts arriving.
    const follower = nodes.find((node) => node !== leader && node !== joiner)!;
    await follower.process!.stop('SIGKILL');
    const latest = await bulk(leader, 'big', 25, 20_000);
    assert.ok((await raftStatus(leader)).snapshot_index > (await raftStatus(joiner)).snapshot_index - 1);
    await launch(follower);
    await waitUntil(`${follower.name} holding chunks of a snapshot in assembly`, async () => ((await raftStatus(follower)).snapshot_receiving_chars > 0 ? true : undefined));
    await follower.process!.stop('SIGKILL');
    await launch(follower);
    await waitForApplied([follower], (await raftStatus(await waitForLeader(nodes))).commit);
    const caughtUp = await raftStatus(follower);
    assert.ok(caughtUp.snapshot_index > 0 && caughtUp.snapshot_receiving_chars === 0, JSON.stringify(caughtUp));
    const entries = (await api(follower, '/api/tools/list_session_snapshots', { session: 'big', fields: 'index' })).body.entries as unknown[];
    assert.equal(entries.length, 50, 'every entry of the session is on the follower');
    assert.equal((await run(follower, 'k', { heap: latest })).result, '50', 'the latest heap resumes through the follower');
  });
});
