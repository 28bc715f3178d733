// Issue 18, fair share behind a proxy (--trusted-proxy, src/auth/trusted-proxy.ts): behind a
// reverse proxy every request arrives over the proxy's connections, so the scheduler, which keys
// an anonymous caller by its connection, would count the proxy's connection as one client for
// everyone behind it. From a trusted proxy the client is the address its X-Forwarded-For names;
// from any other peer the header is ignored, so a caller cannot forge a share of its own. Real
// server processes with 2 slots (4 lanes, at most 3 per client); every request of a test goes
// over one connection, as through a proxy's pooled connection. Who waits is read from the
// server's own counts (/healthz running and queued) and the runs' own states, not from time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { health, serverForSuite } from '../support/hostile.ts';

interface Run { execution_id: string; status?: string; result?: string | null }

/** Requests over one keep-alive connection (what a proxy's pooled connection carries), each forwarded for `forwardedFor` when given. */
function oneConnection(baseUrl: string) {
  const dispatcher = new Agent({ connections: 1 });
  const post = async (path: string, body: Record<string, unknown>, forwardedFor?: string): Promise<Run> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
    const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body), dispatcher });
    assert.ok(response.status < 300, `${path}: ${response.status}`);
    return (await response.json()) as Run;
  };
  const get = async (path: string): Promise<Run> => (await (await fetch(`${baseUrl}${path}`, { dispatcher })).json()) as Run;
  return { post, get, close: () => dispatcher.close() };
}

/**
 * Four `for(;;){}` of one client, as `forwardedFor`: two take the slots, and once they have held
 * them 500 ms (long runs) a third takes a lane; the fourth waits, since a client holds 3 of 4.
 */
async function spinFour(post: ReturnType<typeof oneConnection>['post'], forwardedFor: string): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < 4; index++) ids.push((await post('/api/exec', { code: 'for(;;){}', execution_timeout_secs: 120 }, forwardedFor)).execution_id);
  return ids;
}

describe('behind a trusted proxy, each forwarded client gets its share', () => {
  const server = serverForSuite('host-trusted-proxy', 'stateless', ['--max-concurrent-executions', '2', '--trusted-proxy', '127.0.0.1']);

  test('two clients over the proxy\'s one connection: the second one\'s `1+1` takes the free lane', async () => {
    const proxy = oneConnection(server().baseUrl);
    try {
      const spinning = await spinFour(proxy.post, '203.0.113.7');
      const answer = await proxy.post('/api/exec', { code: '1+1', wait_ms: 50_000 }, '198.51.100.9');
      assert.deepEqual([answer.status, answer.result], ['completed', '2'], 'the other client\'s run took the lane the spinning client may not hold');
      const state = await health(server());
      assert.deepEqual([state.running, state.queued], [3, 1], JSON.stringify(state));
      for (const id of spinning) await proxy.post(`/api/executions/${id}/cancel`, {});
    } finally {
      await proxy.close();
    }
  });
});

describe('from a peer that is not a trusted proxy, X-Forwarded-For is ignored', () => {
  // 127.0.0.1, where the test connects from, is not the trusted proxy here.
  const server = serverForSuite('host-untrusted-proxy', 'stateless', ['--max-concurrent-executions', '2', '--trusted-proxy', '192.0.2.1']);

  test('a forged X-Forwarded-For gets no share of its own: the run waits with its connection\'s others', async () => {
    const forger = oneConnection(server().baseUrl);
    const other = oneConnection(server().baseUrl);
    try {
      const spinning = await spinFour(forger.post, '203.0.113.7');
      // Submitted without waiting: its state says whether it got a lane.
      const forged = await forger.post('/api/exec', { code: '1+1' }, '198.51.100.9');
      // Another connection is another client: its run takes the free lane (once the spinners are long).
      const answer = await other.post('/api/exec', { code: '1+1', wait_ms: 50_000 }, '198.51.100.9');
      assert.deepEqual([answer.status, answer.result], ['completed', '2']);
      const state = await health(server());
      assert.deepEqual([state.running, state.queued], [3, 2], `the forged client's run waits behind its connection's fourth: ${JSON.stringify(state)}`);
      for (const id of spinning) await forger.post(`/api/executions/${id}/cancel`, {});
      const done = await forger.get(`/api/executions/${forged.execution_id}?wait_ms=50000`);
      assert.deepEqual([done.status, done.result], ['completed', '2'], 'the forged client\'s run starts once its connection\'s spinners are cancelled');
    } finally {
      await forger.close();
      await other.close();
    }
  });
});
