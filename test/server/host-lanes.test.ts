// The CPU lanes of a node (src/exec/scheduler.ts), against a real server process on 2 slots.
// - Issue 24 item 10: a run that only awaited a timer held one of the slots, so 20 parallel
//   one-second sleeps took 10 s on 2 slots. Now an awaiting run gives its lane back: all 20 are
//   started (started_at set) while none has finished, which on 2 held slots cannot happen (the
//   third would start only when the first ended), whatever the speed of the machine.
// - Issue 18, fair share per client: four `for(;;){}` runs of one principal filled every lane
//   (2 slots and 2 for long runs) until they timed out, and another principal's `1+1` waited.
//   Now one client holds at most lanes − 1: the other's `1+1` completes while they still spin.
// - A long run's isolate thread gets a lower priority (nice 19) while it spins, so short runs beside
//   it get the cores first (src/exec/thread-nice.ts), and its priority back when it ends: read from
//   the server's /proc/<pid>/task (Linux).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loweredNice } from '../../src/exec/thread-nice.ts';
import { waitMsMax } from '../../src/tools/execution-tools.ts';
import { execution, serverForSuite, threadNiceValues, type ExecAnswer } from '../support/hostile.ts';

const tokens = { alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef' } as const;

describe('CPU lanes: awaiting runs and clients', () => {
  const server = serverForSuite('host-lanes', 'stateless', ['--max-concurrent-executions', '2', '--auth-token', `alice=${tokens.alice}`, '--auth-token', `bob=${tokens.bob}`]);

  async function api(who: keyof typeof tokens, method: string, path: string, body?: unknown): Promise<ExecAnswer> {
    const response = await fetch(`${server().baseUrl}${path}`, {
      method, headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[who]}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(120_000),
    });
    const text = await response.text();
    assert.ok(response.status === 200 || response.status === 202, `${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as ExecAnswer;
  }
  const submit = async (who: keyof typeof tokens, body: Record<string, unknown>) => (await api(who, 'POST', '/api/exec', { wait_ms: 0, ...body })).execution_id;
  const get = (who: keyof typeof tokens, id: string) => api(who, 'GET', `/api/executions/${id}`);
  const cancelAll = async (who: keyof typeof tokens, ids: string[]) => {
    for (const id of ids) await api(who, 'POST', `/api/executions/${id}/cancel`);
    for (const id of ids) assert.notEqual((await api(who, 'GET', `/api/executions/${id}?wait_ms=${waitMsMax}`)).status, 'running');
  };

  test('20 runs awaiting a timer on 2 slots are all started at once, and a 1+1 beside them completes', async () => {
    const sleepers: string[] = [];
    for (let index = 0; index < 20; index++) sleepers.push(await submit('alice', { code: "await new Promise((resolve) => setTimeout(resolve, 60000)); 'slept'", execution_timeout_secs: 120 }));
    // Polled: a start is the event, and the server offers no stream of starts.
    for (;;) {
      const records = await Promise.all(sleepers.map((id) => get('alice', id)));
      assert.ok(records.every((record) => record.status === 'running'), 'no sleeper ended before all had started');
      if (records.every((record) => record.started_at !== null)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const neighbour = await api('bob', 'POST', '/api/exec', { code: '1+1', wait_ms: waitMsMax });
    assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2']);
    const health = (await (await fetch(`${server().baseUrl}/healthz`)).json()) as { running: number; queued: number };
    assert.deepEqual([health.running, health.queued], [20, 0]);
    await cancelAll('alice', sleepers);
  });

  test("four for(;;){} runs of one client leave a lane for another client's 1+1", async () => {
    const spinners: string[] = [];
    for (let index = 0; index < 4; index++) spinners.push(await submit('alice', { code: 'for(;;){}', execution_timeout_secs: 60 }));
    for (let index = 0; index < 5; index++) {
      const neighbour = await api('bob', 'POST', '/api/exec', { code: '1+1', wait_ms: waitMsMax, execution_timeout_secs: 30 });
      assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2']);
    }
    const spinning = await Promise.all(spinners.map((id) => get('alice', id)));
    assert.ok(spinning.every((record) => record.status === 'running'), 'the neighbours did not wait for the spinning runs');
    await cancelAll('alice', spinners);
  });

  const niceValues = () => threadNiceValues(server().child.pid!);

  test('a spinning run\'s thread is lowered while it spins and restored when it ends', async () => {
    // The spinners of the test before had their threads lowered: restored at the next look (100 ms).
    while (niceValues().includes(loweredNice)) await new Promise((resolve) => setTimeout(resolve, 50));
    const spinner = await submit('alice', { code: 'for(;;){}', execution_timeout_secs: 120 });
    // Polled: the server offers no event for a thread's priority.
    while (!niceValues().includes(loweredNice)) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await get('alice', spinner)).status, 'running');
    await cancelAll('alice', [spinner]);
    while (niceValues().includes(loweredNice)) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(niceValues().every((nice) => nice === 0), 'every thread has its priority back');
  });
});
