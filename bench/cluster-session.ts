// `node --no-node-snapshot bench/cluster-session.ts [--runs N] [--rounds N]`: time to result of a
// session's runs on a three-node cluster (test timings), one at a time, each continuing the
// session's latest heap: half asked on the session's home, half on another node (forwarded). A
// fresh cluster per round; reported: the median and p90 per round, the log entries per run.
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { raftStatus, run, startCluster, stopAll, waitForLeader } from '../test/support/cluster.ts';
import { tempDir } from '../test/support/server-process.ts';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const runs = option('runs', 60);
const rounds = option('rounds', 1);
for (let round = 1; round <= rounds; round++) {
  const nodes = await startCluster({ size: 3, dir: tempDir('bench-cluster-session') });
  try {
    const leader = await waitForLeader(nodes);
    await run(leader, '0', { session: 'warm-up' });
    const before = (await raftStatus(leader)).commit;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const made = await run(nodes[i % nodes.length]!, 'globalThis.n = (globalThis.n ?? 0) + 1; n', { session: 'bench' });
      if (made.status !== 'completed') throw new Error(JSON.stringify(made));
      times.push(performance.now() - started);
    }
    const entries = ((await raftStatus(leader)).commit - before) / runs;
    times.sort((a, b) => a - b);
    process.stdout.write(`round ${round}: ${runs} session runs, time to result median ${times[Math.floor(runs / 2)]!.toFixed(1)} ms, p90 ${times[Math.floor(runs * 0.9)]!.toFixed(1)} ms; ${entries.toFixed(2)} log entries per run; load ${loadavg()[0]!.toFixed(1)}\n`);
  } finally {
    await stopAll(nodes);
  }
}
