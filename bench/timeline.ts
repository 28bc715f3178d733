// Where the time to result of one stateless run goes at a low rate (issue 23): the real server,
// started with bench/lib/timeline-hooks.ts preloaded, answers one `POST /api/exec` with wait_ms at
// a time, paced at --rate; the client stamps its send and receive and the hooks stamp each phase
// in the server, all on the machine's monotonic clock. Prints, per phase, the median and p95 of
// its length (µs), and what the slowest 5 % of requests spent in each phase against the median
// request: the phase that grows is where the tail comes from.
//   node --no-node-snapshot bench/timeline.ts [--rate 100] [--count 2000] [--warmup 200] [--server-args="…"] [--json FILE]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { Http1Client } from './lib/http1.ts';
import { repoRoot, spawnTarget } from './lib/processes.ts';
import { snippets } from './lib/snippets.ts';
import { percentile } from './lib/stats.ts';

const { values } = parseArgs({
  options: { rate: { type: 'string' }, count: { type: 'string' }, warmup: { type: 'string' }, 'server-args': { type: 'string' }, 'server-node-args': { type: 'string' }, json: { type: 'string' } },
  strict: true,
});
const rate = numberArg('rate', values.rate, 100, 0.1);
const count = numberArg('count', values.count, 2000, 10);
const warmup = numberArg('warmup', values.warmup, 200, 0);

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
type Stamps = Record<string, number>;

/** The phases, in order: each is the time from the first stamp to the second. */
const phases: ReadonlyArray<readonly [string, string, string]> = [
  ['client send → server request event', 'send', 'request'],
  ['body read', 'request', 'bodyRead'],
  ['parse, validate → submit', 'bodyRead', 'submit'],
  ['submit → source prepared', 'submit', 'prepare.done'],
  ['→ scheduler admission', 'prepare.done', 'admit'],
  ['admission → lane start', 'admit', 'laneStart'],
  ['lane → context acquired', 'laneStart', 'acquire.done'],
  ['acquired → one call sent', 'acquire.done', 'oneCall'],
  ['one call (host wait)', 'oneCall', 'oneCall.done'],
  ['one call done → run outcome', 'oneCall.done', 'execute.done'],
  ['outcome → store finish', 'execute.done', 'storeFinish'],
  ['store finish → reply end()', 'storeFinish', 'replyEnd'],
  ['reply end() → client has it', 'replyEnd', 'receive'],
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-v8-timeline-'));
  const traceFile = join(dir, 'trace.json');
  process.env.TIMELINE_OUT = traceFile;
  const child = await spawnTarget({
    target: 'server', mode: 'stateless',
    nodeArgs: ['--import', join(repoRoot, 'bench', 'lib', 'timeline-hooks.ts'), ...(values['server-node-args']?.split(' ').filter(Boolean) ?? [])],
    serverArgs: values['server-args']?.split(' ').filter(Boolean) ?? [],
  });
  const client = new Http1Client(child.baseUrl, { connectionsMax: 1 });
  const sent: Array<{ send: number; receive: number; status: number }> = [];
  const load0 = loadavg()[0]!;
  try {
    const intervalUs = 1e6 / rate;
    let next = nowUs();
    for (let i = 0; i < warmup + count; i++) {
      next += intervalUs;
      const waitUs = next - nowUs();
      if (waitUs > 0) await new Promise((resolve) => setTimeout(resolve, waitUs / 1000));
      const body = JSON.stringify({ code: snippets[i % snippets.length], wait_ms: 10_000 });
      const send = nowUs();
      const response = await client.request('POST', '/api/exec', body);
      sent.push({ send, receive: nowUs(), status: response.status });
    }
  } finally {
    await client.close();
    await child.stop();
  }
  const trace = JSON.parse(readFileSync(traceFile, 'utf8')) as { requests: Stamps[]; gcs: Array<{ at: number; ms: number; kind: number }>; clockPair: { hrUs: number; wallUs: number } };
  rmSync(dir, { recursive: true, force: true });
  if (trace.requests.length !== sent.length) throw new Error(`the server saw ${trace.requests.length} POSTs, the client sent ${sent.length}`);
  const rows = sent.map((s, i) => ({ ...trace.requests[i]!, send: s.send, receive: s.receive, status: s.status })).slice(warmup);
  report(rows, trace, load0);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ rows, gcs: trace.gcs }));
}

