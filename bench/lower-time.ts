// How soon a CPU-bound run's isolate thread is lowered to nice 19 (src/exec/thread-nice.ts),
// from the moment its request is sent: the part of a neighbour's wait that the lowering decides,
// measured without timing the neighbour (which the machine's other load swamps). Checkouts in
// turns (A B A B …), one server of each started once: `for(;;){}` (2 s timeout) is sent, then
// /proc/<pid>/task/*/stat is read in a tight loop until a thread of the server is at nice 19.
// Figures: median and p90 ms from send to lowered, per checkout, and the load average.
//   node bench/lower-time.ts [--rounds 10] [checkout …]   (default: this checkout)
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { startCheckoutServer } from './lib/checkout-server.ts';
import { repoRoot } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' } }, allowPositionals: true });
const rounds = numberArg('rounds', values.rounds, 10, 1);
const checkouts = positionals.length > 0 ? positionals : [repoRoot];

function niceValues(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return [];
    }
  });
}

const servers = await Promise.all(checkouts.map(startCheckoutServer));
const times = checkouts.map((): number[] => []);
const loadStart = os.loadavg()[0]!;
try {
  for (let round = 0; round < rounds; round++) {
    for (const [index, { child, baseUrl }] of servers.entries()) {
      const pid = child.pid!;
      while (niceValues(pid).includes(19)) await new Promise((resolve) => setTimeout(resolve, 20)); // the run before is over
      const sentMs = performance.now();
      const answer = fetch(`${baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'for(;;){}', execution_timeout_secs: 2, wait_ms: 10_000 }) }).then((response) => response.text());
      let lowered = false;
      while (!lowered && performance.now() - sentMs < 2_500) {
        lowered = niceValues(pid).includes(19);
        if (!lowered) await new Promise((resolve) => setImmediate(resolve));
      }
      times[index]!.push(lowered ? performance.now() - sentMs : Infinity);
      await answer;
    }
  }
} finally {
  for (const { child } of servers) child.kill('SIGTERM');
}
console.log(`# send to nice 19, for(;;){} runs, ${rounds} rounds in turns; load average ${loadStart.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}`);
for (const [index, checkout] of checkouts.entries()) {
  const sorted = Float64Array.from(times[index]!).sort();
  console.log(`${checkout}: median ${percentile(sorted, 50).toFixed(0)} ms, p90 ${percentile(sorted, 90).toFixed(0)} ms, max ${sorted[sorted.length - 1]!.toFixed(0)} ms (never lowered within 2.5 s: Infinity)`);
}
