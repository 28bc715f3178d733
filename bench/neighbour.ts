// The neighbour benchmark (issue 18): the latency of a benign `1+1` beside each hostile run of
// the issue, against its latency on the same server with nothing else running. In turns, quiet
// and hostile (quiet, beside, quiet, … quiet), on a fresh server per attack (some attacks leave
// parked isolates), so every beside phase has a quiet phase of the same minute on both sides.
// What it measures: the wall time of POST /api/exec {"code":"1+1"} answered with its outcome,
// from this client on loopback, one request at a time, while the attack runs (each attack is
// started, then the neighbours are sent at once; an attack that ends early, say out of memory,
// leaves them measuring its aftermath: the "in flight" column counts the neighbours of phases
// that ended with the attack's request still open). Figures: p50 and p95 of all quiet and all
// beside samples, p95 beside / p95 quiet, and the same ratio per round (each beside phase against
// the two quiet phases around it) as min / median / max: the spread says how far one ratio is to
// be trusted. 200 samples per phase by default: with 40, a p95 is the 2nd-highest sample, and the
// quiet p95 of one server varied 3.1–18.8 ms between passes.
//   npm run bench:neighbour [-- --samples 200 --rounds 3 --only flood --cpu-prof DIR --threads
//                               --attacker process|thread --attacker-cpu 0.25 --checkout DIR]
// --attacker: who sends the attack. `process` (the default): a process of its own
// (bench/lib/raw-attacker.ts) writing its body, built once, on raw sockets, confined by a cgroup
// CPU quota of --attacker-cpu CPUs (bench/lib/confine.ts): the stand-in for an attacker on another
// machine, which cannot take the server's cores. `thread`: the earlier attacker, a worker thread
// of this process sending with fetch, unconfined on the same two cores (eight clients writing
// 2.4 MB each cost 3–9× the server's CPU per body: the neighbour's latency then measured the
// attacker as much as the server). Per attack also: the attacker's requests per second, and the
// server's main-thread time on a CPU per attack request (its main thread's schedstat over the
// beside phases less the quiet phases' time per neighbour times the neighbours, divided by the
// attack requests answered). --checkout DIR: that checkout's server (builds compared in turns).
// (--cpu-prof DIR: the server writes a CPU profile of its main thread there when it stops.
// --threads: also where the server's time went per neighbour, by thread kind, quiet and beside:
// ms on a CPU and ms waiting for one (/proc/<pid>/task/*/schedstat), and how many neighbours were
// sent before the attacker's thread was first seen at nice 19; the server's threads are looked at
// before each neighbour is sent, outside its timing.)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { confine } from './lib/confine.ts';
import { attackNamed, attacks } from './lib/neighbour-attacks.ts';
import { machine } from './lib/report.ts';
import { repoRoot, spawnTarget } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';
import { loweredTids, taskDelta, taskSnapshots } from './lib/task-stats.ts';
import { waitMsMax } from '../src/tools/execution-tools.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' }, only: { type: 'string' }, 'cpu-prof': { type: 'string' }, threads: { type: 'boolean', default: false }, attacker: { type: 'string', default: 'process' }, 'attacker-cpu': { type: 'string', default: '0.25' }, checkout: { type: 'string' } } });
const samples = Number(values.samples);
const rounds = Number(values.rounds);
const attackerCpus = Number(values['attacker-cpu']);
if (values.attacker !== 'process' && values.attacker !== 'thread') throw new Error(`--attacker: process or thread, not ${values.attacker}`);
if (!(attackerCpus > 0 && attackerCpus <= 2)) throw new Error(`--attacker-cpu: a share of CPUs in (0, 2], not ${values['attacker-cpu']}`);

/** Where requests go: the server's base URL (a worker thread gets it, not the process). */
interface Target { baseUrl: string; pid?: number }
/** What an attacker reports when done: its requests, and their answers by status. */
interface AttackCount { requests: number; answered: Record<string, number>; failed: number }

async function post(child: Target, path: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${child.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(120_000) });
  return { status: response.status, text: await response.text() };
}

/** With --threads: the server's lowered threads seen before each neighbour, and how many were sent before the first. */
interface Looks { lowered: Set<number>; sentBeforeLowered: number }

async function neighbours(child: Target, looks: Looks | null = null): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < samples; index++) {
    if (looks !== null) {
      for (const tid of loweredTids(child.pid!)) looks.lowered.add(tid);
      if (looks.lowered.size === 0) looks.sentBeforeLowered++;
    }
    const started = performance.now();
    const answer = await post(child, '/api/exec', JSON.stringify({ code: '1+1', wait_ms: waitMsMax }));
    times.push(performance.now() - started);
    if (answer.status !== 200 || !answer.text.includes('"result":"2"')) throw new Error(`a neighbour failed: ${answer.status} ${answer.text.slice(0, 300)}`);
  }
  return times;
}

