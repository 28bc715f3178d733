// Resumable Streamable HTTP streams (src/transport/mcp-events.ts): the store's bounds and refusals,
// and a real server process with the SDK's own Client, whose tool call's SSE stream is cut after
// the priming event: the client reconnects with Last-Event-ID and still gets its answer, whether the
// answer was ready before the reconnection (replayed) or came after it (sent on the new stream).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { McpEventStore } from '../../src/transport/mcp-events.ts';
import { cuttingClient, runningId } from '../support/cut-stream.ts';
import { callTool } from '../support/mcp-client.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

function logged(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } }), lines };
}

async function replayed(store: McpEventStore, sessionId: string, eventId: string): Promise<Array<[string, JSONRPCMessage]>> {
  const sent: Array<[string, JSONRPCMessage]> = [];
  await store.forSession(() => sessionId).replayEventsAfter(eventId, { send: async (id, message) => { sent.push([id, message]); } });
  return sent;
}

const note = (n: number): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/message', params: { n } });

describe('the MCP event store', () => {
  test('replays what came after an event, per session and stream, and refuses what it does not have', async () => {
    const store = new McpEventStore(logged().logger);
    const a = store.forSession(() => 'session-a');
    const ids = [await a.storeEvent('s1', {} as JSONRPCMessage), await a.storeEvent('s1', note(1)), await a.storeEvent('s2', note(9)), await a.storeEvent('s1', note(2))];
    // A stream's sequences are consecutive, from the node's count of events stored when it began.
    assert.deepEqual(ids, ['s1.0', 's1.1', 's2.2', 's1.2']);
    assert.deepEqual(await replayed(store, 'session-a', 's1.0'), [['s1.1', note(1)], ['s1.2', note(2)]]);
    assert.deepEqual(await replayed(store, 'session-a', 's1.2'), []);
    assert.equal(await a.getStreamIdForEventId!('s2.2'), 's2');
    // Another session's id names nothing here, though the stream id is the same.
    assert.match(store.refusal('session-b', 's1.0')!, /no events of stream 's1' of this session/);
    await assert.rejects(replayed(store, 'session-b', 's1.0'), /no events of stream/);
    assert.match(store.refusal('session-a', 's1.7')!, /ahead of stream 's1'/);
    for (const bad of ['', 's1', 's1.', '.3', 's1.-1', 's1.1e3', `${'x'.repeat(300)}.1`]) assert.match(store.refusal('session-a', bad)!, /not an event id of this server/, bad);
    store.endSession('session-a');
    assert.deepEqual(store.size, { events: 0, chars: 0 });
    assert.match(store.refusal('session-a', 's1.0')!, /no events of stream/);
    // A stream made again after all of it went numbers on from where the node stands: no id repeats.
    assert.equal(await a.storeEvent('s1', note(3)), 's1.4');
    assert.match(store.refusal('session-a', 's1.0')!, /events 1\.\.3 of stream 's1' were dropped/);
  });

  test('per-stream bounds drop the oldest, say so in the log, and refuse a replay across the hole', async () => {
    const { logger, lines } = logged();
    const store = new McpEventStore(logger, { streamEventsMax: 3, streamCharsMax: 1_000, nodeEventsMax: 100, nodeCharsMax: 100_000 });
    const a = store.forSession(() => 'a');
    for (let n = 0; n < 5; n++) await a.storeEvent('s', note(n));
    assert.equal(store.size.events, 3);
    assert.match(store.refusal('a', 's.0')!, /events 1\.\.1 of stream 's' were dropped/);
    assert.equal(store.refusal('a', 's.1'), null, 'the event right before the oldest kept one is a valid cursor');
    assert.deepEqual((await replayed(store, 'a', 's.1')).map(([id]) => id), ['s.2', 's.3', 's.4']);
    assert.ok(lines.some((line) => line.includes('per-stream bound') && line.includes('"dropped":1')), lines.join(''));
    // An event over the character bound goes out live but is not kept: no replay across it.
    await a.storeEvent('s', { jsonrpc: '2.0', id: 1, result: { text: 'x'.repeat(2_000) } });
    await a.storeEvent('s', note(6));
    assert.match(store.refusal('a', 's.4')!, /were dropped/);
    assert.deepEqual((await replayed(store, 'a', 's.5')).map(([id]) => id), ['s.6']);
    assert.ok(lines.some((line) => line.includes('over the per-stream bound')));
  });

  test('the per-node bound drops the oldest events of any session first', async () => {
    const { logger, lines } = logged();
    const store = new McpEventStore(logger, { streamEventsMax: 100, streamCharsMax: 100_000, nodeEventsMax: 4, nodeCharsMax: 100_000 });
    const old = store.forSession(() => 'old');
    const young = store.forSession(() => 'young');
    await old.storeEvent('s', note(0));
    await old.storeEvent('s', note(1));
    const youngIds: string[] = [];
    for (let n = 0; n < 3; n++) youngIds.push(await young.storeEvent('s', note(n)));
    assert.deepEqual(youngIds, ['s.2', 's.3', 's.4']);
    assert.deepEqual(store.size.events, 4);
    assert.equal(store.refusal('old', 's.0'), null, 'the oldest event of the node went; a cursor on it still replays all that followed');
    assert.deepEqual((await replayed(store, 'old', 's.0')).map(([id]) => id), ['s.1']);
    await young.storeEvent('s', note(3));
    assert.match(store.refusal('old', 's.0')!, /no events of stream 's'/, 'all of the stream went, and its record with it');
    assert.equal(store.refusal('young', 's.2'), null);
    assert.ok(lines.some((line) => line.includes('per-node bound') && line.includes('"dropped":1') && line.includes('"lastSessionId":"old"')), lines.join(''));
    // Thousands of events through a small bound: the kept count stays at the bound, and a stream's tail replays in order.
    const first = await young.storeEvent('t', note(0));
    for (let n = 1; n < 5_000; n++) await young.storeEvent('t', note(n));
    assert.equal(store.size.events, 4);
    assert.deepEqual((await replayed(store, 'young', `t.${Number(first.slice(2)) + 4996}`)).map(([, message]) => (message as unknown as { params: { n: number } }).params.n), [4997, 4998, 4999]);
    assert.equal(lines.filter((line) => line.includes('per-node bound')).length, 1, 'thousands of drops within the interval: one line');
  });

  test('sessions that end and streams over their own bound leave nothing behind for the per-node bound to trip on', async () => {
    const store = new McpEventStore(logged().logger, { streamEventsMax: 2, streamCharsMax: 100_000, nodeEventsMax: 50, nodeCharsMax: 100_000 });
    const ids: string[] = [];
    for (let session = 0; session < 3_000; session++) {
      const events = store.forSession(() => `s${session}`);
      for (let n = 0; n < 5; n++) ids.push(await events.storeEvent(`t${n % 2}`, note(n)));
      if (session % 2 === 0) store.endSession(`s${session}`);
    }
    // s2999's t0 got its 1st, 3rd and 5th events.
    const t0 = ids.slice(-5).filter((_, n) => n % 2 === 0);
    // 1,500 sessions kept, 4 events each (2 per stream), through a bound of 50: the newest 50 stay.
    assert.equal(store.size.events, 50);
    assert.deepEqual((await replayed(store, 's2999', t0[0]!)).map(([id]) => id), t0.slice(1), 'a stream keeps its newest two');
    assert.match(store.refusal('s1', ids[5]!)!, /no events of stream 't0'/, 'an old session\'s events went by the node\'s bound');
    assert.match(store.refusal('s2998', ids.at(-10)!)!, /no events of stream 't0'/, 'an ended session has none');
    // Records of streams and sessions went with their last events: the store holds no more than what it keeps.
    const internals = store as unknown as { streams: Map<string, unknown>; sessionStreams: Map<string, unknown> };
    assert.ok(internals.streams.size <= 50 && internals.sessionStreams.size <= 50, `${internals.streams.size} streams, ${internals.sessionStreams.size} sessions`);
  });
});

