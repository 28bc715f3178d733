// Issue 18, item 5: `normalize` in a loop outlived the timeout (64 MiB, 5 s: `timed_out` at 7 s,
// then its isolate stayed busy, stuck, 3 of 3 tries). The loop's optimized code checked for
// termination only in what it called, and V8's C++ string builtins never do. They are wrapped
// now (src/exec/sandbox/bounds.js), so the next call after the deadline ends the run. Real
// server process: each attack ends at its timeout, within the 2 s a stopped isolate has to
// answer, and leaves no stuck isolate.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exec, health, serverForSuite } from '../support/hostile.ts';

const loops = [
  "const s='\\u1e9b\\u0323'.repeat(1e6); let n=0; for(let i=0;i<1000;i++) n+=s.normalize('NFKD').length; n",
  "const s='\\u1e9b\\u0323'.repeat(1e6); let n=0; for(;;) try { n+=s.normalize('NFKD').length } catch {}",
  "const s='\\u1e9b\\u0323'.repeat(1e6); let n=0; for(let i=0;i<1000;i++) n+=s.toUpperCase().length; n",
  "const s='\\u1e9b\\u0323'.repeat(1e6); let n=0; for(let i=0;i<1000;i++) n+=s.toLowerCase().length; n",
];

describe('string builtins in a loop end at the timeout', () => {
  const server = serverForSuite('host-builtins', 'stateless', ['--max-concurrent-executions', '2']);

  for (const code of loops) {
    test(code.slice(code.indexOf('n+=') + 3, code.indexOf('.length')), async () => {
      const ran = await exec(server(), { code, heap_memory_max_mb: 64, execution_timeout_secs: 3 });
      assert.equal(ran.status, 'timed_out', JSON.stringify(ran));
      const neighbour = await exec(server(), { code: '1+1', execution_timeout_secs: 30 });
      assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2']);
      const now = await health(server());
      assert.deepEqual([now.status, now.stuck_isolates], ['ok', 0], 'the isolate answered: its thread is free');
    });
  }
});
