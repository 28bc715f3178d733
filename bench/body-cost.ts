// The server's CPU per hostile JSON body (issue 18, item 6), per checkout in turns (A B A B …):
// CPU time (user + system ticks of the whole process, /proc/<pid>/stat; 10 ms ticks) spent on
// `--bursts` bursts of 8 bodies sent at once to POST /api/exec, divided by the bodies; and of it,
// the main thread's time on a CPU (/proc/<pid>/task/<pid>/schedstat, ns), the event loop that
// every neighbour's request waits for; and this client's own CPU per body (it shares the machine's
// cores with the server in the neighbour benchmark). CPU time, unlike a neighbour's latency, is
// not swamped by the machine's other load. "1 unknown key" is a small body refused the same way:
// the floor of a refused request (a connection, its headers, a 400, the close); the legal code
// is run (its CPU includes the run's).
//   node bench/body-cost.ts [--bursts 10] [--rounds 3] [--only legal] [checkout …]   (default: this checkout)
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { startCheckoutServer } from './lib/checkout-server.ts';
import { repoRoot } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';

const { values, positionals } = parseArgs({ options: { bursts: { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' } }, allowPositionals: true });
const bursts = numberArg('bursts', values.bursts, 10, 1);
const rounds = numberArg('rounds', values.rounds, 3, 1);
const checkouts = positionals.length > 0 ? positionals : [repoRoot];

const bodies = {
  '200,000 unknown keys': JSON.stringify(Object.fromEntries([['code', '1'], ...Array.from({ length: 200_000 }, (_, index) => [`k${index}`, 1])])),
  '1,200,000 numbers': JSON.stringify({ code: '1', x: Array.from({ length: 1_200_000 }, () => 1) }),
  '200,000 empty objects': JSON.stringify({ code: '1', x: Array.from({ length: 200_000 }, () => ({})) }),
  '1 unknown key': JSON.stringify({ code: '1', k0: 1 }),
  // Legal, and run: 2 MB of JSON (`\n` escapes), parsed on the main thread before the body worker.
  'a legal 1,000,000-character code': JSON.stringify({ code: `${'\n'.repeat(999_997)}1+1` }),
};

/** The main thread's time on a CPU so far, ms. */
const mainMs = (pid: number) => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ')[0]) / 1e6;
const clientMs = () => { const usage = process.cpuUsage(); return (usage.user + usage.system) / 1e3; };
const median = (values: number[]) => percentile(Float64Array.from(values).sort(), 50).toFixed(2);

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const after = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
  return (Number(after[11]) + Number(after[12])) * 10;
}

const servers = await Promise.all(checkouts.map(startCheckoutServer));
console.log(`# server CPU ms per body, ${bursts} bursts of 8 per round, median of ${rounds} rounds in turns; load average ${os.loadavg()[0]!.toFixed(1)}`);
try {
  for (const [name, body] of Object.entries(bodies)) {
    if (values.only !== undefined && !name.includes(values.only)) continue;
    const perBody = checkouts.map((): number[] => []);
    const mainPerBody = checkouts.map((): number[] => []);
    const clientPerBody = checkouts.map((): number[] => []);
    for (let round = 0; round < rounds; round++) {
      for (const [index, { child, baseUrl }] of servers.entries()) {
        const before = cpuMs(child.pid!);
        const [mainBefore, clientBefore] = [mainMs(child.pid!), clientMs()];
        for (let burst = 0; burst < bursts; burst++) {
          await Promise.all(Array.from({ length: 8 }, () => fetch(`${baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((response) => response.text())));
        }
        perBody[index]!.push((cpuMs(child.pid!) - before) / (bursts * 8));
        mainPerBody[index]!.push((mainMs(child.pid!) - mainBefore) / (bursts * 8));
        clientPerBody[index]!.push((clientMs() - clientBefore) / (bursts * 8));
      }
    }
    for (const [index, checkout] of checkouts.entries()) {
      console.log(`${name}, ${checkout}: ${percentile(Float64Array.from(perBody[index]!).sort(), 50).toFixed(1)} ms (rounds ${perBody[index]!.map((ms) => ms.toFixed(1)).join(', ')}); main thread ${median(mainPerBody[index]!)} ms (rounds ${mainPerBody[index]!.map((ms) => ms.toFixed(2)).join(', ')}); this client ${median(clientPerBody[index]!)} ms`);
    }
  }
} finally {
  for (const { child } of servers) child.kill('SIGTERM');
}
console.log(`# load average at the end ${os.loadavg()[0]!.toFixed(1)}`);
