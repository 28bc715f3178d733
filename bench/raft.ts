// `npm run bench:raft`: the Raft core's speed. Three measurements, each repeated and reported as
// the median: (1) proposals committed and applied per second of CPU in a 3-node simulated cluster
// with batching (many proposals per Ready), (2) simulated seeds per second of the fault sweep,
// (3) LevelDB log appends per second with one synchronous batch per Ready. Results go to stdout
// and to the "## Raft core" section of bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelStorage } from '../src/raft/level-storage.ts';
import { SimCluster } from '../test/raft/sim/cluster.ts';
import { reliableNetwork } from '../test/raft/sim/network.ts';
import { SeededRandom } from '../test/raft/sim/random.ts';
import { runSeed } from '../test/raft/sim/run.ts';
import type { Entry, Snapshot } from '../src/raft/types.ts';

const repetitions = 5;
const proposalsPerTick = 512;
const throughputTicks = 400;
const seedsPerRun = 400;
const storageBatches = 300;
const entriesPerStorageBatch = 64;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Proposals committed (and applied on every node) per CPU second, 3 nodes, reliable network. */
function measureCoreThroughput(): number {
  const cluster = new SimCluster({
    random: new SeededRandom(42), voters: [1, 2, 3], nodeIds: [1, 2, 3], faults: reliableNetwork,
    raft: { entriesPerAppendMax: 256, inflightAppendsMax: 8, uncommittedEntriesMax: 8192 },
    compactEntriesThreshold: 20_000, readyProbability: 1,
  });
  for (let tick = 0; tick < 100 && cluster.leader() === null; tick++) cluster.tick();
  const leader = cluster.leader();
  if (leader === null) throw new Error('no leader elected for the benchmark');
  const payloads = Array.from({ length: proposalsPerTick }, (_, i) => JSON.stringify({ op: 'put', key: `k${i % 64}`, value: `v${i}` }));
  const startIndex = leader.raft.log.applied;
  const startedCpu = cpuSeconds();
  for (let tick = 0; tick < throughputTicks; tick++) {
    for (const payload of payloads) if (!leader.raft.propose(payload).accepted) break;
    cluster.tick();
  }
  const elapsedCpu = cpuSeconds() - startedCpu;
  let appliedEverywhere = Infinity;
  for (const node of cluster.nodes.values()) appliedEverywhere = Math.min(appliedEverywhere, node.raft.log.applied);
  return (appliedEverywhere - startIndex) / elapsedCpu;
}

function measureSeedsPerSecond(firstSeed: number): number {
  const startedMs = performance.now();
  for (let seed = firstSeed; seed < firstSeed + seedsPerRun; seed++) {
    const report = runSeed(seed);
    if (!report.ok) throw new Error(`seed ${seed} failed during the benchmark: ${report.error}`);
  }
  return seedsPerRun / ((performance.now() - startedMs) / 1000);
}

async function measureStorageAppends(): Promise<{ entriesPerSecond: number; syncedBatchesPerSecond: number }> {
  const directory = await mkdtemp(join(tmpdir(), 'raft-bench-'));
  const bootstrap: Snapshot = { index: 0, term: 0, config: { voters: [1], learners: [] }, data: '' };
  try {
    const storage = await LevelStorage.open(join(directory, 'log'), bootstrap);
    const payload = 'x'.repeat(100);
    const startedMs = performance.now();
    let lastIndex = 0;
    for (let batch = 0; batch < storageBatches; batch++) {
      const entries: Entry[] = [];
      for (let i = 1; i <= entriesPerStorageBatch; i++) entries.push({ index: lastIndex + i, term: 1, kind: 'normal', data: payload });
      lastIndex += entriesPerStorageBatch;
      await storage.save({ hardState: { term: 1, vote: 1, commit: lastIndex }, entries, snapshot: null });
    }
    const seconds = (performance.now() - startedMs) / 1000;
    await storage.close();
    return { entriesPerSecond: lastIndex / seconds, syncedBatchesPerSecond: storageBatches / seconds };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function machine(): string {
  const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown CPU';
  return `${nproc} CPUs (nproc), ${model}, Node ${process.version}`;
}

function writeResults(section: string): void {
  const path = join(import.meta.dirname, 'RESULTS.md');
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const start = existing.indexOf('## Raft core');
  let next = start < 0 ? -1 : existing.indexOf('\n## ', start + 1);
  if (next < 0) next = existing.length;
  const updated = start < 0 ? `${existing.trimEnd()}\n\n${section}` : existing.slice(0, start) + section + existing.slice(next + 1);
  writeFileSync(path, `${updated.trimEnd()}\n`);
}

const loadAtStart = loadavg()[0]!.toFixed(2);
const coreRuns: number[] = [];
const seedRuns: number[] = [];
const storageRuns: { entriesPerSecond: number; syncedBatchesPerSecond: number }[] = [];
for (let run = 0; run < repetitions; run++) {
  coreRuns.push(measureCoreThroughput());
  seedRuns.push(measureSeedsPerSecond(1 + run * seedsPerRun));
  storageRuns.push(await measureStorageAppends());
  process.stdout.write(`run ${run + 1}/${repetitions}: core ${coreRuns.at(-1)!.toFixed(0)}/s, seeds ${seedRuns.at(-1)!.toFixed(0)}/s, storage ${storageRuns.at(-1)!.entriesPerSecond.toFixed(0)} entries/s\n`);
}
const rows = [
  ['Proposals committed per CPU second (3 nodes, batched, applied on all)', median(coreRuns), 'target ≥ 50,000'],
  ['Simulated seeds per second (fault sweep, 1 core)', median(seedRuns), `${seedsPerRun} seeds per run`],
  ['LevelDB log appends per second (synced batches of 64 entries)', median(storageRuns.map((run) => run.entriesPerSecond)), ''],
  ['LevelDB synced batches (fsyncs) per second', median(storageRuns.map((run) => run.syncedBatchesPerSecond)), ''],
] as const;
const table = rows.map(([name, value, note]) => `| ${name} | ${Math.round(value).toLocaleString('en-US')} | ${note} |`).join('\n');
const section = `## Raft core

Measured ${new Date().toISOString().slice(0, 10)} on ${machine()} (1-minute load ${loadAtStart} at start: the
machine is shared); \`npm run bench:raft\`, median of ${repetitions} runs.

| Measurement | Median | Note |
| --- | ---: | --- |
${table}
`;
process.stdout.write(`\n${section}`);
writeResults(section);
