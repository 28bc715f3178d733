// A stopped run's code must not keep its isolate busy. Disposing an isolate terminates its
// JavaScript once; isolated-vm then reads the message and stack of what the code threw, and a
// getter that loops there used to hold the isolate's thread and the run's slot forever. With the
// patched isolated-vm (scripts/patch-isolated-vm.mjs, built on install) nothing runs after the
// termination. With the prebuilt one (PREBUILDS_ONLY makes node-gyp-build load it) the run still
// ends, 2 s late, and the node says what it lost. Real server processes, killed at the end.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';
import { loweredNice } from '../../src/exec/thread-nice.ts';
import { threadNiceValues as niceValues } from '../support/hostile.ts';

// Run as a script: the word `await` keeps code off the one-call path (src/exec/run.ts,
// `runsInOneCall`), where such a value is described in the sandbox, its getters never called.
const spin = '/* await */ throw { get message() { for (;;) {} }, get stack() { for (;;) {} } }';

async function exec(server: ServerProcess, code: string, timeoutSecs: number): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.baseUrl}/api/exec`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, execution_timeout_secs: timeoutSecs, wait_ms: 20_000 }),
    signal: AbortSignal.timeout(30_000),
  });
  return (await response.json()) as Record<string, unknown>;
}

async function health(server: ServerProcess): Promise<{ status: string; stuck_isolates: number }> {
  return (await (await fetch(`${server.baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) })).json()) as { status: string; stuck_isolates: number };
}

async function stuckGauge(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  return Number(/^mcp_v8_isolates_stuck (\d+)$/m.exec(text)?.[1]);
}

for (const build of ['patched', 'prebuilt'] as const) {
  describe(`a thrown value whose getters never return (${build} isolated-vm)`, () => {
    let server: ServerProcess;
    before(async () => {
      const root = tempDir(`stuck-${build}`);
      server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', join(root, 'executions'), '--max-concurrent-executions', '1'],
        build === 'prebuilt' ? { env: { PREBUILDS_ONLY: '1' } } : {});
    });
    after(async () => { await server?.stop('SIGKILL'); });

    test('times out, frees its slot for the next run, and the node reports what it lost', async () => {
      const warned = /isolated-vm is the unpatched prebuilt/.test(server.stderr());
      assert.equal(warned, build === 'prebuilt', 'the start-up log says which build runs');
      const started = Date.now();
      const hostile = await exec(server, spin, 1);
      const tookMs = Date.now() - started;
      assert.equal(hostile.status, 'timed_out', String(hostile.error));
      // One slot: the next run can only complete if the hostile one gave it back.
      const next = await exec(server, '6 * 7', 5);
      assert.equal(next.status, 'completed', String(next.error));
      assert.equal(next.result, '42');
      if (build === 'patched') {
        // Ended at its timeout: the engine never had to give up on the isolate (that is logged).
        assert.doesNotMatch(server.stderr(), /a stopped run's isolate did not answer/);
        const report = await health(server);
        assert.equal(report.status, 'ok');
        assert.equal(report.stuck_isolates, 0);
        assert.equal(await stuckGauge(server), 0);
      } else {
        assert.ok(tookMs >= 3_000, `ended when the engine gave up on its isolate, 2 s after the timeout (took ${tookMs} ms)`);
        const report = await health(server);
        assert.equal(report.status, 'degraded');
        assert.equal(report.stuck_isolates, 1);
        assert.equal(await stuckGauge(server), 1);
        await server.waitForStderr(/"stuckIsolates":1,.*did not answer/);
        // Its run has ended, no run is long, yet the lost thread still spins: it keeps the lowest
        // priority (thread-nice.ts looks every 100 ms; polled, the server has no event for it).
        let looks = 0;
        while (!niceValues(server.child.pid!).includes(loweredNice)) {
          assert.ok(++looks < 600, `the stuck thread was not lowered: nice values ${niceValues(server.child.pid!).join(',')}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      // A thread that never ends would hold process.exit forever (isolated-vm joins its threads):
      // the server that has one ends by SIGTERM once its stores are closed.
      assert.equal(await server.stop('SIGTERM'), build === 'patched' ? 0 : 'SIGTERM');
    });
  });
}
