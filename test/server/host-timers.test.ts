// Issue 18, item 4, and its neighbour row: `for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)` at
// 8 MiB, one attack after the other. Pending timers are bounded (1,024 per MiB: a RangeError at
// the 8,193rd); the 8,192 made before it leave the isolate's heap reading past the retire share in
// about one run of three, and that isolate is retired and made again (src/exec/isolate-pool.ts,
// `retireHeapShare`, why that stays: bench/RESULTS.md, "60,000 timers"). Against one real server
// process: every attack fails with the RangeError, a `1+1` beside each completes, small runs at
// the attack's limit complete after, no isolate is stuck, and /metrics counts the retires: at
// most one per attack (`mcp_v8_isolates_retired_total{reason="heap"}`), none of the neighbours'.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exec, health, neighbours, serverForSuite } from '../support/hostile.ts';
import type { ServerProcess } from '../support/server-process.ts';

const attacks = 12;
const timersCode = 'for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)';

/** The server's `mcp_v8_isolates_retired_total` samples, by reason. */
async function retired(server: ServerProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^mcp_v8_isolates_retired_total\{reason="(\w+)"\} (\d+)$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

describe('60,000 timers beside a neighbour', () => {
  const server = serverForSuite('host-timers', 'stateless', ['--max-concurrent-executions', '2']);

  test(`${attacks} attacks at 8 MiB: each fails with a RangeError, each neighbour completes, each retires at most its own isolate, none is stuck`, async () => {
    await neighbours(server(), 3);
    const before = await retired(server());
    assert.deepEqual(Object.keys(before).sort(), ['contexts', 'heap', 'unanswered'], 'the counter is exported');
    for (let index = 0; index < attacks; index++) {
      const [attack, neighbour] = await Promise.all([
        exec(server(), { code: timersCode, heap_memory_max_mb: 8, execution_timeout_secs: 5 }),
        exec(server(), { code: '1+1', execution_timeout_secs: 30 }),
      ]);
      assert.equal(attack.status, 'failed', `attack ${index + 1}`);
      assert.match(attack.error!, /^RangeError: too many pending timers \(at most 8192 per execution/);
      assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2'], `neighbour ${index + 1}`);
    }
    const afterAttacks = await retired(server());
    assert.ok(afterAttacks.heap! - before.heap! <= attacks, `isolates retired for their heap over ${attacks} attacks: ${JSON.stringify(afterAttacks)}`);
    // Small runs at the attack's limit, on the isolates the attacks used or their replacements.
    for (let index = 0; index < 4; index++) {
      const small = await exec(server(), { code: '1+1', heap_memory_max_mb: 8 });
      assert.deepEqual([small.status, small.result], ['completed', '2']);
    }
    const now = await health(server());
    assert.deepEqual([now.status, now.stuck_isolates], ['ok', 0], JSON.stringify(now));
    // The retires' replacements were made, and the retired isolates torn down, off the event loop
    // (the patched isolated-vm: src/exec/isolate-lifecycle.ts), as /metrics tells an operator.
    const lifecycle = await where(server());
    assert.equal(lifecycle.made.event_loop, 0, JSON.stringify(lifecycle));
    assert.equal(lifecycle.disposed.event_loop, 0, JSON.stringify(lifecycle));
    assert.ok(lifecycle.made.off_loop! >= 2 && lifecycle.disposed.off_loop! >= 1, JSON.stringify(lifecycle));
  });
});

/** The server's `mcp_v8_isolates_made_total` and `mcp_v8_isolates_disposed_total`, by where. */
async function where(server: ServerProcess): Promise<{ made: Record<string, number>; disposed: Record<string, number> }> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const samples = (name: string) => Object.fromEntries([...text.matchAll(new RegExp(`^${name}\\{where="(\\w+)"\\} (\\d+)$`, 'gm'))].map((match) => [match[1]!, Number(match[2])]));
  return { made: samples('mcp_v8_isolates_made_total'), disposed: samples('mcp_v8_isolates_disposed_total') };
}
