// Where a server's CPU goes while one attack runs (issue 18): CPU seconds per thread kind, from
// /proc/<pid>/task/*/stat and schedstat, over fixed windows after the attack is sent.
//   node bench/threads-beside.ts --code '<attack>' [--mb 64] [--timeout 5] [--windows 0.5,1,2,4,8]
//   node bench/threads-beside.ts --code '<attack>' --repeat 5   (CPU per thread kind over 5 runs, one after the other)
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { spawnTarget } from './lib/processes.ts';

const { values } = parseArgs({ options: { code: { type: 'string' }, mb: { type: 'string', default: '64' }, timeout: { type: 'string', default: '5' }, windows: { type: 'string', default: '0.5,1,2,4,8' }, repeat: { type: 'string' } } });
const ticksPerS = 100;
/** Per thread: kind, CPU seconds, seconds waiting for a CPU (schedstat). */
function threads(pid: number): Map<string, { kind: string; cpuS: number; waitS: number }> {
  const out = new Map<string, { kind: string; cpuS: number; waitS: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const sched = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
      out.set(tid, { kind: tid === String(pid) ? 'main' : comm === 'MainThread' ? 'isolate' : comm, cpuS: (Number(fields[11]) + Number(fields[12])) / ticksPerS, waitS: Number(sched[1]) / 1e9 });
    } catch { /* ended */ }
  }
  return out;
}
const child = await spawnTarget({ target: 'server', mode: 'stateless' });
const body = () => JSON.stringify({ code: values.code, heap_memory_max_mb: Number(values.mb), execution_timeout_secs: Number(values.timeout), wait_ms: 50_000 });
function cpuByKind(before: ReturnType<typeof threads>, now: ReturnType<typeof threads>): string {
  const byKind = new Map<string, { cpuS: number; waitS: number; count: number }>();
  for (const [tid, t] of now) {
    const b = before.get(tid) ?? { cpuS: 0, waitS: 0 };
    const k = byKind.get(t.kind) ?? { cpuS: 0, waitS: 0, count: 0 };
    k.cpuS += t.cpuS - b.cpuS; k.waitS += t.waitS - b.waitS; k.count++;
    byKind.set(t.kind, k);
  }
  return [...byKind].filter(([, k]) => k.cpuS > 0.005).map(([kind, k]) => `${kind}×${k.count} cpu ${k.cpuS.toFixed(2)} wait ${k.waitS.toFixed(2)}`).join(' | ');
}
if (values.repeat !== undefined) {
  try {
    const before = threads(child.pid);
    for (let run = 0; run < Number(values.repeat); run++) {
      const answer = await (await fetch(`${child.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body() })).json() as { status: string };
      if (answer.status === 'running') throw new Error('a run outlasted wait_ms');
    }
    console.log(`${values.repeat} runs: ${cpuByKind(before, threads(child.pid))}`);
  } finally {
    await child.stop();
  }
  process.exit(0);
}
try {
  const before = threads(child.pid);
  const started = performance.now();
  const answer = fetch(`${child.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body() }).then((r) => r.text());
  for (const windowS of values.windows!.split(',').map(Number)) {
    await new Promise((resolve) => setTimeout(resolve, windowS * 1000 - (performance.now() - started)));
    console.log(`t=${windowS}s ${cpuByKind(before, threads(child.pid))}`);
  }
  console.log((await answer).slice(0, 300));
} finally {
  await child.stop();
}
