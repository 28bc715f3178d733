// A session's runs never fork while the membership changes: clients continue two sessions through
// nginx (round-robin over every node, the joiner's port included) while a fourth node joins with
// --join and then a founder leaves. A membership change moves sessions' home nodes, so for a moment
// two nodes may both run a session; the commit of a run that continued its session's latest heap
// is refused (SESSION_CONFLICT) when another run was saved first. Afterwards each session's history
// is one line (every entry's parent is the entry before it), every acknowledged run is in it at
// the place its result says, and the latest heap resumes on every node.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freePort, launch, nodeArgs, raftStatus, run, startCluster, stopAll, waitForLeader, waitUntil, api, type TestNode } from '../support/cluster.ts';
import { homeAmong } from '../../src/cluster/session-home.ts';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { tempDir } from '../support/server-process.ts';

const clientsPerSession = 4;
/** Each run adds one to the session's counter: in a one-line history, the run at index i answers i + 1. */
const step = 'globalThis.n = (globalThis.n ?? 0) + 1; n';

/** A session's home among `voters`, as src/cluster/executions.ts picks it (session-home.ts, the balancer's hash). */
function homeOf(session: string, voters: readonly string[]): string {
  return homeAmong(session, voters)!;
}

/** The first session name of `prefix-<i>` whose home moves as `moves` says: so the test always moves homes. */
function sessionWhere(prefix: string, moves: (name: string) => boolean): string {
  for (let i = 0; ; i++) if (moves(`${prefix}-${i}`)) return `${prefix}-${i}`;
}

interface Load {
  acknowledged: Array<{ session: string; heap: string; result: string }>;
  refused: Map<string, number>;
  stop(): Promise<void>;
}

