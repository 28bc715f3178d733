// Where a stateful run's tail comes from (issue 23): the real server, started with
// bench/lib/stateful-hooks.ts preloaded, under bench/load.ts's chained stateful load (each VU
// resumes the heap its previous run made); then, per second of the run, what the server did in it
// (isolates made and how long they held the event loop, heap journal group commits and their
// fdatasync, checkpoints, resumes from storage, main-thread GC, the event loop's delay, live
// heaps and evictions), beside the generator's VUs in flight and drops; and what the slowest 5 %
// of requests overlapped against the median ones.
//   node --no-node-snapshot bench/stateful-tail.ts [--rate 400] [--duration 15] [--warmup 2]
//        [--checkout DIR (a server of another checkout; default this one)] [--server-args="…"]
//        [--server-node-args="…"] [--pre-vus N] [--json FILE]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { repoRoot, spawnTarget } from './lib/processes.ts';
import { runLoad, defaultPoll } from './lib/runner.ts';
import { percentile } from './lib/stats.ts';
import type { Span, Trace } from './lib/stateful-hooks.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, 'pre-vus': { type: 'string' },
    'server-args': { type: 'string' }, 'server-node-args': { type: 'string' }, json: { type: 'string' },
  },
  strict: true,
});
const rate = numberArg('rate', values.rate, 400, 1);
const durationS = numberArg('duration', values.duration, 15, 1);
const warmupS = numberArg('warmup', values.warmup, 2, 0);
const maxVUs = Math.max(10, Math.ceil(rate / 2));
const preVUs = numberArg('pre-vus', values['pre-vus'], Math.ceil(maxVUs / 10), 0);

const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
const ms = (us: number) => (us / 1000).toFixed(1);

/** Spans of `kind` that started in [from, to). */
function within(list: Span[] | undefined, from: number, to: number): Span[] {
  return (list ?? []).filter((span) => span.start >= from && span.start < to);
}

function perSecond(trace: Trace, t0: number, seconds: number, inFlight: number[], dropped: number[]): string[] {
  const rows = ['| s | requests | server p95 ms | loop delay max ms | isolates made (loop ms) | journal commits (max ms, heaps/commit) | checkpoints (ms) | resumes from storage | main GC ms | live heaps (evicted) | VUs in flight max | dropped |', '|' + '---|'.repeat(12)];
  for (let second = 0; second < seconds; second++) {
    const from = t0 + second * 1e6;
    const to = from + 1e6;
    const requests = within(trace.spans.request, from, to).map((span) => span.end - span.start);
    const creates = within(trace.spans.isolateCreate, from, to);
    const commits = within(trace.spans.journalCommit, from, to);
    const checkpoints = within(trace.spans.checkpoint, from, to);
    const replays = within(trace.spans.replayFrom, from, to);
    const gcUs = trace.gcs.filter((gc) => gc.at >= from && gc.at < to).reduce((sum, gc) => sum + gc.us, 0);
    const buckets = trace.buckets.filter((bucket) => bucket.at >= from && bucket.at < to);
    const last = buckets.at(-1);
    const first = trace.buckets.filter((bucket) => bucket.at < from).at(-1);
    const measured = second >= warmupS ? second - Math.round(warmupS) : -1;
    rows.push(`| ${second} | ${requests.length} | ${requests.length === 0 ? '' : ms(percentile(sorted(requests), 95))} | ${ms(Math.max(0, ...buckets.map((bucket) => bucket.loopMaxUs)))} | ${creates.length} (${ms(creates.reduce((sum, span) => sum + span.syncUs, 0))}) | ${commits.length} (${ms(Math.max(0, ...commits.map((span) => span.end - span.start)))}, ${(commits.reduce((sum, span) => sum + (span.n ?? 0), 0) / Math.max(1, commits.length)).toFixed(1)}) | ${checkpoints.length} (${ms(checkpoints.reduce((sum, span) => sum + span.end - span.start, 0))}) | ${replays.length} | ${ms(gcUs)} | ${last?.live ?? ''} (${(last?.evictions ?? 0) - (first?.evictions ?? 0)}) | ${measured >= 0 ? inFlight[measured] ?? '' : 'warm-up'} | ${measured >= 0 ? dropped[measured] ?? '' : ''} |`);
  }
  return rows;
}

