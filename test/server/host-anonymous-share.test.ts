// Issue 18 (flood, item 4): without access control every caller is the principal `anonymous`, and
// the scheduler's per-client bound (a client holds at most lanes − 1) used to treat them all as one
// client: one caller's spinning runs made every other anonymous caller wait for their timeout.
// Now an anonymous caller is keyed by its connection (/api) or its MCP session (/mcp). A real
// server process with 2 slots (4 lanes, 3 per client): one caller holds 3 lanes with `for(;;){}`
// and has a fourth waiting; another caller's `1+1` completes meanwhile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { health, serverForSuite } from '../support/hostile.ts';
import { callTool } from '../support/mcp-client.ts';

/** An /api caller on a connection of its own (one keep-alive connection per agent). */
function apiCaller(baseUrl: string) {
  const dispatcher = new Agent({ connections: 1 });
  const post = async (path: string, body: Record<string, unknown> = {}) => {
    const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), dispatcher });
    return (await response.json()) as { execution_id: string; status?: string; result?: string | null };
  };
  return { post, close: () => dispatcher.close() };
}

async function mcpCaller(baseUrl: string): Promise<Client> {
  const client = new Client({ name: 'anonymous-share', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`)));
  return client;
}

describe('anonymous callers each get their share of the lanes', () => {
  const server = serverForSuite('host-anonymous', 'stateless', ['--max-concurrent-executions', '2']);

  test('/api: two connections are two clients', async () => {
    const spinner = apiCaller(server().baseUrl);
    const neighbour = apiCaller(server().baseUrl);
    try {
      const spinning: string[] = [];
      for (let index = 0; index < 4; index++) spinning.push((await spinner.post('/api/exec', { code: 'for(;;){}', execution_timeout_secs: 120 })).execution_id);
      const answer = await neighbour.post('/api/exec', { code: '1+1', wait_ms: 50_000 });
      assert.deepEqual([answer.status, answer.result], ['completed', '2'], 'the other connection\'s run took the lane its neighbour may not hold');
      const state = await health(server());
      assert.deepEqual([state.running, state.queued], [3, 1], 'the spinning connection holds three lanes and its fourth run still waits');
      for (const id of spinning) await spinner.post(`/api/executions/${id}/cancel`);
    } finally {
      await spinner.close();
      await neighbour.close();
    }
  });

  test('/mcp: two sessions are two clients, over the same connections', async () => {
    const spinner = await mcpCaller(server().baseUrl);
    const neighbour = await mcpCaller(server().baseUrl);
    try {
      const spinning: string[] = [];
      for (let index = 0; index < 4; index++) spinning.push(String((await callTool(spinner, 'run_js', { code: 'for(;;){}', execution_timeout_secs: 120 })).value.execution_id));
      const answer = (await callTool(neighbour, 'run_js', { code: '1+1', wait_ms: 50_000 })).value;
      assert.deepEqual([answer.status, answer.result], ['completed', '2']);
      const state = await health(server());
      assert.deepEqual([state.running, state.queued], [3, 1], 'the spinning session holds three lanes and its fourth run still waits');
      for (const id of spinning) await callTool(spinner, 'cancel_execution', { execution_id: id });
    } finally {
      await spinner.close();
      await neighbour.close();
    }
  });
});
