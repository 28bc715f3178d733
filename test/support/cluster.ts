// Real cluster nodes as child processes on 127.0.0.1: start, SIGKILL, restart on the same data,
// and wait on what their /raft/status says (bounded polls, never fixed sleeps). Election timeouts
// are generous: the machine is shared and slow, and a test must not depend on its speed.
import { join } from 'node:path';
import { createServer } from 'node:net';
import { startServerProcess, type ServerProcess } from './server-process.ts';
import { signClusterRequest } from '../../src/auth/cluster.ts';
import { executionNodeHash, nodeHash } from '../../src/exec/ids.ts';

/**
 * Ports a test hands to nodes that start later must not be ones the kernel hands out meanwhile,
 * so they come from below its ephemeral range (32768-60999 by default, where port 0 and the
 * source ports of every outgoing connection of the tests running beside this one are drawn).
 */
const testPortsFrom = 20_000;
const testPortsTo = 32_000;

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port below the ephemeral range, for a node started later. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = testPortsFrom + Math.floor(Math.random() * (testPortsTo - testPortsFrom));
    if (await portIsFree(port)) return port;
  }
  throw new Error(`no free port in ${testPortsFrom}-${testPortsTo} after 200 tries`);
}

/** An offset that moves every one of `ports` to a free port below the ephemeral range. */
export async function freeOffset(ports: readonly number[]): Promise<number> {
  const low = Math.min(...ports);
  const high = Math.max(...ports);
  for (let attempt = 0; attempt < 200; attempt++) {
    const offset = testPortsFrom - low + Math.floor(Math.random() * (testPortsTo - testPortsFrom - (high - low)));
    if ((await Promise.all(ports.map((port) => portIsFree(port + offset)))).every(Boolean)) return offset;
  }
  throw new Error('no free range of ports for the topology after 200 tries');
}

/** Timings every test cluster uses: slow enough that a busy machine does not cause elections. */
export const testTimings = ['--heartbeat-interval', '100', '--election-timeout-min', '1000', '--election-timeout-max', '2000', '--cluster-write-timeout', '10000'];
/** How long a test waits for a cluster to reach a state (a leader, a caught-up follower). */
export const clusterWaitMs = 60_000;

export interface RaftStatus {
  node_id: string;
  role: string;
  suffrage: string;
  term: number;
  leader: { node_id: string | null; addr: string | null } | null;
  commit: number;
  applied: number;
  snapshot_index: number;
  snapshot_receiving_chars: number;
  last_index: number;
  members: Array<{ node_id: string | null; suffrage: string; addr: string | null }>;
  /** Requests (and body bytes) the node's Raft routes took since it started. */
  requests_in: Record<'/raft/vote' | '/raft/append' | '/raft/snapshot' | '/raft/propose' | '/raft/executions', { requests: number; bytes: number }>;
}

export interface TestNode {
  name: string;
  clusterPort: number;
  dir: string;
  /** The flags it was started with (restart uses them again). */
  args: string[];
  process: ServerProcess | null;
  /** http://127.0.0.1:<http port> of the running process. */
  baseUrl: string;
  /** Its --cluster-secret, when it has one: the test signs what it asks the cluster port. */
  secret?: string;
}

function withoutFlags(args: readonly string[], replaced: readonly string[]): string[] {
  const names = new Set(replaced.filter((arg) => arg.startsWith('--')));
  const kept: string[] = [];
  for (let i = 0; i < args.length; i += 2) if (!names.has(args[i]!)) kept.push(args[i]!, args[i + 1]!);
  return kept;
}

/** Starts (or restarts) a node process; resolves once it serves HTTP. */
export async function launch(node: TestNode): Promise<TestNode> {
  node.process = await startServerProcess(node.args, { timeoutMs: clusterWaitMs });
  node.baseUrl = node.process.baseUrl;
  return node;
}

export function nodeArgs(options: { name: string; clusterPort: number; dir: string; peers?: string[]; join?: string; httpPort?: number; extra?: string[]; advertise?: string }): string[] {
  return [
    '--http-port', String(options.httpPort ?? 0), '--cluster-port', String(options.clusterPort), '--node-id', options.name,
    '--raft-db-path', join(options.dir, `${options.name}-raft`), '--execution-db-path', join(options.dir, `${options.name}-executions`),
    ...(options.peers === undefined || options.peers.length === 0 ? [] : ['--peers', options.peers.join(',')]),
    ...(options.join === undefined ? [] : ['--join', options.join]),
    ...(options.advertise === undefined ? [] : ['--advertise-addr', options.advertise]),
    // A flag in `extra` replaces the same flag of testTimings.
    '--log-level', 'info', ...withoutFlags(testTimings, options.extra ?? []), ...(options.extra ?? []),
  ];
}

