// The constant-arrival-rate load loop: schedules iterations at a fixed rate, gives each a free
// VU or drops it, and measures. One iteration is one of three scenarios (docs/bench.md):
// - 'result' (the headline, the reference's iteration): one POST /api/exec {code, wait_ms} that
//   answers with the finished record; its duration is the time to result.
// - 'poll': POST /api/exec {code} expecting 202, then GET /api/executions/:id at once and every
//   pollMs after until completed (at most pollsMax GETs, pollCapMs in all).
// - 'accept': as 'poll', but the first GET comes pollMs after the 202 (a k6 script that sleeps
//   before each poll); its POST duration is the time to accept a run, not to run it.
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { sessionHeader, sessionRoutingKey } from '../../src/transport/session-header.ts';
import { Http1Client, RoundRobinClient, UndiciClient, type HttpClient } from './http1.ts';
import { dueCount, dueNs, makeSchedule, type Schedule } from './schedule.ts';
import { snippetBodies, snippets } from './snippets.ts';
import { Samples, type Summary } from './stats.ts';
import { calibrate, MachineSampler, type Calibration, type MachineLoad } from './machine-speed.ts';
import { mainThreadCpuS, processCpuS } from './processes.ts';
import { VuPool, type Vu } from './vu-pool.ts';

export interface RunOptions {
  baseUrl: string;
  ratePerS: number;
  durationS: number;
  /** Seconds run at the same rate before measuring, not counted (0: none). */
  warmupS: number;
  maxVUs: number;
  preAllocatedVUs: number;
  /** Each VU resumes the heap its previous iteration produced (stateful servers only). */
  chained: boolean;
  /** Each iteration runs in one of this many sessions (`bench-<run id>-<i % sessions>`), continuing its latest heap (stateful servers only). */
  sessions?: number;
  /** With `sessions`: each run also names its session in the Mcp-V8-Session header, which nginx routes by (deploy/topology.ts). */
  sessionHeader?: boolean;
  pollMs: number;
  pollsMax: number;
  pollCapMs: number;
  /** The server's pid, to read its CPU time from /proc (spawned or given). */
  serverPid: number | null;
  /** HTTP client: 'raw' (bench/lib/http1.ts, the default: cheapest) or 'undici' (its Pool). */
  client?: ClientKind;
  /** Time the machine's speed before the run (≈ 0.5–1 s, machine-speed.ts); default true. */
  calibrate?: boolean;
  /** What one iteration is (see the top of this file); default 'result'. */
  scenario?: Scenario;
  /** 'result': the wait_ms sent with each POST (default defaultWaitMs). */
  waitMs?: number;
  /** Sent as `Authorization: Bearer …` with every request (a server started with --auth-token). */
  token?: string;
}

export type ClientKind = 'raw' | 'undici';
export type Scenario = 'result' | 'poll' | 'accept';
export const scenarios: readonly Scenario[] = ['result', 'poll', 'accept'];
/** The wait_ms of the 'result' scenario: well past any run of the snippets, under the tool's 60 s. */
export const defaultWaitMs = 10_000;

export const defaultPoll = { pollMs: 50, pollsMax: 100, pollCapMs: 10_000 } as const;
/** The most distinct failure kinds a report lists; the rest are counted as 'other'. */
const failureKindsMax = 20;

