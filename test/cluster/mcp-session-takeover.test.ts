// Streamable HTTP sessions as replicated state, with real processes: a node that joined after the
// log was compacted knows the sessions opened before (from the snapshot) and takes one over when
// its owner is SIGKILLed; a session taken over for one principal never answers another (nor does
// the other's request move it); the old owner restarted forwards to the new one; an owner
// restarted before anybody took its session over rebuilds it itself; a DELETE ends it everywhere;
// a record its restarted owner no longer holds live ends after the idle timeout, like the session.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freePort, launch, nodeArgs, raftStatus, waitForApplied, startCluster, stopAll, waitForLeader, waitUntil, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

const tokens = { alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef00' };
type Who = keyof typeof tokens;
const extra = ['--auth-token', `alice=${tokens.alice}`, '--auth-token', `bob=${tokens.bob}`, '--raft-snapshot-entries', '20'];
const protocolVersion = '2025-06-18';

function headers(who: Who, sessionId?: string): Record<string, string> {
  return {
    authorization: `Bearer ${tokens[who]}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json',
    ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion }),
  };
}

/** initialize and notifications/initialized on `node`, as `who`: the session id. */
async function initialize(node: TestNode, who: Who): Promise<string> {
  const init = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: headers(who), body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: { roots: {} }, clientInfo: { name: who, version: '1' } } }) });
  assert.equal(init.status, 200, await init.text());
  const sessionId = init.headers.get('mcp-session-id')!;
  const initialized = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: headers(who, sessionId), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  assert.equal(initialized.status, 202, await initialized.text());
  return sessionId;
}

/** tools/list in the session on `node`: its HTTP status, and whether the answer lists run_js. */
async function listTools(node: TestNode, who: Who, sessionId: string): Promise<{ status: number; listed: boolean; text: string }> {
  const answer = await fetch(`${node.baseUrl}/mcp`, { method: 'POST', headers: headers(who, sessionId), body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
  const text = await answer.text();
  return { status: answer.status, listed: text.includes('"run_js"'), text };
}

function tookOver(node: TestNode, sessionId: string): boolean {
  return node.process!.stderr().split('\n').some((line) => line.includes('took over an MCP session') && line.includes(sessionId));
}

describe('MCP sessions taken over from a dead node', () => {
  const nodes: TestNode[] = [];
  after(() => stopAll(nodes));

  test('a node joined after compaction takes a session over from the snapshot; principals hold; the old owner forwards; DELETE ends it', async () => {
    nodes.push(...await startCluster({ size: 3, dir: tempDir('mcp-takeover'), extra }));
    await waitForLeader(nodes);
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    const alices = await initialize(n1, 'alice');
    const bobs = await initialize(n1, 'bob');
    const openedBy = Math.max(...(await Promise.all(nodes.map(raftStatus))).map((status) => status.commit));
    // Sessions opened and deleted (two log entries each) until the log is compacted past those two.
    await waitUntil('the log compacted past the sessions\' records on every founder', async () => {
      const ended = await initialize(n2, 'alice');
      assert.equal((await fetch(`${n2.baseUrl}/mcp`, { method: 'DELETE', headers: headers('alice', ended) })).status, 200);
      const statuses = await Promise.all(nodes.map(raftStatus));
      return statuses.every((status) => status.snapshot_index > openedBy) ? true : undefined;
    });
    const clusterPort = await freePort();
    const n4: TestNode = { name: 'n4', clusterPort, dir: n1.dir, process: null, baseUrl: '', args: nodeArgs({ name: 'n4', clusterPort, dir: n1.dir, join: `127.0.0.1:${n1.clusterPort}`, extra }) };
    await launch(n4);
    nodes.push(n4);
    await waitUntil('n4 a voter on every node', async () => {
      const statuses = await Promise.all(nodes.map(raftStatus));
      return statuses.every((status) => status.members.some((member) => member.node_id === 'n4' && member.suffrage === 'voter')) ? true : undefined;
    });
    assert.ok((await raftStatus(n4)).snapshot_index > openedBy, 'n4 started from a snapshot taken after the sessions were opened');

    await n1.process!.stop('SIGKILL');
    n1.process = null;
    await waitForLeader([n2, n3, n4]);
    // Bob with Alice's session id: not found, and his request moves nothing.
    const bobTries = await listTools(n4, 'bob', alices);
    assert.equal(bobTries.status, 404, bobTries.text);
    assert.equal(tookOver(n4, alices), false, 'another principal\'s request takes no session over');
    // Alice, same session id, no initialize: n4 takes it over from the record it has from the snapshot.
    const hers = await listTools(n4, 'alice', alices);
    assert.equal(hers.status, 200, hers.text);
    assert.ok(hers.listed, hers.text);
    assert.ok(tookOver(n4, alices));
    // Through another survivor it is forwarded to n4, its owner now: nobody takes it over again.
    assert.ok((await listTools(n2, 'alice', alices)).listed);
    assert.equal(tookOver(n2, alices), false);
    // Bob's session, taken over by n3 for him; still not Alice's.
    assert.equal((await listTools(n3, 'alice', bobs)).status, 404);
    assert.ok((await listTools(n3, 'bob', bobs)).listed);
    assert.equal((await listTools(n2, 'alice', bobs)).status, 404);

    // n1 back: its sessions live elsewhere now, and it forwards to their owners.
    await launch(n1);
    await waitUntil('n1 caught up', async () => ((await raftStatus(n1)).applied >= (await raftStatus(n2)).commit ? true : undefined));
    assert.ok((await listTools(n1, 'alice', alices)).listed);
    assert.ok((await listTools(n1, 'bob', bobs)).listed);
    assert.equal(tookOver(n1, alices) || tookOver(n1, bobs), false);

    // An owner restarted before anybody took its session over rebuilds it itself, asked through another node.
    const early = await initialize(n1, 'alice');
    await n1.process!.stop('SIGKILL');
    await launch(n1);
    await waitUntil('n1 caught up again', async () => ((await raftStatus(n1)).applied >= (await raftStatus(n2)).commit ? true : undefined));
    assert.ok((await listTools(n3, 'alice', early)).listed);
    assert.equal(tookOver(n3, early), false);
    assert.match(n1.process!.stderr(), /restored an MCP session from its replicated record/);

    // DELETE through any node ends it for every node.
    assert.equal((await fetch(`${n2.baseUrl}/mcp`, { method: 'DELETE', headers: headers('alice', alices) })).status, 200);
    for (const node of nodes) assert.equal((await listTools(node, 'alice', alices)).status, 404, node.name);
  });
});

describe('MCP session records a restart left behind', () => {
  let node: TestNode | null = null;
  after(() => node?.process?.stop('SIGKILL'));

  test('a session unused since its node restarted ends after the idle timeout (its record too); one used in time is rebuilt', async () => {
    const clusterPort = await freePort();
    const dir = tempDir('mcp-orphans');
    const idleSecs = 15;
    node = await launch({ name: 'solo', clusterPort, dir, process: null, baseUrl: '', args: nodeArgs({ name: 'solo', clusterPort, dir, extra: [...extra, '--mcp-session-idle-timeout', String(idleSecs)] }) });
    await waitForLeader([node]);
    const unused = await initialize(node, 'alice');
    const used = await initialize(node, 'alice');
    await node.process!.stop('SIGKILL');
    await launch(node);
    await waitForLeader([node]);
    await waitForApplied([node], (await raftStatus(node)).commit);
    // Used well within the timeout: rebuilt from its record.
    assert.ok((await listTools(node, 'alice', used)).listed);
    // The other is ended once it has gone unused for the timeout since the restart: its record is removed.
    await node.process!.waitForStderr(new RegExp(`"sessionId":"${unused}"[^\\n]*"msg":"ended an MCP session recorded for this node but unused since it restarted`), (idleSecs + 30) * 1000);
    assert.equal((await listTools(node, 'alice', unused)).status, 404);
  });
});
