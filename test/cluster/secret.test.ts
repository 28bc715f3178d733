// A three-node cluster with --cluster-secret (issue 19, "Cluster traffic"), as real processes:
// the members work together as before; a rogue process (this test, without the secret or with a
// wrong one) is refused on every route of the cluster port and changes nothing; a captured request
// replayed is refused; a node with another secret cannot join; and with access control on, a
// client's call that another node answers keeps its principal (the tenant).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { signClusterRequest } from '../../src/auth/cluster.ts';
import { freePort, nodeArgs, raftStatus, signedAs, startCluster, stopAll, waitForLeader, type RaftStatus, type TestNode } from '../support/cluster.ts';
import { runToExit, serverCommand, startServerProcess, tempDir } from '../support/server-process.ts';
import { rawRequest } from '../support/raw-http.ts';

const secret = 'a-cluster-secret-for-tests-0123456789abcdef';
const tokens = { alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef00' };
const extra = ['--cluster-secret', secret, '--auth-token', `alice=${tokens.alice}`, '--auth-token', `bob=${tokens.bob}`];

async function call(node: TestNode, path: string, who: keyof typeof tokens, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.baseUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Record<string, unknown> };
}

async function clusterPort(node: TestNode, method: 'GET' | 'POST', path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { code?: string; error?: string } }> {
  const response = await fetch(`http://127.0.0.1:${node.clusterPort}${path}`, {
    method, headers: { ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...headers }, body: method === 'POST' ? body : undefined, signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as { code?: string; error?: string } };
}

/** The mcp-v8 command with `args`, its environment extended by `env`; resolves once it exited. */
function runCli(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: fullArgs } = serverCommand(args);
  const child = spawn(command, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function submittedRuns(nodes: readonly TestNode[]): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const metrics = (await call(node, '/metrics', 'alice')).body.text as string;
    total += Number(/^mcp_v8_executions_submitted_total (\d+)$/m.exec(metrics)?.[1] ?? NaN);
  }
  return total;
}

/** A Raft message of the shape the routes accept, from a made-up node at a far later term. */
function rogueMessage(type: string, to: number, term: number): Record<string, unknown> {
  return {
    type, from: 424242, to, term, logTerm: term, index: 1_000_000, entries: type === 'append' ? [{ term, index: 1_000_000, kind: 'normal', data: '{}' }] : [], commit: 1_000_000,
    reject: false, rejectHintIndex: 0, rejectHintTerm: 0, readContext: 0, heartbeatTick: 0, transfer: false,
    snapshot: type === 'snapshot' ? { index: 1_000_000, term, config: { voters: [424242], learners: [] }, data: '' } : null,
  };
}

