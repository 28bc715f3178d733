// Issue 18, item 4: ordinary bombs parked an isolate thread for good (V8 out of memory beyond
// recovery): 30 repetitions left 30 stuck isolates, 44 threads, RSS 134 → 401 MB, with no bound.
// - The timer bomb no longer parks: pending timers are bounded per MiB of the memory limit
//   (sandbox/prelude/timers.js), so it fails with a RangeError at 8 and 16 MiB.
// - The object-key bomb no longer parks (host-keybomb.test.ts). A thread V8 still parks: fill
//   over a proxy of a 1e9-long array (catastrophic.test.ts), a C++ builtin's loop that ignores
//   termination and grows a dictionary until V8 gives up. Past `stuckIsolatesMax` such threads
//   the node takes no more runs, says why in its log and /healthz (503, `retiring`), lets the
//   runs under way finish, and exits for its supervisor (SIGKILL, since isolated-vm would wait
//   for the parked threads at exit).
// Real server processes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retireRssMbDefault } from '../../src/config.ts';
import { stuckIsolatesMax, stuckRssBytesMax } from '../../src/exec/engine.ts';
import { ErrorTexts } from '../../src/exec/types.ts';
import { exec, execution, health, outcomeOf, serverForSuite, submit } from '../support/hostile.ts';
import type { ServerProcess } from '../support/server-process.ts';

/** Parks an isolate thread (V8 out of memory beyond recovery inside fill's own loop; catastrophic.test.ts). */
const parkingBomb = "let reads = 0; Array.prototype.fill.call(new Proxy(Array(1e9), { get: (target, key) => key === 'length' ? (reads++ === 0 ? 1 : 1e9) : target[key] }), 0)";

/**
 * Runs the parking bomb at 8 MiB to its end: only memory may end it (seconds of its thread on a
 * quiet machine, tens on a loaded one), so its timeout is the largest.
 */
async function parkOne(server: ServerProcess): Promise<void> {
  const ran = await outcomeOf(server, await submit(server, { code: parkingBomb, heap_memory_max_mb: 8, execution_timeout_secs: 300 }));
  assert.deepEqual([ran.status, ran.error], ['failed', ErrorTexts.outOfMemory(8)]);
}

/** A run under way while the node drains: it ends well within the 30 s a draining node gives its runs. */
const neighbourCode = "await new Promise((resolve) => setTimeout(resolve, 25000)); 'neighbour done'";

describe('bombs that parked isolate threads', () => {
  const server = serverForSuite('host-parked', 'stateless', ['--max-concurrent-executions', '2']);

  test('60,000 timers at 8 and 16 MiB fail with a RangeError; no isolate is stuck', async () => {
    for (const mb of [8, 16, 8, 16]) {
      const ran = await exec(server(), { code: 'for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)', heap_memory_max_mb: mb, execution_timeout_secs: 5 });
      assert.equal(ran.status, 'failed');
      assert.match(ran.error!, /^RangeError: too many pending timers \(at most \d+ per execution/);
    }
    const now = await health(server());
    assert.deepEqual([now.status, now.stuck_isolates], ['ok', 0]);
  });

  test(`parking bombs: past ${stuckIsolatesMax} parked threads the node retires, finishing the runs under way`, async () => {
    const exited = new Promise<number | string>((resolve) => server().child.once('close', (code, signal) => resolve(signal ?? code ?? -1)));
    const bomb = () => parkOne(server());
    for (let index = 0; index < stuckIsolatesMax - 1; index++) await bomb();
    // A neighbour under way when the bound is passed: it must finish, not fail. It is started just
    // before the last bomb and sleeps 25 s, longer than the bomb takes to park its thread, so the
    // node is still draining (not yet gone) while the checks below run.
    const neighbour = await submit(server(), { code: neighbourCode, execution_timeout_secs: 60 });
    await bomb();
    await server().waitForStderr(/"msg":"retiring: this node takes no more runs/);
    const response = await fetch(`${server().baseUrl}/healthz`);
    assert.equal(response.status, 503);
    const retiring = (await response.json()) as { status: string; reason: string; stuck_isolates: number };
    assert.equal(retiring.status, 'retiring');
    assert.match(retiring.reason, new RegExp(`${stuckIsolatesMax} isolate threads V8 cannot stop`));
    const refused = await exec(server(), { code: '1+1' });
    assert.deepEqual([refused.status, refused.error], ['failed', ErrorTexts.retiring]);
    const finished = await execution(server(), neighbour);
    assert.deepEqual([finished.status, finished.result], ['completed', 'neighbour done']);
    assert.equal(await exited, 'SIGKILL', 'a failure to a supervisor');
    assert.match(server().stderr(), /the process ends by SIGKILL/);
  });
});

// The other bound: process RSS with any stuck isolate (4 GiB by default, which a test cannot
// reach on a shared machine). --retire-rss-mb 1 puts it below any process: the first parked
// thread retires the node, naming RSS as the reason.
describe('the RSS bound of a node with a stuck isolate', () => {
  const server = serverForSuite('host-parked-rss', 'stateless', ['--max-concurrent-executions', '2', '--retire-rss-mb', '1']);

  test('the default is the engine\'s 4 GiB', () => {
    assert.equal(retireRssMbDefault * 2 ** 20, stuckRssBytesMax);
    assert.equal(stuckRssBytesMax, 4 * 1024 ** 3);
  });

  test('one parked thread past --retire-rss-mb: /healthz 503 retiring with the RSS reason, then the exit for the supervisor', async () => {
    const exited = new Promise<number | string>((resolve) => server().child.once('close', (code, signal) => resolve(signal ?? code ?? -1)));
    const before = await health(server());
    assert.deepEqual([before.status, before.stuck_isolates], ['ok', 0], 'the bound alone retires nothing: it needs a stuck isolate');
    // A run under way holds the node while it drains (it outlasts the bomb), so /healthz can be
    // read before the exit.
    await submit(server(), { code: neighbourCode, execution_timeout_secs: 60 });
    await parkOne(server());
    await server().waitForStderr(/"msg":"retiring: this node takes no more runs/);
    const response = await fetch(`${server().baseUrl}/healthz`);
    assert.equal(response.status, 503);
    const retiring = (await response.json()) as { status: string; reason: string };
    assert.equal(retiring.status, 'retiring');
    assert.match(retiring.reason, /^process RSS \d+ MiB with 1 isolate threads V8 cannot stop \(bound 1 MiB\)$/);
    // (That the neighbour finishes is checked by the test above.)
    // Exit code 75 (EX_TEMPFAIL) is what the node exits with; a parked thread would hold a normal
    // exit, so it is logged and the process ends by SIGKILL, which supervisors count as a failure.
    assert.equal(await exited, 'SIGKILL');
    assert.match(server().stderr(), /"exitCode":75[^\n]*the process ends by SIGKILL/);
  });
});
