// `npm run bench:cluster-load`: the reference's load table against a three-node cluster on this
// machine, beside a single node. Time to result: one POST /api/exec {code, wait_ms} per iteration
// (bench/lib/runner.ts, scenario 'result'); an iteration succeeds when its record is completed.
// The cluster is `npm run cluster` itself (scripts/cluster.ts: three node processes and Debian's
// nginx round-robin in front), on a free port range, fresh for each rate and round; the stateless
// rows run it with `--stateless`. Each rate is measured in turns: through nginx, round-robin over
// the three nodes' HTTP ports from the generator (as the reference's load test did), then, once
// the cluster is stopped, a fresh single node (the cores are its alone, as the cluster's were).
//   node bench/cluster-load.ts                                  the whole table, 20 s per run
//   node bench/cluster-load.ts --modes stateful --rates-stateful 200 --duration 10 --rounds 2
//   --targets nginx,rr,single   which of the three to run;  --chained: each VU resumes its previous heap
//   --sessions N                stateful runs in N sessions (iteration i in session i % N), each continuing its latest heap
//   --profile DIR               the nodes write V8 CPU profiles (--cpu-prof) into DIR (stopped with SIGTERM)
//   --share-machine             `npm run cluster -- --share-machine`: each node keeps a third of the live heaps
//   --lease-reads               `npm run cluster -- --lease-reads`: reads served under the leader's lease (--raft-lease-reads)
//   --loop-delay                each node reports its event loop's longest delay per second (bench/lib/loop-delay-preload.ts)
//   --session-header            with --sessions: each run also names its session in the Mcp-V8-Session header, so nginx
//                               sends it to the session's home node (deploy/topology.ts); round-robin ignores it
// Each cluster row (nginx, round-robin) runs on a cluster of its own, started for it: the first row on
// a cluster pays for filling the nodes' live heaps (an isolate made per fresh stateful run until the
// memory bound), which the rows after it did not, and that, not the route, made the nginx row (then
// always first) cost twice the round-robin's CPU per run (bench/RESULTS.md, "Routing a session").
// Besides the runner's figures it prints the CPU the three nodes (and nginx) used per run, from /proc,
// each process's by kind of thread, the log entries committed per run and the Raft requests (and
// their bytes) each node took per run (GET /raft/status `requests_in`).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { topology } from '../deploy/topology.ts';
import { shiftedNodes } from '../scripts/cluster.ts';
import { freeOffset, waitUntil } from '../test/support/cluster.ts';
import { tempDir } from '../test/support/server-process.ts';
import { numberArg } from './lib/args.ts';
import { processCpuS, repoRoot, spawnTarget, type Mode } from './lib/processes.ts';
import { machine, markdownTable, runLine, summarizeAb, type RunRecord } from './lib/report.ts';
import { defaultPoll, defaultWaitMs, runLoad, type RunOptions } from './lib/runner.ts';
import { cpuByKind, threadCpu, type ThreadCpu } from './lib/threads.ts';

type Target = 'nginx' | 'rr' | 'single';

function parse() {
  const { values } = parseArgs({
    options: {
      modes: { type: 'string' }, 'rates-stateless': { type: 'string' }, 'rates-stateful': { type: 'string' },
      targets: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' },
      chained: { type: 'boolean' }, sessions: { type: 'string' }, profile: { type: 'string' }, out: { type: 'string' }, 'share-machine': { type: 'boolean' }, 'lease-reads': { type: 'boolean' }, 'loop-delay': { type: 'boolean' }, 'session-header': { type: 'boolean' },
    },
    strict: true,
  });
  const list = (raw: string | undefined, fallback: string) => (raw ?? fallback).split(',').filter((item) => item !== '');
  const rates = (name: string, raw: string | undefined, fallback: string) => list(raw, fallback).map((rate) => numberArg(name, rate, 0, 0.001));
  const targets = list(values.targets, 'nginx,rr,single');
  for (const target of targets) if (!['nginx', 'rr', 'single'].includes(target)) throw new Error(`--targets: '${target}' is not one of nginx, rr, single`);
  const modes = list(values.modes, 'stateful,stateless');
  for (const mode of modes) if (mode !== 'stateful' && mode !== 'stateless') throw new Error(`--modes: '${mode}' is not stateful or stateless`);
  if (values.sessions !== undefined && modes.includes('stateless')) throw new Error('--sessions: stateful runs only; add --modes stateful');
  if (values['session-header'] === true && values.sessions === undefined) throw new Error('--session-header: runs in sessions only; add --sessions N');
  return {
    modes: modes as Mode[], targets: targets as Target[],
    rates: { stateless: rates('rates-stateless', values['rates-stateless'], '100,200,500,1000'), stateful: rates('rates-stateful', values['rates-stateful'], '100,200') },
    durationS: numberArg('duration', values.duration, 20, 0.1), warmupS: numberArg('warmup', values.warmup, 2, 0),
    rounds: numberArg('rounds', values.rounds, 1, 1), chained: values.chained === true, sessions: Math.floor(numberArg('sessions', values.sessions, 0, 1)), profile: values.profile, out: values.out, shareMachine: values['share-machine'] === true, leaseReads: values['lease-reads'] === true, loopDelay: values['loop-delay'] === true, sessionHeader: values['session-header'] === true,
  };
}

