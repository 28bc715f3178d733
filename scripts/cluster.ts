// `npm run cluster`: the deployment of cluster-compose.yml as local processes, since this machine
// has no container engine: three mcp-v8 nodes (deploy/topology.ts) and Debian's nginx in front of
// /mcp and /api on the load balancer port. Ctrl-C (or SIGTERM) stops them all.
//   npm run cluster                          ports of the topology (3001-3003, 4001-4003, 8080)
//   npm run cluster -- --port-offset 10000   every port plus 10000 (13001..., 18080)
//   npm run cluster -- --data-dir /var/tmp/c  where the nodes keep their Raft logs (default: a new temp dir)
//   npm run cluster -- --stateless           nodes without heaps (the load table's stateless rows)
//   npm run cluster -- --s3                  heaps in S3: Debian's Swift (s3api) started alongside, bucket mcp-v8-heaps;
//                                            the Raft log then carries heap ids only (the compose file's `s3` profile)
//   npm run cluster -- --share-machine       each node keeps a third of a single node's live heaps (machineShareFlags):
//                                            the nodes share this one machine (in compose each has its own)
//   npm run cluster -- --lease-reads         the nodes serve reads under the leader's lease (--raft-lease-reads)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localPlacement, nginxConfig, nodeFlags, topology, type TopologyNode } from '../deploy/topology.ts';
import { startSwiftS3, type SwiftS3 } from '../test/fixtures/swift.ts';

const s3Bucket = 'mcp-v8-heaps';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
}

/** A single node's default live heaps (--live-heaps-max), shared by the nodes of one machine. */
const liveHeapsMaxOfMachine = 128;

/**
 * The flags that size one of `nodes` nodes sharing one machine: its share of the live heaps a
 * single node keeps there (each holds an isolate, ≈ 1 MiB and a V8 isolate to make). Three nodes
 * with a whole machine's each would make and hold three times the isolates of a single node: a
 * stateful run makes an isolate until its node's cache is full, which on 2 cores was most of the
 * first seconds of a load test of fresh runs (bench/RESULTS.md, "The cluster under load"). Not the
 * default: chained runs (each resuming its last heap) carried fewer runs/s with it, for a reason not
 * found yet. Execution slots stay one per core on each node: one per node did no better in turns.
 */
export function machineShareFlags(nodes: number, stateless: boolean): string[] {
  return stateless ? [] : ['--live-heaps-max', String(Math.max(1, Math.floor(liveHeapsMaxOfMachine / nodes)))];
}

/** The topology with every port shifted by `offset` (so several local clusters, or tests, can run at once). */
export function shiftedNodes(offset: number): TopologyNode[] {
  return topology.nodes.map((node) => ({ ...node, httpPort: node.httpPort + offset, clusterPort: node.clusterPort + offset }));
}

async function main(): Promise<void> {
  const offset = Number(option('port-offset') ?? 0);
  const dataDir = option('data-dir') ?? mkdtempSync(join(tmpdir(), 'mcp-v8-cluster-'));
  const nodes = shiftedNodes(offset);
  const placement = localPlacement(dataDir);
  const children: ChildProcess[] = [];
  let swift: SwiftS3 | null = null;
  if (process.argv.includes('--s3')) {
    swift = await startSwiftS3();
    await swift.createBucket(s3Bucket);
    process.stderr.write(`[cluster] S3 (Swift) at ${swift.endpoint}, bucket ${s3Bucket}\n`);
  }
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    let left = children.length;
    for (const child of children) {
      child.once('close', () => {
        if (--left > 0) return;
        void (swift?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
      });
    }
  };
  const start = (name: string, command: string, args: string[]) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...(swift?.environment ?? {}) } });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line !== '') process.stderr.write(`[${name}] ${line}\n`);
    });
    child.once('close', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`[cluster] ${name} ended (${signal ?? code}); stopping the others\n`);
        stop(1);
      }
    });
    children.push(child);
  };
  for (const node of nodes) {
    mkdirSync(placement.dataDir(node), { recursive: true });
    const stateless = process.argv.includes('--stateless');
    const extra = stateless ? ['--stateless'] : swift === null ? [] : ['--s3-bucket', s3Bucket];
    const share = process.argv.includes('--share-machine') ? machineShareFlags(nodes.length, stateless) : [];
    const lease = process.argv.includes('--lease-reads') ? ['--raft-lease-reads'] : [];
    start(node.name, process.execPath, ['--no-node-snapshot', join(repoRoot, 'src', 'cli.ts'), ...nodeFlags(node, placement, nodes), ...extra, ...share, ...lease]);
  }
  const nginxDir = join(dataDir, 'nginx');
  mkdirSync(nginxDir, { recursive: true });
  const lbPort = topology.loadBalancerPort + offset;
  writeFileSync(join(nginxDir, 'nginx.conf'), nginxConfig({ listenPort: lbPort, upstreams: nodes.map((node) => `127.0.0.1:${node.httpPort}`), holders: nodes.map((node) => node.name), prefix: nginxDir }));
  start('nginx', 'nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;']);
  process.stderr.write(`[cluster] nodes ${nodes.map((node) => `${node.name} http://127.0.0.1:${node.httpPort} (raft ${node.clusterPort})`).join(', ')}; data in ${dataDir}\n`);
  process.stderr.write(`[cluster] load balancer http://127.0.0.1:${lbPort}/mcp and /api (nginx)\n`);
  process.once('SIGINT', () => stop(0));
  process.once('SIGTERM', () => stop(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
