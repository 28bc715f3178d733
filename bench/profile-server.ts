// Where a stateless run's server CPU goes (issue 23): the server under a constant load of the
// time-to-result scenario, its CPU per run split by thread (from /proc/<pid>/task/*/stat) and its
// main thread's CPU split by what the code does (a `--cpu-prof` profile, each sample counted once,
// for the innermost frame that belongs to a part we name).
//   node bench/profile-server.ts [--rate 400] [--duration 10] [--stateful --chained] [--out DIR] [--cpu-only]
// --cpu-only: no profiler (it costs CPU of its own), for A/B figures of CPU per run by thread.
// Threads: MainThread with the pid's id is Node's event loop; the other MainThread-named tasks are
// isolated-vm's isolate threads (they inherit the name of the thread that made them);
// WorkerThread is the source worker (swc); V8Worker V8's platform (GC, compiles); libuv-worker
// the libuv pool (LevelDB, fs).
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { spawnTarget } from './lib/processes.ts';
import { runLoad } from './lib/runner.ts';
import { cpuByKind, threadCpu, type ThreadCpu } from './lib/threads.ts';

const { values } = parseArgs({
  options: { rate: { type: 'string' }, duration: { type: 'string' }, stateful: { type: 'boolean' }, chained: { type: 'boolean' }, out: { type: 'string' }, 'cpu-only': { type: 'boolean' } },
  strict: true,
});
const rate = numberArg('rate', values.rate, 400, 1);
const durationS = numberArg('duration', values.duration, 10, 1);
const chained = values.chained === true;
const profileDir = values.out ?? mkdtempSync(join(tmpdir(), 'mcp-v8-prof-'));

const child = await spawnTarget({
  target: 'server', mode: values.stateful || chained ? 'stateful' : 'stateless',
  nodeArgs: values['cpu-only'] ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`], serverArgs: [],
});
let before: ThreadCpu;
let report;
try {
  // Warm-up first (unmeasured), then the threads' CPU around the measured window.
  await runLoad({
    baseUrl: child.baseUrl, ratePerS: rate, durationS: 2, warmupS: 0, maxVUs: Math.max(10, rate / 2), preAllocatedVUs: 10, chained,
    pollMs: 50, pollsMax: 100, pollCapMs: 10_000, serverPid: child.pid, client: 'raw', scenario: 'result', waitMs: 10_000, calibrate: false,
  });
  before = threadCpu(child.pid);
  report = await runLoad({
    baseUrl: child.baseUrl, ratePerS: rate, durationS, warmupS: 0, maxVUs: Math.max(10, rate / 2), preAllocatedVUs: 10, chained,
    pollMs: 50, pollsMax: 100, pollCapMs: 10_000, serverPid: child.pid, client: 'raw', scenario: 'result', waitMs: 10_000, calibrate: false,
  });
  const byKind = cpuByKind(before, threadCpu(child.pid));
  const runs = report.iterations.finished;
  const totalS = [...byKind.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`rate ${rate}/s for ${durationS} s: ${runs} runs finished, ${report.iterations.dropped} dropped, time to result p50/p95 ${report.execLatencyMs.p50}/${report.execLatencyMs.p95} ms, load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`server CPU per run, all threads: ${((1000 * totalS) / runs).toFixed(3)} ms\n`);
  for (const [kind, cpuS] of [...byKind].sort((a, b) => b[1] - a[1])) {
    if (cpuS > 0) process.stdout.write(`  ${kind.padEnd(20)} ${((1000 * cpuS) / runs).toFixed(3)} ms/run\n`);
  }
  process.stdout.write(`MAIN_THREAD_MS_PER_RUN ${((1000 * (byKind.get('main (event loop)') ?? 0)) / runs).toFixed(3)} RUNS ${runs}\n`);
} finally {
  await child.stop();
}