type Args = ReturnType<typeof parse>;

interface LocalCluster {
  script: ChildProcess;
  lbUrl: string;
  nodeUrls: string[];
  /** The nodes' cluster ports' base URLs (GET /raft/status), in the order of nodeUrls. */
  raftUrls: string[];
  /** Each node's longest event-loop delay per second (`--loop-delay`), by node name. */
  loopDelays: ReadonlyMap<string, readonly LoopDelay[]>;
  /** The node processes and nginx's (the script's children and theirs), for their CPU time. */
  pids(): number[];
  stop(): Promise<void>;
}

interface LoopDelay {
  maxMs: number;
  atMs: number;
}

/** Seconds of loop delay kept per node (an hour): the lines of the measured window are read after it. */
const loopDelaysKeptMax = 3600;

/** Each node's event-loop delay over [fromMs, toMs]: the median and the largest of its per-second maxima, and the seconds past 100 ms. */
function loopDelayLines(cluster: LocalCluster, fromMs: number, toMs: number): string[] {
  return [...cluster.loopDelays].sort((a, b) => a[0].localeCompare(b[0])).map(([node, list]) => {
    const maxima = list.filter((second) => second.atMs > fromMs && second.atMs <= toMs + 1_000).map((second) => second.maxMs).sort((a, b) => a - b);
    if (maxima.length === 0) return `  ${node}: no loop-delay lines`;
    const median = maxima[Math.floor(maxima.length / 2)]!;
    return `  ${node}: event loop late by at most ${median.toFixed(0)} ms in the median second, ${maxima.at(-1)!.toFixed(0)} ms in the worst; ${maxima.filter((ms) => ms >= 100).length} of ${maxima.length} s had a delay of 100 ms or more`;
  });
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `npm run cluster` on a free port range; resolves once nginx and every node answer /healthz with a leader. */
async function startLocalCluster(mode: Mode, args: Args): Promise<LocalCluster> {
  const offset = await freeOffset([...topology.nodes.flatMap((node) => [node.httpPort, node.clusterPort]), topology.loadBalancerPort]);
  const nodes = shiftedNodes(offset);
  const nodeOptions = [
    ...(args.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${args.profile}`]),
    ...(args.loopDelay ? [`--import=${join(repoRoot, 'bench', 'lib', 'loop-delay-preload.ts')}`] : []),
  ];
  const env = nodeOptions.length === 0 ? process.env : { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${nodeOptions.join(' ')}` };
  const script = spawn(process.execPath, ['--no-node-snapshot', join(repoRoot, 'scripts', 'cluster.ts'), '--port-offset', String(offset), '--data-dir', tempDir('bench-cluster-load'), ...(mode === 'stateless' ? ['--stateless'] : []), ...(args.shareMachine ? ['--share-machine'] : []), ...(args.leaseReads ? ['--lease-reads'] : [])], { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env });
  let log = '';
  const loopDelays = new Map<string, LoopDelay[]>();
  let partial = '';
  script.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    log = (log + chunk).slice(-20_000);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const match = /^\[(\w+)\] loop-delay ([\d.]+) (\d+)$/.exec(line);
      if (match === null) continue;
      const list = loopDelays.get(match[1]!) ?? [];
      loopDelays.set(match[1]!, list);
      list.push({ maxMs: Number(match[2]), atMs: Number(match[3]) });
      if (list.length > loopDelaysKeptMax) list.shift();
    }
  });
  const closed = new Promise<void>((resolve) => script.once('close', () => resolve()));
  const lbUrl = `http://127.0.0.1:${topology.loadBalancerPort + offset}`;
  const nodeUrls = nodes.map((node) => `http://127.0.0.1:${node.httpPort}`);
  const raftUrls = nodes.map((node) => `http://127.0.0.1:${node.clusterPort}`);
  const cluster: LocalCluster = {
    script, lbUrl, nodeUrls, raftUrls, loopDelays,
    // (nginx's worker is a child of its master.)
    pids: () => childPids(script.pid!).flatMap((pid) => [pid, ...childPids(pid)]),
    stop: async () => {
      if (script.exitCode === null && script.signalCode === null) script.kill('SIGTERM');
      await closed;
    },
  };
  try {
    for (const url of [lbUrl, ...nodeUrls]) {
      await waitUntil(`${url}/healthz with a leader`, async () => {
        const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
        const health = (await response.json()) as { cluster?: { leader: unknown } };
        return response.status === 200 && health.cluster?.leader != null ? true : undefined;
      });
    }
  } catch (error) {
    await cluster.stop();
    throw new Error(`${(error as Error).message}\n${log.slice(-3000)}`);
  }
  return cluster;
}

