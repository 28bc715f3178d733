// The sandbox's fetch() end to end (issue 22's target: overhead over a direct undici request on
// loopback ≤ 1 ms): sequential `await (await fetch(url)).text()` inside one run, through the
// prelude, the host call (isolated-vm Reference, promise result), the effects handler, the gate
// (policy decision with the README fetch policy, header injection) and the body copied back into
// the isolate; against the same number of sequential direct `undici.request` calls reading the
// body. Rounds alternate (A B A B …, order flipped each round); medians per fetch. Prints a
// Markdown section; `--write` replaces that section in bench/RESULTS.md.
import { execSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { request } from 'undici';
import { writeResultsSection } from './lib/report.ts';
import { createEngine } from '../src/exec/engine.ts';
import { LocalRegoDecider } from '../src/policy/decider.ts';
import { FetchGate } from '../src/policy/fetch-gate.ts';
import { parseFetchHeaderFlag } from '../src/policy/headers.ts';
import { README_FETCH_POLICY } from '../src/policy/readme-examples.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 16);
const fetchesPerRun = Number(process.env.BENCH_FETCHES ?? 200);

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };

const body = JSON.stringify({ items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}` })) });
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const url = `http://127.0.0.1:${port}/public/data`;
const loopbackPolicy = README_FETCH_POLICY.replace('"api.example.com"', '"127.0.0.1"');
const gate = new FetchGate({
  decider: new LocalRegoDecider([{ file: 'fetch.rego', source: loopbackPolicy }], 'data.mcp.fetch.allow'),
  headerRules: [parseFetchHeaderFlag('host=127.0.0.1,header=Authorization,value=Bearer bench-secret', 0)],
});
const engine = await createEngine({ maxConcurrentExecutions: 1, capabilities: { fetch: gate, fs: undefined, modules: undefined, summary: {} } });

const loop = (n: number) => `let total = 0; for (let i = 0; i < ${n}; i++) total += (await (await fetch('${url}')).text()).length; total`;
async function sandboxRun(n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const outcome = await engine.run({ code: loop(n), limits: { heapMemoryMaxMb: 16, executionTimeoutMs: 120_000 }, signal: new AbortController().signal, onConsoleLine: () => {} });
  if (outcome.status !== 'completed' || outcome.result !== String(n * body.length)) throw new Error(`sandbox: ${outcome.status} ${outcome.error}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
async function directRun(n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  let total = 0;
  for (let i = 0; i < n; i++) {
    const res = await request(url);
    total += (await res.body.text()).length;
  }
  if (total !== n * body.length) throw new Error('direct: bad body');
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// Warm-up, and the fixed cost of a run (a loop of one fetch), subtracted per run.
for (let i = 0; i < 3; i++) { await sandboxRun(fetchesPerRun); await directRun(fetchesPerRun); }
const sandboxPerFetch: number[] = [];
const directPerFetch: number[] = [];
const runFixed: number[] = [];
for (let r = 0; r < rounds; r++) {
  const one = await sandboxRun(1);
  const pair = r % 2 === 0
    ? [await sandboxRun(fetchesPerRun), await directRun(fetchesPerRun)]
    : [await directRun(fetchesPerRun), await sandboxRun(fetchesPerRun)].reverse();
  runFixed.push(one);
  sandboxPerFetch.push((pair[0]! - one) / (fetchesPerRun - 1));
  directPerFetch.push(pair[1]! / fetchesPerRun);
}
await engine.close();
server.closeAllConnections();
server.close();

let commit = 'unknown';
try { commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
const f3 = (x: number): string => x.toFixed(3);
const lines = [
  '## fetch() in the sandbox vs a direct undici request (issue 22)',
  '',
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${os.cpus().length} CPUs, Node ${process.version}`,
  `(1-minute load ${os.loadavg()[0]!.toFixed(2)} at the end: the machine is shared); \`npm run bench:fetch\`, commit ${commit}.`,
  `Per fetch: one run doing ${fetchesPerRun} sequential \`await (await fetch(url)).text()\` (minus a run of one fetch: the run's`,
  `own fixed cost, median ${f3(median(runFixed))} ms, is not per fetch), against ${fetchesPerRun} sequential \`undici.request\` + body text on`,
  `the host; ${rounds} rounds, alternating which goes first. GET of a ${body.length}-byte JSON body from a node:http server on`,
  '127.0.0.1 in the same process. The sandbox path adds: the prelude (Request, headers, body), the isolated-vm host call',
  'with a promise result, the request checks of effects.ts, the gate (README fetch policy decision, one injection rule),',
  'the answer copied into the isolate, a Response, and UTF-8 decoding in the prelude.',
  '',
  '| Per fetch on loopback | Direct undici | Sandbox fetch() | Overhead | Target |',
  '| --- | ---: | ---: | ---: | ---: |',
  `| Median over rounds (ms) | ${f3(median(directPerFetch))} | ${f3(median(sandboxPerFetch))} | ${f3(median(sandboxPerFetch) - median(directPerFetch))} | ≤ 1 |`,
  '',
];
const section = lines.join('\n');
process.stdout.write(`${section}\n`);
if (process.argv.includes('--write')) writeResultsSection(lines);
