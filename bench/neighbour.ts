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
//   npm run bench:neighbour [-- --samples 200 --rounds 3 --only flood --cpu-prof DIR --threads]
// (--cpu-prof DIR: the server writes a CPU profile of its main thread there when it stops.
// --threads: also where the server's time went per neighbour, by thread kind, quiet and beside:
// ms on a CPU and ms waiting for one (/proc/<pid>/task/*/schedstat), and how many neighbours were
// sent before the attacker's thread was first seen at nice 19; the server's threads are looked at
// before each neighbour is sent, outside its timing.)
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { machine } from './lib/report.ts';
import { spawnTarget } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';
import { loweredTids, taskDelta, taskSnapshots } from './lib/task-stats.ts';
import { codeCharsMax, waitMsMax } from '../src/tools/execution-tools.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' }, only: { type: 'string' }, 'cpu-prof': { type: 'string' }, threads: { type: 'boolean', default: false } } });
const samples = Number(values.samples);
const rounds = Number(values.rounds);

/** Where requests go: the server's base URL (a worker thread gets it, not the process). */
interface Target { baseUrl: string; pid?: number }
interface Attack { name: string; start: (child: Target, until: Promise<void>) => Promise<unknown> }

async function post(child: Target, path: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${child.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(120_000) });
  return { status: response.status, text: await response.text() };
}

const run = (code: string, mb = 64, timeoutSecs = 5) => (child: Target) => post(child, '/api/exec', JSON.stringify({ code, heap_memory_max_mb: mb, execution_timeout_secs: timeoutSecs, wait_ms: waitMsMax }));
/** Runs `attack` once, or again and again until the neighbours are done (`until`). */
const once = (attack: (child: Target) => Promise<unknown>): Attack['start'] => (child: Target) => attack(child);
const repeated = (attack: (child: Target) => Promise<unknown>): Attack['start'] => async (child, until) => {
  let done = false;
  void until.then(() => { done = true; });
  while (!done) await attack(child);
};

const manyKeys = JSON.stringify(Object.fromEntries([['code', '1'], ...Array.from({ length: 200_000 }, (_, index) => [`k${index}`, 1])]));
const manyNumbers = JSON.stringify({ code: '1', x: Array.from({ length: 1_200_000 }, () => 1) });
/** The longest code run_js takes, as `\n` escapes: a legal body of 2 MB, parsed and run. */
const legalBigCode = JSON.stringify({ code: `${'\n'.repeat(codeCharsMax - 3)}1+1`, wait_ms: waitMsMax });

const attacks: Attack[] = [
  { name: '1 memory bomb, push(new Array(1000)), 64 MiB', start: repeated(run('const a=[]; for(;;) a.push(new Array(1000))')) },
  { name: '2 replaced push + setInterval console.log', start: once(run("Array.prototype.push=function(){this[this.length]=null;return this.length}; setInterval(()=>console.log(1),5); 'x'", 64, 5)) },
  { name: '3 console flood, 3e6 lines', start: once(run("for(let i=0;i<3e6;i++) console.log(i); 'done'", 64, 5)) },
  { name: '3 console flood, 8e6 empty lines', start: once(run("for(let i=0;i<8e6;i++) console.log(); 'done'", 64, 5)) },
  { name: '3 console flood, 100 lines of 1 MB', start: repeated(run("const mb='x'.repeat(1e6); for(let i=0;i<100;i++) console.log(mb); 'done'", 64, 5)) },
  { name: '4 object-key bomb, 64 MiB', start: once(run("const m={}; for(let i=0;;i++) m['k'+i]=i", 64, 5)) },
  { name: '4 60,000 timers, 8 MiB', start: repeated(run('for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)', 8, 5)) },
  { name: '5 normalize in a loop', start: once(run("const s='\\u1e9b\\u0323'.repeat(1e6); let n=0; for(let i=0;i<1000;i++) n+=s.normalize('NFKD').length; n", 64, 5)) },
  { name: '6 8 × 200,000 unknown keys', start: repeated((child: Target) => Promise.all(Array.from({ length: 8 }, () => post(child, '/api/exec', manyKeys)))) },
  { name: '6 8 × 1,200,000 numbers (2.4 MB)', start: repeated((child: Target) => Promise.all(Array.from({ length: 8 }, () => post(child, '/api/exec', manyNumbers)))) },
  { name: '6 8 × a legal 1,000,000-character code (2 MB)', start: repeated((child: Target) => Promise.all(Array.from({ length: 8 }, () => post(child, '/api/exec', legalBigCode)))) },
  { name: '9 two for(;;){}', start: (child: Target) => Promise.all([run('for(;;){}', 64, 10)(child), run('for(;;){}', 64, 10)(child)]) },
];

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

