// Thread wakes per stateless run (issue 23): the server under the time-to-result load at a low
// rate, and for each kind of thread its voluntary context switches per finished run (a thread that
// sleeps until a call wakes it switches out once per wake), with its CPU per run. The switch count
// depends on how many calls a run makes and how they are batched, hardly on the machine's load,
// which the CPU figures do: on a shared machine it is the steadier measure of a change like
// "one isolate call per run". Compare builds in turns (a `git archive` copy holds its own bench/).
//   node bench/wakes.ts [--rate 100] [--duration 8]
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { spawnTarget } from './lib/processes.ts';
import { runLoad } from './lib/runner.ts';
import { cpuByKind, threadCpu } from './lib/threads.ts';

const { values } = parseArgs({ options: { rate: { type: 'string' }, duration: { type: 'string' } }, strict: true });
const rate = numberArg('rate', values.rate, 100, 1);
const durationS = numberArg('duration', values.duration, 8, 1);

/** Voluntary context switches by kind of thread (as bench/lib/threads.ts names the kinds). */
function switches(pid: number): Map<string, { kind: string; voluntary: number }> {
  const out = new Map<string, { kind: string; voluntary: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const name = /^Name:\s*(.*)$/m.exec(status)![1]!;
      const kind = tid === String(pid) ? 'main (event loop)' : name === 'MainThread' ? 'isolate threads' : name;
      out.set(tid, { kind, voluntary: Number(/^voluntary_ctxt_switches:\s*(\d+)$/m.exec(status)![1]) });
    } catch { /* the thread ended */ }
  }
  return out;
}

const child = await spawnTarget({ target: 'server', mode: 'stateless', nodeArgs: [], serverArgs: [] });
try {
  const load = { baseUrl: child.baseUrl, ratePerS: rate, warmupS: 0, maxVUs: Math.max(10, rate / 2), preAllocatedVUs: 10, chained: false,
    pollMs: 50, pollsMax: 100, pollCapMs: 10_000, serverPid: child.pid, client: 'raw' as const, scenario: 'result' as const, waitMs: 10_000, calibrate: false };
  await runLoad({ ...load, durationS: 2 });
  const before = switches(child.pid);
  const cpuBefore = threadCpu(child.pid);
  const report = await runLoad({ ...load, durationS });
  const after = switches(child.pid);
  const cpu = cpuByKind(cpuBefore, threadCpu(child.pid));
  const runs = report.iterations.finished;
  const byKind = new Map<string, number>();
  for (const [tid, { kind, voluntary }] of after) byKind.set(kind, (byKind.get(kind) ?? 0) + voluntary - (before.get(tid)?.voluntary ?? 0));
  const allCpuS = [...cpu.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`rate ${rate}/s for ${durationS} s: ${runs} runs, ${report.iterations.dropped} dropped, load average ${loadavg()[0]!.toFixed(2)}; server CPU ${(1000 * allCpuS / runs).toFixed(3)} ms/run\n`);
  for (const [kind, count] of [...byKind].sort((a, b) => b[1] - a[1])) {
    if (count > 0) process.stdout.write(`  ${kind.padEnd(20)} ${(count / runs).toFixed(2)} voluntary switches/run, ${((1000 * (cpu.get(kind) ?? 0)) / runs).toFixed(3)} ms CPU/run\n`);
  }
} finally {
  await child.stop();
}
process.exit(0);
