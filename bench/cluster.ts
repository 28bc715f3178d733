// `npm run bench:cluster`: Raft over HTTP between three real node processes on loopback, fsync on
// (LevelStorage writes every Ready with a synchronous batch).
//   1. Replicated session-log appends: `--writers` concurrent clients (default 64) each post one
//      session.append at a time to the leader's POST /raft/propose, which answers once the entry is
//      committed on a quorum and applied. Reported: appends/s, and the commit latency each client
//      saw (request to answer) at p50/p95/p99. Median of `--rounds` rounds of `--seconds` seconds.
//   2. Failover: SIGKILL of the leader, then the time until the survivors agree on a new leader
//      (status polled every 10 ms), until a write (a session.append posted to each survivor's
//      /raft/propose every 10 ms, answered once committed and applied) is acknowledged by the new
//      leader, and until a linearizable read (list_sessions, ReadIndex) through a survivor is answered
//      (with each survivor's steps from its log: role changes, and "hint" when a sign of the dead
//      leader started its pre-vote, src/cluster/node.ts leaderGoneHint). The
//      killed node is restarted (on its data) before the next round. Timings are the reference's
//      defaults: heartbeat 100 ms, election timeout 300-500 ms.
// `--in-process`: the writers run inside the leader, as a node's own session appends do
//   (ReplicatedSessions.apply -> ClusterNode.write, what a stateful run records): the bench process
//   is node n1 (a real ClusterNode with its cluster port, src/cluster/start.ts), n2 and n3 are node
//   processes with a longer election timeout, so n1 leads. No client HTTP request per append, so
//   the figure is Raft's own (replication over HTTP, fsync, apply), not the loopback HTTP floor
//   that one request per append meets (`npm run bench:raft-floor`). Each round runs every count of
//   `--writer-counts` (default 64,8,1; 1: commit latency without queueing). No failover rounds in
//   this mode. The split of a write's time comes from the nodes' RaftDriver.timings (means over
//   the round): the leader's input-queue wait (propose -> appended to its log), appended -> applied
//   on the leader (replicated, durable on a quorum, committed, applied), and each node's
//   storage.save (the fsync'd LevelDB batch); acknowledgements stepped while the leader wrote. Also
//   reported per round: the leader's event-loop delay (max and p99; a compaction that serialised
//   the machine on the loop showed here as a stall) and the log's snapshot index at the end.
// `--profile DIR`: the node processes write V8 CPU profiles (--cpu-prof) into DIR, stopped with SIGTERM at the end
//   (with --in-process, the followers; profile the leader by starting this script with node --cpu-prof);
//   with --in-process each round prints its window for bench/lib/raft-profile-split.ts (CPU per append by part).
// `--rate N` (with --in-process): the writers together offer N appends a second, so two builds are
//   compared for CPU per append at the same rate (batches per request and per fsync follow the rate).
// `--secret`: the nodes run with --cluster-secret and the writers sign each propose as a member
// does (src/auth/cluster.ts), to measure what signed cluster traffic costs (compare in turns).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { cpus, loadavg } from 'node:os';
import { Pool } from 'undici';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../src/config.ts';
import { startCluster as startClusterHere, type RunningCluster } from '../src/cluster/start.ts';
import type { DriverTimings, TimingHistogram } from '../src/raft/driver.ts';
import { freePort, launch, nodeArgs, raftStatus, signedAs, startCluster, stopAll, waitForApplied, waitForLeader, waitUntil, type TestNode } from '../test/support/cluster.ts';
import { tempDir } from '../test/support/server-process.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const writers = option('writers', 64);
const rounds = option('rounds', 3);
const seconds = option('seconds', 10);
const failovers = option('failovers', 5);
const writerCountsAt = process.argv.indexOf('--writer-counts');
const writerCounts = writerCountsAt === -1 ? [writers, 8, 1] : process.argv[writerCountsAt + 1]!.split(',').map(Number);
const signed = process.argv.includes('--secret');
/** --rate N (--in-process): appends a second the writers offer together (0: as fast as they can). */
const rate = option('rate', 0);
const inProcess = process.argv.includes('--in-process');
const profileAt = process.argv.indexOf('--profile');
const profileDir = profileAt === -1 ? null : process.argv[profileAt + 1]!;
const referenceTimings = [
  '--heartbeat-interval', '100', '--election-timeout-min', '300', '--election-timeout-max', '500', '--cluster-write-timeout', '5000',
  ...(signed ? ['--cluster-secret', 'bench-cluster-secret-0123456789abcdef0123'] : []),
];

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** CPU milliseconds (user + system) a process has used, from /proc (Linux). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

