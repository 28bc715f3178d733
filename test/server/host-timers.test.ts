// Issue 18, item 4, and its neighbour row: `for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)` at
// 8 MiB. Pending timers are bounded (1,024 per MiB: a RangeError at the 8,193rd), but the 8,192
// made before it left the isolate's heap reading, taken with the run's settle while its context
// still held them, past the retire share in about one run of three: the isolate was disposed and
// another made on the event loop, a cost a neighbour's `1+1` waited behind. The pool now retires
// an isolate only when its heap reads past the share at two releases in a row (garbage of one
// run goes at the next full collection; memory that survives shows again): src/exec/isolate-pool.ts,
// `retireHeapShare`. Against one real server process: every attack fails with the RangeError, a
// `1+1` beside each completes, no isolate is stuck, and /metrics counts at most one isolate in six
// attacks retired for its heap (the counter the retire rule feeds; test/exec/isolate-pool.test.ts holds
// the other half: memory that survives still retires its isolate).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exec, health, neighbours, serverForSuite } from '../support/hostile.ts';
import type { ServerProcess } from '../support/server-process.ts';

const attacks = 12;
/** Isolates the attacks may retire for their heap: one in six attacks, where one in three did. */
const retiredHeapMax = attacks / 6;
const timersCode = 'for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)';

/** The server's `mcp_v8_isolates_retired_total` samples, by reason. */
async function retired(server: ServerProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  return Object.fromEntries([...text.matchAll(/^mcp_v8_isolates_retired_total\{reason="(\w+)"\} (\d+)$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

describe('60,000 timers beside a neighbour', () => {
  const server = serverForSuite('host-timers', 'stateless', ['--max-concurrent-executions', '2']);

  test(`${attacks} attacks at 8 MiB: each fails with a RangeError, each neighbour completes, at most one in six retires an isolate for its heap, none is stuck`, async () => {
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
    // Before, one attack in three retired its isolate (6 of 12 in this test); a retire now needs
    // two readings in a row past the share, which attacks one after the other rarely give (0 in
    // most passes, 2 at most seen at a load of 20).
    const afterAttacks = await retired(server());
    assert.ok(afterAttacks.heap! - before.heap! <= retiredHeapMax, `isolates retired for their heap over ${attacks} attacks: ${JSON.stringify(afterAttacks)} (at most ${retiredHeapMax})`);
    // Small runs at the attack's limit, on the isolates the attacks used: they complete. (An
    // isolate parked with the attacks' garbage uncollected reads past the share again after a run
    // that allocates too little to bring a collection, and goes then: once per such isolate, not
    // per attack.)
    for (let index = 0; index < 4; index++) {
      const small = await exec(server(), { code: '1+1', heap_memory_max_mb: 8 });
      assert.deepEqual([small.status, small.result], ['completed', '2']);
    }
    const now = await health(server());
    assert.deepEqual([now.status, now.stuck_isolates], ['ok', 0], JSON.stringify(now));
  });
});