if (values['cpu-only']) process.exit(0);
// The main thread's profile, by part.
interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile') && name.includes('.0.0'));
if (file === undefined) throw new Error(`no profile in ${profileDir}`);
const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const id of node.children ?? []) parent.set(id, node.id);
const parts: Array<[string, (name: string, url: string) => boolean]> = [
  ['GC (main thread)', (name) => name === '(garbage collector)'],
  ['idle', (name) => name === '(idle)'],
  ['zod', (_, url) => url.includes('node_modules/zod')],
  ['record store / LevelDB', (_, url) => /node_modules\/(classic-level|abstract-level|level|maybe-combine-errors|module-error)/.test(url) || url.includes('/src/storage/')],
  ['JSON parse/stringify', (name, url) => url === '' && (name === 'parse' || name === 'stringify')],
  ['source worker hop', (_, url) => url.includes('/src/exec/source-prep') || url.includes('node:internal/worker')],
  ['isolate pool (context create, attach, heap reading)', (_, url) => url.includes('/src/exec/isolate-pool')],
  ['run (eval, settle, state calls)', (_, url) => url.includes('/src/exec/run.ts') || url.includes('/src/exec/outcome')],
  ['engine (queue, slots)', (_, url) => url.includes('/src/exec/engine')],
  ['HTTP (node:http, sockets, our fast path)', (_, url) => url.includes('/src/transport/') || url.includes('/src/auth/') || /^node:(_http|http|net|internal\/(http|streams|net|stream_base))/.test(url)],
  ['service + tools (records, ids, waits)', (_, url) => url.includes('/src/service/') || url.includes('/src/tools/') || url.includes('/src/exec/ids') || url.includes('/src/metrics')],
  ['logging', (_, url) => url.includes('node_modules/pino')],
  ['timers, promises, nextTick', (_, url) => /^node:internal\/(timers|process\/task_queues|process\/promises|async_hooks)/.test(url)],
  ['(program: native, not attributed)', (name) => name === '(program)'],
];
const sums = new Map<string, number>();
let allUs = 0;
const selfByFunction = new Map<string, number>();
// Only the samples from the first request on: the process's start (module loading, compiles,
// the prewarmed isolates) is not part of a run's cost. The first sample inside the fast path marks it.
const isRequest = (url: string) => url.includes('/src/transport/api-fast-path');
let started = false;
profile.samples.forEach((leaf, index) => {
  if (!started) {
    for (let at: number | undefined = leaf; at !== undefined && !started; at = parent.get(at)) started = isRequest(byId.get(at)!.callFrame.url);
    if (!started) return;
  }
  const us = profile.timeDeltas[index] ?? 0;
  allUs += us;
  const { functionName, url, lineNumber } = byId.get(leaf)!.callFrame;
  const label = `${functionName || '(anonymous)'} ${url.replace(/^file:\/\/.*?\/(node_modules|src)\//, '$1/')}:${lineNumber + 1}`;
  selfByFunction.set(label, (selfByFunction.get(label) ?? 0) + us);
  let part = 'other';
  for (let at: number | undefined = leaf; at !== undefined; at = parent.get(at)) {
    const { functionName, url } = byId.get(at)!.callFrame;
    const found = parts.find(([, test]) => test(functionName, url));
    if (found !== undefined) { part = found[0]; break; }
  }
  sums.set(part, (sums.get(part) ?? 0) + us);
});
const busyUs = allUs - (sums.get('idle') ?? 0);
process.stdout.write(`main-thread profile (${join(profileDir, file)}), from the first request on, ${(busyUs / 1e6).toFixed(2)} s busy; share of busy time:\n`);
for (const [part, us] of [...sums].sort((a, b) => b[1] - a[1])) {
  if (part !== 'idle') process.stdout.write(`  ${((100 * us) / busyUs).toFixed(1).padStart(5)} %  ${part}\n`);
}
process.stdout.write('hottest functions by self time, share of busy time:\n');
for (const [label, us] of [...selfByFunction].filter(([label]) => !label.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  process.stdout.write(`  ${((100 * us) / busyUs).toFixed(1).padStart(5)} %  ${label}\n`);
}
