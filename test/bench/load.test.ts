// The load harness: its pure parts (percentiles, arrival schedule, VU drop accounting), the
// load loop against a deliberately slow local server, and the CLI end to end against a real
// spawned mcp-v8 and the floor. No timing assertions: speed targets live in bench/RESULTS.md.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cpuTicks, loadBetween } from '../../bench/lib/machine-speed.ts';
import { behindSeconds, dropSeconds, machineNote } from '../../bench/lib/report.ts';
import { runLoad } from '../../bench/lib/runner.ts';
import { dueCount, dueNs, makeSchedule } from '../../bench/lib/schedule.ts';
import { snippetBodies, snippets } from '../../bench/lib/snippets.ts';
import { Samples, median, percentile, summarize } from '../../bench/lib/stats.ts';
import { VuPool } from '../../bench/lib/vu-pool.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

describe('percentiles', () => {
  it('interpolates linearly between the closest ranks', () => {
    const values = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(values, 0), 1);
    assert.equal(percentile(values, 50), 50.5);
    assert.ok(Math.abs(percentile(values, 95) - 95.05) < 1e-9);
    assert.ok(Math.abs(percentile(values, 99) - 99.01) < 1e-9);
    assert.equal(percentile(values, 100), 100);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile(values, 101), RangeError);
  });

  it('Samples keeps every value across growth and sorts a copy', () => {
    const samples = new Samples(16);
    for (let i = 1000; i >= 1; i--) samples.add(i);
    assert.equal(samples.count, 1000);
    const summary = samples.summary();
    assert.equal(summary.min, 1);
    assert.equal(summary.max, 1000);
    assert.equal(summary.avg, 500.5);
    assert.equal(summary.p50, 500.5);
    assert.deepEqual(summarize([]).count, 0);
    assert.equal(median([3, 1, 2, Number.NaN]), 2);
  });
});

describe('arrival schedule', () => {
  it('spaces iterations evenly from time zero and stops at rate × duration', () => {
    const schedule = makeSchedule(1000, 2);
    assert.equal(schedule.iterations, 2000);
    assert.equal(dueNs(schedule, 0), 0);
    assert.equal(dueNs(schedule, 1), 1_000_000);
    assert.equal(dueCount(schedule, -1), 0);
    assert.equal(dueCount(schedule, 0), 1);
    assert.equal(dueCount(schedule, 999_999), 1);
    assert.equal(dueCount(schedule, 1_000_000), 2);
    assert.equal(dueCount(schedule, 1_500_000_000), 1501);
    assert.equal(dueCount(schedule, 1e12), 2000);
  });

  it('stays exact with an interval that is not a whole number of nanoseconds', () => {
    const schedule = makeSchedule(3, 10);
    assert.equal(schedule.iterations, 30);
    assert.equal(dueNs(schedule, 1), 333_333_333);
    assert.equal(dueCount(schedule, 333_333_332), 1);
    assert.equal(dueCount(schedule, 333_333_333), 2);
    for (let i = 0; i < 30; i++) {
      assert.equal(dueCount(schedule, dueNs(schedule, i)), i + 1);
      assert.equal(dueCount(schedule, dueNs(schedule, i) - 1), i);
    }
    assert.throws(() => makeSchedule(0, 1), RangeError);
    assert.throws(() => makeSchedule(10, Number.NaN), RangeError);
  });
});

describe('VU pool', () => {
  it('drops and counts iterations when every VU is busy, and reuses released VUs', () => {
    const pool = new VuPool(1, 2);
    const a = pool.acquire();
    const b = pool.acquire();
    assert.ok(a !== null && b !== null && a.id !== b.id);
    assert.equal(pool.acquire(), null);
    assert.equal(pool.acquire(), null);
    assert.equal(pool.dropped, 2);
    assert.equal(pool.maxInFlight, 2);
    pool.release(a);
    assert.equal(pool.inFlight, 1);
    assert.equal(pool.acquire(), a, 'a released VU is reused, keeping its heap for chained runs');
    assert.equal(pool.allocated, 2);
    assert.equal(pool.acquired, 3);
    pool.resetCounters();
    assert.equal(pool.dropped, 0);
    assert.equal(pool.maxInFlight, 2);
    assert.throws(() => new VuPool(3, 2), RangeError);
    assert.throws(() => new VuPool(0, 0), RangeError);
  });
});