if (!isMainThread) {
  const { attack, baseUrl } = workerData as { attack: string; baseUrl: string };
  // 'ready' once this thread has loaded and built its bodies (≈ 1–4 s of CPU on this machine,
  // which the neighbours were once timed beside instead of the attack); 'go' starts the attack.
  let go = () => {};
  const going = new Promise<void>((resolve) => { go = resolve; });
  const until = new Promise<void>((resolve) => parentPort!.on('message', (message) => { if (message === 'go') go(); else resolve(); }));
  parentPort!.postMessage('ready');
  await going;
  await attacks.find((candidate) => candidate.name === attack)!.start({ baseUrl }, until).catch((error: unknown) => error);
  parentPort!.postMessage('done');
} else {
  const sorted = (values: number[]) => Float64Array.from(values).sort();
  const ms = (value: number) => value.toFixed(1);
  const p95 = (values: number[]) => percentile(sorted(values), 95);

  console.log(`# neighbour benchmark: ${samples} sequential 1+1 per phase, quiet and beside in turns (quiet, beside, quiet, … quiet: ${rounds} beside phases, ${rounds + 1} quiet), fresh server per attack`);
  const m = machine();
  console.log(`# ${m.date}, ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}`);
  console.log('# ratio: p95 beside ÷ p95 quiet over all phases; per round: p95 of that beside phase ÷ p95 of the two quiet phases around it (min / median / max over rounds); in flight: neighbours answered while the attack\'s own request was still open');
  console.log('| attack | quiet p50 ms | quiet p95 ms | beside p50 ms | beside p95 ms | p95 ratio | per round min / median / max | in flight |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const attack of attacks) {
    if (values.only !== undefined && !attack.name.includes(values.only)) continue;
    const child = await spawnTarget({ target: 'server', mode: 'stateless', ...(values['cpu-prof'] === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] }) });
    try {
      await neighbours(child); // warm-up, not counted
      const quiet: number[][] = [];
      const beside: number[][] = [];
      const threadTimes = { quiet: new Map<string, { runMs: number; waitMs: number }>(), beside: new Map<string, { runMs: number; waitMs: number }>() };
      let sentBeforeLowered = 0;
      let inFlight = 0;
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
      for (let round = 0; round < rounds; round++) {
        quiet.push(await phase(threadTimes.quiet, false));
        // The attacker is another client: a thread of its own, so that sending its bodies does not
        // hold this thread's event loop, which times the neighbours (it still shares the cores).
        const attacker = new Worker(new URL(import.meta.url), { workerData: { attack: attack.name, baseUrl: child.baseUrl } });
        const next = () => new Promise((resolve) => { attacker.once('message', resolve); attacker.once('error', resolve); });
        await next(); // ready
        let attackOpen = true;
        const attacking = next().finally(() => { attackOpen = false; });
        attacker.postMessage('go');
        // Let the attack reach the server and start before the first neighbour.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const times = await phase(threadTimes.beside, true);
        // Counted at the phase's end: a once-only attack still open then was open throughout.
        if (attackOpen) inFlight += times.length;
        beside.push(times);
        attacker.postMessage('stop');
        await attacking;
        await attacker.terminate();
      }
      quiet.push(await phase(threadTimes.quiet, false));
      const q = sorted(quiet.flat());
      const b = sorted(beside.flat());
      const ratio = percentile(b, 95) / percentile(q, 95);
      const perRound = beside.map((times, round) => p95(times) / p95([...quiet[round]!, ...quiet[round + 1]!])).sort((x, y) => x - y);
      const spread = `${perRound[0]!.toFixed(2)} / ${percentile(Float64Array.from(perRound), 50).toFixed(2)} / ${perRound.at(-1)!.toFixed(2)}`;
      console.log(`| ${attack.name} | ${ms(percentile(q, 50))} | ${ms(percentile(q, 95))} | ${ms(percentile(b, 50))} | ${ms(percentile(b, 95))} | ${ratio.toFixed(2)} | ${spread} | ${inFlight} of ${b.length} |`);
      if (values.threads) {
        const perRun = (times: Map<string, { runMs: number; waitMs: number }>, count: number) => [...times].filter(([, t]) => t.runMs + t.waitMs >= 0.05 * count)
          .map(([kind, t]) => `${kind} ${(t.runMs / count).toFixed(2)}+${(t.waitMs / count).toFixed(2)}`).join(', ');
        console.log(`|   threads, ms on a CPU + ms waiting per neighbour: quiet: ${perRun(threadTimes.quiet, q.length)}; beside: ${perRun(threadTimes.beside, b.length)}; neighbours sent before the attacker was lowered: ${sentBeforeLowered} of ${b.length} |`);
      }
    } finally {
      await child.stop();
    }
  }
}