/** `clientsPerSession` clients per session, each submitting its next run once the last answered. */
function continueSessions(url: string, sessions: readonly string[]): Load {
  const load: Load = { acknowledged: [], refused: new Map(), stop: async () => {} };
  let running = true;
  const client = async (session: string) => {
    while (running) {
      let why: string;
      try {
        const response = await fetch(`${url}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: step, session, wait_ms: 30_000 }), signal: AbortSignal.timeout(60_000) });
        const body = (await response.json()) as { status?: string; heap?: string; result?: string; error?: string | { code?: string } };
        if (response.status === 200 && body.status === 'completed' && typeof body.heap === 'string') {
          load.acknowledged.push({ session, heap: body.heap, result: body.result! });
          continue;
        }
        why = `${response.status} ${typeof body.error === 'string' ? body.error.replace(/heap is now \w+, this run continued \w+/, 'heap is now …') : JSON.stringify(body.error ?? body.status)}`.slice(0, 160);
      } catch (error) {
        why = (error as Error).message;
      }
      load.refused.set(why, (load.refused.get(why) ?? 0) + 1);
    }
  };
  const clients = sessions.flatMap((session) => Array.from({ length: clientsPerSession }, () => client(session)));
  load.stop = async () => {
    running = false;
    await Promise.all(clients);
  };
  return load;
}

describe('a session through a membership change', () => {
  const nodes: TestNode[] = [];
  let nginx: Nginx | null = null;
  after(async () => {
    await nginx?.stop();
    await stopAll(nodes);
  });

  test('runs continued through nginx while a node joins and another leaves: one line per session, no acknowledged run lost, heaps resume everywhere', async (t) => {
    const dir = tempDir('session-order');
    nodes.push(...await startCluster({ size: 3, dir }));
    // The founder that will leave: one that does not lead now (a leader leaving hands over first, which is tested elsewhere).
    const firstLeader = await waitForLeader(nodes);
    const leaving = nodes.find((node) => node !== firstLeader)!;
    const founders = nodes.map((node) => node.name);
    const afterJoin = [...founders, 'n4'];
    const afterLeave = afterJoin.filter((name) => name !== leaving.name);
    // Sessions whose home moves: to the joiner when it becomes a voter, and off the founder that leaves.
    const sessions = [
      sessionWhere('to-joiner', (name) => homeOf(name, afterJoin) === 'n4'),
      sessionWhere('off-leaver', (name) => homeOf(name, afterJoin) === leaving.name && homeOf(name, founders) === leaving.name && homeOf(name, afterLeave) !== leaving.name),
    ];
    const joinerPorts = { cluster: await freePort(), http: await freePort() };
    nginx = await startNginx({ dir, upstreams: [...nodes.map((node) => `127.0.0.1:${node.process!.port}`), `127.0.0.1:${joinerPorts.http}`] });
    const load = continueSessions(nginx.url, sessions);
    const acknowledgedAtLeast = (count: number, what: string) => waitUntil(`${count} acknowledged runs ${what}`, async () => {
      if (load.acknowledged.length >= count) return true;
      throw new Error(`${load.acknowledged.length} acknowledged; not acknowledged: ${JSON.stringify([...load.refused])}`);
    });
    try {
      await acknowledgedAtLeast(10, 'before the join');
      const joiner: TestNode = {
        name: 'n4', clusterPort: joinerPorts.cluster, dir, process: null, baseUrl: '',
        args: nodeArgs({ name: 'n4', clusterPort: joinerPorts.cluster, httpPort: joinerPorts.http, dir, join: `127.0.0.1:${nodes[0]!.clusterPort}` }),
      };
      await launch(joiner);
      nodes.push(joiner);
      await waitUntil('n4 a voter on every node', async () => {
        const statuses = await Promise.all(nodes.map(raftStatus));
        return statuses.every((status) => status.members.some((member) => member.node_id === 'n4' && member.suffrage === 'voter')) ? true : undefined;
      });
      await acknowledgedAtLeast(load.acknowledged.length + 10, 'after the join');

      // The founder leaves, and is stopped once every other member agrees it is gone.
      const leader = await waitForLeader(nodes);
      assert.notEqual(leader, leaving, 'the leaving founder does not lead');
      const leave = await fetch(`http://127.0.0.1:${leader.clusterPort}/raft/leave`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node_id: leaving.name }) });
      assert.deepEqual(await leave.json(), { removed: true });
      const remaining = nodes.filter((node) => node !== leaving);
      await waitUntil(`${leaving.name} gone from every member list`, async () => {
        const statuses = await Promise.all(remaining.map(raftStatus));
        return statuses.every((status) => status.members.length === 3 && !status.members.some((member) => member.node_id === leaving.name)) ? true : undefined;
      });
      await leaving.process!.stop('SIGTERM');
      await acknowledgedAtLeast(load.acknowledged.length + 10, 'after the leave');
      await load.stop();

      const report = `acknowledged ${load.acknowledged.length}; not acknowledged: ${JSON.stringify([...load.refused])}`;
      t.diagnostic(report);
      // What a client may see instead of a result: a conflict to submit again, or the leaving node going away; never a fault.
      for (const [why] of load.refused) assert.doesNotMatch(why, /Internal error|SERVER_FAULT|INTERNAL/, report);
      for (const session of sessions) {
        const listed = await api(remaining[0]!, '/api/tools/list_session_snapshots', { session, fields: 'index,input_heap,output_heap' });
        const entries = listed.body.entries as Array<{ index: number; input_heap: string | null; output_heap: string }>;
        // One line: the first run starts from nothing, every later one from the run before it.
        entries.forEach((entry, i) => assert.equal(entry.input_heap, i === 0 ? null : entries[i - 1]!.output_heap, `${session}: entry ${i}'s parent is entry ${i - 1}'s heap (${report})`));
        const place = new Map(entries.map((entry) => [entry.output_heap, entry.index]));
        const mine = load.acknowledged.filter((ack) => ack.session === session);
        assert.ok(mine.length > 0, `${session} has acknowledged runs (${report})`);
        for (const ack of mine) {
          assert.ok(place.has(ack.heap), `${session}: acknowledged run ${ack.heap} is in the history (${report})`);
          assert.equal(ack.result, String(place.get(ack.heap)! + 1), `${session}: the run at index ${place.get(ack.heap)} counted from the run before it`);
        }
        const latest = entries.at(-1)!.output_heap;
        for (const node of remaining) {
          const resumed = await run(node, 'n', { heap: latest });
          assert.equal(resumed.result, String(entries.length), `${session}'s latest heap resumed on ${node.name}: ${JSON.stringify(resumed)}`);
        }
      }
    } finally {
      await load.stop();
    }
  });
});
