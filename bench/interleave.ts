// Time to result of two builds, compared request by request: both servers run side by side, and
// one `POST /api/exec {code, wait_ms}` at a time goes to A, then B, then A… (the order flips each
// pair), so every pair of samples meets the same machine. On a machine shared with other work,
// where runs of a minute each see different loads, the ratio of the two medians stays readable.
//   node bench/interleave.ts --a /path/to/checkout-A [--b /path/to/checkout-B] [--requests 2000] [--gap-ms 0]
// --b defaults to this checkout. Each checkout needs its node_modules (a symlink is enough).
// --session NAME (stateful servers, --server-args=""): every run continues that session, so each
// resumes the live context its previous run left and saves a heap and a session entry.
// What it measures: the wall time from writing the request to reading the whole answer, on a
// keep-alive connection, nothing else in flight: the path of one run, not a server's capacity;
// and each server's CPU (all threads, main thread) and write syscalls (its socket answers and
// LevelDB's log writes) per run over the measured requests.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { Http1Client } from './lib/http1.ts';
import { mainThreadCpuS, processCpuS, repoRoot } from './lib/processes.ts';
import { snippets } from './lib/snippets.ts';
import { summarize } from './lib/stats.ts';

const { values } = parseArgs({ options: { a: { type: 'string' }, b: { type: 'string' }, requests: { type: 'string' }, 'server-args': { type: 'string' }, session: { type: 'string' }, 'gap-ms': { type: 'string' } }, strict: true });
if (values.a === undefined) throw new Error('usage: node bench/interleave.ts --a CHECKOUT [--b CHECKOUT] [--requests N] [--server-args="…"]');
const requests = numberArg('requests', values.requests, 2000, 10);
const serverArgs = (values['server-args'] ?? '--stateless').split(' ').filter((arg) => arg !== '');
const startTimeoutMs = 60_000;
/**
 * --gap-ms: a pause after every request, so that what a server does after its answer (the next
 * context, the record's write) is over before either server's next request, as at a low rate.
 * 0 (back to back): that work overlaps the other server's request and is charged to it.
 */
const gapMs = numberArg('gap-ms', values['gap-ms'], 0, 0);

interface Started { baseUrl: string; pid: number; stop: () => void }

/** The checkout's server on a free port (port 0), its own fresh execution store. */
function start(checkout: string): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcp-v8-interleave-'));
  const storage = serverArgs.includes('--stateless') ? [] : ['--directory-path', join(dataDir, 'heaps'), '--session-db-path', join(dataDir, 'sessions')];
  const args = ['--no-node-snapshot', join(checkout, 'src', 'cli.ts'), ...serverArgs, ...storage, '--http-port', '0', '--execution-db-path', join(dataDir, 'executions')];
  const child = spawn(process.execPath, args, { cwd: checkout, stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = () => { child.kill('SIGTERM'); child.once('exit', () => rmSync(dataDir, { recursive: true, force: true })); };
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => { stop(); reject(new Error(`${checkout} did not listen within ${startTimeoutMs} ms:\n${stderr}`)); }, startTimeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-65_536);
      const match = /"port":(\d+)[^\n]*"msg":"[^"]*listening"/.exec(stderr);
      if (match === null) return;
      clearTimeout(timer);
      child.stderr!.removeAllListeners('data').resume();
      resolve({ baseUrl: `http://127.0.0.1:${match[1]}`, pid: child.pid!, stop });
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${checkout} exited with ${code}:\n${stderr}`)); });
  });
}

/** What a server has spent so far: CPU seconds (all threads, main thread) and write syscalls (sockets and LevelDB's files). */
function spent(pid: number): { cpuS: number; mainS: number; writes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { cpuS: processCpuS(pid), mainS: mainThreadCpuS(pid), writes: Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? Number.NaN) };
}

async function timed(client: Http1Client, index: number): Promise<number> {
  const body = JSON.stringify({ code: snippets[index % snippets.length], wait_ms: 10_000, ...(values.session === undefined ? {} : { session: values.session }) });
  const began = process.hrtime.bigint();
  const response = await client.request('POST', '/api/exec', body);
  const ms = Number(process.hrtime.bigint() - began) / 1e6;
  if (response.status !== 200 || !response.text.includes('"completed"')) throw new Error(`not a result: ${response.status} ${response.text.slice(0, 300)}`);
  return ms;
}

const checkouts = { A: values.a, B: values.b ?? repoRoot };
const servers = { A: await start(checkouts.A), B: await start(checkouts.B) };
const clients = { A: new Http1Client(servers.A.baseUrl, { connectionsMax: 1 }), B: new Http1Client(servers.B.baseUrl, { connectionsMax: 1 }) };
const samples: { A: number[]; B: number[] } = { A: [], B: [] };
const loadBefore = loadavg()[0]!;
const before: Partial<Record<'A' | 'B', ReturnType<typeof spent>>> = {};
const after: Partial<Record<'A' | 'B', ReturnType<typeof spent>>> = {};
try {
  // Warm-up, unmeasured: isolates made, code cached, connections open.
  for (let index = 0; index < 100; index++) for (const side of ['A', 'B'] as const) await timed(clients[side], index);
  before.A = spent(servers.A.pid);
  before.B = spent(servers.B.pid);
  for (let index = 0; index < requests; index++) {
    const order = index % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const side of order) {
      samples[side].push(await timed(clients[side], index));
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  }
  after.A = spent(servers.A.pid);
  after.B = spent(servers.B.pid);
} finally {
  await Promise.all([clients.A.close(), clients.B.close()]);
  servers.A.stop();
  servers.B.stop();
}
const summary = { A: summarize(samples.A.sort((x, y) => x - y)), B: summarize(samples.B.sort((x, y) => x - y)) };
const fmt = (ms: number) => ms.toFixed(3);
process.stdout.write(`${requests} requests each, one at a time, A and B alternating; load average ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}\n`);
for (const side of ['A', 'B'] as const) {
  const s = summary[side];
  const [from, to] = [before[side]!, after[side]!];
  const per = (value: number) => (value / requests).toFixed(3);
  process.stdout.write(`${side} ${checkouts[side]}: time to result p50 ${fmt(s.p50)} p90 ${fmt(s.p90)} p95 ${fmt(s.p95)} p99 ${fmt(s.p99)} ms; `
    + `server CPU per run ${per(1000 * (to.cpuS - from.cpuS))} ms (main thread ${per(1000 * (to.mainS - from.mainS))} ms, 10 ms ticks); write syscalls per run ${per(to.writes - from.writes)}\n`);
}
process.stdout.write(`B/A: p50 ${(summary.B.p50 / summary.A.p50).toFixed(3)}, p95 ${(summary.B.p95 / summary.A.p95).toFixed(3)}\n`);