async function appendRound(leader: TestNode, nodes: readonly TestNode[]): Promise<{ perS: number; p50: number; p95: number; p99: number; errors: number; leaderUsPerAppend: number; followerUsPerAppend: number }> {
  const cpuBefore = nodes.map((node) => cpuMs(node.process!.child.pid!));
  const pool = new Pool(`http://127.0.0.1:${leader.clusterPort}`, { connections: writers, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const endAt = performance.now() + seconds * 1000;
  const writer = async (id: number) => {
    for (let seq = 0; performance.now() < endAt; seq++) {
      const data = JSON.stringify({ rid: randomUUID(), command: { type: 'session.append', session: `bench-${id}`, entry: { input_heap: null, output_heap: 'a'.repeat(64), code: `step ${seq}`, timestamp: new Date().toISOString() } } });
      const body = JSON.stringify({ data, timeout_ms: 5000 });
      const started = performance.now();
      const response = await pool.request({ method: 'POST', path: '/raft/propose', headers: { 'content-type': 'application/json', ...signedAs(leader, 'POST', '/raft/propose', body) }, body });
      await response.body.text();
      if (response.statusCode === 200) latencies.push(performance.now() - started);
      else errors++;
    }
  };
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: writers }, (_, id) => writer(id)));
  const elapsedS = (performance.now() - startedAt) / 1000;
  await pool.close();
  const cpuUsed = nodes.map((node, i) => cpuMs(node.process!.child.pid!) - cpuBefore[i]!);
  const perAppendUs = (ms: number) => (ms * 1000) / Math.max(1, latencies.length);
  const leaderIndex = nodes.indexOf(leader);
  const followerMs = cpuUsed.filter((_, i) => i !== leaderIndex);
  latencies.sort((a, b) => a - b);
  return {
    perS: latencies.length / elapsedS, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99), errors,
    leaderUsPerAppend: perAppendUs(cpuUsed[leaderIndex]!), followerUsPerAppend: perAppendUs(followerMs.reduce((a, b) => a + b, 0) / followerMs.length),
  };
}