/** A cluster of `size` voters named n1..n<size>; `peerAddr(i, j)` is how node i reaches node j (a proxy, say). */
/** `peersById: false` lists peers as host:port only, so each node asks the others for their ids at boot. */
export async function startCluster(options: { size: number; dir: string; extra?: string[]; ports?: number[]; peerAddr?: (from: number, to: number, ports: number[]) => string; peersById?: boolean }): Promise<TestNode[]> {
  const ports: number[] = options.ports ?? [];
  while (ports.length < options.size) ports.push(await freePort());
  const peerAddr = options.peerAddr ?? ((_from: number, to: number) => `127.0.0.1:${ports[to]}`);
  const nodes: TestNode[] = ports.map((clusterPort, i) => ({
    name: `n${i + 1}`, clusterPort, dir: options.dir, process: null, baseUrl: '', ...secretOf(options.extra),
    args: nodeArgs({
      name: `n${i + 1}`, clusterPort, dir: options.dir, ...(options.extra === undefined ? {} : { extra: options.extra }),
      peers: ports.flatMap((_port, j) => (j === i ? [] : [`${options.peersById === false ? '' : `n${j + 1}@`}${peerAddr(i, j, ports)}`])),
    }),
  }));
  const launched = await Promise.allSettled(nodes.map(launch));
  const failed = launched.find((outcome) => outcome.status === 'rejected');
  if (failed !== undefined) {
    // None may outlive the test: the ones that did start are stopped before the error is told.
    await stopAll(nodes);
    throw (failed as PromiseRejectedResult).reason;
  }
  return nodes;
}

export async function stopAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.process?.stop('SIGKILL')));
}

/** `{ secret }` when `extra` gives --cluster-secret. */
export function secretOf(extra: readonly string[] = []): { secret?: string } {
  const at = extra.indexOf('--cluster-secret');
  return at === -1 ? {} : { secret: extra[at + 1]! };
}

/** The headers a member would send with this request (none when the node has no secret). */
export function signedAs(node: TestNode, method: string, path: string, body = '', options: { principal?: string; nowMs?: number } = {}): Record<string, string> {
  return node.secret === undefined ? {} : signClusterRequest(node.secret, 'test-member', { method, path, body }, options);
}

export async function raftStatus(node: TestNode): Promise<RaftStatus> {
  const response = await fetch(`http://127.0.0.1:${node.clusterPort}/raft/status`, { headers: signedAs(node, 'GET', '/raft/status'), signal: AbortSignal.timeout(5_000) });
  if (response.status !== 200) throw new Error(`GET /raft/status on ${node.name} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as RaftStatus;
}

/** Polls until `check` answers a value (not undefined), or fails after `timeoutMs` with the last thing seen. */
export async function waitUntil<Value>(what: string, check: () => Promise<Value | undefined>, timeoutMs = clusterWaitMs): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === null ? '' : ` (last error: ${(last as Error).message})`}`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // poll interval of a bounded wait, not a synchronisation sleep
  }
}

/** The node every running node in `nodes` agrees leads. */
export function waitForLeader(nodes: readonly TestNode[], timeoutMs = clusterWaitMs): Promise<TestNode> {
  return waitUntil('one leader all running nodes agree on', async () => {
    const statuses = await Promise.all(nodes.map(raftStatus));
    const leader = statuses.find((status) => status.role === 'leader');
    if (leader === undefined || !statuses.every((status) => status.leader?.node_id === leader.node_id && status.term === leader.term)) return undefined;
    return nodes.find((node) => node.name === leader.node_id);
  }, timeoutMs);
}

/** Waits until every node in `nodes` has applied at least `index`. */
export function waitForApplied(nodes: readonly TestNode[], index: number, timeoutMs = clusterWaitMs): Promise<void> {
  return waitUntil(`every node applying index ${index}`, async () => {
    const statuses = await Promise.all(nodes.map(raftStatus));
    return statuses.every((status) => status.applied >= index) ? true : undefined;
  }, timeoutMs).then(() => undefined);
}

/** POST JSON to a node's plain API; answers status and parsed body. */
export async function api(node: TestNode, path: string, body?: unknown, timeoutMs = 30_000): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${node.baseUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Runs code on `node` and waits for the record (wait_ms); the record is asserted by the caller. */
export async function run(node: TestNode, code: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return (await api(node, '/api/exec', { code, wait_ms: 20_000, ...extra })).body;
}

/** The node whose hash a run's execution id carries (src/exec/ids.ts), as a client could read it. */
export function ranOn(nodes: readonly TestNode[], record: Record<string, unknown>): string {
  const hash = executionNodeHash(record.execution_id as string);
  return nodes.find((node) => nodeHash(node.name) === hash)?.name ?? `unknown (${String(hash)})`;
}
