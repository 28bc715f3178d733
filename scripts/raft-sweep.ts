// `npm run raft:sweep`: run many seeded Raft simulations (default 100,000) and report seeds/s and
// any failure with the seed that replays it. `--seeds N` sets the count, `--start S` the first
// seed, `--workers W` the worker threads (default: one per core), `--fault-ticks T` the length of
// each run's fault phase (default 500; longer runs reach deeper histories), `--seed S` replays one
// seed (with the same --fault-ticks) and prints its report, `--storage level` runs every node on the
// real LevelStorage over CrashStore (test/raft/sim/crash-store.ts), `--lease-reads` makes every
// seed use lease reads with check-quorum (under the same clock skew), `--bare` makes every seed run
// with neither pre-vote nor check-quorum (the leader lease of thesis §4.2.3 alone keeps a removed
// voter from deposing the leader; the seeds' own draws never pick that variant), `--leader-hints` tells
// every seed's nodes of dead peers (Raft.leaderLooksGone; by default every fourth seed). Exits 1 when any seed fails.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { defaultRunOptions, runSeed } from '../test/raft/sim/run.ts';
import type { RunOptions, RunReport } from '../test/raft/sim/run.ts';

interface Chunk {
  readonly firstSeed: number;
  readonly seedCount: number;
  readonly runOptions: RunOptions;
}

type WorkerMessage = { kind: 'progress'; seeds: number; operations: number; unknown: number; figure8: number } | { kind: 'failure'; report: RunReport };

/** Seeds a worker runs between progress messages. */
const progressSeedsPerMessage = 200;

function failureText(report: RunReport, runOptions: RunOptions): string {
  const faultTicks = runOptions.faultTicks === defaultRunOptions.faultTicks ? '' : ` --fault-ticks ${runOptions.faultTicks}`;
  const storage = (runOptions.storage === defaultRunOptions.storage ? '' : ` --storage ${runOptions.storage}`) + (runOptions.raft?.readLease === true ? ' --lease-reads' : '') + (runOptions.raft?.checkQuorum === false ? ' --bare' : '') + (runOptions.leaderHints === true ? ' --leader-hints' : '');
  return `FAIL seed ${report.seed} (${report.clusterSize} nodes, tick ${report.ticks})\n${report.error}\nreplay: npm run raft:sweep -- --seed ${report.seed}${faultTicks}${storage}\n`;
}

async function runChunk(chunk: Chunk, port: NonNullable<typeof parentPort>): Promise<void> {
  let seeds = 0;
  let operations = 0;
  let unknown = 0;
  let figure8 = 0;
  for (let seed = chunk.firstSeed; seed < chunk.firstSeed + chunk.seedCount; seed++) {
    const report = await runSeed(seed, chunk.runOptions);
    seeds++;
    operations += report.historyOperations;
    if (report.linearizability === 'unknown') unknown++;
    figure8 += report.figure8Overwrites;
    if (!report.ok) port.postMessage({ kind: 'failure', report } satisfies WorkerMessage);
    if (seeds === progressSeedsPerMessage || seed === chunk.firstSeed + chunk.seedCount - 1) {
      port.postMessage({ kind: 'progress', seeds, operations, unknown, figure8 } satisfies WorkerMessage);
      seeds = 0;
      operations = 0;
      unknown = 0;
      figure8 = 0;
    }
  }
}

async function replay(seed: number, runOptions: RunOptions): Promise<never> {
  const report = await runSeed(seed, runOptions);
  process.stdout.write(report.ok ? `${JSON.stringify(report)}\n` : failureText(report, runOptions));
  process.exit(report.ok ? 0 : 1);
}

async function sweep(firstSeed: number, seedCount: number, workerCount: number, runOptions: RunOptions): Promise<number> {
  const startedMs = performance.now();
  let done = 0;
  let operations = 0;
  let unknown = 0;
  let failures = 0;
  let figure8 = 0;
  let lastReportMs = startedMs;
  const perWorker = Math.ceil(seedCount / workerCount);
  const workers: Promise<void>[] = [];
  for (let index = 0; index < workerCount; index++) {
    const chunk: Chunk = { firstSeed: firstSeed + index * perWorker, seedCount: Math.max(0, Math.min(perWorker, seedCount - index * perWorker)), runOptions };
    if (chunk.seedCount === 0) continue;
    const worker = new Worker(new URL(import.meta.url), { workerData: chunk });
    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'failure') {
        failures++;
        process.stdout.write(failureText(message.report, runOptions));
        return;
      }
      done += message.seeds;
      operations += message.operations;
      unknown += message.unknown;
      figure8 += message.figure8;
      const nowMs = performance.now();
      if (nowMs - lastReportMs < 5000) return;
      lastReportMs = nowMs;
      process.stdout.write(`${done}/${seedCount} seeds, ${(done / ((nowMs - startedMs) / 1000)).toFixed(0)} seeds/s, ${failures} failed\n`);
    });
    workers.push(new Promise((resolve, reject) => {
      worker.on('error', reject);
      worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sweep worker exited with ${code}`))));
    }));
  }
  await Promise.all(workers);
  const seconds = (performance.now() - startedMs) / 1000;
  process.stdout.write(`${seedCount} seeds (${firstSeed}..${firstSeed + seedCount - 1}) on ${workerCount} workers in ${seconds.toFixed(1)} s: `
    + `${(seedCount / seconds).toFixed(0)} seeds/s, ${operations} client operations checked, ${unknown} checks gave up (unknown), ${figure8} figure 8 overwrites reached, ${failures} failed\n`);
  return failures;
}

if (!isMainThread) {
  await runChunk(workerData as Chunk, parentPort!);
} else {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '100000' },
      start: { type: 'string', default: '1' },
      workers: { type: 'string', default: String(availableParallelism()) },
      'fault-ticks': { type: 'string', default: String(defaultRunOptions.faultTicks) },
      seed: { type: 'string' },
      storage: { type: 'string', default: 'memory' },
      'lease-reads': { type: 'boolean', default: false },
      bare: { type: 'boolean', default: false },
      'leader-hints': { type: 'boolean', default: false },
    },
  });
  const faultTicks = Number(values['fault-ticks']);
  if (!Number.isInteger(faultTicks) || faultTicks < 1) {
    process.stderr.write('--fault-ticks must be a positive integer\n');
    process.exit(2);
  }
  const storage = values.storage;
  if (storage !== 'memory' && storage !== 'level') {
    process.stderr.write('--storage must be memory or level\n');
    process.exit(2);
  }
  const leaseReads = values['lease-reads'];
  if (leaseReads && values.bare) {
    process.stderr.write('--lease-reads needs check-quorum, which --bare turns off\n');
    process.exit(2);
  }
  const bare = values.bare ? { raft: { preVote: false, checkQuorum: false } } : {};
  const runOptions: RunOptions = { ...defaultRunOptions, faultTicks, storage, ...(leaseReads ? { raft: { readLease: true, checkQuorum: true } } : bare), ...(values['leader-hints'] ? { leaderHints: true } : {}) };
  if (values.seed !== undefined) await replay(Number(values.seed), runOptions);
  const seedCount = Number(values.seeds);
  const firstSeed = Number(values.start);
  const workerCount = Number(values.workers);
  if (!Number.isInteger(seedCount) || seedCount < 1 || !Number.isInteger(firstSeed) || !Number.isInteger(workerCount) || workerCount < 1) {
    process.stderr.write('--seeds and --workers must be positive integers and --start an integer\n');
    process.exit(2);
  }
  const failures = await sweep(firstSeed, seedCount, workerCount, runOptions);
  process.exit(failures === 0 ? 0 : 1);
}
