// `npm run raft:sweep`: run many seeded Raft simulations (default 100,000) and report seeds/s and
// any failure with the seed that replays it. `--seeds N` sets the count, `--start S` the first
// seed, `--seed S` replays one seed and prints its report. Exits 1 when any seed fails.
import { parseArgs } from 'node:util';
import { runSeed } from '../src/raft/sim/run.ts';
import type { RunReport } from '../src/raft/sim/run.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100000' },
    start: { type: 'string', default: '1' },
    seed: { type: 'string' },
  },
});

function printFailure(report: RunReport): void {
  process.stdout.write(`FAIL seed ${report.seed} (${report.clusterSize} nodes, tick ${report.ticks})\n${report.error}\n`);
  process.stdout.write(`replay: npm run raft:sweep -- --seed ${report.seed}\n`);
}

if (values.seed !== undefined) {
  const report = runSeed(Number(values.seed));
  if (report.ok) process.stdout.write(`${JSON.stringify(report)}\n`);
  else printFailure(report);
  process.exit(report.ok ? 0 : 1);
}

const seedCount = Number(values.seeds);
const firstSeed = Number(values.start);
if (!Number.isInteger(seedCount) || seedCount < 1 || !Number.isInteger(firstSeed)) {
  process.stderr.write('--seeds must be a positive integer and --start an integer\n');
  process.exit(2);
}
const startedMs = performance.now();
let lastReportMs = startedMs;
let failureCount = 0;
let unknownCount = 0;
let operationCount = 0;
for (let seed = firstSeed; seed < firstSeed + seedCount; seed++) {
  const report = runSeed(seed);
  operationCount += report.historyOperations;
  if (report.linearizability === 'unknown') unknownCount++;
  if (!report.ok) {
    failureCount++;
    printFailure(report);
  }
  const nowMs = performance.now();
  if (nowMs - lastReportMs > 5000) {
    lastReportMs = nowMs;
    const done = seed - firstSeed + 1;
    process.stdout.write(`${done}/${seedCount} seeds, ${(done / ((nowMs - startedMs) / 1000)).toFixed(0)} seeds/s, ${failureCount} failed\n`);
  }
}
const seconds = (performance.now() - startedMs) / 1000;
process.stdout.write(`${seedCount} seeds (${firstSeed}..${firstSeed + seedCount - 1}) in ${seconds.toFixed(1)} s: ${(seedCount / seconds).toFixed(0)} seeds/s, `
  + `${operationCount} client operations checked, ${unknownCount} checks gave up (unknown), ${failureCount} failed\n`);
process.exit(failureCount === 0 ? 0 : 1);