/** The attacker, either kind: `ready` once its body is built, `go`, `stop`; `done` settles with its count. */
interface Attacker { ready: Promise<void>; go: () => void; stop: () => void; done: Promise<AttackCount>; close: () => Promise<void>; description: string }

/** The earlier attacker: a worker thread of this process, sending with fetch, on the same cores. */
function threadAttacker(name: string, baseUrl: string): Attacker {
  const worker = new Worker(new URL(import.meta.url), { workerData: { attack: name, baseUrl } });
  const next = () => new Promise<unknown>((resolve) => { worker.once('message', resolve); worker.once('error', resolve); });
  const ready = next().then(() => undefined);
  const done = ready.then(next).then((count) => count as AttackCount);
  return { ready, go: () => worker.postMessage('go'), stop: () => worker.postMessage('stop'), done, close: async () => { await worker.terminate(); }, description: 'a worker thread of the bench process (fetch), unconfined on the same cores' };
}

/** An attacker process writing prebuilt bytes on raw sockets, confined to --attacker-cpu (bench/lib/raw-attacker.ts). */
function processAttacker(name: string, port: number): Attacker {
  const child: ChildProcess = spawn(process.execPath, [new URL('./lib/raw-attacker.ts', import.meta.url).pathname, String(port), name], { stdio: ['pipe', 'pipe', 'inherit'] });
  const confinement = confine(child.pid!, attackerCpus);
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve, reject) => { lines.once('line', resolve); child.once('exit', (code) => reject(new Error(`the attacker exited (${code})`))); });
  const ready = next().then(() => undefined);
  const done = ready.then(next).then((line) => JSON.parse(line) as AttackCount);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    ready, done, description: confinement.description,
    go: () => child.stdin!.write('go\n'), stop: () => child.stdin!.write('stop\n'),
    close: async () => { child.stdin!.end(); await exited; confinement.release(); },
  };
}

if (!isMainThread) {
  const { attack: name, baseUrl } = workerData as { attack: string; baseUrl: string };
  // 'ready' once this thread has loaded and built its body (≈ 1–4 s of CPU on this machine,
  // which the neighbours were once timed beside instead of the attack); 'go' starts the attack.
  const attack = attackNamed(name);
  const body = attack.body();
  let go = () => {};
  const going = new Promise<void>((resolve) => { go = resolve; });
  let stopped = false;
  parentPort!.on('message', (message) => { if (message === 'go') go(); else stopped = true; });
  parentPort!.postMessage('ready');
  await going;
  const count: AttackCount = { requests: 0, answered: {}, failed: 0 };
  const lane = async () => {
    do {
      count.requests++;
      const answer = await post({ baseUrl }, '/api/exec', body).catch(() => null);
      if (answer === null) count.failed++;
      else count.answered[answer.status] = (count.answered[answer.status] ?? 0) + 1;
    } while (attack.repeat && !stopped);
  };
  await Promise.all(Array.from({ length: attack.parallel }, lane));
  while (!stopped) await new Promise((resolve) => parentPort!.once('message', resolve));
  parentPort!.postMessage(count);
} else {
  await main();
}

