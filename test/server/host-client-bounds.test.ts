// Issue 18 (flood, item 3): what one client's executions in flight hold on the host is bounded per
// client (principal), so one client's floods cannot fill the host's memory for the others:
// - code: `--client-code-max-mb` (Mi characters of code of its queued and running runs); past it
//   429 MCPV8_ERR_LIMIT_EXCEEDED naming the flag, and another principal's run is accepted;
// - console output: `--client-output-max-mb` (its running runs' output together); past it a run's
//   further lines are dropped after one that names the flag, while another principal's run prints
//   everything. Both are given back when the runs end. Real server process, bounds of 1 MiB.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitMsMax } from '../../src/tools/execution-tools.ts';
import { serverForSuite } from '../support/hostile.ts';

const tokens = { alice: 'alice-token-0123456789abcdef', bob: 'bob-token-0123456789abcdef' } as const;
type Who = keyof typeof tokens;
interface Answer { status: number; body: Record<string, unknown> }

describe('per-client bounds on code and output in flight', () => {
  const server = serverForSuite('host-client-bounds', 'stateless', ['--client-code-max-mb', '1', '--client-output-max-mb', '1', '--auth-token', `alice=${tokens.alice}`, '--auth-token', `bob=${tokens.bob}`]);

  async function api(who: Who, method: string, path: string, body?: unknown): Promise<Answer> {
    const response = await fetch(`${server().baseUrl}${path}`, {
      method, headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[who]}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(120_000),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }
  const run = (who: Who, code: string, waitMs = waitMsMax) => api(who, 'POST', '/api/exec', { code, wait_ms: waitMs, execution_timeout_secs: 120 });
  const outputOf = async (who: Who, id: unknown) => (await api(who, 'GET', `/api/executions/${String(id)}/output?line_offset=1&line_limit=1000`)).body as { data: string; total_lines: number };
  const endOf = async (who: Who, id: unknown) => {
    await api(who, 'POST', `/api/executions/${String(id)}/cancel`);
    assert.notEqual((await api(who, 'GET', `/api/executions/${String(id)}?wait_ms=${waitMsMax}`)).body.status, 'running');
  };

  test('code: a client past its bound gets 429 naming the flag; another client is not refused; the bound is given back', async () => {
    const padded = (code: string) => `${code} //${'x'.repeat(700_000)}`;
    const held = await run('alice', padded('await new Promise((resolve) => setTimeout(resolve, 100000))'), 0);
    assert.equal(held.status, 202);
    const refused = await run('alice', padded('1+1'));
    assert.equal(refused.status, 429);
    assert.equal(refused.body.code, 'MCPV8_ERR_LIMIT_EXCEEDED');
    assert.match(String(refused.body.error), /--client-code-max-mb/);
    const other = await run('bob', padded('1+1'));
    assert.deepEqual([other.status, other.body.result], [200, '2'], 'another principal is not counted against alice');
    await endOf('alice', held.body.execution_id);
    const again = await run('alice', padded('1+1'));
    assert.deepEqual([again.status, again.body.result], [200, '2'], 'the ended run gave its code back');
  });

  test('output: a client past its bound has its further lines dropped after one naming the flag; another client prints everything', async () => {
    const line = 'y'.repeat(999); // 1,000 characters with its newline
    // 1,000 lines (1,000,000 of the 1,048,576 characters), then held running.
    const holder = await run('alice', `const l='${line}'; for (let i = 0; i < 1000; i++) console.log(l); await new Promise((resolve) => setTimeout(resolve, 100000))`, 0);
    // Polled: the output arriving is the event, and the server offers no stream of it here.
    while ((await outputOf('alice', holder.body.execution_id)).total_lines < 1000) await new Promise((resolve) => setTimeout(resolve, 20));
    const print100 = `const l='${line}'; for (let i = 0; i < 100; i++) console.log(l); 'printed'`;
    const cut = await run('alice', print100);
    assert.deepEqual([cut.status, cut.body.status, cut.body.result], [200, 'completed', 'printed'], 'the run itself completes');
    const cutOutput = await outputOf('alice', cut.body.execution_id);
    const cutLines = cutOutput.data.split('\n').slice(0, -1);
    assert.ok(cutLines.length < 100, `alice's second run was cut (${cutLines.length} lines)`);
    assert.match(cutLines.at(-1)!, /^\[output truncated: .*--client-output-max-mb/);
    const other = await run('bob', print100);
    assert.equal((await outputOf('bob', other.body.execution_id)).total_lines, 100, "bob's run prints every line");
    await endOf('alice', holder.body.execution_id);
    const again = await run('alice', print100);
    assert.equal((await outputOf('alice', again.body.execution_id)).total_lines, 100, 'the ended run gave its output back');
  });
});
