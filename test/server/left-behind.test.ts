// Work a run leaves behind (a WebAssembly compile whose continuation loops forever, settling
// after the run has ended) must reach no later execution and never block the server. Run against
// a real server process, so that a regression (the host thread stuck in the sandbox's loop) fails
// this test on its request timeouts instead of hanging the test runner.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

/** Code that starts work which settles after its run has ended, with a continuation that never ends. */
const leftBehind = {
  // A module of 20,000 functions: its async compile finishes well after the run that started it.
  'a WebAssembly compile': `
    const leb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
    const N = 20000;
    const functions = [...leb(N), ...new Array(N).fill(0)];
    const code = [...leb(N)]; for (let i = 0; i < N; i++) code.push(0x04, 0x00, 0x41, 0x2a, 0x0b);
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f, 3, ...leb(functions.length), ...functions, 10, ...leb(code.length), ...code]);
    WebAssembly.compile(bytes).then(() => { for (;;) {} });
    var kept = 'before';
    'left behind'`,
};

async function exec(server: ServerProcess, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.baseUrl}/api/exec`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ wait_ms: 10_000, ...body }),
    signal: AbortSignal.timeout(15_000),
  });
  return (await response.json()) as Record<string, unknown>;
}

for (const [what, hostile] of Object.entries(leftBehind)) for (const mode of ['stateless', 'stateful'] as const) {
  describe(`${what} left behind by a run (${mode})`, () => {
    let server: ServerProcess;
    before(async () => {
      const root = tempDir(`left-behind-${mode}`);
      const storage = mode === 'stateless' ? ['--stateless'] : ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions')];
      server = await startServerProcess([...storage, '--http-port', '0', '--execution-db-path', join(root, 'executions'), '--max-concurrent-executions', '1']);
    });
    after(async () => { await server?.stop('SIGKILL'); });

    test('later runs complete on time and the server answers', async () => {
      // On a loaded machine the compile can finish while the run is still going: its endless
      // continuation then runs inside the run, which times out, as it should. The case under test
      // is a compile that outlives its run: try until one does.
      let left: Record<string, unknown> = {};
      for (let attempt = 0; attempt < 5 && left.status !== 'completed'; attempt++) {
        left = await exec(server, { code: hostile, heap_memory_max_mb: 64, execution_timeout_secs: 3 });
        assert.ok(left.status === 'completed' || left.status === 'timed_out', `${String(left.status)}: ${String(left.error)}`);
      }
      assert.equal(left.status, 'completed', 'a run ended before the compile it started');
      // Later runs that last a while (120 ms in all), so that the left-behind work settles during them.
      for (let index = 0; index < 4; index++) {
        const later = await exec(server, { code: 'await new Promise((done) => setTimeout(done, 30)); 6 * 7', heap_memory_max_mb: 64, execution_timeout_secs: 5 });
        assert.equal(later.status, 'completed', String(later.error));
        assert.equal(later.result, '42');
      }
      const health = await fetch(`${server.baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(health.status, 200);
      if (mode === 'stateful') {
        // Its own heap resumes (live, then rebuilt by replay): the continuation never runs there either.
        const resumed = await exec(server, { code: 'kept', heap: left.heap, heap_memory_max_mb: 64, execution_timeout_secs: 5 });
        assert.equal(resumed.result, 'before', String(resumed.error));
        const again = await exec(server, { code: 'kept', heap: left.heap, heap_memory_max_mb: 64, execution_timeout_secs: 5 });
        assert.equal(again.result, 'before', String(again.error));
      }
    });
  });
}