async function main(): Promise<void> {
  const sorted = (values: number[]) => Float64Array.from(values).sort();
  const ms = (value: number) => value.toFixed(1);
  const p95 = (values: number[]) => percentile(sorted(values), 95);
  /** The server's main thread's time on a CPU so far, ms. */
  const mainMs = (pid: number) => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ')[0]) / 1e6;

  console.log(`# neighbour benchmark: ${samples} sequential 1+1 per phase, quiet and beside in turns (quiet, beside, quiet, … quiet: ${rounds} beside phases, ${rounds + 1} quiet), fresh server per attack; server: ${values.checkout ?? repoRoot}`);
  const m = machine();
  console.log(`# ${m.date}, ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}`);
  console.log(`# attacker: ${values.attacker === 'process' ? `a process of its own writing its prebuilt body on raw sockets, confined to ${attackerCpus} CPU (stand-in for an attacker on another machine)` : 'a worker thread of this process sending with fetch, on the same cores (the earlier method)'}`);
  console.log('# ratio: p95 beside ÷ p95 quiet over all phases; per round: p95 of that beside phase ÷ p95 of the two quiet phases around it (min / median / max over rounds); in flight: neighbours answered while the attack\'s own request was still open; attack req/s: the attacker\'s requests per second of beside phase (answers by status); main ms/req: the server\'s main thread on a CPU per attack request, less the neighbours\' share');
  console.log('| attack | quiet p50 ms | quiet p95 ms | beside p50 ms | beside p95 ms | p95 ratio | per round min / median / max | in flight | attack req/s (answers) | main ms/req |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const attack of attacks) {
    if (values.only !== undefined && !attack.name.includes(values.only)) continue;
    await measure(attack.name);
  }
  console.log(`# load average at the end ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}`);

  async function measure(name: string): Promise<void> {
    const child = await spawnTarget({ target: 'server', mode: 'stateless', ...(values.checkout === undefined ? {} : { root: values.checkout }), ...(values['cpu-prof'] === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] }) });
    try {
      await neighbours(child); // warm-up, not counted
      const quiet: number[][] = [];
      const beside: number[][] = [];
      const threadTimes = { quiet: new Map<string, { runMs: number; waitMs: number }>(), beside: new Map<string, { runMs: number; waitMs: number }>() };
      let sentBeforeLowered = 0;
      let inFlight = 0;
      const main = { quietMs: 0, besideMs: 0, requests: 0, besideWallMs: 0 };
      const answered: Record<string, number> = {};
      let description = '';
      /** One phase of neighbours, with (--threads) the server's thread times added to `into`. */
      const phase = async (into: Map<string, { runMs: number; waitMs: number }>, watch: boolean) => {
        if (!values.threads) return neighbours(child);
        const looks: Looks = { lowered: new Set(), sentBeforeLowered: 0 };
        const before = taskSnapshots(child.pid);
        const times = await neighbours(child, watch ? looks : null);
        for (const tid of loweredTids(child.pid)) looks.lowered.add(tid);
        for (const [kind, delta] of taskDelta(child.pid, before, taskSnapshots(child.pid), looks.lowered)) {
          const sum = into.get(kind) ?? { runMs: 0, waitMs: 0 };
          sum.runMs += delta.runMs;
          sum.waitMs += delta.waitMs;
          into.set(kind, sum);
        }
        sentBeforeLowered += looks.sentBeforeLowered;
        return times;
      };
      for (let round = 0; round <= rounds; round++) {
        const quietFrom = mainMs(child.pid);
        quiet.push(await phase(threadTimes.quiet, false));
        main.quietMs += mainMs(child.pid) - quietFrom;
        if (round === rounds) break;
        // The attacker is another client: a thread or (by default) a process of its own, so that
        // sending its bodies does not hold this thread's event loop, which times the neighbours.
        const attacker = values.attacker === 'process' ? processAttacker(name, child.port) : threadAttacker(name, child.baseUrl);
        description = attacker.description;
        await attacker.ready;
        const besideFrom = mainMs(child.pid);
        const wallFrom = performance.now();
        let attackOpen = true;
        const counted = attacker.done.finally(() => { attackOpen = false; });
        attacker.go();
        // Let the attack reach the server and start before the first neighbour.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const times = await phase(threadTimes.beside, true);
        main.besideWallMs += performance.now() - wallFrom;
        // Counted at the phase's end: a once-only attack still open then was open throughout.
        const stillOpen = attackOpen;
        if (stillOpen) inFlight += times.length;
        beside.push(times);
        attacker.stop();
        const count = await counted;
        // A once-only attack that ended early: the main thread's time until then is its cost.
        main.besideMs += mainMs(child.pid) - besideFrom;
        main.requests += count.requests;
        for (const [status, n] of Object.entries(count.answered)) answered[status] = (answered[status] ?? 0) + n;
        if (count.failed > 0) answered.failed = (answered.failed ?? 0) + count.failed;
        await attacker.close();
      }
      const q = sorted(quiet.flat());
      const b = sorted(beside.flat());
      const ratio = percentile(b, 95) / percentile(q, 95);
      const perRound = beside.map((times, round) => p95(times) / p95([...quiet[round]!, ...quiet[round + 1]!])).sort((x, y) => x - y);
      const spread = `${perRound[0]!.toFixed(2)} / ${percentile(Float64Array.from(perRound), 50).toFixed(2)} / ${perRound.at(-1)!.toFixed(2)}`;
      const mainPerRequest = (main.besideMs - (main.quietMs / q.length) * b.length) / main.requests;
      const answers = Object.entries(answered).map(([status, n]) => `${n} ${status}`).join(', ');
      console.log(`| ${name} | ${ms(percentile(q, 50))} | ${ms(percentile(q, 95))} | ${ms(percentile(b, 50))} | ${ms(percentile(b, 95))} | ${ratio.toFixed(2)} | ${spread} | ${inFlight} of ${b.length} | ${(main.requests / (main.besideWallMs / 1000)).toFixed(1)} (${answers}) | ${mainPerRequest.toFixed(2)} |`);
      if (values.threads) {
        const perRun = (times: Map<string, { runMs: number; waitMs: number }>, count: number) => [...times].filter(([, t]) => t.runMs + t.waitMs >= 0.05 * count)
          .map(([kind, t]) => `${kind} ${(t.runMs / count).toFixed(2)}+${(t.waitMs / count).toFixed(2)}`).join(', ');
        console.log(`|   threads, ms on a CPU + ms waiting per neighbour: quiet: ${perRun(threadTimes.quiet, q.length)}; beside: ${perRun(threadTimes.beside, b.length)}; neighbours sent before the attacker was lowered: ${sentBeforeLowered} of ${b.length} |`);
      }
      console.log(`|   attacker: ${description} |`);
    } finally {
      await child.stop();
    }
  }
}
