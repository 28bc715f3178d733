// Policy benchmarks (issue 22's speed targets):
//   1. in-process decision time for the README's example policies (fetch and fs, allowing and
//      denying inputs): LocalRegoDecider.decideSync, target ≤ 50 µs per decision;
//   2. the fetch gate's overhead over a direct undici request to a loopback server (policy check
//      with the README fetch policy, header injection, bounded body read), target ≤ 1 ms.
// Measured in turns (A B A B …) on a shared, noisy machine; medians reported. Prints a Markdown
// section; `--write` replaces that section in bench/RESULTS.md.
import { execSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { request } from 'undici';
import { writeResultsSection } from './lib/report.ts';
import { LocalRegoDecider } from '../src/policy/decider.ts';
import { FetchGate } from '../src/policy/fetch-gate.ts';
import { parseFetchHeaderFlag } from '../src/policy/headers.ts';
import { fetchInput } from '../src/policy/inputs.ts';
import { README_FETCH_POLICY, README_FS_POLICY } from '../src/policy/readme-examples.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const callsPerRound = Number(process.env.BENCH_CALLS ?? 2_000);
const fetchPairs = Number(process.env.BENCH_PAIRS ?? 2_000);

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const quantile = (xs: number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]!; };

// ---- 1. decisions ----
const fetchDecider = new LocalRegoDecider([{ file: 'fetch.rego', source: README_FETCH_POLICY }], 'data.mcp.fetch.allow');
const fsDecider = new LocalRegoDecider([{ file: 'fs.rego', source: README_FS_POLICY }], 'data.mcp.fs.allow');
const headers: [string, string][] = [['accept', 'application/json'], ['user-agent', 'bench']];
const cases = [
  { name: 'README fetch policy, allowed GET', decider: fetchDecider, input: fetchInput(new URL('https://api.example.com/public/data?x=1'), 'GET', headers), want: true },
  { name: 'README fetch policy, denied POST', decider: fetchDecider, input: fetchInput(new URL('https://api.example.com/public/data'), 'POST', headers), want: false },
  { name: 'README fs policy, allowed stat (third rule)', decider: fsDecider, input: { operation: 'stat', path: '/tmp/data.txt' }, want: true },
  { name: 'README fs policy, denied rm', decider: fsDecider, input: { operation: 'rm', path: '/etc/passwd' }, want: false },
];
for (const c of cases) if (c.decider.decideSync(c.input).allow !== c.want) throw new Error(`${c.name}: wrong decision`);
for (let i = 0; i < 2_000; i++) for (const c of cases) c.decider.decideSync(c.input);
const perCase = cases.map(() => [] as number[]);
const perCaseCpu = cases.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  cases.forEach((c, k) => {
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < callsPerRound; i++) c.decider.decideSync(c.input);
    const cpu = process.cpuUsage(cpu0);
    perCase[k]!.push(Number(process.hrtime.bigint() - t0) / 1e3 / callsPerRound);
    perCaseCpu[k]!.push((cpu.user + cpu.system) / callsPerRound);
  });
}

// ---- 2. fetch gate overhead ----
const body = JSON.stringify({ items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}` })) });
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const loopbackPolicy = README_FETCH_POLICY.replace('"api.example.com"', '"127.0.0.1"');
const gate = new FetchGate({
  decider: new LocalRegoDecider([{ file: 'fetch.rego', source: loopbackPolicy }], 'data.mcp.fetch.allow'),
  headerRules: [parseFetchHeaderFlag('host=127.0.0.1,header=Authorization,value=Bearer bench-secret', 0), parseFetchHeaderFlag('host=*.example.com,header=X-Other,value=x', 1)],
});
const url = `http://127.0.0.1:${port}/public/data`;
async function direct(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await request(url, { headers: Object.fromEntries(headers) });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200 || bytes.length !== body.length) throw new Error('direct: bad response');
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
async function gated(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await gate.fetch({ url, headers });
  if (res.status !== 200 || res.body.byteLength !== body.length) throw new Error('gated: bad response');
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
for (let i = 0; i < 300; i++) { await direct(); await gated(); }
const directMs: number[] = [];
const gatedMs: number[] = [];
for (let i = 0; i < fetchPairs; i++) {
  if (i % 2 === 0) { directMs.push(await direct()); gatedMs.push(await gated()); }
  else { gatedMs.push(await gated()); directMs.push(await direct()); }
}
server.closeAllConnections();
server.close();

// ---- report ----
let commit = 'unknown';
try { commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
const load = os.loadavg()[0]!.toFixed(2);
const f3 = (x: number): string => x.toFixed(3);
const lines = [
  '## Policy decisions and the fetch gate (issue 22, host side)',
  '',
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${os.cpus().length} CPUs, ${os.cpus()[0]?.model.trim() ?? '?'}, Node ${process.version}`,
  `(1-minute load ${load} at the end: the machine is shared); \`npm run bench:policy\`, commit ${commit}.`,
  `Decisions: \`LocalRegoDecider.decideSync\` (parse-free: modules compiled once; evaluation of \`data.<pkg>.allow\``,
  `for a JSON input, including converting the input to Rego values), ${rounds} rounds of ${callsPerRound} calls of each case in turn,`,
  'after 2000 warm-up calls; the figures are the median over rounds of the mean wall time and the mean CPU time',
  '(user + system of this single-threaded process) per call. On a loaded machine the wall time includes waiting for a core;',
  'the CPU time is what a decision costs.',
  '',
  '| Decision (in-process Rego) | Wall µs (median) | CPU µs (median) | Target |',
  '| --- | ---: | ---: | ---: |',
  ...cases.map((c, k) => `| ${c.name} | ${f3(median(perCase[k]!))} | ${f3(median(perCaseCpu[k]!))} | ≤ 50 |`),
  '',
  `Fetch gate: ${fetchPairs} requests each, direct \`undici.request\` and \`FetchGate.fetch\` alternating (order flipped every pair),`,
  `GET of a ${body.length}-byte JSON body from a node:http server on 127.0.0.1 in the same process (keep-alive, undici's global`,
  'agent for both), after 300 warm-up pairs. The gate adds: URL/method/header validation, the policy decision (README fetch',
  'policy for host 127.0.0.1), header injection (two rules), and a bounded body read into one Uint8Array.',
  '',
  '| Fetch on loopback | Direct undici | Fetch gate | Overhead | Target |',
  '| --- | ---: | ---: | ---: | ---: |',
  `| Latency median (ms) | ${f3(median(directMs))} | ${f3(median(gatedMs))} | ${f3(median(gatedMs) - median(directMs))} | ≤ 1 |`,
  `| Latency p95 (ms) | ${f3(quantile(directMs, 0.95))} | ${f3(quantile(gatedMs, 0.95))} | ${f3(quantile(gatedMs, 0.95) - quantile(directMs, 0.95))} | |`,
  '',
];
const section = lines.join('\n');
process.stdout.write(`${section}\n`);
if (process.argv.includes('--write')) writeResultsSection(lines);
