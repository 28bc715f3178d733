// How late a normal thread wakes beside a lowered spinner on its core (issue 18): the mechanism
// under the neighbour benchmark, measured where the machine's other load cannot hide it as easily.
// This process's main thread and a `for(;;){}` child are pinned to the same CPU (taskset); the
// child is, in turns (A B C A B C …): absent, at nice 19 (thread-nice.ts before the idle group), or
// at nice 19 in a cgroup v1 group with cpu.idle = 1 (src/exec/idle-group.ts). The main thread
// sleeps 1 ms (Atomics.wait) `--wakes` times per turn; figure: how far past 1 ms it woke (µs),
// median / p95 / p99 per mode, pooled over the rounds, and the load average.
//   node --no-node-snapshot bench/idle-wakeup.ts [--rounds 5] [--wakes 2000] [--cpu 1]   (root, cgroup v1)
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';
import { percentile } from './lib/stats.ts';
import { IdleGroup } from '../src/exec/idle-group.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, wakes: { type: 'string' }, cpu: { type: 'string' } } });
const rounds = numberArg('rounds', values.rounds, 5, 1);
const wakes = numberArg('wakes', values.wakes, 2000, 10);
const cpu = numberArg('cpu', values.cpu, 1, 0);
const modes = ['no spinner', 'spinner at nice 19', 'spinner at nice 19 in an idle cgroup'] as const;

const group = IdleGroup.open({ info: (object, message) => console.log(`# ${message} ${JSON.stringify(object)}`) });
if (group === null) throw new Error('needs a writable cgroup v1 cpu hierarchy (root)');
const pinned = spawnSync('taskset', ['-cp', String(cpu), String(process.pid)]);
if (pinned.status !== 0) throw new Error(`taskset: ${pinned.stderr.toString()}`);
const late: number[][] = modes.map(() => []);
const cell = new Int32Array(new SharedArrayBuffer(4));
const loadStart = os.loadavg()[0]!;
try {
  for (let round = 0; round < rounds; round++) {
    for (const [index, mode] of modes.entries()) {
      const spinner = mode === 'no spinner' ? null : spawn('taskset', ['-c', String(cpu), process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' });
      if (spinner !== null) {
        // taskset execs node in place: the pid is the spinner's (its main thread's tid).
        await new Promise((resolve) => setTimeout(resolve, 200));
        os.setPriority(spinner.pid!, 19);
        if (mode.includes('idle')) group.add(spinner.pid!);
        await new Promise((resolve) => setTimeout(resolve, 200)); // the move is written off the event loop
      }
      for (let wake = 0; wake < wakes; wake++) {
        const before = performance.now();
        Atomics.wait(cell, 0, 0, 1);
        late[index]!.push((performance.now() - before - 1) * 1000);
      }
      if (spinner !== null) {
        group.remove(spinner.pid!);
        spinner.kill('SIGKILL');
        await new Promise((resolve) => spinner.once('exit', resolve));
      }
    }
  }
} finally {
  await group.close();
}
console.log(`# 1 ms sleeps on CPU ${cpu} beside a spinner pinned there, ${rounds} rounds × ${wakes} per mode in turns; load average ${loadStart.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)}`);
console.log('| mode | late p50 µs | late p95 µs | late p99 µs |');
console.log('|---|---|---|---|');
for (const [index, mode] of modes.entries()) {
  const sorted = Float64Array.from(late[index]!).sort();
  console.log(`| ${mode} | ${percentile(sorted, 50).toFixed(0)} | ${percentile(sorted, 95).toFixed(0)} | ${percentile(sorted, 99).toFixed(0)} |`);
}
