// Snapshots in chunks between real processes: with --raft-snapshot-chunk-bytes 1024 and the log
// compacted every 20 entries, a node that joins catches up from a snapshot many chunks long, and a
// follower SIGKILLed while a snapshot is arriving (its status shows chunks in assembly) catches up
// from a new transfer after its restart. What was written is there, and heaps resume on them.
// Chunks in assembly are a file under the node's --raft-db-path (not memory), removed when the
// node restarts; a transfer whose chunks do not hash to the sender's digest installs nothing.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { snapshotDigest } from '../../src/cluster/snapshot-transfer.ts';
import { emptyMessage } from '../../src/raft/types.ts';
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

/** Where `node` writes snapshots in assembly. */
const incoming = (node: TestNode) => join(node.dir, `${node.name}-raft`, 'snapshot-incoming');

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
    // The installed snapshot is kept as a file its log record names, not inside the record: SIGKILLed, n4 boots from it.
    const files = readdirSync(join(dir, 'n4-raft', 'log-snapshots'));
    assert.equal(files.length, 1, files.join(', '));
    assert.match(files[0]!, /^snapshot-(\d+)-\d+\.json$/);
    assert.ok(Number(/^snapshot-(\d+)-/.exec(files[0]!)![1]) >= joined.snapshot_index, `${files[0]} holds the installed snapshot (index ${joined.snapshot_index}) or a later one`);
    await joiner.process!.stop('SIGKILL');
    await launch(joiner);
    await waitForApplied([joiner], (await raftStatus(leader)).commit);
    assert.ok((await raftStatus(joiner)).snapshot_index >= joined.snapshot_index);
    assert.equal((await run(joiner, 'k', { heap })).result, '25', 'the heap resumes through the restarted joiner');

    // A follower goes down; the log moves on and is compacted past it; it restarts and a snapshot starts arriving.
    const follower = nodes.find((node) => node !== leader && node !== joiner)!;
    await follower.process!.stop('SIGKILL');
    const latest = await bulk(leader, 'big', 25, 20_000);
    assert.ok((await raftStatus(leader)).snapshot_index > (await raftStatus(joiner)).snapshot_index - 1);
    await launch(follower);
    await waitUntil(`${follower.name} holding chunks of a snapshot in assembly`, async () => ((await raftStatus(follower)).snapshot_receiving_chars > 0 ? true : undefined));
    await follower.process!.stop('SIGKILL');
    assert.equal(readdirSync(incoming(follower)).length, 1, 'the chunks in assembly were a file on disk');
    await launch(follower);
    await waitForApplied([follower], (await raftStatus(await waitForLeader(nodes))).commit);
    const caughtUp = await raftStatus(follower);
    assert.ok(caughtUp.snapshot_index > 0 && caughtUp.snapshot_receiving_chars === 0, JSON.stringify(caughtUp));
    const entries = (await api(follower, '/api/tools/list_session_snapshots', { session: 'big', fields: 'index' })).body.entries as unknown[];
    assert.equal(entries.length, 50, 'every entry of the session is on the follower');
    assert.equal((await run(follower, 'k', { heap: latest })).result, '50', 'the latest heap resumes through the follower');
    assert.deepEqual(readdirSync(incoming(follower)), [], 'the killed transfer\'s file went when the node restarted, the new one\'s when it was installed');
  });

  test('chunks that do not hash to the sender\'s digest (one altered, or cut short) install nothing and lose nothing', async () => {
    const target = nodes.find((node) => node.process !== null && node.name !== 'n4')!;
    const before = await raftStatus(target);
    const entriesBefore = (await api(target, '/api/tools/list_session_snapshots', { session: 'big', fields: 'index' })).body.entries as unknown[];
    // A snapshot far ahead of the log, as a sender in this term would send it: were it installed, the node's state would be replaced.
    const data = JSON.stringify({ format: 'mcp-v8/cluster-machine@1', sessions: [], tags: [], heaps: [], creators: [], members: [], requests: [], filler: 'f'.repeat(3000) });
    const message = { ...emptyMessage('snapshot', 424242, (before as unknown as { id: number }).id, before.term), snapshot: { index: before.commit + 1000, term: before.term, config: { voters: [424242], learners: [] }, data: '' } };
    const post = async (offset: number, chunk: string, total = data.length) => {
      const response = await fetch(`http://127.0.0.1:${target.clusterPort}/raft/snapshot`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000),
        body: JSON.stringify({ chunk: { message, total, offset, data: chunk, sha256: snapshotDigest(data) } }),
      });
      return { status: response.status, body: (await response.json()) as { next_offset?: number; code?: string; error?: string } };
    };
    assert.deepEqual((await post(0, data.slice(0, 2000))).body, { next_offset: 2000 });
    const altered = await post(2000, `${data.slice(2000, 2500)}X${data.slice(2501)}`);
    assert.equal(altered.status, 400, JSON.stringify(altered.body));
    assert.match(altered.body.error ?? '', /hash to [0-9a-f]{64}, not to the sender's [0-9a-f]{64} \(a chunk was corrupted or cut short\); nothing installed/);
    // Cut short: the last chunk claims the snapshot ends sooner than the digest says.
    assert.deepEqual((await post(0, data.slice(0, 2000), 2100)).body, { next_offset: 2000 });
    const short = await post(2000, data.slice(2000, 2100), 2100);
    assert.equal(short.status, 400);
    assert.match(short.body.error ?? '', /nothing installed/);
    // An older sender's chunk (no sha256, as before the digests): refused with the versions named, and logged here.
    const older = await fetch(`http://127.0.0.1:${target.clusterPort}/raft/snapshot`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ chunk: { message, total: data.length, offset: 0, data } }),
    });
    const olderBody = (await older.json()) as { code?: string; error?: string };
    assert.equal(older.status, 400, JSON.stringify(olderBody));
    assert.equal(olderBody.code, 'MCPV8_ERR_NOT_SUPPORTED');
    assert.match(olderBody.error ?? '', /has no sha256: the sender runs an mcp-v8 older than the snapshot digests \(chunk format 1\)/);
    await target.process!.waitForStderr(/refused a snapshot from an older node/);
    const after = await raftStatus(target);
    assert.equal(after.snapshot_index, before.snapshot_index, 'no snapshot installed');
    assert.ok(after.commit >= before.commit);
    assert.deepEqual((await api(target, '/api/tools/list_session_snapshots', { session: 'big', fields: 'index' })).body.entries, entriesBefore, 'every session entry still there');
    assert.ok(existsSync(incoming(target)) && readdirSync(incoming(target)).length === 0, 'no file left');
  });
});