/** Milliseconds from `since` until a survivor's /raft/propose acknowledges a write (each survivor tried every 10 ms; a follower answers NOT_LEADER). */
async function firstWriteAckedMs(survivors: readonly TestNode[], since: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    if (performance.now() - since > 30_000) throw new Error('no survivor acknowledged a write within 30 s of the SIGKILL');
    const data = JSON.stringify({ rid: randomUUID(), command: { type: 'session.append', session: 'bench-failover', entry: { input_heap: null, output_heap: 'a'.repeat(64), code: `after kill ${attempt}`, timestamp: new Date().toISOString() } } });
    const body = JSON.stringify({ data, timeout_ms: 2000 });
    const answers = await Promise.all(survivors.map(async (node) => {
      try {
        const response = await fetch(`http://127.0.0.1:${node.clusterPort}/raft/propose`, { method: 'POST', headers: { 'content-type': 'application/json', ...signedAs(node, 'POST', '/raft/propose', body) }, body, signal: AbortSignal.timeout(3000) });
        await response.text();
        return response.status === 200;
      } catch {
        return false;
      }
    }));
    if (answers.includes(true)) return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The survivors' role changes after the kill, from their logs ("raft role changed", seen at tick granularity): where the failover's time went. */
function electionSteps(survivors: readonly TestNode[], killedAtEpochMs: number): string {
  return survivors.map((node) => {
    // A build with leader-gone hints also logs when a sign of the dead leader started a pre-vote ("hint").
    const steps = node.process!.stderr().split('\n').filter((line) => line.includes('"msg":"raft role changed"') || line.includes('"msg":"the leader looks gone')).map((line) => JSON.parse(line) as { time: number; role?: string; term?: number; why?: string })
      .filter((step) => step.time >= killedAtEpochMs).map((step) => `${step.role === undefined ? `hint (${step.why})` : `${step.role}@${step.term}`} +${step.time - killedAtEpochMs}`);
    return `${node.name}: ${steps.join(', ') || 'no change'}`;
  }).join('; ');
}

async function failoverRound(nodes: TestNode[]): Promise<{ electedMs: number; writeMs: number; readMs: number; steps: string }> {
  const leader = await waitForLeader(nodes);
  const survivors = nodes.filter((node) => node !== leader);
  const killedAtEpochMs = Date.now();
  const killedAt = performance.now();
  await leader.process!.stop('SIGKILL');
  const writeAcked = firstWriteAckedMs(survivors, killedAt);
  let electedMs = NaN;
  await waitUntil('a new leader', async () => {
    const statuses = await Promise.all(survivors.map(raftStatus));
    const next = statuses.find((status) => status.role === 'leader');
    if (next === undefined || !statuses.every((status) => status.leader?.node_id === next.node_id)) return undefined;
    electedMs = performance.now() - killedAt;
    return true;
  }, 30_000);
  const heapless = await fetch(`${survivors[0]!.baseUrl}/api/tools/list_sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  await heapless.text();
  const readMs = performance.now() - killedAt;
  const writeMs = await writeAcked;
  const steps = electionSteps(survivors, killedAtEpochMs);
  await launch(leader);
  const status = await raftStatus(await waitForLeader(nodes));
  await waitForApplied(nodes, status.commit);
  return { electedMs, writeMs, readMs, steps };
}

type Timings = NonNullable<DriverTimings>;

/** The mean of a histogram's durations between two readings, ms, and their count. */
function meanBetween(before: TimingHistogram, after: TimingHistogram): { meanMs: number; count: number } {
  const count = after.counts.reduce((a, b) => a + b, 0) - before.counts.reduce((a, b) => a + b, 0);
  return { meanMs: count === 0 ? NaN : (after.totalMs - before.totalMs) / count, count };
}

/** null on a build without RaftDriver.timings (an A/B base). `appendsIn`: the followers' /raft/append requests and body bytes, summed. */
async function timingsOf(here: RunningCluster, followers: readonly TestNode[]): Promise<{ leader: Timings; followers: Timings[]; appendsIn: { requests: number; bytes: number } } | null> {
  const statuses = await Promise.all(followers.map((node) => raftStatus(node)));
  const leader = (here.node.status() as { timings?: Timings }).timings;
  if (leader === undefined) return null;
  const appendsIn = { requests: 0, bytes: 0 };
  for (const status of statuses) {
    appendsIn.requests += status.requests_in['/raft/append'].requests;
    appendsIn.bytes += status.requests_in['/raft/append'].bytes;
  }
  return { leader: structuredClone(leader), followers: statuses.map((status) => (status as unknown as { timings: Timings }).timings), appendsIn };
}

/** What the round's writes spent where: means over the round (see the header). */
function timeSplit(before: Awaited<ReturnType<typeof timingsOf>>, after: Awaited<ReturnType<typeof timingsOf>>): string {
  if (before === null || after === null) return 'no time split (a build without RaftDriver.timings)';
  const leaderSave = meanBetween(before.leader.saveMs, after.leader.saveMs);
  const followerSaves = after.followers.map((timings, i) => meanBetween(before.followers[i]!.saveMs, timings.saveMs));
  const queued = meanBetween(before.leader.queuedMs, after.leader.queuedMs);
  const toApplied = meanBetween(before.leader.appendedToAppliedMs, after.leader.appendedToAppliedMs);
  const steps = after.leader.stepsDuringWrite - before.leader.stepsDuringWrite;
  const applied = after.leader.appliedDuringWrite - before.leader.appliedDuringWrite;
  return `queued ${queued.meanMs.toFixed(2)} ms, appended->applied ${toApplied.meanMs.toFixed(2)} ms; save: leader ${leaderSave.meanMs.toFixed(2)} ms x ${leaderSave.count}, followers ${followerSaves.map((save) => `${save.meanMs.toFixed(2)} ms x ${save.count}`).join(', ')}; during the leader's writes: ${steps} acks stepped, ${applied} entries applied`;
}

/** Appends from `count` writers inside the leader (n1, this process): what a node's own session appends cost. */
async function inProcessRound(here: RunningCluster, followers: readonly TestNode[], count: number): Promise<{ perS: number; p50: number; p95: number; p99: number; errors: number; leaderUsPerAppend: number; followerUsPerAppend: number; loopMaxMs: number; loopP99Ms: number; split: string }> {
  const cpuBefore = followers.map((node) => cpuMs(node.process!.child.pid!));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const ownBefore = process.cpuUsage();
  const latencies: number[] = [];
  let errors = 0;
  const endAt = performance.now() + seconds * 1000;
  // --rate: the writers together offer that many appends a second (each waits for its turn), so two
  // builds compare CPU per append at the same batch sizes; without it each writes as fast as it can.
  const intervalMs = rate > 0 ? (count * 1000) / rate : 0;
  const writer = async (id: number) => {
    let turnAt = performance.now() + (intervalMs * id) / count;
    for (let seq = 0; performance.now() < endAt; seq++) {
      if (intervalMs > 0) {
        const waitMs = turnAt - performance.now();
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        turnAt += intervalMs;
        if (performance.now() >= endAt) break;
      }
      const started = performance.now();
      try {
        await here.sessions.apply({ type: 'session.append', session: `bench-${id}`, entry: { input_heap: null, output_heap: 'a'.repeat(64), code: `step ${seq}`, timestamp: new Date().toISOString() } });
        latencies.push(performance.now() - started);
      } catch {
        errors++;
      }
    }
  };
  const timingsBefore = await timingsOf(here, followers);
  const startedAt = performance.now();
  const windowFromUs = process.hrtime.bigint() / 1000n;
  await Promise.all(Array.from({ length: count }, (_, id) => writer(id)));
  const elapsedS = (performance.now() - startedAt) / 1000;
  // The round's samples in the profiles (V8 keeps them on this clock): bench/lib/raft-profile-split.ts.
  if (profileDir !== null) process.stdout.write(`profile window, ${count} writers: --from ${windowFromUs} --to ${process.hrtime.bigint() / 1000n} --appends ${latencies.length}\n`);
  const own = process.cpuUsage(ownBefore);
  const timingsAfter = await timingsOf(here, followers);
  const traffic = timingsBefore === null || timingsAfter === null ? '' : `; to the followers per append: ${((timingsAfter.appendsIn.requests - timingsBefore.appendsIn.requests) / Math.max(1, latencies.length)).toFixed(3)} append requests, ${((timingsAfter.appendsIn.bytes - timingsBefore.appendsIn.bytes) / Math.max(1, latencies.length)).toFixed(0)} body bytes`;
  const split = timeSplit(timingsBefore, timingsAfter) + traffic;
  loop.disable();
  const followerMs = followers.map((node, i) => cpuMs(node.process!.child.pid!) - cpuBefore[i]!);
  const perAppendUs = (ms: number) => (ms * 1000) / Math.max(1, latencies.length);
  latencies.sort((a, b) => a - b);
  return {
    perS: latencies.length / elapsedS, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99), errors,
    leaderUsPerAppend: (own.user + own.system) / Math.max(1, latencies.length), followerUsPerAppend: perAppendUs(followerMs.reduce((a, b) => a + b, 0) / followerMs.length),
    loopMaxMs: loop.max / 1e6, loopP99Ms: loop.percentile(99) / 1e6, split,
  };
}

function printRound(label: string, result: Awaited<ReturnType<typeof appendRound>> & { loopMaxMs?: number; loopP99Ms?: number; split?: string }, snapshotIndex?: number): void {
  const loop = result.loopMaxMs === undefined ? '' : `; leader loop delay max ${result.loopMaxMs.toFixed(1)} ms p99 ${result.loopP99Ms!.toFixed(1)} ms, snapshot index ${snapshotIndex}; ${result.split}`;
  process.stdout.write(`${label}: ${result.perS.toFixed(0)}/s, commit p50 ${result.p50.toFixed(2)} ms p95 ${result.p95.toFixed(2)} ms p99 ${result.p99.toFixed(2)} ms, ${result.errors} errors; CPU per append: leader ${result.leaderUsPerAppend.toFixed(0)} us${inProcess ? ' (with its writers)' : ''}, follower ${result.followerUsPerAppend.toFixed(0)} us${loop}\n`);
}

/** `--in-process`: this process is n1 and leads; n2 and n3 are node processes. */
async function inProcessMain(): Promise<void> {
  // The followers inherit this environment; profile the leader (this process) with node --cpu-prof.
  if (profileDir !== null) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`;
  const dir = tempDir('bench-cluster-here');
  const ports = [await freePort(), await freePort(), await freePort()];
  const peersOf = (i: number) => ports.flatMap((port, j) => (j === i ? [] : [`n${j + 1}@127.0.0.1:${port}`]));
  // n1 times out first (300-500 ms) and wins; the others wait 3-6 s, so leadership stays here.
  const followers: TestNode[] = [1, 2].map((i) => ({
    name: `n${i + 1}`, clusterPort: ports[i]!, dir, process: null, baseUrl: '',
    args: nodeArgs({ name: `n${i + 1}`, clusterPort: ports[i]!, dir, peers: peersOf(i), extra: [...referenceTimings.map((arg, at) => (referenceTimings[at - 1] === '--election-timeout-min' ? '3000' : referenceTimings[at - 1] === '--election-timeout-max' ? '6000' : arg))] }),
  }));
  const parsed = parseConfig(['--http-port', '0', '--cluster-port', String(ports[0]), '--node-id', 'n1', '--raft-db-path', join(dir, 'n1-raft'), '--peers', peersOf(0).join(','), ...referenceTimings]);
  if (parsed.action !== 'run' || parsed.config.cluster === null) throw new Error('the in-process node config did not parse');
  const logger = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: false }));
  const [here] = await Promise.all([
    startClusterHere({ nodeId: 'n1', bindHost: '127.0.0.1', allowedHosts: [], s3: null, cluster: parsed.config.cluster }, logger),
    ...followers.map(launch),
  ]);
  try {
    await waitUntil('n1 (this process) to lead', async () => (here.node.isLeader ? true : undefined));
    process.stdout.write(`cluster bench, writers inside the leader: ${cpus().length} cores, load ${loadavg().map((value) => value.toFixed(1)).join(' ')}; ${writerCounts.join(', ')} writers, ${rounds} x ${seconds} s each\n`);
    const byCount = writerCounts.map(() => [] as Awaited<ReturnType<typeof inProcessRound>>[]);
    for (let round = 0; round < rounds; round++) {
      for (const [i, count] of writerCounts.entries()) {
        byCount[i]!.push(await inProcessRound(here, followers, count));
        printRound(`appends round ${round + 1}, ${count} writer${count === 1 ? '' : 's'}`, byCount[i]!.at(-1)!, here.node.status().snapshot_index);
      }
    }
    for (const [label, list] of writerCounts.map((count, i) => [`${count} writer${count === 1 ? '' : 's'}`, byCount[i]!] as const)) {
      process.stdout.write(`median, ${label}: ${median(list.map((r) => r.perS)).toFixed(0)}/s, commit p50 ${median(list.map((r) => r.p50)).toFixed(2)} ms, p95 ${median(list.map((r) => r.p95)).toFixed(2)} ms, p99 ${median(list.map((r) => r.p99)).toFixed(2)} ms; CPU per append leader ${median(list.map((r) => r.leaderUsPerAppend)).toFixed(0)} us, follower ${median(list.map((r) => r.followerUsPerAppend)).toFixed(0)} us; leader loop delay max ${Math.max(...list.map((r) => r.loopMaxMs)).toFixed(1)} ms\n`);
    }
  } finally {
    if (profileDir !== null) await Promise.all(followers.map((node) => node.process?.stop('SIGTERM')));
    await stopAll(followers);
    await here.close();
  }
}

async function main(): Promise<void> {
  // The node processes inherit this environment (test/support/server-process.ts).
  if (profileDir !== null) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`;
  const nodes = await startCluster({ size: 3, dir: tempDir('bench-cluster'), extra: referenceTimings });
  try {
    process.stdout.write(`cluster bench${signed ? ' (signed with --cluster-secret)' : ''}: ${cpus().length} cores, load ${loadavg().map((value) => value.toFixed(1)).join(' ')}; ${writers} writers, ${rounds} x ${seconds} s\n`);
    const appendRounds = [];
    for (let round = 0; round < rounds; round++) {
      const result = await appendRound(await waitForLeader(nodes), nodes);
      appendRounds.push(result);
      process.stdout.write(`appends round ${round + 1}: ${result.perS.toFixed(0)}/s, commit p50 ${result.p50.toFixed(2)} ms p95 ${result.p95.toFixed(2)} ms p99 ${result.p99.toFixed(2)} ms, ${result.errors} errors; CPU per append: leader ${result.leaderUsPerAppend.toFixed(0)} us, follower ${result.followerUsPerAppend.toFixed(0)} us\n`);
    }
    process.stdout.write(`appends median: ${median(appendRounds.map((r) => r.perS)).toFixed(0)}/s, commit p50 ${median(appendRounds.map((r) => r.p50)).toFixed(2)} ms, p95 ${median(appendRounds.map((r) => r.p95)).toFixed(2)} ms, p99 ${median(appendRounds.map((r) => r.p99)).toFixed(2)} ms\n`);
    const failoverRounds = [];
    for (let round = 0; round < failovers; round++) {
      const result = await failoverRound(nodes);
      failoverRounds.push(result);
      process.stdout.write(`failover round ${round + 1}: new leader agreed ${result.electedMs.toFixed(0)} ms after SIGKILL, first write acknowledged by it ${result.writeMs.toFixed(0)} ms, first read through a survivor ${result.readMs.toFixed(0)} ms (ms after the kill: ${result.steps})\n`);
    }
    if (failoverRounds.length > 0) {
      process.stdout.write(`failover median: new leader ${median(failoverRounds.map((r) => r.electedMs)).toFixed(0)} ms, max ${Math.max(...failoverRounds.map((r) => r.electedMs)).toFixed(0)} ms; first write acknowledged ${median(failoverRounds.map((r) => r.writeMs)).toFixed(0)} ms, max ${Math.max(...failoverRounds.map((r) => r.writeMs)).toFixed(0)} ms\n`);
    }
  } finally {
    // A profile is written when the process exits on its own.
    if (profileDir !== null) await Promise.all(nodes.map((node) => node.process?.stop('SIGTERM')));
    await stopAll(nodes);
  }
}

if (inProcess) await inProcessMain();
else await main();
