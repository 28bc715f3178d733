// Issue 18, item 1: a plain memory bomb kept allocating after its run had ended. V8's concurrent
// on-stack replacement compiled the loop `for(;;) a.push(new Array(1000))` without an interrupt
// check, so neither the memory limit nor the deadline's dispose stopped it: the run ended
// `timed_out` at 7 s, and the server's RSS went 134 MB → 11 GB in 40 s, still climbing, with one
// stuck isolate, until SIGTERM. The pool now turns concurrent OSR off (src/exec/isolate-pool.ts).
// The attacker must fail out of memory, the server's RSS come back within a stated bound, no
// isolate stay stuck, and a neighbour's run complete. Real server processes.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { isolateThreadName } from '../../src/exec/thread-nice.ts';
import { ErrorTexts } from '../../src/exec/types.ts';
import { exec, health, neighbours, rssMiB, serverForSuite } from '../support/hostile.ts';

/** What the server's RSS may grow by over a bomb, once its run has ended: a few times the largest heap limit, not gigabytes. */
const rssGrowthMiBMax = 256;

const bombs = [
  { name: 'push(new Array(1000)) at 64 MiB', code: 'const a=[]; for(;;) a.push(new Array(1000))', mb: 64 },
  { name: 'push(new Array(1000)) at 8 MiB', code: 'const a=[]; for(;;) a.push(new Array(1000))', mb: 8 },
  { name: 'push(new Array(100)) at 64 MiB', code: 'const a=[]; for(;;) a.push(new Array(100))', mb: 64 },
  { name: 'let, while(true) at 64 MiB', code: 'let a=[]; while(true) a.push(new Array(1000))', mb: 64 },
  { name: 'fill(0).map at 64 MiB', code: 'var a=[]; for(;;) a.push(new Array(1000).fill(0).map((x,i)=>i))', mb: 64 },
];

for (const mode of ['stateless', 'stateful'] as const) {
  describe(`memory bombs end with their run (${mode})`, () => {
    const server = serverForSuite(`host-memory-${mode}`, mode, ['--max-concurrent-executions', '2']);

    for (const bomb of mode === 'stateless' ? bombs : bombs.slice(0, 1)) {
      test(bomb.name, async () => {
        await neighbours(server(), 3);
        const before = rssMiB(server());
        const attack = exec(server(), { code: bomb.code, heap_memory_max_mb: bomb.mb, execution_timeout_secs: 5 });
        const neighbour = exec(server(), { code: '1+1', execution_timeout_secs: 30 });
        const outcome = await attack;
        assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
        assert.equal(outcome.error, ErrorTexts.outOfMemory(bomb.mb));
        assert.deepEqual([(await neighbour).status, (await neighbour).result], ['completed', '2']);
        // After the run: twenty more runs' worth of time, in which the bomb grew ≈ 4 GB before.
        await neighbours(server(), 20);
        const grown = rssMiB(server()) - before;
        assert.ok(grown < rssGrowthMiBMax, `RSS grew ${grown.toFixed(0)} MiB over the bomb (bound ${rssGrowthMiBMax})`);
        const healthNow = await health(server());
        assert.equal(healthNow.stuck_isolates, 0, JSON.stringify(healthNow));
        assert.equal(healthNow.status, 'ok');
      });
    }
  });
}

/** CPU time (ns, /proc/<pid>/task/<tid>/schedstat) of a process's threads so far, by thread name. */
function cpuNsByThreadName(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim();
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
      byName.set(name, (byName.get(name) ?? 0) + ns);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return byName;
}

// Issue 18: a memory bomb's garbage collection ran on V8's shared platform workers (node's pool,
// "V8Worker", normal priority): 80 ms of their CPU per bomb beside 50 ms of its own thread, which
// the server lowers when busy, while the workers cannot be (the event loop's own GC waits on
// them). Our isolated-vm patch runs sandbox isolates in V8's efficiency mode, so their GC stays
// on their own thread. CPU time, not wall time: the share does not depend on the machine's load.
describe('a memory bomb collects its garbage on its own thread', () => {
  const server = serverForSuite('host-memory-gc-thread', 'stateless', ['--max-concurrent-executions', '2']);
  const bombsRun = 3;
  /** The workers' CPU over the bombs, at most this share of the bombs' own threads' (it was ≈ 1.3×). */
  const workerShareMax = 0.25;

  test(`${bombsRun} bombs at 64 MiB: the V8 workers' CPU is under ${workerShareMax} of the isolate threads'`, async () => {
    await neighbours(server(), 3);
    const pid = server().child.pid!;
    const before = cpuNsByThreadName(pid);
    for (let index = 0; index < bombsRun; index++) {
      const outcome = await exec(server(), { code: bombs[0]!.code, heap_memory_max_mb: 64, execution_timeout_secs: 5 });
      assert.equal(outcome.error, ErrorTexts.outOfMemory(64), JSON.stringify(outcome));
    }
    const after = cpuNsByThreadName(pid);
    const spentMs = (name: string) => ((after.get(name) ?? 0) - (before.get(name) ?? 0)) / 1e6;
    const isolateMs = spentMs(isolateThreadName);
    const workersMs = spentMs('V8Worker');
    assert.ok(isolateMs > 0, `the bombs ran on threads named ${isolateThreadName}`);
    assert.ok(workersMs < workerShareMax * isolateMs, `V8's workers spent ${workersMs.toFixed(1)} ms of CPU over the bombs, their isolate threads ${isolateMs.toFixed(1)} ms (bound: ${workerShareMax} of it)`);
  });
});