describe('a tool call whose SSE stream is cut mid-answer, against a real server', () => {
  let server: ServerProcess;
  let observer: Client;
  before(async () => {
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('mcp-events')]);
    observer = new Client({ name: 'observer', version: '1.0.0' });
    await observer.connect(new StreamableHTTPClientTransport(new URL(`${server.baseUrl}/mcp`)));
  });
  after(async () => {
    await observer.close();
    await server.stop();
  });

  test('the answer comes after the reconnection: sent live on the resumed stream', async () => {
    const { client, resumedFrom, reconnected } = await cuttingClient(server.baseUrl, Promise.resolve());
    const answer = callTool(client, 'run_js', { code: 'await new Promise((resolve) => setTimeout(resolve, 600_000))', wait_ms: 50_000 });
    const id = await runningId(observer);
    await reconnected;
    assert.equal((await callTool(observer, 'cancel_execution', { execution_id: id })).value.ok, true);
    const outcome = await answer;
    assert.equal(outcome.value.status, 'cancelled', outcome.text);
    // A reconnection that beats the server's noticing the cut is answered 409 (the old stream still registered) and retried.
    assert.ok(resumedFrom.length >= 1 && new Set(resumedFrom).size === 1, `every reconnection from the one event the cut stream carried (its priming event): ${resumedFrom.join(', ')}`);
    await client.close();
  });

  test('the run ended before the reconnection: the answer is replayed from the store', async () => {
    let release = (): void => {};
    const { client, resumedFrom } = await cuttingClient(server.baseUrl, new Promise<void>((resolve) => { release = resolve; }));
    const answer = callTool(client, 'run_js', { code: 'await new Promise((resolve) => setTimeout(resolve, 600_000))', wait_ms: 50_000 });
    const id = await runningId(observer);
    assert.equal((await callTool(observer, 'cancel_execution', { execution_id: id })).value.ok, true);
    // The answer is stored as it is sent, with no stream to carry it; the reconnection waits until the run has ended.
    assert.equal((await callTool(observer, 'get_execution', { execution_id: id, wait_ms: 30_000 })).value.status, 'cancelled');
    release();
    const outcome = await answer;
    assert.equal(outcome.value.status, 'cancelled', outcome.text);
    assert.ok(resumedFrom.length >= 1);
    await client.close();
  });

  test('a Last-Event-ID the node does not have is refused with the reason, not replayed with a hole', async () => {
    const { client } = await cuttingClient(server.baseUrl, Promise.resolve());
    const transport = (client as unknown as { _transport: StreamableHTTPClientTransport })._transport;
    const headers = { accept: 'text/event-stream', 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': transport.protocolVersion! };
    const unknown = await fetch(`${server.baseUrl}/mcp`, { headers: { ...headers, 'last-event-id': 'no-such-stream.3' } });
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /cannot resume from Last-Event-ID: this node has no events of stream 'no-such-stream'/);
    const malformed = await fetch(`${server.baseUrl}/mcp`, { headers: { ...headers, 'last-event-id': 'garbage' } });
    assert.match(((await malformed.json()) as { error: { message: string } }).error.message, /not an event id of this server/);
    await client.close();
  });
});