export interface RunReport {
  ratePerS: number;
  pollMs: number;
  durationS: number;
  warmupS: number;
  windowS: number;
  maxVUs: number;
  preAllocatedVUs: number;
  chained: boolean;
  client: ClientKind;
  scenario: Scenario;
  iterations: { scheduled: number; started: number; dropped: number; finished: number; succeeded: number; failed: number };
  achievedIterPerS: number;
  httpRequests: number;
  httpReqPerS: number;
  getsPerIteration: number;
  /** Dropped iterations per second of the measured window (index = second), 0 where none. */
  droppedPerSecond: number[];
  /** The most VUs in flight per second of the measured window: a backlog shows as a bulge. */
  inFlightMaxPerSecond: number[];
  successPct: number;
  maxInFlightVUs: number;
  allocatedVUs: number;
  /**
   * Duration of each POST /api/exec: request written to response body read (k6 http_req_duration).
   * In the 'result' scenario that is the time to result; in 'poll' and 'accept' the time to accept.
   */
  execLatencyMs: Summary;
  /** Time to result: start of the iteration to the answer that carried it completed (successful iterations only). */
  iterationMs: Summary;
  /** Duration of each GET /api/executions/:id. */
  getLatencyMs: Summary;
  /** How late the generator started iterations relative to the schedule (its own health). */
  startLagMs: Summary;
  failures: Record<string, number>;
  /** serverMainThreadPct: the server's event-loop thread alone (100 % = that thread saturated). */
  /** serverMsPerRun: the server's CPU (all its threads) per finished iteration, the figure robust to a busy machine. */
  cpu: { generatorPct: number; serverPct: number | null; serverMainThreadPct: number | null; serverMsPerRun: number | null };
  /** The 1-minute load average when the run ended: every latency figure is read beside it. */
  loadAverage1m: number;
  /** The machine's speed just before the run, and how busy it was during the window (machine-speed.ts). */
  machine: {
    calibration: Calibration | null;
    load: MachineLoad | null;
    /** The same shares for each second of the window (index = second), or null without /proc/stat. */
    perSecond: { busyPct: number[]; stealPct: number[] } | null;
  };
}

class Phase {
  readonly exec = new Samples(4096);
  readonly iteration = new Samples(4096);
  readonly get = new Samples(8192);
  readonly startLag = new Samples(4096);
  readonly failures = new Map<string, number>();
  httpRequests = 0;
  gets = 0;
  started = 0;
  finished = 0;
  succeeded = 0;
  lastEndNs = 0n;
  /** Dropped iterations by the second of the window they were due in: when a run fell behind. */
  readonly droppedBySecond: number[] = [];
  /** The most VUs in flight at an iteration's start, by second: when a backlog formed, and how long it took to drain. */
  readonly inFlightMaxBySecond: number[] = [];

  fail(kind: string): void {
    const key = this.failures.has(kind) || this.failures.size < failureKindsMax ? kind : 'other';
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }
}

const statusOf = /"status":"([a-z_]+)"/;

interface Context {
  options: RunOptions;
  client: HttpClient;
  vus: VuPool;
}

function postBody(options: RunOptions, vu: Vu, index: number): string {
  const snippetIndex = index % snippets.length;
  const wait = options.scenario === undefined || options.scenario === 'result';
  if (options.sessions !== undefined && options.sessions > 0) {
    return JSON.stringify({ code: snippets[snippetIndex], session: sessionName(options.sessions, index), ...(wait ? { wait_ms: options.waitMs ?? defaultWaitMs } : {}) });
  }
  if (options.chained && vu.heap !== null) {
    return JSON.stringify({ code: snippets[snippetIndex], heap: vu.heap, ...(wait ? { wait_ms: options.waitMs ?? defaultWaitMs } : {}) });
  }
  return wait ? resultBodies(options.waitMs ?? defaultWaitMs)[snippetIndex]! : snippetBodies[snippetIndex]!;
}

/** The Mcp-V8-Session header of a run in a session, when asked for (`sessionHeader`). */
function postHeaders(options: RunOptions, index: number): Record<string, string> | undefined {
  if (options.sessionHeader !== true || options.sessions === undefined || options.sessions <= 0) return undefined;
  return { [sessionHeader]: sessionRoutingKey(sessionName(options.sessions, index)) };
}

/** The session of iteration `index` in `sessions` sessions. */
function sessionName(sessions: number, index: number): string {
  return `bench-${sessionRunId}-${index % sessions}`;
}

/** Session names differ between bench processes, so a run of the bench never continues an earlier one's sessions. */
const sessionRunId = `${process.pid}`;

let resultBodiesCache: { waitMs: number; bodies: readonly string[] } | null = null;
/** The 'result' scenario's POST bodies, serialized once per wait_ms. */
function resultBodies(waitMs: number): readonly string[] {
  if (resultBodiesCache?.waitMs !== waitMs) resultBodiesCache = { waitMs, bodies: snippets.map((code) => JSON.stringify({ code, wait_ms: waitMs })) };
  return resultBodiesCache.bodies;
}

/** A finished record's verdict: null when it completed cleanly (and the VU keeps its heap). */
function verdict(options: RunOptions, vu: Vu, text: string): string | null {
  const status = statusOf.exec(text)?.[1];
  if (status !== 'completed') return `status ${status ?? 'unreadable'}`;
  const record = JSON.parse(text) as { error: unknown; heap: string | null };
  if (record.error !== null && record.error !== undefined) return 'completed with error';
  if (options.chained) vu.heap = record.heap;
  return null;
}