/** For the slowest 5 % of requests and the middle ones: the share overlapping each kind of event. */
function overlaps(trace: Trace): string[] {
  const requests = [...(trace.spans.request ?? [])].sort((a, b) => (a.end - a.start) - (b.end - b.start));
  if (requests.length < 40) return [];
  const slow = requests.slice(Math.floor(requests.length * 0.95));
  const middle = requests.slice(Math.floor(requests.length * 0.45), Math.floor(requests.length * 0.55));
  const kinds = ['isolateCreate', 'journalCommit', 'checkpoint', 'replayFrom', 'storeBatch'];
  const overlapping = (request: Span, list: Array<{ start: number; end: number }>) => list.filter((span) => span.start < request.end && span.end > request.start);
  const gcSpans = trace.gcs.map((gc) => ({ start: gc.at, end: gc.at + gc.us }));
  const rows = ['| event | slowest 5 %: share overlapping, mean count | middle 10 %: share, mean count |', '|---|---|---|'];
  for (const [kind, list] of [...kinds.map((kind) => [kind, trace.spans[kind] ?? []] as const), ['main GC', gcSpans] as const]) {
    const stat = (group: Span[]) => {
      const counts = group.map((request) => overlapping(request, list).length);
      return `${((100 * counts.filter((count) => count > 0).length) / group.length).toFixed(0)} %, ${(counts.reduce((a, b) => a + b, 0) / group.length).toFixed(2)}`;
    };
    rows.push(`| ${kind} | ${stat(slow)} | ${stat(middle)} |`);
  }
  rows.push(`| (request length) | ${ms(slow[0]!.end - slow[0]!.start)}–${ms(slow.at(-1)!.end - slow.at(-1)!.start)} ms | ${ms(middle[0]!.end - middle[0]!.start)}–${ms(middle.at(-1)!.end - middle.at(-1)!.start)} ms |`);
  return rows;
}

/** Each kind of span's length (ms): median, p95, max, over the whole run. */
function lengths(trace: Trace): string[] {
  const rows = ['| span | count | p50 ms | p95 ms | max ms | loop held p95 ms |', '|---|---|---|---|---|---|'];
  for (const [kind, list] of Object.entries(trace.spans)) {
    const length = sorted(list.map((span) => span.end - span.start));
    const held = sorted(list.map((span) => span.syncUs));
    rows.push(`| ${kind} | ${list.length} | ${ms(percentile(length, 50))} | ${ms(percentile(length, 95))} | ${ms(length.at(-1)!)} | ${ms(percentile(held, 95))} |`);
  }
  return rows;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-v8-stateful-tail-'));
  process.env.STATEFUL_TRACE_OUT = join(dir, 'trace.json');
  const child = await spawnTarget({
    target: 'server', mode: 'stateful',
    nodeArgs: ['--import', join(repoRoot, 'bench', 'lib', 'stateful-hooks.ts'), ...(values['server-node-args']?.split(' ').filter(Boolean) ?? [])],
    serverArgs: values['server-args']?.split(' ').filter(Boolean) ?? [],
  });
  const load0 = loadavg()[0]!;
  let report;
  try {
    report = await runLoad({
      baseUrl: child.baseUrl, ratePerS: rate, durationS, warmupS, maxVUs, preAllocatedVUs: Math.min(maxVUs, preVUs), chained: true,
      pollMs: defaultPoll.pollMs, pollsMax: defaultPoll.pollsMax, pollCapMs: defaultPoll.pollCapMs, serverPid: child.pid, client: 'raw',
    });
  } finally {
    await child.stop();
  }
  const trace = JSON.parse(readFileSync(process.env.STATEFUL_TRACE_OUT, 'utf8')) as Trace;
  rmSync(dir, { recursive: true, force: true });
  const t0 = Math.min(...(trace.spans.request ?? []).map((span) => span.start));
  const seconds = Math.ceil(warmupS + durationS + 1);
  const lines = [
    `rate ${rate}/s chained, ${durationS} s after ${warmupS} s of warm-up, pre-allocated VUs ${preVUs}, load average ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`,
    `achieved ${report.achievedIterPerS}/s, dropped ${report.iterations.dropped}, time to result p50 ${report.iterationMs.p50} p95 ${report.iterationMs.p95} p99 ${report.iterationMs.p99} ms, VUs allocated ${report.allocatedVUs}, server ${report.cpu.serverMsPerRun} ms CPU per run`,
    `isolates made ${trace.spans.isolateCreate?.length ?? 0}, journal commits ${trace.spans.journalCommit?.length ?? 0}, checkpoints ${trace.spans.checkpoint?.length ?? 0}, resumes from storage ${trace.spans.replayFrom?.length ?? 0}`,
    '',
    ...perSecond(trace, t0, seconds, report.inFlightMaxPerSecond, report.droppedPerSecond),
    '',
    ...overlaps(trace),
    '',
    ...lengths(trace),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ report, trace }));
}

await main();