describe('drop timeline', () => {
  it('names the seconds that had drops, runs of them as ranges', () => {
    assert.equal(dropSeconds([0, 0, 0]), '');
    assert.equal(dropSeconds([5, 3, 1, 0, 0, 2, 0, 7, 7]), ' (in s 0–2, 5, 7–8)');
  });

  it('names the seconds the server was behind: more than twice the VUs keeping up takes', () => {
    // Keeping up at 1000/s with a 50 ms poll takes about 50 VUs in flight.
    assert.equal(behindSeconds([52, 60, 100, 174, 197, 80, 53, 101, 53], 1000, 50), '; behind in s 3–4, 7');
    assert.equal(behindSeconds([52, 60, 100], 1000, 50), '');
    // At a low rate the bar is 10 VUs, not a fraction of one.
    assert.equal(behindSeconds([1, 10, 11], 10, 50), '; behind in s 2');
  });
});

describe('machine speed and load', () => {
  const stat = (user: number, idle: number, steal: number) =>
    `cpu  ${user} 10 200 ${idle} 40 0 50 ${steal} 7 0\ncpu0 1 2 3 4 5 6 7 8 9 0\nintr 1\n`;

  it('reads busy, steal and total ticks from the aggregate line of /proc/stat', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice: guest is inside user already.
    assert.deepEqual(cpuTicks(stat(1_000, 3_000, 20)), { busy: 1_280, steal: 20, total: 4_320 });
    assert.equal(cpuTicks('intr 1\n'), null, 'no aggregate line');
    assert.equal(cpuTicks('cpu  1 2 3\n'), null, 'too few fields');
  });

  it('turns two readings into the window\'s shares of all CPUs\' time', () => {
    const before = cpuTicks(stat(1_000, 3_000, 20));
    const after = cpuTicks(stat(1_900, 3_100, 20 + 10)); // 900 user + 10 steal busy, 100 idle
    assert.deepEqual(loadBetween(before, after), { busyPct: 90.1, stealPct: 1 });
    assert.equal(loadBetween(before, before), null, 'no time passed');
    assert.equal(loadBetween(null, after), null);
  });

  it('says how fast and how full the machine was at the end of the run line', () => {
    assert.equal(machineNote({ calibration: { workMs: 81.7, contextsMs: 50.2 }, load: { busyPct: 93.4, stealPct: 0.2 }, perSecond: null }),
      '; machine: work 82 ms, 100 contexts 50 ms, busy 93 %, steal 0.2 %');
    assert.equal(machineNote({ calibration: null, load: null, perSecond: null }), '');
  });
});

describe('snippets', () => {
  it('are the reference load test’s eight, serialized once', () => {
    assert.equal(snippets.length, 8);
    assert.equal(snippets[0], '1 + 1');
    assert.equal(snippets[7], '[1,2,3,4,5].filter(n => n % 2 === 0).map(n => n * 10)');
    assert.deepEqual(snippetBodies.map((body) => (JSON.parse(body) as { code: string }).code), snippets);
  });
});

/** A server that holds each POST for holdMs: with few VUs, arrivals must be dropped. */
function slowServer(holdMs: number): Promise<{ server: Server; url: string; posts: () => number }> {
  let posts = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') {
        posts++;
        setTimeout(() => res.writeHead(202, { 'content-type': 'application/json' }).end(`{"execution_id":"id-${posts}"}`), holdMs);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"completed","error":null,"heap":null}');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts: () => posts });
  }));
}

/** A server that answers each POST with wait_ms by the finished record, and without it by a 202. */
function waitingServer(): Promise<{ server: Server; url: string; bodies: string[]; gets: () => number }> {
  const bodies: string[] = [];
  let gets = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      if (req.method === 'GET') {
        gets++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"completed","error":null,"heap":null}');
        return;
      }
      bodies.push(body);
      const waited = typeof (JSON.parse(body) as { wait_ms?: unknown }).wait_ms === 'number';
      if (waited) res.writeHead(200, { 'content-type': 'application/json' }).end('{"execution_id":"x","status":"completed","error":null,"heap":null}');
      else res.writeHead(202, { 'content-type': 'application/json' }).end('{"execution_id":"x"}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, gets: () => gets });
  }));
}