function runOptions(args: Args, ratePerS: number, baseUrl: string, serverPid: number | null): RunOptions {
  const maxVUs = Math.max(10, Math.ceil(ratePerS / 2));
  return {
    baseUrl, ratePerS, durationS: args.durationS, warmupS: args.warmupS, maxVUs, preAllocatedVUs: Math.ceil(maxVUs / 10), chained: args.chained, sessions: args.sessions,
    pollMs: defaultPoll.pollMs, pollsMax: defaultPoll.pollsMax, pollCapMs: defaultPoll.pollCapMs, serverPid, client: 'raw', scenario: 'result', waitMs: defaultWaitMs, sessionHeader: args.sessionHeader,
  };
}

async function runCluster(args: Args, cluster: LocalCluster, target: 'nginx' | 'rr', rate: number): Promise<{ report: RunRecord['report']; cpuMsPerRun: number; costs: string[] }> {
  const options = runOptions(args, rate, target === 'nginx' ? cluster.lbUrl : cluster.nodeUrls.join(','), null);
  // The warm-up on its own, so that what is counted below (CPU, Raft) is the measured runs' alone.
  if (options.warmupS > 0) await runLoad({ ...options, durationS: options.warmupS, warmupS: 0, calibrate: false });
  const pids = cluster.pids();
  const cpu0 = pids.map(processCpuS);
  const threads0 = pids.map(threadCpu);
  const raft0 = await raftCounts(cluster);
  const fromMs = Date.now();
  const report = await runLoad({ ...options, warmupS: 0 });
  const toMs = Date.now();
  const cpuS = pids.map((pid, i) => processCpuS(pid) - cpu0[i]!).reduce((a, b) => a + b, 0);
  const runs = Math.max(1, report.iterations.finished);
  const costs = [...threadLines(pids, threads0, runs), ...raftLines(raft0, await raftCounts(cluster), runs), ...(args.loopDelay ? loopDelayLines(cluster, fromMs, toMs) : [])];
  // The runner counts CPU only for one server pid: this is the three nodes' and nginx's, over the measured window.
  return { report, cpuMsPerRun: (cpuS * 1000) / runs, costs };
}

/** Which process a pid is: `nginx`, a node's id (its --node-id flag), or the single `server`. */
function processName(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const id = argv.indexOf('--node-id');
    return id !== -1 ? argv[id + 1]! : argv[0]!.includes('nginx') ? 'nginx' : 'server';
  } catch {
    return String(pid);
  }
}

/** A process's resident memory now (VmRSS), in MiB. */
function rssMiB(pid: number): string {
  try {
    const kiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(kiB) ? (kiB / 1024).toFixed(0) : '?';
  } catch {
    return '?';
  }
}

/** Each process's CPU per run over the measured window, split by kind of thread (bench/lib/threads.ts). */
function threadLines(pids: readonly number[], before: readonly ThreadCpu[], runs: number): string[] {
  return pids.map((pid, i) => {
    const byKind = [...cpuByKind(before[i]!, threadCpu(pid))].filter(([, cpuS]) => cpuS > 0).sort((a, b) => b[1] - a[1]);
    const total = byKind.reduce((sum, [, cpuS]) => sum + cpuS, 0);
    return `  ${processName(pid)}: ${((1000 * total) / runs).toFixed(2)} ms CPU per run (${byKind.map(([kind, cpuS]) => `${kind} ${((1000 * cpuS) / runs).toFixed(2)}`).join(', ')}); RSS ${rssMiB(pid)} MiB at the end`;
  });
}

interface RaftCounts {
  node: string;
  role: string;
  commit: number;
  requests: Record<string, { requests: number; bytes: number }>;
}

/** Every node's GET /raft/status: role, commit index, and the requests its cluster port took (`requests_in`). */
function raftCounts(cluster: LocalCluster): Promise<RaftCounts[]> {
  return Promise.all(cluster.raftUrls.map(async (url) => {
    const response = await fetch(`${url}/raft/status`, { signal: AbortSignal.timeout(10_000) });
    // A cluster with a secret (MCP_V8_CLUSTER_SECRET in the environment) answers signed requests only: no counts then.
    if (response.status !== 200) return { node: `${url} (${response.status})`, role: 'unknown', commit: Number.NaN, requests: {} };
    const status = (await response.json()) as { node_id: string; role: string; commit: number; requests_in?: RaftCounts['requests'] };
    return { node: status.node_id, role: status.role, commit: status.commit, requests: status.requests_in ?? {} };
  }));
}

