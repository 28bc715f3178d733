// `npm run bench:soak`: the load test held for a long time, in windows, watching what a
// long-lived server must not do: slow down as records pile up (past the execution store's bound
// of 100,000 it evicts), or grow its memory without end. Prints one row per window and a verdict.
//   node bench/soak.ts --rate 400 --minutes 15                 a fresh stateless server
//   node bench/soak.ts --rate 200 --minutes 10 --stateful      a fresh stateful server
//   node bench/soak.ts --url http://127.0.0.1:3000 --server-pid 1234 --rate 400 --minutes 30
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { spawnTarget, type Child, type Mode } from './lib/processes.ts';
import { machine } from './lib/report.ts';
import { defaultPoll, runLoad, type RunReport } from './lib/runner.ts';

const usage = `usage: node bench/soak.ts [--rate N] [--minutes M] [--window S] [--stateful] [--url URL --server-pid N]
  --rate N        iterations per second (default 400)
  --minutes M     how long in all (default 15)
  --window S      seconds per row (default 60)
  --stateful      spawn the server in stateful mode (default stateless)
  --url URL       soak a server you started (--server-pid N to read its CPU)`;

function parse() {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string' }, minutes: { type: 'string' }, window: { type: 'string' }, stateful: { type: 'boolean' },
      url: { type: 'string' }, 'server-pid': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(`${usage}\n`); process.exit(0); }
  const number = numberArg;
  if (values['server-pid'] !== undefined && values.url === undefined) throw new Error('--server-pid goes with --url');
  return {
    rate: number('rate', values.rate, 400, 1),
    minutes: number('minutes', values.minutes, 15, 0.1),
    windowS: number('window', values.window, 60, 5),
    mode: (values.stateful ? 'stateful' : 'stateless') as Mode,
    url: values.url,
    serverPid: values['server-pid'] === undefined ? null : number('server-pid', values['server-pid'], 0, 1),
  };
}

/** What the server says of itself on /metrics (bytes and counts). */
async function scrape(baseUrl: string): Promise<{ rssMb: number; heapMb: number; executions: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const value = (name: string) => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (match === null) throw new Error(`/metrics has no ${name}`);
    return Number(match[1]);
  };
  return {
    rssMb: value('process_resident_memory_bytes') / 2 ** 20,
    heapMb: value('nodejs_heap_used_bytes') / 2 ** 20,
    executions: value('mcp_v8_executions_submitted_total'),
  };
}

interface Row { window: number; report: RunReport; rssMb: number; heapMb: number; executions: number }

const fixed = (value: number, digits = 1) => value.toFixed(digits);

function rowLine(row: Row): string {
  const { report } = row;
  return `| ${row.window} | ${row.executions} | ${fixed(report.achievedIterPerS)} | ${report.iterations.dropped} | ${fixed(report.iterationMs.p95, 2)} | ${fixed(report.iterationMs.p99)} | ${fixed(report.successPct, 2)}% | ${report.cpu.serverPct === null ? '—' : fixed(report.cpu.serverPct, 0)} | ${fixed(row.rssMb, 0)} | ${fixed(row.heapMb, 0)} |`;
}

async function main(): Promise<void> {
  const args = parse();
  const child: Child | null = args.url === undefined ? await spawnTarget({ target: 'server', mode: args.mode }) : null;
  const baseUrl = child?.baseUrl ?? args.url!;
  const serverPid = child?.pid ?? args.serverPid;
  const windows = Math.max(1, Math.round((args.minutes * 60) / args.windowS));
  const maxVUs = Math.max(10, Math.ceil(args.rate / 2));
  const rows: Row[] = [];
  const header = [
    `Soak: ${args.rate}/s for ${windows} windows of ${args.windowS} s, ${args.mode}, ${child?.command ?? baseUrl}`,
    `Machine: ${JSON.stringify(machine())}`,
    '',
    '| Window | Executions so far | Iter/s | Dropped | Time to result p95 (ms) | Time to result p99 (ms) | Success | Server CPU % | RSS (MiB) | Node heap used (MiB) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  process.stdout.write(`${header.join('\n')}\n`);
  try {
    for (let window = 1; window <= windows; window++) {
      const report = await runLoad({
        baseUrl, ratePerS: args.rate, durationS: args.windowS, warmupS: 0, maxVUs,
        preAllocatedVUs: Math.ceil(maxVUs / 10), chained: false, ...defaultPoll, serverPid,
        calibrate: false, // windows follow each other without a pause
      });
      const row = { window, report, ...(await scrape(baseUrl)) };
      rows.push(row);
      process.stdout.write(`${rowLine(row)}\n`);
    }
  } finally {
    if (child !== null) {
      const exit = await child.stop();
      if (exit !== 0) process.stderr.write(`server exited with ${exit}; its stderr ends:\n${child.stderrTail().slice(-2000)}\n`);
    }
  }
  // The verdict compares the second half with the first: a server that holds steady shows the
  // same rate and no memory trend there (the first half includes warming up).
  const half = rows.slice(Math.floor(rows.length / 2));
  const first = half[0]!;
  const last = half[half.length - 1]!;
  const perHundredThousand = last.executions === first.executions ? 0 : ((last.rssMb - first.rssMb) / (last.executions - first.executions)) * 100_000;
  const dropped = rows.reduce((sum, row) => sum + row.report.iterations.dropped, 0);
  process.stdout.write([
    '',
    `Second half: iter/s ${fixed(first.report.achievedIterPerS)} → ${fixed(last.report.achievedIterPerS)}; RSS ${fixed(first.rssMb, 0)} → ${fixed(last.rssMb, 0)} MiB (${fixed(perHundredThousand)} MiB per 100,000 executions); dropped in all ${dropped}.`,
    '',
  ].join('\n'));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:soak: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
