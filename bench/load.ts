// `npm run bench:load`: a k6-like constant-arrival-rate load test of the plain HTTP API. The
// headline scenario is time to result: one POST /api/exec with wait_ms per iteration, as the
// reference's load test timed it; --scenario poll|accept add the 202-then-GET forms. See docs/bench.md.
//   node bench/load.ts --spawn --rate 1000 --duration 60          one run against a fresh server
//   node bench/load.ts --ab --rates 100,1000 --rounds 2            A/B: server, floor, server, floor…
//   node bench/load.ts --url http://127.0.0.1:3000 --rate 100      an already running server
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { spawnTarget, type Child, type Mode } from './lib/processes.ts';
import { machine, markdownTable, runLine, summarizeAb, type RunRecord } from './lib/report.ts';
import { defaultPoll, defaultWaitMs, runLoad, scenarios, type ClientKind, type RunOptions, type Scenario } from './lib/runner.ts';

const usage = `usage: node bench/load.ts (--url URL | --spawn | --floor | --ab) [options]
  --url URL            load an already running server (add --server-pid to measure its CPU)
  --spawn              start the server itself (--stateless unless --stateful), fresh per run
  --floor              start only the floor server (bench/lib/floor-server.ts)
  --ab                 alternate server and floor per rate and round: A B A B…
  --rate N | --rates N,M,…   target iterations per second (default 100)
  --duration S         measured seconds per run (default 60; --short: 5)
  --warmup S           unmeasured seconds at the same rate first (default 2; --short: 0)
  --rounds N           runs per rate and target (default 1)
  --max-vus N          VU pool max (default max(10, rate/2)); --pre-vus N (default max VUs/10)
  --stateful           server without --stateless;  --chained: each VU resumes its previous heap
  --scenario S         result (default: one POST with wait_ms answers with the result),
                       poll (POST, then GET at once and every --poll-ms), accept (first GET after --poll-ms)
  --wait-ms N          wait_ms of the result scenario (default 10000)
  --poll-ms N          GET interval (default 50)
  --client raw|undici  generator HTTP client (default raw: bench/lib/http1.ts, the cheapest)
  --server-node-args=…  extra Node flags for the spawned server ("--server-node-args=--cpu-prof")
  --server-args=…      extra server flags;  --server-pid N   CPU of a --url server
  --token T            send Authorization: Bearer T (pair with --server-args="--auth-token T")
  --json               print the whole result as JSON on stdout;  --out FILE  also write it there`;

function parse() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' }, spawn: { type: 'boolean' }, floor: { type: 'boolean' }, ab: { type: 'boolean' },
      rate: { type: 'string' }, rates: { type: 'string' }, duration: { type: 'string' }, short: { type: 'boolean' },
      warmup: { type: 'string' }, rounds: { type: 'string' }, 'max-vus': { type: 'string' }, 'pre-vus': { type: 'string' },
      stateful: { type: 'boolean' }, chained: { type: 'boolean' }, 'poll-ms': { type: 'string' },
      scenario: { type: 'string' }, 'wait-ms': { type: 'string' }, client: { type: 'string' },
      'server-node-args': { type: 'string' }, 'server-args': { type: 'string' }, 'server-pid': { type: 'string' },
      json: { type: 'boolean' }, out: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(`${usage}\n`); process.exit(0); }
  const number = numberArg;
  const sources = [values.url !== undefined, values.spawn, values.floor, values.ab].filter(Boolean).length;
  if (sources !== 1) throw new Error('give exactly one of --url, --spawn, --floor, --ab');
  const rates = (values.rates ?? values.rate ?? '100').split(',').map((raw) => number('rate', raw, 0, 0.001));
  const chained = values.chained === true;
  const client = values.client ?? 'raw';
  if (client !== 'raw' && client !== 'undici') throw new Error(`--client must be raw or undici, got '${client}'`);
  const scenario = values.scenario ?? 'result';
  if (!(scenarios as readonly string[]).includes(scenario)) throw new Error(`--scenario must be one of ${scenarios.join(', ')}, got '${scenario}'`);
  return {
    url: values.url, spawn: values.spawn === true, floor: values.floor === true, ab: values.ab === true, rates,
    durationS: number('duration', values.duration, values.short ? 5 : 60, 0.1),
    warmupS: number('warmup', values.warmup, values.short ? 0 : 2, 0),
    rounds: number('rounds', values.rounds, 1, 1),
    maxVUs: values['max-vus'] === undefined ? null : number('max-vus', values['max-vus'], 0, 1),
    preVUs: values['pre-vus'] === undefined ? null : number('pre-vus', values['pre-vus'], 0, 0),
    mode: (values.stateful || chained ? 'stateful' : 'stateless') as Mode,
    chained,
    pollMs: number('poll-ms', values['poll-ms'], defaultPoll.pollMs, 1),
    client: client as ClientKind,
    scenario: scenario as Scenario,
    waitMs: number('wait-ms', values['wait-ms'], defaultWaitMs, 0),
    serverNodeArgs: values['server-node-args']?.split(' ').filter(Boolean) ?? [],
    serverArgs: values['server-args']?.split(' ').filter(Boolean) ?? [],
    serverPid: values['server-pid'] === undefined ? null : number('server-pid', values['server-pid'], 0, 1),
    json: values.json === true, out: values.out, token: values.token,
  };
}