function report(rows: Stamps[], trace: { gcs: Array<{ at: number; ms: number; kind: number }>; clockPair: { hrUs: number; wallUs: number } }, load0: number): void {
  const total = rows.map((row) => row.receive! - row.send!);
  const sorted = [...total].sort((a, b) => a - b);
  const p95 = percentile(sorted, 95);
  const slow = rows.filter((_, i) => total[i]! >= p95);
  const line = (name: string, values: number[], slowValues: number[]) => {
    const s = [...values].sort((a, b) => a - b);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    return `| ${name} | ${values.length} | ${percentile(s, 50).toFixed(0)} | ${percentile(s, 95).toFixed(0)} | ${percentile(s, 99).toFixed(0)} | ${mean(slowValues).toFixed(0)} |`;
  };
  const out = [
    `${rows.length} requests at ${rate}/s, one at a time; non-200: ${rows.filter((row) => row.status !== 200).length}; load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
    '',
    '| phase (µs) | n | p50 | p95 | p99 | mean in the slowest 5 % |',
    '| --- | --- | --- | --- | --- | --- |',
    line('**time to result (client)**', total, slow.map((row) => row.receive! - row.send!)),
  ];
  for (const [name, from, to] of phases) {
    const has = (row: Stamps) => row[from] !== undefined && row[to] !== undefined;
    out.push(line(name, rows.filter(has).map((row) => row[to]! - row[from]!), slow.filter(has).map((row) => row[to]! - row[from]!)));
  }
  const field = (name: string, label: string) => line(label, rows.map((row) => row[name] ?? 0), slow.map((row) => row[name] ?? 0));
  out.push(field('isolateWallUs', 'isolate wall time in the one call'), field('isolateCpuUs', 'isolate CPU time in the one call'));
  const hop = (row: Stamps) => row['oneCall.done']! - row.oneCall! - (row.isolateWallUs ?? 0);
  const withCall = rows.filter((row) => row.oneCall !== undefined && row['oneCall.done'] !== undefined);
  out.push(line('one call: host wait − isolate wall (hops)', withCall.map(hop), slow.filter((row) => withCall.includes(row)).map(hop)));
  // The turns of the event loop that brought the one call's two answers (timeline-hooks.ts stamps
  // the attach-and-run's and the state's with libuv's iteration count).
  const both = withCall.filter((row) => row.oneCallAttachLoop !== undefined && row.oneCallStateLoop !== undefined);
  const oneTurn = both.filter((row) => row.oneCallAttachLoop === row.oneCallStateLoop).length;
  out.push(`one call: its two answers came in one turn of the event loop in ${oneTurn} of ${both.length} requests (in two: ${both.length - oneTurn})`);
  // Store batches and GCs that began inside a request's span, before its reply.
  const batchBefore = rows.filter((row) => row.batchStart !== undefined && row.replyEnd !== undefined && row.batchStart < row.replyEnd).length;
  const toHr = (wallUs: number) => wallUs - trace.clockPair.wallUs + trace.clockPair.hrUs;
  const gcIn = (row: Stamps) => trace.gcs.filter((gc) => toHr(gc.at) >= row.send! && toHr(gc.at) <= row.receive!);
  const withGc = rows.filter((row) => gcIn(row).length > 0);
  const inSpan = (row: Stamps, phase: string) => Object.keys(row).some((key) => (key === phase || key.startsWith(`${phase}#`)) && row[key]! <= row.receive!);
  for (const phase of ['niceTick', 'batchStart']) {
    out.push(`requests with a ${phase} before their reply reached the client: ${rows.filter((row) => inSpan(row, phase)).length} (of the slowest 5 %: ${slow.filter((row) => inSpan(row, phase)).length})`);
  }
  const kinds = new Map<number, number>();
  for (const row of withGc) for (const gc of gcIn(row)) kinds.set(gc.kind, (kinds.get(gc.kind) ?? 0) + 1);
  out.push(`GC kinds inside requests (1 scavenge, 2 mark-compact, 4 incremental, 8 weak callbacks): ${JSON.stringify([...kinds])}`);
  out.push('', `store batch started before the reply: ${batchBefore} of ${rows.length}; requests with a main-thread GC inside: ${withGc.length} (of the slowest 5 %: ${slow.filter((row) => gcIn(row).length > 0).length} of ${slow.length}); GC ms in them: p50 ${percentile(withGc.map((row) => gcIn(row).reduce((a, g) => a + g.ms, 0)).sort((a, b) => a - b), 50).toFixed(2)}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`timeline: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
