// What one hostile client costs the server, by thread (issue 18): per checkout in turns (A B A B),
// a fresh server each, CPU time per thread kind (/proc/<pid>/task/*/schedstat, ns) spent on
//   flood: 100 × 1 MB console lines per run (32 MiB kept), one run after the other for
//          `--seconds`, then until the server is idle (the store may still be writing): per run,
//          and per second of the attack;
//   keys, numbers: `--bursts` bursts of 8 refused 2.4 MB bodies (200,000 unknown keys,
//          1,200,000 numbers): per body.
//   timers: `for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)` at 8 MiB (8,192 timers, then the
//          RangeError), one run after the other for `--seconds`: per run, as flood.
//   waiting: 50 ms busy, then 8,000 pending timers held to the run's 5 s timeout: per run.
// CPU time, unlike a neighbour's latency, is not swamped by the machine's other load.
//   node bench/attack-cpu.ts [--attack flood|keys|numbers|timers|waiting] [--seconds 10] [--bursts 20] [--rounds 2] [checkout …]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { repoRoot } from './lib/processes.ts';

const { values, positionals } = parseArgs({ options: { attack: { type: 'string', default: 'flood' }, seconds: { type: 'string' }, bursts: { type: 'string' }, rounds: { type: 'string' } }, allowPositionals: true });
const seconds = numberArg('seconds', values.seconds, 10, 1);
const bursts = numberArg('bursts', values.bursts, 20, 1);
const rounds = numberArg('rounds', values.rounds, 2, 1);
const checkouts = positionals.length > 0 ? positionals : [repoRoot];
const floodCode = "const mb='x'.repeat(1e6); for(let i=0;i<100;i++) console.log(mb); 'done'";
const bodies: Record<string, () => string> = {
  keys: () => JSON.stringify(Object.fromEntries([['code', '1'], ...Array.from({ length: 200_000 }, (_, index) => [`k${index}`, 1])])),
  numbers: () => JSON.stringify({ code: '1', x: Array.from({ length: 1_200_000 }, () => 1) }),
};
/** The attacks made of runs one after the other: the run's body, and what its answer says when it ended as the attack should. */
const runAttacks: Record<string, { body: string; ended: string }> = {
  flood: { body: JSON.stringify({ code: floodCode, heap_memory_max_mb: 64, execution_timeout_secs: 30, wait_ms: 50_000 }), ended: '"status":"completed"' },
  timers: { body: JSON.stringify({ code: 'for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)', heap_memory_max_mb: 8, execution_timeout_secs: 5, wait_ms: 50_000 }), ended: 'RangeError: too many pending timers' },
  waiting: { body: JSON.stringify({ code: 'const t=Date.now(); while(Date.now()<t+50); for(let i=0;i<8000;i++) setTimeout(()=>{},1e6)', heap_memory_max_mb: 8, execution_timeout_secs: 5, wait_ms: 50_000 }), ended: '"status":"timed_out"' },
};
const runAttack = runAttacks[values.attack!];
if (runAttack === undefined && bodies[values.attack!] === undefined) throw new Error(`--attack: flood, keys, numbers, timers or waiting, not ${values.attack}`);
const body = runAttack !== undefined ? '' : bodies[values.attack!]!();

type Times = Map<string, { runMs: number }>;
const perUnit = (times: Times, units: number) => [...times].filter(([, t]) => t.runMs / units >= 0.05).map(([kind, t]) => `${kind} ${(t.runMs / units).toFixed(2)}`).join(', ');

for (let round = 0; round < rounds; round++) {
  for (const checkout of checkouts) {
    // Each checkout's own helpers, so that its server is started the way it starts it.
    const { spawnTarget } = await import(`${checkout}/bench/lib/processes.ts`) as typeof import('./lib/processes.ts');
    const { taskSnapshots, taskDelta } = await import(`${checkout}/bench/lib/task-stats.ts`) as typeof import('./lib/task-stats.ts');
    const child = await spawnTarget({ target: 'server', mode: 'stateless' });
    const post = async (text: string) => {
      const response = await fetch(`${child.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      return { status: response.status, text: await response.text() };
    };
    try {
      await post(JSON.stringify({ code: '1+1', wait_ms: 10_000 }));
      const before = taskSnapshots(child.pid);
      const started = performance.now();
      let units = 0;
      if (runAttack !== undefined) {
        while (performance.now() - started < seconds * 1000) if ((await post(runAttack.body)).text.includes(runAttack.ended)) units++;
      } else {
        for (let burst = 0; burst < bursts; burst++) units += (await Promise.all(Array.from({ length: 8 }, () => post(body)))).filter((answer) => answer.status === 400).length;
      }
      const attackS = (performance.now() - started) / 1000;
      const during = taskDelta(child.pid, before, taskSnapshots(child.pid), new Set());
      // Then until the server is idle: under 20 ms of CPU in a second.
      const cpuMs = () => [...taskSnapshots(child.pid).values()].reduce((sum, task) => sum + task.runNs, 0) / 1e6;
      for (let last = cpuMs(); ;) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const now = cpuMs();
        if (now - last < 20) break;
        last = now;
      }
      const idleS = (performance.now() - started) / 1000 - attackS;
      const total = taskDelta(child.pid, before, taskSnapshots(child.pid), new Set());
      const what = runAttack !== undefined ? `${values.attack} run` : 'refused body';
      console.log(`${checkout} round ${round + 1} (load ${os.loadavg()[0]!.toFixed(1)}): ${units} × ${what} in ${attackS.toFixed(1)} s, idle ${idleS.toFixed(1)} s later; ms of CPU per ${what}, until idle: ${perUnit(total, units)}`);
      if (runAttack !== undefined) console.log(`  ms of CPU per second of the attack, during it: ${perUnit(during, attackS)}`);
    } finally {
      await child.stop();
    }
  }
}