describe('cluster traffic signed with --cluster-secret', () => {
  const nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('three nodes with the secret elect a leader and replicate; a forwarded call keeps its principal', async () => {
    nodes.push(...await startCluster({ size: 3, dir: tempDir('cluster-secret'), extra }));
    await waitForLeader(nodes);
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    // A run with no session or heap runs where it was asked: its id names n1.
    const local = await call(n1, '/api/exec', 'alice', { code: '6 * 7', wait_ms: 20_000 });
    assert.equal(local.body.result, '42', JSON.stringify(local.body));
    const localId = local.body.execution_id as string;
    // Asked on n2 and n3, it is fetched from n1: alice sees it, bob does not.
    for (const node of [n2, n3]) {
      assert.equal((await call(node, '/api/tools/get_execution', 'alice', { execution_id: localId })).body.result, '42', node.name);
      const other = await call(node, '/api/tools/get_execution', 'bob', { execution_id: localId });
      assert.equal(other.status, 404, `${node.name}: ${JSON.stringify(other.body)}`);
    }
    // Runs in a session go to its home node: submitted through each node, most are forwarded.
    const suffixOf = async (node: TestNode) => ((await call(node, '/api/exec', 'alice', { code: '1', wait_ms: 20_000 })).body.execution_id as string).slice(-8);
    let forwarded = 0;
    for (const node of nodes) {
      const ran = await call(node, '/api/exec', 'alice', { code: 'globalThis.k = (globalThis.k ?? 0) + 1; k', session: 'tenant-s', wait_ms: 20_000 });
      assert.equal(ran.status, 200, JSON.stringify(ran.body));
      const id = ran.body.execution_id as string;
      if (id.slice(-8) !== await suffixOf(node)) forwarded++;
      for (const asker of nodes) {
        assert.equal((await call(asker, '/api/tools/get_execution', 'alice', { execution_id: id })).body.status, 'completed', `alice reads her forwarded run on ${asker.name}`);
        assert.equal((await call(asker, '/api/tools/get_execution', 'bob', { execution_id: id })).status, 404, `bob does not, on ${asker.name}`);
      }
    }
    assert.ok(forwarded >= 1, 'at least one run went to another node (the session home)');
    // Cancel across nodes: bob's cancel of alice's run is refused as unknown, hers works.
    const loop = await call(n1, '/api/exec', 'alice', { code: 'for (;;) {}', wait_ms: 0 });
    const loopId = loop.body.execution_id as string;
    assert.equal((await call(n2, '/api/tools/cancel_execution', 'bob', { execution_id: loopId })).status, 404);
    const cancelled = await call(n3, '/api/tools/cancel_execution', 'alice', { execution_id: loopId });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    // The owning node checks the signed principal itself, not only the node that forwards.
    const ask = (principal: string) => {
      const body = JSON.stringify({ op: 'get', execution_id: localId });
      return clusterPort(n1, 'POST', '/raft/executions', body, signedAs(n1, 'POST', '/raft/executions', body, { principal }));
    };
    assert.equal((await ask('bob')).status, 404);
    assert.equal((await ask('alice')).status, 200);
    // list_executions asks every node, each for the signed principal's runs only.
    const aliceList = (await call(n3, '/api/tools/list_executions', 'alice', { limit: 200 })).body as { executions: Array<{ execution_id: string }> };
    assert.ok(aliceList.executions.some((execution) => execution.execution_id === localId), 'alice lists her run of n1 on n3');
    const bobList = (await call(n3, '/api/tools/list_executions', 'bob', { limit: 200 })).body as { executions: unknown[] };
    assert.deepEqual(bobList.executions, [], 'bob lists none of hers');
    // A Streamable HTTP session of alice's on n1, asked for on n2 (forwarded to n1, signed for the caller): hers, not bob's.
    const mcpHeaders = (who: keyof typeof tokens, sessionId?: string) => ({
      authorization: `Bearer ${tokens[who]}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json',
      ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-06-18' }),
    });
    const init = await fetch(`${n1.baseUrl}/mcp`, { method: 'POST', headers: mcpHeaders('alice'), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'alice', version: '1' } } }) });
    assert.equal(init.status, 200);
    await init.body?.cancel();
    const sessionId = init.headers.get('mcp-session-id')!;
    const listTools = (who: keyof typeof tokens) => fetch(`${n2.baseUrl}/mcp`, { method: 'POST', headers: mcpHeaders(who, sessionId), body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    const bobs = await listTools('bob');
    assert.equal(bobs.status, 404, 'bob cannot use alice\'s session through another node');
    await bobs.body?.cancel();
    const hers = await listTools('alice');
    assert.equal(hers.status, 200);
    assert.match(await hers.text(), /run_js/);
  });

  test('a rogue without the secret, or with a wrong one, is refused on every route and changes nothing', async () => {
    const before = await Promise.all(nodes.map(raftStatus));
    const runsBefore = await submittedRuns(nodes);
    const far = Math.max(...before.map((status) => status.term)) + 1000;
    const wrong = 'another-secret-entirely-0123456789abcdef00';
    const attempts: Array<[string, 'GET' | 'POST', string, (target: RaftStatus & { id?: number }) => string]> = [
      ['vote', 'POST', '/raft/vote', (target) => JSON.stringify({ messages: [rogueMessage('vote', target.id!, far)] })],
      ['append', 'POST', '/raft/append', (target) => JSON.stringify({ messages: [rogueMessage('append', target.id!, far)] })],
      ['snapshot', 'POST', '/raft/snapshot', (target) => JSON.stringify({ messages: [rogueMessage('snapshot', target.id!, far)] })],
      ['propose', 'POST', '/raft/propose', () => JSON.stringify({ data: JSON.stringify({ rid: 'rogue', command: { type: 'member.add', id: 424242, name: 'rogue', addr: '127.0.0.1:1' } }), timeout_ms: 1000 })],
      ['join', 'POST', '/raft/join', () => JSON.stringify({ node_id: 'rogue', addr: '127.0.0.1:1' })],
      ['leave', 'POST', '/raft/leave', () => JSON.stringify({ node_id: 'n3' })],
      ['run', 'POST', '/raft/executions', () => JSON.stringify({ op: 'submit', request: { code: '"rogue"', heapMemoryMaxMb: 8, executionTimeoutSecs: 5 } })],
      ['list', 'POST', '/raft/executions', () => JSON.stringify({ op: 'list', limit: 10 })],
      ['mcp', 'POST', '/raft/mcp', () => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })],
      ['status', 'GET', '/raft/status', () => ''],
    ];
    for (const [i, node] of nodes.entries()) {
      const target = { ...before[i]!, id: (before[i] as unknown as { id: number }).id };
      for (const [what, method, path, body] of attempts) {
        const text = body(target);
        const unsigned = await clusterPort(node, method, path, text);
        assert.equal(unsigned.status, 401, `${what} unsigned on ${node.name}: ${JSON.stringify(unsigned.body)}`);
        assert.match(unsigned.body.error!, /members only: the request is not signed/);
        const forged = await clusterPort(node, method, path, text, signClusterRequest(wrong, 'rogue', { method, path, body: text }));
        assert.equal(forged.status, 401, `${what} with a wrong secret on ${node.name}`);
        assert.match(forged.body.error!, /bad cluster signature/);
        // Signed with the right secret but long ago (a request captured an hour back).
        const stale = await clusterPort(node, method, path, text, signedAs(node, method, path, text, { nowMs: Date.now() - 3_600_000 }));
        assert.equal(stale.status, 401, `${what} stale on ${node.name}`);
        assert.match(stale.body.error!, /outside the 30000 ms window/);
        if (method === 'POST') {
          // A signed request whose body was changed on the way.
          const altered = await clusterPort(node, method, path, `${text} `, signedAs(node, method, path, text));
          assert.equal(altered.status, 401, `${what} altered on ${node.name}`);
        }
      }
    }
    const after = await Promise.all(nodes.map(raftStatus));
    for (const [i, status] of after.entries()) {
      assert.ok(status.term < far, `${status.node_id}: the rogue's term ${far} was not taken (term ${status.term})`);
      assert.deepEqual(status.members.map((member) => member.node_id).sort(), ['n1', 'n2', 'n3'], `${status.node_id}: no member added or removed`);
      assert.ok(status.commit >= before[i]!.commit);
    }
    assert.equal(await submittedRuns(nodes), runsBefore, 'no run was started');
  });

  test('a captured request replayed within the window is refused', async () => {
    const node = nodes[0]!;
    const headers = signedAs(node, 'GET', '/raft/status');
    assert.equal((await clusterPort(node, 'GET', '/raft/status', '', headers)).status, 200);
    const replayed = await clusterPort(node, 'GET', '/raft/status', '', headers);
    assert.equal(replayed.status, 401);
    assert.match(replayed.body.error!, /replayed/);
    const body = JSON.stringify({ node_id: 'ghost' });
    const leave = signedAs(node, 'POST', '/raft/leave', body);
    assert.equal((await clusterPort(node, 'POST', '/raft/leave', body, leave)).status, 200);
    assert.equal((await clusterPort(node, 'POST', '/raft/leave', body, leave)).status, 401);
  });

  test('a node with another secret cannot join, and the cluster is unchanged', async () => {
    const seed = nodes[0]!;
    const joiner = await runToExit(nodeArgs({
      name: 'n4', clusterPort: await freePort(), dir: tempDir('cluster-secret-joiner'), join: `127.0.0.1:${seed.clusterPort}`,
      extra: ['--cluster-secret', 'not-the-cluster-secret-0123456789abcdef'],
    }));
    assert.equal(joiner.code, 1, joiner.stderr.slice(-2000));
    assert.match(joiner.stderr, /takes requests from members only: bad cluster signature/);
    assert.ok(!joiner.stderr.includes(secret) && !joiner.stderr.includes('not-the-cluster-secret'), 'no secret in the log');
    for (const status of await Promise.all(nodes.map(raftStatus))) {
      assert.deepEqual(status.members.map((member) => member.node_id).sort(), ['n1', 'n2', 'n3']);
    }
  });

  test('mcp-v8 raft status|leave signs with MCP_V8_CLUSTER_SECRET from the environment; without it the node refuses', async () => {
    const addr = `127.0.0.1:${nodes[0]!.clusterPort}`;
    const status = await runCli(['raft', 'status', addr], { MCP_V8_CLUSTER_SECRET: secret });
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { node_id: string }).node_id, 'n1');
    const leave = await runCli(['raft', 'leave', addr, 'ghost'], { MCP_V8_CLUSTER_SECRET: secret });
    assert.equal(leave.code, 0, leave.stderr);
    assert.deepEqual(JSON.parse(leave.stdout), { removed: false });
    const unsigned = await runCli(['raft', 'status', addr], { MCP_V8_CLUSTER_SECRET: '' });
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /MCPV8_ERR_UNAUTHORIZED/);
    const usage = await runCli(['raft', 'leave', addr], {});
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: mcp-v8 raft status HOST:PORT/);
  });

  test('the nodes logged the refusals, and the secret is in no log, answer, metric or sandbox', async () => {
    // What sandboxed code can reach (globals, three levels down) and what /metrics says.
    const probe = `const seen = []; const walk = (value, depth) => { if (depth > 2 || value === null || (typeof value !== 'object' && typeof value !== 'function')) { seen.push(String(value)); return; } for (const key of Reflect.ownKeys(value)) { try { walk(value[key], depth + 1); } catch {} } }; walk(globalThis, 0); seen.join('\\n')`;
    const probed = await call(nodes[0]!, '/api/exec', 'alice', { code: probe, wait_ms: 20_000 });
    assert.equal(probed.body.status, 'completed', JSON.stringify(probed.body));
    assert.ok((probed.body.result as string).length > 100, 'the probe saw the globals');
    assert.ok(!(probed.body.result as string).includes(secret.slice(0, 20)), 'sandboxed code cannot reach the secret');
    assert.ok(!((await call(nodes[0]!, '/metrics', 'alice')).body.text as string).includes(secret.slice(0, 20)));
    for (const node of nodes) {
      const log = node.process!.stderr();
      assert.match(log, /cluster port refused an unauthenticated request/, node.name);
      assert.ok(!log.includes(secret.slice(0, 20)), `${node.name}: the secret is not in its log`);
    }
  });
});

describe('the Host header on the cluster port', () => {
  test('answers loopback names, the advertise address and --allowed-hosts; refuses any other name (DNS rebinding)', async () => {
    const port = await freePort();
    const dir = tempDir('cluster-hosts');
    const node = await startServerProcess([
      '--http-port', '0', '--cluster-port', String(port), '--node-id', 'solo', '--advertise-addr', `solo.internal:${port}`, '--allowed-hosts', 'ops.internal',
      '--raft-db-path', `${dir}/raft`, '--execution-db-path', `${dir}/executions`,
    ], { timeoutMs: 60_000 });
    try {
      const statusAs = async (host: string) => (await rawRequest(port, { method: 'GET', path: '/raft/status', headers: { host } })).status;
      assert.equal(await statusAs(`127.0.0.1:${port}`), 200);
      assert.equal(await statusAs(`solo.internal:${port}`), 200, 'the advertise address');
      assert.equal(await statusAs('ops.internal:1234'), 200, '--allowed-hosts, any port');
      assert.equal(await statusAs('solo.internal:1'), 403, 'the advertise name on another port');
      assert.equal(await statusAs(`attacker.example:${port}`), 403);
    } finally {
      await node.stop('SIGKILL');
    }
  });
});
