// The neighbour benchmark (issue 18): the latency of a benign `1+1` beside each hostile run of
// the issue, against its latency on the same server with nothing else running. In turns, quiet
// and hostile (A B A B), on a fresh server per attack (some attacks leave parked isolates). What
// it measures: the wall time of POST /api/exec {"code":"1+1"} answered with its outcome, from
// this client on loopback, one request at a time, while the attack runs (each attack is started,
// then the neighbours are sent at once; an attack that ends early, say out of memory, leaves them
// measuring its aftermath). Figures: p50 and p95 of each phase, and p95 hostile / p95 quiet.
//   npm run bench:neighbour [-- --samples 40 --rounds 2 --only flood --cpu-prof DIR --threads]
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
import { waitMsMax } from '../src/tools/execution-tools.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '40' }, rounds: { type: 'string', default: '2' }, only: { type: 'string' }, 'cpu-prof': { type: 'string' }, threads: { type: 'boolean', default: false } } });
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

  console.log(`# neighbour benchmark: ${samples} sequential 1+1 per phase, ${rounds} rounds of quiet/hostile per attack, fresh server per attack`);
  const m = machine();
  console.log(`# ${m.date}, ${m.nproc} CPUs, ${m.cpuModel}, node ${m.node}, load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}`);
  console.log('| attack | quiet p50 ms | quiet p95 ms | beside p50 ms | beside p95 ms | p95 ratio |');
  console.log('|---|---|---|---|---|---|');
  for (const attack of attacks) {
    if (values.only !== undefined && !attack.name.includes(values.only)) continue;
    const child = await spawnTarget({ target: 'server', mode: 'stateless', ...(values['cpu-prof'] === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] }) });
    try {
      await neighbours(child); // warm-up, not counted
      const quiet: number[] = [];
      const beside: number[] = [];
      const threadTimes = { quiet: new Map<string, { runMs: number; waitMs: number }>(), beside: new Map<string, { runMs: number; waitMs: number }>() };
      let sentBeforeLowered = 0;
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
        quiet.push(...await phase(threadTimes.quiet, false));
        // The attacker is another client: a thread of its own, so that sending its bodies does not
        // hold this thread's event loop, which times the neighbours (it still shares the cores).
        const attacker = new Worker(new URL(import.meta.url), { workerData: { attack: attack.name, baseUrl: child.baseUrl } });
        const next = () => new Promise((resolve) => { attacker.once('message', resolve); attacker.once('error', resolve); });
        await next(); // ready
        const attacking = next();
        attacker.postMessage('go');
        // Let the attack reach the server and start before the first neighbour.
        await new Promise((resolve) => setTimeout(resolve, 100));
        beside.push(...await phase(threadTimes.beside, true));
        attacker.postMessage('stop');
        await attacking;
        await attacker.terminate();
      }
      const q = sorted(quiet);
      const b = sorted(beside);
      const ratio = percentile(b, 95) / percentile(q, 95);
      console.log(`| ${attack.name} | ${ms(percentile(q, 50))} | ${ms(percentile(q, 95))} | ${ms(percentile(b, 50))} | ${ms(percentile(b, 95))} | ${ratio.toFixed(2)} |`);
      if (values.threads) {
        const perRun = (times: Map<string, { runMs: number; waitMs: number }>) => [...times].filter(([, t]) => t.runMs + t.waitMs >= 0.05 * quiet.length)
          .map(([kind, t]) => `${kind} ${(t.runMs / quiet.length).toFixed(2)}+${(t.waitMs / quiet.length).toFixed(2)}`).join(', ');
        console.log(`|   threads, ms on a CPU + ms waiting per neighbour: quiet: ${perRun(threadTimes.quiet)}; beside: ${perRun(threadTimes.beside)}; neighbours sent before the attacker was lowered: ${sentBeforeLowered} of ${beside.length} |`);
      }
    } finally {
      await child.stop();
    }
  }
}