type Args = ReturnType<typeof parse>;

function runOptions(args: Args, ratePerS: number, baseUrl: string, serverPid: number | null): RunOptions {
  const maxVUs = args.maxVUs ?? Math.max(10, Math.ceil(ratePerS / 2));
  return {
    baseUrl, ratePerS, durationS: args.durationS, warmupS: args.warmupS, maxVUs,
    preAllocatedVUs: Math.min(maxVUs, args.preVUs ?? Math.ceil(maxVUs / 10)), chained: args.chained,
    pollMs: args.pollMs, pollsMax: defaultPoll.pollsMax, pollCapMs: defaultPoll.pollCapMs, serverPid, client: args.client,
    scenario: args.scenario, waitMs: args.waitMs,
    ...(args.token === undefined ? {} : { token: args.token }),
  };
}

async function runSpawned(args: Args, target: 'mcp-v8' | 'floor', ratePerS: number, round: number, topology: string): Promise<RunRecord> {
  const child: Child = await spawnTarget({
    target: target === 'floor' ? 'floor' : 'server', mode: args.mode,
    nodeArgs: target === 'floor' ? [] : args.serverNodeArgs, serverArgs: args.serverArgs,
  });
  try {
    const report = await runLoad(runOptions(args, ratePerS, child.baseUrl, child.pid));
    return { target, topology, round, command: child.command, report };
  } finally {
    const exit = await child.stop();
    if (exit !== 0 && exit !== 'SIGTERM') process.stderr.write(`${target} exited with ${exit}; its stderr ends:\n${child.stderrTail().slice(-2000)}\n`);
  }
}

async function main(): Promise<void> {
  const args = parse();
  const topology = `single-${args.mode}${args.chained ? '-chained' : ''}`;
  const records: RunRecord[] = [];
  const log = (record: RunRecord) => { records.push(record); process.stderr.write(`${runLine(record)}\n`); };
  for (let round = 1; round <= args.rounds; round++) {
    for (const rate of args.rates) {
      if (args.url !== undefined) {
        const report = await runLoad(runOptions(args, rate, args.url, args.serverPid));
        log({ target: 'mcp-v8', topology, round, command: null, report });
        continue;
      }
      if (args.spawn || args.ab) log(await runSpawned(args, 'mcp-v8', rate, round, topology));
      if (args.floor || args.ab) log(await runSpawned(args, 'floor', rate, round, topology));
    }
  }
  const summaries = summarizeAb(records);
  const result = { machine: machine(), argv: process.argv.slice(2), records, summaries };
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  if (args.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${markdownTable(summaries)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:load: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
