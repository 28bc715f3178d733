// The deployment: cluster-compose.yml and `npm run cluster` (scripts/cluster.ts) describe the same
// three nodes, ports and flags (deploy/topology.ts); and the local topology really works: nginx in
// front, any node answering, a session continued through the load balancer and directly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse } from 'yaml';
import { composeNodeEnvironment, composePlacement, nginxConfig, nodeFlags, topology } from '../../deploy/topology.ts';
import { machineShareFlags, shiftedNodes } from '../../scripts/cluster.ts';
import { parseConfig } from '../../src/config.ts';
import { freeOffset, waitUntil } from '../support/cluster.ts';
import { runAndWait } from '../support/mcp-client.ts';
import { repoRoot, tempDir } from '../support/server-process.ts';

interface ComposeFile {
  services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string>; expose?: string[]; ports?: string[]; volumes?: string[]; profiles?: string[] }>;
}

describe('deployment topology', () => {
  test('cluster-compose.yml has the nodes, ports and flags of deploy/topology.ts, and nginx in front of them', () => {
    const compose = parse(readFileSync(join(repoRoot, 'cluster-compose.yml'), 'utf8')) as ComposeFile;
    const nodeServices = Object.entries(compose.services).filter(([, service]) => service.image === 'mcp-v8:local');
    assert.deepEqual(nodeServices.map(([name]) => name), topology.nodes.map((node) => node.name));
    for (const node of topology.nodes) {
      const service = compose.services[node.name]!;
      assert.deepEqual(service.command, nodeFlags(node, composePlacement), node.name);
      // The cluster port is authenticated by the secret from the operator's environment, required by compose.
      assert.deepEqual(service.environment, composeNodeEnvironment, node.name);
      assert.match(service.environment!.MCP_V8_CLUSTER_SECRET!, /^\$\{MCP_V8_CLUSTER_SECRET:\?/);
      assert.deepEqual(service.expose, [String(node.httpPort), String(node.clusterPort)], node.name);
    }
    assert.deepEqual(compose.services.nginx!.ports, [`${topology.loadBalancerPort}:${topology.loadBalancerPort}`]);
    assert.ok(compose.services.nginx!.volumes!.includes('./deploy/nginx.conf:/etc/nginx/nginx.conf:ro'));
    const upstreams = topology.nodes.map((node) => `${node.name}:${node.httpPort}`);
    assert.equal(readFileSync(join(repoRoot, 'deploy', 'nginx.conf'), 'utf8'), nginxConfig({ listenPort: topology.loadBalancerPort, upstreams, holders: topology.nodes.map((node) => node.name), prefix: null }));
  });

  test('npm run cluster -- --share-machine gives each node its share of the one machine\'s live heaps', () => {
    assert.deepEqual(machineShareFlags(3, false), ['--live-heaps-max', '42']);
    assert.deepEqual(machineShareFlags(1, false), ['--live-heaps-max', '128']);
    // Stateless nodes keep no heaps (and refuse --live-heaps-max).
    assert.deepEqual(machineShareFlags(3, true), []);
    const nodes = shiftedNodes(0);
    const parsed = parseConfig([...nodeFlags(nodes[0]!, { host: () => '127.0.0.1', bindHost: '127.0.0.1', dataDir: () => '/tmp/x' }, nodes), ...machineShareFlags(3, false)], {});
    assert.ok(parsed.action === 'run' && parsed.config.liveHeapsMax === 42, JSON.stringify(parsed));
  });

  describe('npm run cluster', () => {
    let script: ReturnType<typeof spawn> | null = null;
    let log = '';
    // The script runs in a process group of its own: a failed test ends it with its nodes and nginx.
    after(() => {
      if (script?.pid !== undefined && script.exitCode === null && script.signalCode === null) process.kill(-script.pid, 'SIGKILL');
    });

    test('three nodes and nginx as local processes: the same topology, and a session continued through nginx and directly', async () => {
      // Ports of the topology shifted to a free range.
      const offset = await freeOffset([...topology.nodes.flatMap((node) => [node.httpPort, node.clusterPort]), topology.loadBalancerPort]);
      const nodes = shiftedNodes(offset);
      script = spawn(process.execPath, ['--no-node-snapshot', join(repoRoot, 'scripts', 'cluster.ts'), '--port-offset', String(offset), '--data-dir', tempDir('npm-run-cluster')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      script.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
      const exited = new Promise((resolve) => script!.once('close', (code, signal) => resolve(signal ?? code)));
      const lb = `http://127.0.0.1:${topology.loadBalancerPort + offset}`;
      await waitUntil('the cluster to elect a leader, seen through nginx', async () => {
        const response = await fetch(`${lb}/healthz`, { signal: AbortSignal.timeout(2_000) });
        const health = (await response.json()) as { cluster?: { leader: unknown } };
        return response.status === 200 && health.cluster?.leader !== null ? true : undefined;
      }).catch((error: Error) => { throw new Error(`${error.message}\n${log.slice(-3000)}`); });
      for (const node of nodes) await waitUntil(`${node.name} serving`, async () => ((await fetch(`http://127.0.0.1:${node.httpPort}/healthz`)).status === 200 ? true : undefined));

      for (const node of nodes) {
        const status = (await (await fetch(`http://127.0.0.1:${node.clusterPort}/raft/status`)).json()) as { node_id: string; members: Array<{ node_id: string; addr: string }> };
        assert.equal(status.node_id, node.name);
        assert.deepEqual(status.members.map((member) => `${member.node_id}@${member.addr}`).sort(), nodes.map((peer) => `${peer.name}@127.0.0.1:${peer.clusterPort}`));
      }
      const post = async (base: string, path: string, body: unknown) => (await (await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as Record<string, unknown>;
      const first = await post(lb, '/api/exec', { code: 'globalThis.n = 1; n', session: 'through-nginx', wait_ms: 20_000 });
      assert.equal(first.result, '1', JSON.stringify(first));
      const second = await post(lb, '/api/exec', { code: 'n += 1; n', session: 'through-nginx', wait_ms: 20_000 });
      assert.equal(second.result, '2', JSON.stringify(second));
      for (const node of nodes) {
        const direct = await post(`http://127.0.0.1:${node.httpPort}`, '/api/exec', { code: 'n * 10', heap: second.heap, wait_ms: 20_000 });
        assert.equal(direct.result, '20', `${node.name}: ${JSON.stringify(direct)}`);
      }
      // A real MCP client through nginx: a Streamable HTTP session, its requests served by any node (forwarded to its holder).
      const client = new Client({ name: 'through-nginx', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${lb}/mcp`)));
      try {
        const resumed = await runAndWait(client, 'n + 40', { session: 'through-nginx' });
        assert.equal(resumed.result, '42');
      } finally {
        await client.close();
      }
      script.kill('SIGTERM');
      assert.equal(await exited, 0, log.slice(-2000));
    });
  });
});
