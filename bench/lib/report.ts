// Formatting load reports: the reference's table columns plus ours, and A/B medians.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { RunReport } from './runner.ts';
import { median } from './stats.ts';

export interface RunRecord {
  target: 'mcp-v8' | 'floor';
  topology: string;
  round: number;
  command: string | null;
  report: RunReport;
}

export interface AbSummary {
  topology: string;
  scenario: RunReport['scenario'];
  ratePerS: number;
  rounds: { server: number; floor: number };
  server: Medians;
  floor: Medians | null;
  /** server ÷ floor for each latency median (how much mcp-v8 adds over bare Node HTTP). */
  ratio: Partial<Medians> | null;
}

export interface Medians {
  achievedIterPerS: number;
  httpReqPerS: number;
  execAvgMs: number;
  execP95Ms: number;
  execP99Ms: number;
  iterationP50Ms: number;
  iterationP95Ms: number;
  iterationP99Ms: number;
  successPct: number;
  dropped: number;
  maxInFlightVUs: number;
  serverCpuPct: number;
  serverCpuMsPerRun: number;
  loadAverage1m: number;
  generatorCpuPct: number;
}

export function machine(): { nproc: number; cpuModel: string; node: string; date: string } {
  return { nproc: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() };
}

function mediansOf(reports: readonly RunReport[]): Medians {
  const m = (pick: (r: RunReport) => number) => median(reports.map(pick));
  return {
    achievedIterPerS: m((r) => r.achievedIterPerS),
    httpReqPerS: m((r) => r.httpReqPerS),
    execAvgMs: m((r) => r.execLatencyMs.avg),
    execP95Ms: m((r) => r.execLatencyMs.p95),
    execP99Ms: m((r) => r.execLatencyMs.p99),
    iterationP50Ms: m((r) => r.iterationMs.p50),
    iterationP95Ms: m((r) => r.iterationMs.p95),
    iterationP99Ms: m((r) => r.iterationMs.p99),
    successPct: m((r) => r.successPct),
    dropped: m((r) => r.iterations.dropped),
    maxInFlightVUs: m((r) => r.maxInFlightVUs),
    serverCpuPct: m((r) => r.cpu.serverPct ?? Number.NaN),
    serverCpuMsPerRun: m((r) => r.cpu.serverMsPerRun ?? Number.NaN),
    loadAverage1m: m((r) => r.loadAverage1m ?? Number.NaN),
    generatorCpuPct: m((r) => r.cpu.generatorPct),
  };
}

export function summarizeAb(records: readonly RunRecord[]): AbSummary[] {
  const keyOf = (r: RunRecord) => `${r.topology}@${r.report.scenario}@${r.report.ratePerS}`;
  const keys = [...new Set(records.map(keyOf))];
  return keys.map((key) => {
    const same = records.filter((r) => keyOf(r) === key);
    const server = same.filter((r) => r.target === 'mcp-v8').map((r) => r.report);
    const floor = same.filter((r) => r.target === 'floor').map((r) => r.report);
    const serverMedians = mediansOf(server);
    const floorMedians = floor.length > 0 ? mediansOf(floor) : null;
    const ratio = floorMedians === null ? null : {
      execAvgMs: serverMedians.execAvgMs / floorMedians.execAvgMs,
      execP95Ms: serverMedians.execP95Ms / floorMedians.execP95Ms,
      execP99Ms: serverMedians.execP99Ms / floorMedians.execP99Ms,
      iterationP50Ms: serverMedians.iterationP50Ms / floorMedians.iterationP50Ms,
      iterationP95Ms: serverMedians.iterationP95Ms / floorMedians.iterationP95Ms,
    };
    return { topology: same[0]!.topology, scenario: same[0]!.report.scenario, ratePerS: same[0]!.report.ratePerS, rounds: { server: server.length, floor: floor.length }, server: serverMedians, floor: floorMedians, ratio };
  });
}

const f = (value: number, digits = 2) => Number.isNaN(value) ? '—' : value.toFixed(digits);

/** The seconds where `marked` holds, as ranges: "0–4, 31", or '' for none. */
function secondRanges(perSecond: readonly number[], marked: (value: number) => boolean): string {
  const ranges: string[] = [];
  for (let second = 0; second < perSecond.length; second++) {
    if (!marked(perSecond[second]!)) continue;
    let last = second;
    while (last + 1 < perSecond.length && marked(perSecond[last + 1]!)) last++;
    ranges.push(last === second ? String(second) : `${second}–${last}`);
    second = last;
  }
  return ranges.join(', ');
}

/** Where in the window the drops were, e.g. " (in s 0–4, 31)": a start-up backlog reads differently from a late one. */
export function dropSeconds(perSecond: readonly number[]): string {
  const ranges = secondRanges(perSecond, (dropped) => dropped !== 0);
  return ranges === '' ? '' : ` (in s ${ranges})`;
}

/**
 * The seconds the server was behind, e.g. "; behind in s 3–6, 9–20": more than twice the VUs in
 * flight that keeping up takes (the rate times the poll interval, as each iteration polls at least
 * once). Drops come at the end of such a stretch, when it outgrows the VU pool; a run with none
 * may still have been behind, and how often and how long says how close it came.
 */
