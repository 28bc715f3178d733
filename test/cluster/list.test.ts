// list_executions in a cluster: every node's runs, merged newest first and paged the same on every
// node; a member that does not answer (stopped with SIGSTOP: it holds connections but never
// answers) is named in the reply after a bounded wait, not waited for.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { executionNodeHash, nodeHash } from '../../src/exec/ids.ts';
import { api, run, startCluster, stopAll, waitForLeader, type TestNode } from '../support/cluster.ts';
import { tempDir } from '../support/server-process.ts';

interface Listed {
  executions: Array<{ execution_id: string; status: string; code: string }>;
  next_offset: number | null;
  unavailable_nodes?: Array<{ node_id: string; error: string }>;
}

async function list(node: TestNode, args: Record<string, unknown>): Promise<Listed> {
  const answer = await api(node, '/api/tools/list_executions', args);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body as unknown as Listed;
}

describe('list_executions across a cluster', () => {
  let nodes: TestNode[] = [];

  before(async () => {
    nodes = await startCluster({ size: 3, dir: tempDir('cluster-list') });
    await waitForLeader(nodes);
  });

  after(async () => {
    for (const node of nodes) if (node.process !== null) process.kill(node.process.child.pid!, 'SIGCONT');
    await stopAll(nodes);
  });

  test('every node lists every node\'s runs, newest first, in the same pages; a silent node is named, not waited for', async () => {
    const ids: string[] = [];
    for (const round of [1, 2]) {
      for (const node of nodes) {
        const record = await run(node, `'${node.name} run ${round}'`);
        assert.equal(record.status, 'completed', JSON.stringify(record));
        assert.equal(executionNodeHash(record.execution_id as string), nodeHash(node.name), 'the run ran where it was sent');
        ids.push(record.execution_id as string);
      }
    }
    const newestFirst = [...ids].reverse();
    for (const node of nodes) {
      const all = await list(node, { limit: 50 });
      assert.deepEqual(all.executions.map((execution) => execution.execution_id), newestFirst, `${node.name} lists every node's runs, newest first`);
      assert.equal(all.next_offset, null);
      assert.equal(all.unavailable_nodes, undefined);
      assert.equal(all.executions[0]!.code, `'n3 run 2'`);
      // Page by page (limit 2), the same runs in the same order, each once.
      const paged: string[] = [];
      for (let offset: number | null = 0; offset !== null;) {
        const page: Listed = await list(node, { limit: 2, offset });
        paged.push(...page.executions.map((execution) => execution.execution_id));
        offset = page.next_offset;
      }
      assert.deepEqual(paged, newestFirst, `${node.name} pages`);
    }
    const failed = await api(nodes[0]!, '/api/tools/list_executions', { offset: 9_950, limit: 100 });
    assert.equal(failed.status, 400, JSON.stringify(failed.body));
    assert.match(String(failed.body.error), /offset 9950 is too deep: in a cluster, list_executions pages through each node's newest 10000 runs/);

    // n3 stopped (not killed): its port accepts, nobody answers. The others still list, and say so.
    const silent = nodes[2]!;
    process.kill(silent.process!.child.pid!, 'SIGSTOP');
    for (const node of nodes.slice(0, 2)) {
      const partial = await list(node, { limit: 50 });
      assert.deepEqual(partial.executions.map((execution) => execution.execution_id), newestFirst.filter((id) => executionNodeHash(id) !== nodeHash(silent.name)));
      assert.deepEqual(partial.unavailable_nodes?.map((entry) => entry.node_id), [silent.name], JSON.stringify(partial));
      assert.match(partial.unavailable_nodes![0]!.error, /did not answer/);
    }
    process.kill(silent.process!.child.pid!, 'SIGCONT');
  });
});