describe('scenarios', () => {
  const base = { ratePerS: 20, durationS: 0.5, warmupS: 0, maxVUs: 5, preAllocatedVUs: 1, chained: false, pollMs: 10, pollsMax: 100, pollCapMs: 10_000, serverPid: null, calibrate: false } as const;

  it('result: one POST with wait_ms per iteration, whose answer is the result', async () => {
    const { server, url, bodies, gets } = await waitingServer();
    try {
      const report = await runLoad({ ...base, baseUrl: url, scenario: 'result', waitMs: 1234 });
      assert.equal(report.scenario, 'result');
      assert.equal(report.iterations.succeeded, report.iterations.started);
      assert.ok(report.iterations.started > 0);
      assert.equal(gets(), 0, 'no polls');
      assert.equal(report.httpRequests, report.iterations.started);
      assert.equal(report.iterationMs.count, report.iterations.succeeded, 'time to result counted for each success');
      for (const body of bodies) assert.equal((JSON.parse(body) as { wait_ms: number }).wait_ms, 1234);
    } finally {
      server.close();
    }
  });

  it('poll: the first GET follows the 202 at once; accept waits poll-ms first', async () => {
    const { server, url, bodies } = await waitingServer();
    try {
      const poll = await runLoad({ ...base, baseUrl: url, scenario: 'poll', pollMs: 5_000 });
      assert.equal(poll.iterations.succeeded, poll.iterations.started, 'completed by the GET right after the 202, long before a 5 s poll interval');
      assert.equal(poll.httpRequests, 2 * poll.iterations.started);
      assert.ok(bodies.every((body) => !('wait_ms' in (JSON.parse(body) as object))), 'no wait_ms when polling');
      const accept = await runLoad({ ...base, baseUrl: url, scenario: 'accept', pollMs: 20 });
      assert.equal(accept.scenario, 'accept');
      assert.ok(accept.iterationMs.min >= 15, `the first GET comes after the poll interval (20 ms, less timer rounding): ${accept.iterationMs.min} ms`);
    } finally {
      server.close();
    }
  });
});

describe('load loop', () => {
  it('accounts every scheduled iteration as started or dropped, never exceeding the VU max', async () => {
    const { server, url, posts } = await slowServer(300);
    try {
      const report = await runLoad({
        baseUrl: url, ratePerS: 20, durationS: 1, warmupS: 0, maxVUs: 2, preAllocatedVUs: 1, chained: false,
        pollMs: 10, pollsMax: 100, pollCapMs: 10_000, serverPid: null, calibrate: false, scenario: 'accept',
      });
      const it = report.iterations;
      assert.equal(it.scheduled, 20);
      assert.equal(it.started + it.dropped, it.scheduled);
      assert.ok(it.dropped > 0, 'two VUs each busy ≥ 300 ms cannot take 20 arrivals in one second');
      assert.equal(it.finished, it.started);
      assert.equal(it.succeeded, it.started);
      assert.equal(posts(), it.started);
      assert.ok(report.maxInFlightVUs <= 2);
      assert.equal(report.allocatedVUs, 2);
      assert.equal(report.execLatencyMs.count, it.started);
      assert.equal(report.httpRequests, 2 * it.started, 'one POST and one GET (completed at once) per iteration');
      assert.equal(report.successPct, 100);
      assert.equal(report.startLagMs.count, 20, 'dropped arrivals are scheduled too');
      assert.deepEqual(report.droppedPerSecond, [it.dropped], 'every drop was due in the window\'s only second');
      assert.deepEqual(report.inFlightMaxPerSecond, [2], 'drops came with both VUs in flight');
      assert.equal(report.cpu.serverPct, null);
      assert.equal(report.cpu.serverMainThreadPct, null);
      assert.equal(report.machine.calibration, null, 'not asked for');
    } finally {
      server.close();
    }
  });
});