async function iterate(ctx: Context, phase: Phase, vu: Vu, index: number): Promise<void> {
  const { client, options } = ctx;
  const startNs = process.hrtime.bigint();
  const scenario = options.scenario ?? 'result';
  let id: string;
  try {
    const sentNs = process.hrtime.bigint();
    const response = await client.request('POST', '/api/exec', postBody(options, vu, index), postHeaders(options, index));
    const text = response.text;
    const endNs = process.hrtime.bigint();
    phase.exec.add(Number(endNs - sentNs) / 1e6);
    phase.httpRequests++;
    if (scenario === 'result') {
      if (response.status === 202) return phase.fail('not completed within wait_ms');
      if (response.status !== 200) return phase.fail(`POST ${response.status}`);
      const failure = verdict(options, vu, text);
      if (failure !== null) return phase.fail(failure);
      phase.succeeded++;
      phase.iteration.add(Number(endNs - startNs) / 1e6);
      return;
    }
    if (response.status !== 202) return phase.fail(`POST ${response.status}`);
    id = (JSON.parse(text) as { execution_id: string }).execution_id;
  } catch (error) {
    return phase.fail(`POST ${(error as Error).name}`);
  }
  await pollUntilDone(ctx, phase, vu, `/api/executions/${id}`, startNs);
}

async function pollUntilDone(ctx: Context, phase: Phase, vu: Vu, path: string, startNs: bigint): Promise<void> {
  const { client, options } = ctx;
  for (let poll = 0; poll < options.pollsMax; poll++) {
    if (poll > 0 || options.scenario === 'accept') await sleep(options.pollMs);
    let text: string;
    try {
      const sentNs = process.hrtime.bigint();
      const response = await client.request('GET', path);
      text = response.text;
      const endNs = process.hrtime.bigint();
      phase.get.add(Number(endNs - sentNs) / 1e6);
      phase.httpRequests++;
      phase.gets++;
      if (response.status !== 200) return phase.fail(`GET ${response.status}`);
      const status = statusOf.exec(text)?.[1];
      if (status === 'running' || status === 'queued') {
        if (Number(endNs - startNs) / 1e6 >= options.pollCapMs) break;
        continue;
      }
      const failure = verdict(options, vu, text);
      if (failure !== null) return phase.fail(failure);
      phase.succeeded++;
      phase.iteration.add(Number(endNs - startNs) / 1e6);
      return;
    } catch (error) {
      return phase.fail(`GET ${(error as Error).name}`);
    }
  }
  phase.fail('not completed within the poll cap');
}

/** Runs one schedule to its end and waits for every started iteration. */
function runPhase(ctx: Context, schedule: Schedule, phase: Phase): Promise<bigint> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  let pending = 0;
  return new Promise((resolve) => {
    const finish = (vu: Vu) => {
      ctx.vus.release(vu);
      phase.finished++;
      phase.lastEndNs = process.hrtime.bigint();
      if (--pending === 0 && next >= schedule.iterations) resolve(t0);
    };
    const tick = () => {
      const elapsedNs = Number(process.hrtime.bigint() - t0);
      const due = dueCount(schedule, elapsedNs);
      for (; next < due; next++) {
        phase.startLag.add((elapsedNs - dueNs(schedule, next)) / 1e6);
        const vu = ctx.vus.acquire();
        const second = Math.floor(dueNs(schedule, next) / 1e9);
        if (vu === null) {
          phase.droppedBySecond[second] = (phase.droppedBySecond[second] ?? 0) + 1;
          continue;
        }
        if (ctx.vus.inFlight > (phase.inFlightMaxBySecond[second] ?? 0)) phase.inFlightMaxBySecond[second] = ctx.vus.inFlight;
        phase.started++;
        pending++;
        void iterate(ctx, phase, vu, next).finally(() => finish(vu));
      }
      if (next < schedule.iterations) {
        setTimeout(tick, Math.max(0, Math.floor((dueNs(schedule, next) - elapsedNs) / 1e6)));
      } else if (pending === 0) {
        phase.lastEndNs = process.hrtime.bigint();
        resolve(t0);
      }
    };
    tick();
  });
}

const round2 = (value: number) => Math.round(value * 100) / 100;