/** A tool call POSTed on an SDK client's session and read to its end: the ids of its SSE events. */
async function postedCallIds(baseUrl: string, client: Client, code: string): Promise<{ ids: string[]; text: string; headers: Record<string, string> }> {
  const transport = (client as unknown as { _transport: StreamableHTTPClientTransport })._transport;
  const headers = { 'mcp-session-id': transport.sessionId!, 'mcp-protocol-version': transport.protocolVersion! };
  const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'run_js', arguments: { code, wait_ms: 30_000 } } };
  const response = await fetch(`${baseUrl}/mcp`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(call) });
  assert.equal(response.status, 200);
  const text = await response.text();
  return { ids: [...text.matchAll(/^id: ?(.+)$/gm)].map((match) => match[1]!.trim()), text, headers };
}

describe('--mcp-events-per-node and --mcp-events-per-stream reach the event store of a real server', () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });

  // Two calls, each a stream of two events (its priming event and its answer); then a reconnection
  // from the first call's priming event. Kept by default; at 2 events per node the second call's
  // stream pushed the first one's out.
  for (const { flags, kept } of [{ flags: [], kept: true }, { flags: ['--mcp-events-per-node', '2', '--mcp-events-per-stream', '2'], kept: false }]) {
    test(`an earlier call's answer ${kept ? 'is replayed with the default bounds' : 'is refused at 2 events per node, with the reason'}`, async () => {
      const server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('mcp-events-flags'), ...flags]);
      servers.push(server);
      const client = new Client({ name: 'events-flags', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${server.baseUrl}/mcp`)));
      const first = await postedCallIds(server.baseUrl, client, "'first answer'");
      const second = await postedCallIds(server.baseUrl, client, "'second answer'");
      assert.equal(first.ids.length, 2, `a priming event and the answer: ${first.ids.join(', ')}`);
      assert.ok(first.text.includes('first answer') && second.text.includes('second answer'));
      const resumed = await fetch(`${server.baseUrl}/mcp`, { headers: { ...first.headers, accept: 'text/event-stream', 'last-event-id': first.ids[0]! } });
      if (kept) {
        assert.equal(resumed.status, 200);
        const reader = resumed.body!.getReader();
        let replayed = '';
        while (!replayed.includes('first answer')) {
          const { value, done } = await reader.read();
          assert.ok(!done, `the replay carries the first answer before it ends: ${replayed}`);
          replayed += new TextDecoder().decode(value);
        }
        await reader.cancel();
        assert.ok(replayed.includes(first.ids[1]!), 'with its own event id');
      } else {
        assert.equal(resumed.status, 400);
        assert.match(((await resumed.json()) as { error: { message: string } }).error.message, /cannot resume from Last-Event-ID: this node has no events of stream '[^']+' of this session: they were dropped/);
      }
      await client.close();
    });
  }
});
