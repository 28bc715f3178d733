// `npm run bench:cluster-load`: the reference's load table against a three-node cluster on this
// machine, beside a single node. Time to result: one POST /api/exec {code, wait_ms} per iteration
// (bench/lib/runner.ts, scenario 'result'); an iteration succeeds when its record is completed.
// The cluster is `npm run cluster` itself (scripts/cluster.ts: three node processes and Debian's
// nginx round-robin in front), on a free port range, fresh for each mode; the stateless rows run it
// with `--stateless`. Each rate is measured in turns: through nginx, round-robin over the three
// nodes' HTTP ports from the generator (as the reference's load test did), and a fresh single node.
//   node bench/cluster-load.ts                                  the whole table, 20 s per run
//   node bench/cluster-load.ts --modes stateful --rates-stateful 200 --duration 10 --rounds 2
//   --targets nginx,rr,single   which of the three to run;  --chained: each VU resumes its previous heap
//   --profile DIR               the nodes write V8 CPU profiles (--cpu-prof) into DIR (stopped with SIGTERM)
// Besides the runner's figures it prints the CPU the three nodes (and nginx) used per run, from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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

type Target = 'nginx' | 'rr' | 'single';

function parse() {
  const { values } = parseArgs({
    options: {
      modes: { type: 'string' }, 'rates-stateless': { type: 'string' }, 'rates-stateful': { type: 'string' },
      targets: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' },
      chained: { type: 'boolean' }, profile: { type: 'string' }, out: { type: 'string' },
    },
    strict: true,
  });
  const list = (raw: string | undefined, fallback: string) => (raw ?? fallback).split(',').filter((item) => item !== '');
  const rates = (name: string, raw: string | undefined, fallback: string) => list(raw, fallback).map((rate) => numberArg(name, rate, 0, 0.001));
  const targets = list(values.targets, 'nginx,rr,single');
  for (const target of targets) if (!['nginx', 'rr', 'single'].includes(target)) throw new Error(`--targets: '${target}' is not one of nginx, rr, single`);
  const modes = list(values.modes, 'stateful,stateless');
  for (const mode of modes) if (mode !== 'stateful' && mode !== 'stateless') throw new Error(`--modes: '${mode}' is not stateful or stateless`);
  return {
    modes: modes as Mode[], targets: targets as Target[],
    rates: { stateless: rates('rates-stateless', values['rates-stateless'], '100,200,500,1000'), stateful: rates('rates-stateful', values['rates-stateful'], '100,200') },
    durationS: numberArg('duration', values.duration, 20, 0.1), warmupS: numberArg('warmup', values.warmup, 2, 0),
    rounds: numberArg('rounds', values.rounds, 1, 1), chained: values.chained === true, profile: values.profile, out: values.out,
  };
}

type Args = ReturnType<typeof parse>;

interface LocalCluster {
  script: ChildProcess;
  lbUrl: string;
  nodeUrls: string[];
  /** The node processes and nginx (children of the script), for their CPU time. */
  pids(): number[];
  stop(): Promise<void>;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** `npm run cluster` on a free port range; resolves once nginx and every node answer /healthz with a leader. */
async function startLocalCluster(mode: Mode, profileDir: string | undefined): Promise<LocalCluster> {
  const offset = await freeOffset([...topology.nodes.flatMap((node) => [node.httpPort, node.clusterPort]), topology.loadBalancerPort]);
  const nodes = shiftedNodes(offset);
  const env = profileDir === undefined ? process.env : { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}` };
  const script = spawn(process.execPath, ['--no-node-snapshot', join(repoRoot, 'scripts', 'cluster.ts'), '--port-offset', String(offset), '--data-dir', tempDir('bench-cluster-load'), ...(mode === 'stateless' ? ['--stateless'] : [])], { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env });
  let log = '';
  script.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log = (log + chunk).slice(-20_000); });
  const closed = new Promise<void>((resolve) => script.once('close', () => resolve()));
  const lbUrl = `http://127.0.0.1:${topology.loadBalancerPort + offset}`;
  const nodeUrls = nodes.map((node) => `http://127.0.0.1:${node.httpPort}`);
  const cluster: LocalCluster = {
    script, lbUrl, nodeUrls,
    pids: () => childPids(script.pid!),
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
    baseUrl, ratePerS, durationS: args.durationS, warmupS: args.warmupS, maxVUs, preAllocatedVUs: Math.ceil(maxVUs / 10), chained: args.chained,
    pollMs: defaultPoll.pollMs, pollsMax: defaultPoll.pollsMax, pollCapMs: defaultPoll.pollCapMs, serverPid, client: 'raw', scenario: 'result', waitMs: defaultWaitMs,
  };
}

async function runCluster(args: Args, cluster: LocalCluster, target: 'nginx' | 'rr', rate: number): Promise<{ report: RunRecord['report']; cpuMsPerRun: number }> {
  const pids = cluster.pids();
  const cpu0 = pids.map(processCpuS);
  const report = await runLoad(runOptions(args, rate, target === 'nginx' ? cluster.lbUrl : cluster.nodeUrls.join(','), null));
  const cpuS = pids.map((pid, i) => processCpuS(pid) - cpu0[i]!).reduce((a, b) => a + b, 0);
  // The runner counts CPU only for one server pid: this is the three nodes' and nginx's, over the measured window and its warm-up.
  return { report, cpuMsPerRun: (cpuS * 1000) / Math.max(1, report.iterations.finished) };
}

async function runSingle(args: Args, mode: Mode, rate: number): Promise<RunRecord['report']> {
  const child = await spawnTarget({ target: 'server', mode, nodeArgs: [], serverArgs: [] });
  try {
    return await runLoad(runOptions(args, rate, child.baseUrl, child.pid));
  } finally {
    await child.stop();
  }
}

async function main(): Promise<void> {
  const args = parse();
  const records: RunRecord[] = [];
  const notes: string[] = [];
  const chained = args.chained ? '-chained' : '';
  for (const mode of args.modes) {
    const clusterTargets = args.targets.filter((target) => target !== 'single');
    const cluster = clusterTargets.length === 0 ? null : await startLocalCluster(mode, args.profile);
    try {
      for (let round = 1; round <= args.rounds; round++) {
        for (const rate of args.rates[mode]) {
          for (const target of args.targets) {
            let record: RunRecord;
            if (target === 'single') {
              record = { target: 'mcp-v8', topology: `single-${mode}${chained}`, round, command: null, report: await runSingle(args, mode, rate) };
            } else {
              const { report, cpuMsPerRun } = await runCluster(args, cluster!, target, rate);
              record = { target: 'mcp-v8', topology: `cluster-${mode}${chained} (${target === 'nginx' ? 'nginx' : 'round-robin'})`, round, command: null, report };
              notes.push(`${record.topology} ${rate}/s round ${round}: nodes + nginx ${cpuMsPerRun.toFixed(2)} ms CPU per run`);
              process.stderr.write(`${notes.at(-1)}\n`);
            }
            records.push(record);
            process.stderr.write(`${runLine(record)}\n`);
          }
        }
      }
    } finally {
      await cluster?.stop();
    }
  }
  const result = { machine: machine(), argv: process.argv.slice(2), records, notes };
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${markdownTable(summarizeAb(records))}\n\n${notes.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:cluster-load: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