function roundSummary(summary: Summary): Summary {
  const out = { ...summary };
  for (const key of Object.keys(out) as Array<keyof Summary>) if (key !== 'count') out[key] = round2(out[key]);
  return out;
}

export async function runLoad(options: RunOptions): Promise<RunReport> {
  const connections = { connectionsMax: options.maxVUs, ...(options.token === undefined ? {} : { token: options.token }) };
  // A comma-separated baseUrl is several servers, sent iterations in turn (round-robin over cluster nodes).
  const clients = options.baseUrl.split(',').map((url): HttpClient => (options.client === 'undici' ? new UndiciClient(url, connections) : new Http1Client(url, connections)));
  const client: HttpClient = clients.length === 1 ? clients[0]! : new RoundRobinClient(clients);
  const ctx: Context = { options, client, vus: new VuPool(options.preAllocatedVUs, options.maxVUs) };
  try {
    const calibration = options.calibrate === false ? null : calibrate();
    if (options.warmupS > 0) await runPhase(ctx, makeSchedule(options.ratePerS, options.warmupS), new Phase());
    ctx.vus.resetCounters();
    const schedule = makeSchedule(options.ratePerS, options.durationS);
    const phase = new Phase();
    const cpu0 = process.cpuUsage();
    const server0 = options.serverPid === null ? Number.NaN : processCpuS(options.serverPid);
    const main0 = options.serverPid === null ? Number.NaN : mainThreadCpuS(options.serverPid);
    const sampler = new MachineSampler();
    sampler.start();
    const t0 = await runPhase(ctx, schedule, phase);
    const { load, perSecond } = sampler.stop();
    const cpu = process.cpuUsage(cpu0);
    const server1 = options.serverPid === null ? Number.NaN : processCpuS(options.serverPid);
    const main1 = options.serverPid === null ? Number.NaN : mainThreadCpuS(options.serverPid);
    const windowS = Number(phase.lastEndNs - t0) / 1e9;
    const failed = phase.finished - phase.succeeded;
    return {
      ratePerS: options.ratePerS, pollMs: options.pollMs, durationS: options.durationS, warmupS: options.warmupS, windowS: round2(windowS),
      maxVUs: options.maxVUs, preAllocatedVUs: options.preAllocatedVUs, chained: options.chained,
      client: options.client ?? 'raw',
      scenario: options.scenario ?? 'result',
      iterations: { scheduled: schedule.iterations, started: phase.started, dropped: ctx.vus.dropped, finished: phase.finished, succeeded: phase.succeeded, failed },
      achievedIterPerS: round2(phase.finished / windowS),
      httpRequests: phase.httpRequests,
      httpReqPerS: round2(phase.httpRequests / windowS),
      getsPerIteration: round2(phase.gets / Math.max(1, phase.started)),
      droppedPerSecond: Array.from({ length: Math.ceil(options.durationS) }, (_, second) => phase.droppedBySecond[second] ?? 0),
      inFlightMaxPerSecond: Array.from({ length: Math.ceil(options.durationS) }, (_, second) => phase.inFlightMaxBySecond[second] ?? 0),
      successPct: round2((100 * phase.succeeded) / Math.max(1, phase.finished)),
      maxInFlightVUs: ctx.vus.maxInFlight,
      allocatedVUs: ctx.vus.allocated,
      execLatencyMs: roundSummary(phase.exec.summary()),
      iterationMs: roundSummary(phase.iteration.summary()),
      getLatencyMs: roundSummary(phase.get.summary()),
      startLagMs: roundSummary(phase.startLag.summary()),
      failures: Object.fromEntries(phase.failures),
      cpu: {
        generatorPct: round2((100 * (cpu.user + cpu.system)) / 1e6 / windowS),
        serverPct: Number.isNaN(server1 - server0) ? null : round2((100 * (server1 - server0)) / windowS),
        serverMainThreadPct: Number.isNaN(main1 - main0) ? null : round2((100 * (main1 - main0)) / windowS),
        serverMsPerRun: Number.isNaN(server1 - server0) || phase.finished === 0 ? null : Math.round((1e6 * (server1 - server0)) / phase.finished) / 1000,
      },
      loadAverage1m: round2(loadavg()[0]!),
      machine: { calibration, load, perSecond },
    };
  } finally {
    await client.close();
  }
}