function runCli(args: readonly string[], script = 'load.ts'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bench', script), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

interface CliResult {
  machine: { nproc: number; node: string };
  records: Array<{ target: string; topology: string; command: string; report: import('../../bench/lib/runner.ts').RunReport }>;
  summaries: Array<{ ratePerS: number; rounds: { server: number; floor: number }; ratio: Record<string, number> | null }>;
}

describe('bench/load.ts end to end', () => {
  it('runs a short A/B at 50/s against a spawned stateless server and the floor, all iterations completed', async () => {
    const run = await runCli(['--ab', '--short', '--rate', '50', '--duration', '3', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as CliResult;
    assert.equal(result.machine.node, process.version);
    assert.deepEqual(result.records.map((r) => r.target), ['mcp-v8', 'floor']);
    for (const record of result.records) {
      const { report } = record;
      assert.equal(record.topology, 'single-stateless');
      assert.equal(report.ratePerS, 50);
      assert.equal(report.iterations.scheduled, 150);
      assert.equal(report.iterations.started + report.iterations.dropped, 150);
      assert.ok(report.iterations.started > 0);
      assert.equal(report.iterations.failed, 0, JSON.stringify(report.failures));
      assert.equal(report.iterations.succeeded, report.iterations.started);
      assert.equal(report.successPct, 100);
      assert.deepEqual(report.failures, {});
      assert.equal(report.execLatencyMs.count, report.iterations.started);
      assert.equal(report.iterationMs.count, report.iterations.succeeded);
      assert.equal(report.scenario, 'result');
      assert.equal(report.httpRequests, report.iterations.started, 'one POST with wait_ms each, answered with the result');
      for (const key of ['avg', 'p50', 'p95', 'p99', 'max'] as const) {
        assert.equal(typeof report.execLatencyMs[key], 'number');
        assert.equal(typeof report.iterationMs[key], 'number');
      }
      assert.equal(typeof report.cpu.generatorPct, 'number');
      assert.equal(typeof report.cpu.serverPct, 'number', 'a spawned target’s CPU is read from /proc');
      assert.ok(report.cpu.serverMainThreadPct! > 0 && report.cpu.serverMainThreadPct! <= report.cpu.serverPct! + 1, 'its main thread is part of it');
      assert.ok(report.maxInFlightVUs >= 1 && report.maxInFlightVUs <= report.maxVUs);
      const { calibration, load } = report.machine;
      assert.ok(calibration !== null && calibration.workMs > 0 && calibration.contextsMs > 0, 'each run times the machine first');
      assert.ok(load !== null && load.busyPct > 0 && load.busyPct <= 100 && load.stealPct >= 0 && load.stealPct <= load.busyPct, 'and reads its load from /proc/stat');
      const perSecond = report.machine.perSecond;
      assert.ok(perSecond !== null && perSecond.busyPct.length >= 2 && perSecond.busyPct.length === perSecond.stealPct.length, 'once a second of the 3 s window');
      assert.ok(perSecond.busyPct.every((pct) => pct >= 0 && pct <= 100));
    }
    assert.match(run.stderr, /; machine: work \d+ ms, 100 contexts \d+ ms, busy \d+ %, steal [\d.]+ %/);
    assert.match(result.records[0]!.command, /src\/cli\.ts --stateless --http-port 0/);
    assert.equal(result.summaries.length, 1);
    assert.deepEqual(result.summaries[0]!.rounds, { server: 1, floor: 1 });
    assert.equal(typeof result.summaries[0]!.ratio?.iterationP95Ms, 'number');
    assert.match(run.stderr, /mcp-v8 single-stateless result 50\/s round 1: .*time to result p50 [\d.]+ p95/);
  });

  it('refuses an ambiguous target with one clear line', async () => {
    const run = await runCli(['--spawn', '--floor', '--short']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /give exactly one of --url, --spawn, --floor, --ab/);
  });
});

describe('bench/soak.ts end to end', () => {
  it('holds the load in windows against a spawned server and reports each window with the server\'s memory', async () => {
    const { code, stdout, stderr } = await runCli(['--rate', '20', '--window', '5', '--minutes', '0.17'], 'soak.ts');
    const rows = stdout.split('\n').filter((line) => /^\| \d+ \|/.test(line)).map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
    assert.equal(rows.length, 2, stdout);
    const executions = rows.map((row) => Number(row[1]));
    assert.ok(executions[0]! >= 90 && executions[1]! >= executions[0]! + 90, `executions so far grow by a window's worth: ${executions}`);
    for (const row of rows) {
      assert.equal(row[6], '100.00%');
      assert.ok(Number(row[8]) > 0 && Number(row[9]) > 0, 'RSS and heap read from /metrics');
    }
    assert.match(stdout, /Second half: iter\/s [\d.]+ → [\d.]+; RSS \d+ → \d+ MiB/);
  });
});
