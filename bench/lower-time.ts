// How soon a CPU-bound run's isolate thread is lowered to nice 19 (src/exec/thread-nice.ts),
// from the moment its request is sent: the part of a neighbour's wait that the lowering decides,
// measured without timing the neighbour (which the machine's other load swamps). Checkouts in
// turns (A B A B …), one server of each started once: `for(;;){}` (2 s timeout) is sent, then
// /proc/<pid>/task/*/stat is read in a tight loop until a thread of the server is at nice 19.
// Figures: median and p90 ms from send to lowered, per checkout, and the load average.
//   node bench/lower-time.ts [--rounds 10] [checkout …]   (default: this checkout)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { repoRoot } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string' } }, allowPositionals: true });
const rounds = numberArg('rounds', values.rounds, 10, 1);
const checkouts = positionals.length > 0 ? positionals : [repoRoot];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

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

async function start(checkout: string): Promise<{ child: ChildProcess; baseUrl: string }> {
  const port = await freePort();
  const data = mkdtempSync(join(os.tmpdir(), 'mcp-v8-lower-'));
  const child = spawn(process.execPath, ['--no-node-snapshot', join(checkout, 'src', 'cli.ts'), '--stateless', '--http-port', String(port), '--execution-db-path', join(data, 'executions')], { stdio: 'ignore' });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (tries > 300) throw new Error(`the server of ${checkout} did not start`);
    if (await fetch(`${baseUrl}/healthz`).then((response) => response.ok, () => false)) return { child, baseUrl };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const servers = await Promise.all(checkouts.map(start));
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
