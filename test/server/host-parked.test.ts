// Issue 18, item 4: ordinary bombs parked an isolate thread for good (V8 out of memory beyond
// recovery): 30 repetitions left 30 stuck isolates, 44 threads, RSS 134 → 401 MB, with no bound.
// - The timer bomb no longer parks: pending timers are bounded per MiB of the memory limit
//   (sandbox/prelude/timers.js), so it fails with a RangeError at 8 and 16 MiB.
// - The object-key bomb still parks (V8 grows the dictionary past its limit in one step; nothing
//   in the sandbox sees it). Past `stuckIsolatesMax` such threads the node takes no more runs,
//   says why in its log and /healthz (503, `retiring`), lets the runs under way finish, and exits
//   for its supervisor (SIGKILL, since isolated-vm would wait for the parked threads at exit).
// Real server processes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retireRssMbDefault } from '../../src/config.ts';
import { stuckIsolatesMax, stuckRssBytesMax } from '../../src/exec/engine.ts';
import { ErrorTexts } from '../../src/exec/types.ts';
import { exec, execution, health, serverForSuite, submit } from '../support/hostile.ts';

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

  test(`object-key bombs: past ${stuckIsolatesMax} parked threads the node retires, finishing the runs under way`, async () => {
    const exited = new Promise<number | string>((resolve) => server().child.once('close', (code, signal) => resolve(signal ?? code ?? -1)));
    const bomb = async () => {
      const ran = await exec(server(), { code: 'const m={}; for(let i=0;;i++) m["k"+i]=i', heap_memory_max_mb: 8, execution_timeout_secs: 5 });
      assert.equal(ran.status, 'failed');
      assert.equal(ran.error, ErrorTexts.outOfMemory(8));
    };
    for (let index = 0; index < stuckIsolatesMax - 1; index++) await bomb();
    // A neighbour under way when the bound is passed: it must finish, not fail. It is started just
    // before the last bomb and outlasts that bomb's 5 s timeout, so the node is still draining
    // (not yet gone) while the checks below run, however fast or slow the machine is.
    const neighbour = await submit(server(), { code: "await new Promise((resolve) => setTimeout(resolve, 8000)); 'neighbour done'", execution_timeout_secs: 30 });
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
    // A run under way holds the node while it drains (it outlasts the bomb's 5 s timeout), so
    // /healthz can be read before the exit, however fast the machine is.
    await submit(server(), { code: "await new Promise((resolve) => setTimeout(resolve, 8000)); 'neighbour done'", execution_timeout_secs: 30 });
    const ran = await exec(server(), { code: 'const m={}; for(let i=0;;i++) m["k"+i]=i', heap_memory_max_mb: 8, execution_timeout_secs: 5 });
    assert.deepEqual([ran.status, ran.error], ['failed', ErrorTexts.outOfMemory(8)]);
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