export function behindSeconds(inFlightMaxPerSecond: readonly number[], ratePerS: number, pollMs: number): string {
  const keepingUp = Math.max(5, (ratePerS * pollMs) / 1000);
  const ranges = secondRanges(inFlightMaxPerSecond, (inFlight) => inFlight > 2 * keepingUp);
  return ranges === '' ? '' : `; behind in s ${ranges}`;
}

/** One line per run, for the console while a sweep runs. */
export function runLine(record: RunRecord): string {
  const r = record.report;
  return `${record.target.padEnd(6)} ${record.topology} ${r.scenario} ${r.ratePerS}/s round ${record.round}: ` +
    `iter/s ${f(r.achievedIterPerS)} req/s ${f(r.httpReqPerS)} time to result p50 ${f(r.iterationMs.p50)} p95 ${f(r.iterationMs.p95)} p99 ${f(r.iterationMs.p99)} ms; ` +
    `POST (${r.scenario === 'result' ? 'to result' : 'to accept'}) avg ${f(r.execLatencyMs.avg)} p95 ${f(r.execLatencyMs.p95)} p99 ${f(r.execLatencyMs.p99)} ms; success ${f(r.successPct)}% dropped ${r.iterations.dropped}${dropSeconds(r.droppedPerSecond)} ` +
    `max in-flight ${r.maxInFlightVUs}; cpu generator ${f(r.cpu.generatorPct, 0)}% server ${r.cpu.serverPct === null ? '—' : f(r.cpu.serverPct, 0)}%` +
    (r.cpu.serverMainThreadPct === null ? '' : ` (main thread ${f(r.cpu.serverMainThreadPct, 0)}%)`) +
    (r.cpu.serverMsPerRun == null ? '' : `, ${f(r.cpu.serverMsPerRun, 3)} ms CPU per run`) + `; load average ${f(r.loadAverage1m ?? Number.NaN)}; ` +
    `start lag p99 ${f(r.startLagMs.p99)} ms` + behindSeconds(r.inFlightMaxPerSecond, r.ratePerS, r.pollMs) + machineNote(r.machine) +
    (Object.keys(r.failures).length > 0 ? `; failures ${JSON.stringify(r.failures)}` : '');
}

/** "; machine: work 82 ms, 100 contexts 50 ms, busy 93 %, steal 0.2 %": how fast and how full the machine was. */
export function machineNote(machine: RunReport['machine']): string {
  const parts: string[] = [];
  if (machine.calibration !== null) parts.push(`work ${f(machine.calibration.workMs, 0)} ms`, `100 contexts ${f(machine.calibration.contextsMs, 0)} ms`);
  if (machine.load !== null) parts.push(`busy ${f(machine.load.busyPct, 0)} %`, `steal ${f(machine.load.stealPct, 1)} %`);
  return parts.length === 0 ? '' : `; machine: ${parts.join(', ')}`;
}

/**
 * The markdown table: time to result first (what an agent waits for, and what the reference's
 * one-request iteration timed), the POST duration named for what it is in each scenario, medians
 * over rounds, then the floor and the ratio of the time-to-result p95s.
 */
export function markdownTable(summaries: readonly AbSummary[]): string {
  const head = '| Topology | Scenario | Target Rate | Actual Iter/s | Time to result p50 / p95 / p99 (ms) | POST p95 (ms) | Success % | Dropped | Max VUs (in flight) | HTTP Req/s | Server CPU % | Server CPU ms/run | Load avg (1 min) | Generator CPU % | Rounds | Floor time to result p50 / p95 (ms) | Ratio time to result p95 (server/floor) |';
  const rule = `|${' --- |'.repeat(head.split('|').length - 2)}`;
  const rows = summaries.map((s) => {
    const v = s.server;
    const fl = s.floor;
    const post = s.scenario === 'result' ? `${f(v.execP95Ms)} (to result)` : `${f(v.execP95Ms)} (to accept)`;
    return `| ${s.topology} | ${s.scenario} | ${s.ratePerS}/s | ${f(v.achievedIterPerS, 1)} | ${f(v.iterationP50Ms)} / ${f(v.iterationP95Ms)} / ${f(v.iterationP99Ms)} | ${post} | ` +
      `${f(v.successPct)}% | ${f(v.dropped, 0)} | ${f(v.maxInFlightVUs, 0)} | ${f(v.httpReqPerS, 1)} | ${f(v.serverCpuPct, 0)} | ${f(v.serverCpuMsPerRun, 3)} | ${f(v.loadAverage1m)} | ${f(v.generatorCpuPct, 0)} | ${s.rounds.server}+${s.rounds.floor} | ` +
      (fl === null ? '— | — |' : `${f(fl.iterationP50Ms)} / ${f(fl.iterationP95Ms)} | ${f(s.ratio!.iterationP95Ms!, 1)}× |`);
  });
  return [head, rule, ...rows].join('\n');
}

/** Replaces the section whose first line is `lines[0]` in bench/RESULTS.md (or appends it). */
export function writeResultsSection(lines: readonly string[]): void {
  const section = lines.join('\n');
  const path = new URL('../RESULTS.md', import.meta.url);
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(lines[0]!);
  let next = start < 0 ? -1 : text.indexOf('\n## ', start + 1);
  if (next >= 0) next += 1;
  const updated = start < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, start)}${section}${next < 0 ? '' : `\n${text.slice(next)}`}`;
  writeFileSync(path, updated.endsWith('\n') ? updated : `${updated}\n`);
}
