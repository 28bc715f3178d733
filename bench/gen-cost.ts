// The load generator's own CPU per request (bench/load.ts shares the 2 cores with the server it
// measures): the result scenario against the floor server, user and system time of the
// generator's process apart, for each client in turns.
//   node bench/gen-cost.ts [--rate 1000] [--duration 10] [--rounds 2]
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { numberArg } from './lib/args.ts';
import { spawnTarget } from './lib/processes.ts';
import { runLoad, type ClientKind } from './lib/runner.ts';

const { values } = parseArgs({ options: { rate: { type: 'string' }, duration: { type: 'string' }, rounds: { type: 'string' } }, strict: true });
const rate = numberArg('rate', values.rate, 1000, 1);
const durationS = numberArg('duration', values.duration, 10, 1);
const rounds = numberArg('rounds', values.rounds, 2, 1);
for (let round = 1; round <= rounds; round++) {
  for (const client of ['raw', 'undici'] as ClientKind[]) {
    const floor = await spawnTarget({ target: 'floor', mode: 'stateless', nodeArgs: [], serverArgs: [] });
    try {
      const before = process.cpuUsage();
      const report = await runLoad({
        baseUrl: floor.baseUrl, ratePerS: rate, durationS, warmupS: 1, maxVUs: Math.max(10, rate / 2), preAllocatedVUs: 10, chained: false,
        pollMs: 50, pollsMax: 100, pollCapMs: 10_000, serverPid: floor.pid, client, scenario: 'result', waitMs: 10_000, calibrate: false,
      });
      const used = process.cpuUsage(before);
      // Warm-up included in both the CPU and the request count.
      const requests = report.httpRequests + Math.round(rate * 1);
      process.stdout.write(`round ${round} ${client.padEnd(6)}: ${report.achievedIterPerS}/s, generator user ${(used.user / requests / 1000).toFixed(3)} + system ${(used.system / requests / 1000).toFixed(3)} ms per request; floor server ${report.cpu.serverMsPerRun} ms per request; load ${loadavg()[0]!.toFixed(1)}\n`);
    } finally {
      await floor.stop();
    }
  }
}
