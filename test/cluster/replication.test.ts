// A three-node cluster as real processes on loopback: what is written through one node is read
// on every other (sessions, tags, heaps), a stateful run on one node resumes on another, calls on
// another node's execution id are answered by forwarding, and real MCP clients see one system.
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { api, raftStatus, run, startCluster, stopAll, waitForApplied, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { tempDir } from '../support/server-process.ts';

describe('a three-node cluster', () => {
  let nodes: TestNode[] = [];

  before(async () => {
    nodes = await startCluster({ size: 3, dir: tempDir('cluster-replication') });
    await waitForLeader(nodes);
    await waitForApplied(nodes, 1); // the new leader's first entry: every node knows the commit index
  });
  after(() => stopAll(nodes));

  test('/raft/status and /healthz show members, roles, term, commit and apply indexes', async () => {
    const statuses = await Promise.all(nodes.map(raftStatus));
    assert.deepEqual(statuses.map((status) => status.members.map((member) => member.node_id).sort()), [['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], ['n1', 'n2', 'n3']]);
    assert.equal(statuses.filter((status) => status.role === 'leader').length, 1);
    for (const status of statuses) assert.ok(status.term >= 1 && status.commit >= 1, JSON.stringify(status));
    const health = (await api(nodes[0]!, '/healthz')).body as { status: string; cluster: { node_id: string; members: unknown[]; applied: number } };
    assert.equal(health.status, 'ok');
    assert.equal(health.cluster.node_id, 'n1');
    assert.equal(health.cluster.members.length, 3);
  });

  test('a session continues through any node, and its heaps resume from any node (on the node that made them)', async () => {
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    const first = await run(a, 'globalThis.count = 40; count', { session: 'replicated' });
    assert.equal(first.status, 'completed', JSON.stringify(first));
    const second = await run(b, 'count += 1; count', { session: 'replicated' });
    assert.equal(second.result, '41', JSON.stringify(second));
    const third = await run(c, 'count += 1; count', { session: 'replicated', tags: { step: 'three' } });
    assert.equal(third.result, '42', JSON.stringify(third));
    for (const node of nodes) {
      const resumed = await run(node, 'count * 2', { heap: third.heap });
      assert.equal(resumed.result, '84', node.name);
      // Asked on any node, it ran on the node that made the heap (the id carries the node's hash).
      assert.equal((resumed.execution_id as string).slice(-8), (third.execution_id as string).slice(-8), node.name);
    }
    for (const node of nodes) {
      const listed = await api(node, '/api/tools/list_session_snapshots', { session: 'replicated', fields: 'index,output_heap' });
      assert.deepEqual(listed.body.entries, [0, 1, 2].map((index) => ({ index, output_heap: [first, second, third][index]!.heap })), node.name);
      const tags = await api(node, '/api/tools/get_heap_tags', { heap: third.heap });
      assert.deepEqual(tags.body.tags, { step: 'three' }, node.name);
    }
  });

  test('a stateful run in a session is one log entry: its heap record and session entry commit together', async () => {
    const leader = await waitForLeader(nodes);
    for (const node of nodes) {
      const before = (await raftStatus(leader)).commit;
      const made = await run(node, `globalThis.w = "${node.name}"; w`, { session: 'one-entry-per-run', tags: { on: node.name } });
      assert.equal(made.status, 'completed', JSON.stringify(made));
      assert.equal((await raftStatus(leader)).commit - before, 1, `a run on ${node.name} committed one entry`);
      assert.deepEqual((await api(nodes[(nodes.indexOf(node) + 1) % nodes.length]!, '/api/tools/get_heap_tags', { heap: made.heap })).body.tags, { on: node.name });
    }
  });

  test('a stateful run outside a session is one log entry, forwarded to the leader once from a follower; /raft/status counts the Raft requests each node took', async () => {
    const leader = await waitForLeader(nodes);
    for (const node of nodes) {
      const before = await Promise.all(nodes.map(raftStatus));
      const made = await run(node, `globalThis.lone = "${node.name}"; lone`, {});
      assert.equal(made.status, 'completed', JSON.stringify(made));
      assert.match(String(made.heap), /^[0-9a-f]{64}$/);
      const after = await Promise.all(nodes.map(raftStatus));
      const leaderAt = nodes.indexOf(leader);
      assert.equal(after[leaderAt]!.commit - before[leaderAt]!.commit, 1, `a run on ${node.name} committed one entry`);
      const proposed = after[leaderAt]!.requests_in['/raft/propose'].requests - before[leaderAt]!.requests_in['/raft/propose'].requests;
      assert.equal(proposed, node === leader ? 0 : 1, `a run on ${node.name}: proposals forwarded to the leader`);
      // The entry reached every follower in an append that carried its record.
      nodes.forEach((follower, i) => {
        if (follower === leader) return;
        const appended = after[i]!.requests_in['/raft/append'];
        assert.ok(appended.requests > before[i]!.requests_in['/raft/append'].requests && appended.bytes > before[i]!.requests_in['/raft/append'].bytes, follower.name);
      });
    }
    for (const status of await Promise.all(nodes.map(raftStatus))) assert.deepEqual(Object.keys(status.requests_in).sort(), ['/raft/append', '/raft/executions', '/raft/propose', '/raft/snapshot', '/raft/vote'], status.node_id);
  });

  test('tag writes on a follower are forwarded to the leader and read back linearizably from any node', async () => {
    const leader = await waitForLeader(nodes);
    const follower = nodes.find((node) => node !== leader)!;
    const heap = (await run(leader, '1', {})).heap as string;
    for (const [index, writer] of nodes.entries()) {
      const set = await api(writer, '/api/tools/set_heap_tags', { heap, tags: { writer: writer.name, round: String(index) } });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      // Read right after the acknowledgement, on every node: each sees the write (ReadIndex).
      for (const reader of nodes) assert.deepEqual((await api(reader, '/api/tools/get_heap_tags', { heap })).body.tags, { writer: writer.name, round: String(index) }, `${reader.name} after ${writer.name}`);
    }
    const queried = await api(follower, '/api/tools/query_heaps_by_tags', { tags: { writer: 'n3' } });
    assert.deepEqual((queried.body.results as Array<{ heap: string }>).map((entry) => entry.heap), [heap]);
  });

  test('get_execution, get_execution_output and cancel_execution on another node\'s id are answered through that node', async () => {
    const [a, b] = nodes as [TestNode, TestNode];
    const started = await api(a, '/api/exec', { code: 'console.log("from a"); await new Promise((r) => setTimeout(r, 60000))' });
    const id = started.body.execution_id as string;
    // Asked through b until the run on a has printed (it starts when a has a free slot).
    await waitUntil('the run on a printing, seen through b', async () => ((await api(b, `/api/executions/${id}/output`)).body.data === 'from a\n' ? true : undefined));
    const running = await api(b, `/api/executions/${id}`);
    assert.equal(running.body.status, 'running');
    const cancelled = await api(b, `/api/executions/${id}/cancel`, {});
    assert.deepEqual(cancelled.body, { ok: true });
    const record = await api(nodes[2]!, `/api/executions/${id}?wait_ms=10000`);
    assert.equal(record.body.status, 'cancelled');
    const lines = await api(nodes[2]!, `/api/executions/${id}/output`);
    assert.equal(lines.body.data, 'from a\n');
    const unknown = await api(b, '/api/executions/01a24e08-90b9-8d64-b6db-f28c0735e0b9');
    assert.equal(unknown.status, 404);
  });

  test('real MCP clients on different nodes share sessions (Streamable HTTP)', async () => {
    const clients: Client[] = [];
    try {
      for (const node of nodes.slice(0, 2)) {
        const client = new Client({ name: `cluster-${node.name}`, version: '1.0.0' });
        await client.connect(new StreamableHTTPClientTransport(new URL(`${node.baseUrl}/mcp`)));
        clients.push(client);
      }
      const [one, two] = clients as [Client, Client];
      const made = await runAndWait(one, 'globalThis.agent = "mcp"; agent', { session: 'mcp-session' });
      assert.equal(made.result, 'mcp');
      const resumed = await runAndWait(two, 'agent + "!"', { session: 'mcp-session' });
      assert.equal(resumed.result, 'mcp!');
      const sessions = await callTool(two, 'list_sessions');
      assert.ok((sessions.value.sessions as string[]).includes('mcp-session'));
      const fetched = await callTool(two, 'get_execution', { execution_id: made.execution_id });
      assert.equal(fetched.value.result, 'mcp');
    } finally {
      await Promise.allSettled(clients.map((client) => client.close()));
    }
  });

  test('runs of one session submitted to every node at once run in submission order, on the session\'s home node', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const node = nodes[i % 3]!;
      const started = await api(node, '/api/exec', { code: `globalThis.seen = [...(globalThis.seen ?? []), ${i}]; seen.join(',')`, session: 'ordered' });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      ids.push(started.body.execution_id as string);
    }
    const records = [];
    for (const [i, id] of ids.entries()) records.push((await api(nodes[(i + 1) % 3]!, `/api/executions/${id}?wait_ms=20000`)).body);
    assert.deepEqual(records.map((record) => record.result), Array.from({ length: 9 }, (_, i) => Array.from({ length: i + 1 }, (_, j) => j).join(',')));
    // Every id carries the same node (the last 8 hex digits: its hash): one home ran them all.
    assert.equal(new Set(ids.map((id) => id.slice(-8))).size, 1);
    const entries = (await api(nodes[2]!, '/api/tools/list_session_snapshots', { session: 'ordered', fields: 'input_heap,output_heap' })).body.entries as Array<{ input_heap: string | null; output_heap: string }>;
    assert.equal(entries.length, 9);
    entries.forEach((entry, i) => assert.equal(entry.input_heap, i === 0 ? null : entries[i - 1]!.output_heap, 'the session log is one chain'));
  });

  test('run_js with wait_ms on a node that is not the session\'s home: one call to the home (submit, its wait and the first console page together), the same reply', async () => {
    const made = await run(nodes[0]!, 'globalThis.n = 1; n', { session: 'first-page' });
    assert.equal(made.status, 'completed', JSON.stringify(made));
    const homeHash = (made.execution_id as string).slice(-8);
    const calls: number[] = [];
    for (const node of nodes) {
      const before = await Promise.all(nodes.map(raftStatus));
      const reply = await run(node, 'n += 1; for (let i = 0; i < 3; i++) console.log(`line ${i} of ${n}`); n', { session: 'first-page' });
      const after = await Promise.all(nodes.map(raftStatus));
      assert.equal(reply.status, 'completed', JSON.stringify(reply));
      assert.equal((reply.execution_id as string).slice(-8), homeHash, `asked on ${node.name}, it ran on the home node`);
      const n = reply.result as string;
      const data = `line 0 of ${n}\nline 1 of ${n}\nline 2 of ${n}\n`;
      assert.deepEqual(reply.output, { data, total_lines: 3, total_bytes: data.length, next_line_offset: 4, has_more: false }, node.name);
      calls.push(after.reduce((sum, status, i) => sum + status.requests_in['/raft/executions'].requests - before[i]!.requests_in['/raft/executions'].requests, 0));
    }
    // The home node runs it without a call; each other node makes one (were two: submit, then wait with the page; before that three).
    assert.deepEqual([...calls].sort(), [0, 1, 1], JSON.stringify(calls));
    // A later page of a forwarded run is still asked of its home node.
    const later = await run(nodes[(nodes.findIndex((_, i) => calls[i] === 1))]!, 'for (let i = 0; i < 150; i++) console.log(i); n', { session: 'first-page' });
    assert.equal((later.output as { has_more: boolean; next_line_offset: number }).has_more, true);
    const rest = await api(nodes[(nodes.findIndex((_, i) => calls[i] === 1))]!, `/api/executions/${later.execution_id as string}/output?line_offset=101`);
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.equal((rest.body.data as string).split('\n')[0], '100');
  });

  test('a Raft request is answered with what the node has to tell its sender, once handled', async () => {
    const status = (await raftStatus(nodes[0]!)) as Awaited<ReturnType<typeof raftStatus>> & { id: number };
    const stranger = 424_242;
    const zero = { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHintIndex: 0, rejectHintTerm: 0, readContext: 0, heartbeatTick: 0, transfer: false, snapshot: null };
    // A pre-vote from an older term: the node refuses it and names its term, in the answer itself.
    const response = await fetch(`http://127.0.0.1:${nodes[0]!.clusterPort}/raft/vote`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ type: 'preVote', from: stranger, to: status.id, term: 0, ...zero }] }),
    });
    assert.equal(response.status, 200);
    const answer = (await response.json()) as { messages: Array<{ type: string; from: number; to: number; term: number; reject: boolean }> };
    assert.equal(answer.messages.length, 1);
    assert.deepEqual({ ...answer.messages[0]!, term: answer.messages[0]!.term >= status.term }, { ...answer.messages[0]!, type: 'preVoteResponse', from: status.id, to: stranger, reject: true, term: true });
  });

  test('the cluster port refuses bad input with a coded error, and browser requests', async () => {
    const port = nodes[0]!.clusterPort;
    const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      return { status: response.status, body: (await response.json()) as { code: string; error: string } };
    };
    const notJson = await post('/raft/append', '{');
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.error, /not valid JSON/);
    const badMessage = await post('/raft/append', JSON.stringify({ messages: [{ type: 'append', from: 0 }] }));
    assert.equal(badMessage.status, 400);
    assert.match(badMessage.body.error, /^raft messages: messages\.0\.from: /);
    const badJoin = await post('/raft/join', JSON.stringify({ node_id: 'n9', addr: 'nowhere' }));
    assert.equal(badJoin.status, 400);
    assert.match(badJoin.body.error, /addr must be host:port/);
    const browser = await post('/raft/append', JSON.stringify({ messages: [] }), { origin: 'http://example.com' });
    assert.equal(browser.status, 400);
    assert.match(browser.body.error, /does not take browser requests/);
    // A page whose DNS name was rebound to 127.0.0.1 sends its own name as Host: refused, even a read.
    const statusAs = (host: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpGet({ host: '127.0.0.1', port, path: '/raft/status', headers: { host } }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; }).on('end', () => resolve({ status: response.statusCode!, body: text }));
      });
      request.on('error', reject);
    });
    const rebound = await statusAs(`evil.example.com:${port}`);
    assert.equal(rebound.status, 403);
    assert.match(rebound.body, /--allowed-hosts.*MCPV8_ERR_HOST_NOT_ALLOWED/);
    assert.equal((await statusAs(`localhost:${port}`)).status, 200);
    const unknown = await post('/raft/nothing', '{}');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'MCPV8_ERR_ROUTE_NOT_FOUND');
  });

  test('writes forwarded in one batch are each applied once and answered on their own; only the leader takes a batch', async () => {
    const leader = await waitForLeader(nodes);
    const follower = nodes.find((node) => node !== leader)!;
    const propose = async (node: TestNode, body: unknown) => {
      const response = await fetch(`http://127.0.0.1:${node.clusterPort}/raft/propose`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as { results?: Array<{ value?: number | null; code?: string; message?: string }>; code?: string; error?: string } };
    };
    const append = (rid: string, session: string, code: string) => ({
      data: JSON.stringify({ rid, command: { type: 'session.append', session, entry: { input_heap: null, output_heap: 'a'.repeat(64), code, timestamp: new Date(0).toISOString() } } }),
      timeout_ms: 10_000,
    });
    // A retry of the first write inside the same batch, a write the machine refuses, and one more.
    const batch = [append('batched-1', 'batched', 'one'), append('batched-1', 'batched', 'one'), append('batched-bad', '', 'refused'), append('batched-2', 'batched', 'two')];
    const answered = await propose(leader, { batch });
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    const [first, retried, refused, second] = answered.body.results!;
    assert.deepEqual([first, retried, second], [{ value: 0 }, { value: 0 }, { value: 1 }]);
    assert.equal(refused!.code, 'INVALID_ARGUMENT');
    assert.match(refused!.message!, /session must be a non-empty text/);
    await waitForApplied(nodes, (await raftStatus(leader)).commit);
    for (const node of nodes) {
      const listed = await api(node, '/api/tools/list_session_snapshots', { session: 'batched', fields: 'index,code' });
      assert.deepEqual(listed.body.entries, [{ index: 0, code: 'one' }, { index: 1, code: 'two' }], node.name);
    }
    // The same batch again (a follower retrying after a lost answer): every write answers as the first time, none applied twice.
    assert.deepEqual((await propose(leader, { batch })).body.results, answered.body.results);
    const onFollower = await propose(follower, { batch });
    assert.equal(onFollower.status, 503);
    assert.equal(onFollower.body.code, 'MCPV8_ERR_NOT_LEADER');
    for (const [body, error] of [[{ batch: [] }, /^raft propose: batch: expected an array of 1 to 256 writes/], [{ batch: [{ data: 'x', timeout_ms: 0 }] }, /^raft propose: batch\.0\.timeout_ms: /]] as const) {
      const bad = await propose(leader, body);
      assert.equal(bad.status, 400);
      assert.match(bad.body.error!, error);
    }
    const entries = await api(leader, '/api/tools/list_session_snapshots', { session: 'batched', fields: 'index' });
    assert.equal((entries.body.entries as unknown[]).length, 2);
  });

  test('every node applies the same log', async () => {
    const leader = await raftStatus(await waitForLeader(nodes));
    await waitForApplied(nodes, leader.commit);
    const sessions = await Promise.all(nodes.map(async (node) => (await api(node, '/api/tools/list_sessions', {})).body.sessions));
    assert.deepEqual(sessions[0], sessions[1]);
    assert.deepEqual(sessions[1], sessions[2]);
  });
});
