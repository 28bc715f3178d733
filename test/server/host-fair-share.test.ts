// Issue 18, item 9: two `for(;;){}` runs filled both slots of a 2-slot server(), and every other
// run waited until they timed out (up to 300 s). Now runs that have held their slot for
// `longRunMs` do not count against the slots while others wait, up to twice the slots in all
// (src/exec/engine.ts). The bound is event order: each neighbour completes while both spinning
// runs are still running. Then, at twice the slots, further runs wait: the known limit. Real
// server process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exec, execution, health, serverForSuite, submit } from '../support/hostile.ts';

describe('fair share of the slots', () => {
  const server = serverForSuite('host-fair', 'stateless', ['--max-concurrent-executions', '2']);

  test('two for(;;){} runs on two slots: neighbours keep running while they spin', async () => {
    const spinners = [await submit(server(), { code: 'for(;;){}', execution_timeout_secs: 60 }), await submit(server(), { code: 'for(;;){}', execution_timeout_secs: 60 })];
    for (let index = 0; index < 10; index++) {
      const neighbour = await exec(server(), { code: '1+1', execution_timeout_secs: 30 });
      assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2']);
    }
    for (const id of spinners) assert.equal((await execution(server(), id, 0)).status, 'running', 'the neighbours did not wait for the spinning runs');
    for (const id of spinners) await fetch(`${server().baseUrl}/api/executions/${id}/cancel`, { method: 'POST' });
    for (const id of spinners) assert.equal((await execution(server(), id)).status, 'cancelled');
    assert.equal((await health(server())).running, 0);
  });
});