/** What a run cost in Raft: entries committed, and each node's incoming Raft requests and bytes, per run. */
function raftLines(before: readonly RaftCounts[], after: readonly RaftCounts[], runs: number): string[] {
  const commits = Math.max(...after.map((node) => node.commit)) - Math.max(...before.map((node) => node.commit));
  const lines = [`  raft: ${(commits / runs).toFixed(3)} log entries committed per run`];
  after.forEach((node, i) => {
    const parts = Object.entries(node.requests).flatMap(([path, count]) => {
      const was = before[i]!.requests[path] ?? { requests: 0, bytes: 0 };
      const requests = count.requests - was.requests;
      return requests === 0 ? [] : [`${path} ${(requests / runs).toFixed(3)} req/run, ${Math.round((count.bytes - was.bytes) / Math.max(1, requests))} B/req`];
    });
    lines.push(`  ${node.node} (${node.role}) took: ${parts.join('; ') || 'no Raft requests'}`);
  });
  return lines;
}

async function runSingle(args: Args, mode: Mode, rate: number): Promise<{ report: RunRecord['report']; costs: string[] }> {
  const child = await spawnTarget({ target: 'server', mode, nodeArgs: [], serverArgs: [] });
  try {
    const options = runOptions(args, rate, child.baseUrl, child.pid);
    // As runCluster: the warm-up apart, so that the CPU by thread is the measured runs' alone.
    if (options.warmupS > 0) await runLoad({ ...options, durationS: options.warmupS, warmupS: 0, calibrate: false });
    const threads0 = [threadCpu(child.pid)];
    const report = await runLoad({ ...options, warmupS: 0 });
    return { report, costs: threadLines([child.pid], threads0, Math.max(1, report.iterations.finished)) };
  } finally {
    await child.stop();
  }
}

/**
 * The rows of one mode: per round and rate, each cluster row on a cluster started for it and
 * stopped before the next row. A cluster left up beside the single node (as before)
 * took the machine's cores from it: after a stateful row its three idle nodes still used a core's
 * 12 % (timers, heartbeats, what the load left them), and the single row fell from 200/s alone to
 * 33–58/s (bench/RESULTS.md, "The stateful cluster at 200/s").
 */
async function runMode(args: Args, mode: Mode, records: RunRecord[], notes: string[]): Promise<void> {
  const chained = args.chained ? '-chained' : args.sessions > 0 ? `-${args.sessions}-sessions` : '';
  const clusterTargets = args.targets.filter((target) => target !== 'single');
  const add = (record: RunRecord, heading: string, costs: string[]) => {
    records.push(record);
    notes.push(heading, ...costs);
    process.stderr.write(`${[heading, ...costs].join('\n')}\n${runLine(record)}\n`);
  };
  for (let round = 1; round <= args.rounds; round++) {
    for (const rate of args.rates[mode]) {
      for (const target of clusterTargets) {
        const cluster = await startLocalCluster(mode, args);
        try {
          const { report, cpuMsPerRun, costs } = await runCluster(args, cluster, target as 'nginx' | 'rr', rate);
          const record: RunRecord = { target: 'mcp-v8', topology: `cluster-${mode}${chained}${args.sessionHeader ? '-header' : ''} (${target === 'nginx' ? 'nginx' : 'round-robin'})`, round, command: null, report };
          add(record, `${record.topology} ${rate}/s round ${round}: nodes + nginx ${cpuMsPerRun.toFixed(2)} ms CPU per run`, costs);
        } finally {
          await cluster.stop();
        }
      }
      if (args.targets.includes('single')) {
        // The cluster's writes still dirty in the page cache would be the single node's to flush at
        // its heap journal's first syncfs (`sync -f`): flushed here, and timed.
        const syncStartMs = performance.now();
        const synced = spawnSync('sync', ['-f', tmpdir()]).status === 0;
        const syncNote = `  before it: sync -f of the temp filesystem ${synced ? `took ${(performance.now() - syncStartMs).toFixed(0)} ms` : 'failed'}`;
        const { report, costs } = await runSingle(args, mode, rate);
        costs.unshift(syncNote);
        const record: RunRecord = { target: 'mcp-v8', topology: `single-${mode}${chained}`, round, command: null, report };
        add(record, `${record.topology} ${rate}/s round ${round}:`, costs);
      }
    }
  }
}

async function main(): Promise<void> {
  const args = parse();
  const records: RunRecord[] = [];
  const notes: string[] = [];
  for (const mode of args.modes) await runMode(args, mode, records, notes);
  const result = { machine: machine(), argv: process.argv.slice(2), records, notes };
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${markdownTable(summarizeAb(records))}\n\n${notes.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:cluster-load: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
