// Stateful mode through the real server process, as agents use it: the SDK client over
// Streamable HTTP and the plain API; heaps, sessions and tags; a restart that must rebuild heaps
// from storage; heaps in a real S3 server (OpenStack Swift) behind the write-through cache.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Level } from 'level';
import { startSwiftS3, type SwiftS3 } from '../fixtures/swift.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

async function connect(baseUrl: string): Promise<Client> {
  const client = new Client({ name: 'stateful-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`)));
  return client;
}

async function post(baseUrl: string, path: string, body: unknown): Promise<{ status: number; value: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, value: (await response.json()) as Record<string, unknown> };
}

const statefulTools = ['delete_heap_tags', 'describe_heap', 'get_heap_tags', 'list_session_snapshots', 'list_sessions', 'query_heaps_by_tags', 'set_heap_tags'];

describe('stateful server', () => {
  const root = tempDir('stateful-server');
  const args = ['--http-port', '0', '--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')];
  let server: ServerProcess;
  let client: Client;
  before(async () => {
    server = await startServerProcess(args);
    client = await connect(server.baseUrl);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  test('every tool is listed; a run returns a heap that resumes its state', async () => {
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    for (const name of [...statefulTools, 'run_js', 'get_execution']) assert.ok(names.includes(name), name);
    const first = await runAndWait(client, 'let greeting = "hello"; function shout(s) { return s.toUpperCase() + "!" } greeting.length');
    assert.equal(first.result, '5');
    assert.match(String(first.heap), /^[0-9a-f]{64}$/);
    const fetched = await callTool(client, 'get_execution', { execution_id: first.execution_id });
    assert.equal(fetched.value.heap, first.heap);
    const second = await runAndWait(client, 'shout(greeting)', { heap: first.heap });
    assert.equal(second.result, 'HELLO!');
  });

  test('sessions: continue from the latest heap, in submission order, logged with fields', async () => {
    await runAndWait(client, 'var total = 10', { session: 'notebook' });
    const continued = await runAndWait(client, 'total += 5; total', { session: 'notebook' });
    assert.equal(continued.result, '15');
    // Five runs submitted at once to one session apply one after the other.
    const ids = await Promise.all(Array.from({ length: 5 }, () => callTool(client, 'run_js', { code: 'var n = (typeof n === "undefined" ? 0 : n) + 1; n', session: 'ordered' })));
    const results = await Promise.all(ids.map(async ({ value }) => (await callTool(client, 'get_execution', { execution_id: value.execution_id, wait_ms: 20_000 })).value.result));
    assert.deepEqual(results.map(Number).sort(), [1, 2, 3, 4, 5]);
    const entries = (await callTool(client, 'list_session_snapshots', { session: 'ordered' })).value.entries as Array<Record<string, unknown>>;
    assert.deepEqual(entries.map((entry) => entry.index), [0, 1, 2, 3, 4]);
    for (let index = 1; index < entries.length; index++) assert.equal(entries[index]!.input_heap, entries[index - 1]!.output_heap, 'each run continues the one before');
    assert.equal(entries[0]!.input_heap, null);
    assert.deepEqual(Object.keys(entries[0]!).sort(), ['code', 'index', 'input_heap', 'output_heap', 'timestamp']);
    const some = (await callTool(client, 'list_session_snapshots', { session: 'notebook', fields: 'index,output_heap' })).value.entries as Array<Record<string, unknown>>;
    assert.deepEqual(some.map((entry) => Object.keys(entry).sort()), [['index', 'output_heap'], ['index', 'output_heap']]);
    assert.equal(some[1]!.output_heap, continued.heap);
    const badField = await callTool(client, 'list_session_snapshots', { session: 'notebook', fields: 'index,colour' });
    assert.equal(badField.isError, true);
    assert.match(badField.text, /unknown field 'colour'/);
    const sessions = (await callTool(client, 'list_sessions')).value.sessions as string[];
    assert.deepEqual(sessions.filter((name) => name === 'notebook' || name === 'ordered').sort(), ['notebook', 'ordered']);
  });

  test('tags: on run_js, get, set (replace), delete some or all, query by every pair; concurrent writers lose nothing', async () => {
    const tagged = await runAndWait(client, 'var data = [1, 2, 3]', { tags: { project: 'etl', step: 'load' } });
    const heap = tagged.heap as string;
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap })).value.tags, { project: 'etl', step: 'load' });
    assert.deepEqual((await callTool(client, 'set_heap_tags', { heap, tags: { project: 'etl', step: 'clean', owner: 'ana' } })).value, { ok: true });
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap })).value.tags, { project: 'etl', step: 'clean', owner: 'ana' });
    const found = (await callTool(client, 'query_heaps_by_tags', { tags: { project: 'etl', step: 'clean' } })).value.results as Array<{ heap: string }>;
    assert.deepEqual(found.map((item) => item.heap), [heap]);
    assert.deepEqual((await callTool(client, 'query_heaps_by_tags', { tags: { project: 'etl', step: 'load' } })).value.results, []);
    await callTool(client, 'delete_heap_tags', { heap, keys: 'owner,step' });
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap })).value.tags, { project: 'etl' });
    await callTool(client, 'delete_heap_tags', { heap });
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap })).value.tags, {});

    const heaps = await Promise.all(Array.from({ length: 12 }, async (_, index) => (await runAndWait(client, String(index))).heap as string));
    await Promise.all(heaps.map((each, index) => callTool(client, 'set_heap_tags', { heap: each, tags: { batch: 'b1', index: String(index) } })));
    const batch = (await callTool(client, 'query_heaps_by_tags', { tags: { batch: 'b1' } })).value.results as Array<{ heap: string; tags: Record<string, string> }>;
    assert.deepEqual(batch.map((item) => item.heap).sort(), [...heaps].sort());

    const unknown = await callTool(client, 'set_heap_tags', { heap: 'b'.repeat(64), tags: { a: '1' } });
    assert.equal(unknown.isError, true);
    assert.match(unknown.text, /No heap b{64}/);
    const unknownResume = await callTool(client, 'run_js', { code: '1', heap: 'c'.repeat(64) });
    assert.equal(unknownResume.isError, true);
    assert.match(unknownResume.text, /HEAP_NOT_FOUND|No heap c{64}/);
  });

  test('the plain API takes heap, session and tags; after a restart heaps are rebuilt from storage and sessions continue', async () => {
    const created = await post(server.baseUrl, '/api/exec', { code: 'const items = new Map([["a", 1]]); items.size', session: 'api', tags: { via: 'api' }, wait_ms: 20_000 });
    assert.equal(created.status, 200);
    const heap = created.value.heap as string;
    assert.match(heap, /^[0-9a-f]{64}$/);
    const resumed = await post(server.baseUrl, '/api/exec', { code: 'items.set("b", 2); items.size', heap, wait_ms: 20_000 });
    assert.equal(resumed.value.result, '2');

    await client.close();
    assert.equal(await server.stop('SIGTERM'), 0);
    server = await startServerProcess(args);
    client = await connect(server.baseUrl);
    const afterRestart = await post(server.baseUrl, '/api/exec', { code: '[...items.keys()].join()', heap, wait_ms: 20_000 });
    assert.equal(afterRestart.value.status, 'completed', String(afterRestart.value.error));
    assert.equal(afterRestart.value.result, 'a', 'the heap as it was, not the fork that added b');
    const session = await runAndWait(client, 'items.get("a") + 1', { session: 'api' });
    assert.equal(session.result, '2');
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap })).value.tags, { via: 'api' });
  });

  test('a damaged session entry or tag set costs only itself: the tools say what is wrong and how to go on', async () => {
    const first = await runAndWait(client, 'var step = 1; step', { session: 'fragile', tags: { fragile: 'yes' } });
    const second = await runAndWait(client, 'step += 1; step', { session: 'fragile' });
    assert.equal(second.result, '2');
    await client.close();
    assert.equal(await server.stop('SIGTERM'), 0);
    // A hand edit (or a bug) damages the session's latest entry and the first heap's tags.
    const raw = new Level<string, string>(join(root, 'sessions'), { valueEncoding: 'utf8' });
    await raw.open();
    await raw.put(`s!fragile\u0000${'1'.padStart(12, '0')}`, '{"index":1,"output_heap":');
    await raw.put(`h!${String(first.heap)}`, 'not json');
    await raw.close();
    server = await startServerProcess(args);
    client = await connect(server.baseUrl);

    const entries = (await callTool(client, 'list_session_snapshots', { session: 'fragile', fields: 'index' })).value.entries;
    assert.deepEqual(entries, [{ index: 0 }], 'the readable entry is listed, the damaged one left out');
    const blocked = await runAndWait(client, 'step', { session: 'fragile' });
    assert.equal(blocked.status, 'failed');
    assert.match(String(blocked.error), /latest entry \(index 1\) of session 'fragile' cannot be read.*run_js heap/);
    const resumed = await runAndWait(client, 'step += 10; step', { session: 'fragile', heap: second.heap });
    assert.equal(resumed.result, '12', 'naming the heap continues the session past the damage');
    assert.equal((await runAndWait(client, 'step', { session: 'fragile' })).result, '12');

    const tags = await callTool(client, 'get_heap_tags', { heap: first.heap });
    assert.equal(tags.isError, true);
    assert.match(tags.text, /STORED_DATA_DAMAGED.*tags of heap [0-9a-f]{64} cannot be read.*set_heap_tags replaces them/);
    assert.deepEqual((await callTool(client, 'query_heaps_by_tags', { tags: { fragile: 'yes' } })).value.results, []);
    await callTool(client, 'set_heap_tags', { heap: first.heap, tags: { fragile: 'mended' } });
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap: first.heap })).value.tags, { fragile: 'mended' });
    await server.waitForStderr(/the stored tags of a heap cannot be read/);
  });
});

describe('stateless server', () => {
  let server: ServerProcess;
  before(async () => { server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('stateless-tools')]); });
  after(async () => { await server?.stop(); });

  test('lists no stateful tool and refuses heap, session and tags by name', async () => {
    const client = await connect(server.baseUrl);
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    for (const name of statefulTools) assert.ok(!names.includes(name), name);
    const refused = await callTool(client, 'run_js', { code: '1', session: 'x' });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /session: only in stateful mode; this server runs with --stateless/);
    const plain = await runAndWait(client, '1 + 1');
    assert.equal('heap' in plain, false, 'no heap field on a stateless server');
    await client.close();
  });
});

describe('stateful server with heaps in S3 (OpenStack Swift) behind a write-through cache', () => {
  let swift: SwiftS3;
  before(async () => {
    swift = await startSwiftS3();
    await swift.createBucket('agent-heaps');
  });
  after(async () => { await swift?.stop(); });

  test('heaps go to the bucket; with the cache wiped and the server restarted, they resume from S3', async () => {
    const root = tempDir('stateful-s3');
    const cacheDir = join(root, 'cache');
    const args = ['--http-port', '0', '--s3-bucket', 'agent-heaps', '--cache-dir', cacheDir, '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')];
    let server = await startServerProcess(args, { env: swift.environment });
    const first = await post(server.baseUrl, '/api/exec', { code: 'var rows = Array.from({ length: 5 }, (_, i) => ({ id: i, at: Date.now() })); rows.length', wait_ms: 20_000 });
    assert.equal(first.value.status, 'completed', String(first.value.error));
    const heap = first.value.heap as string;
    const second = await post(server.baseUrl, '/api/exec', { code: 'rows.push({ id: 5 }); JSON.stringify(rows.map((row) => row.id))', heap, wait_ms: 20_000 });
    assert.equal(second.value.result, '[0,1,2,3,4,5]');
    assert.equal(await server.stop('SIGTERM'), 0);
    rmSync(cacheDir, { recursive: true, force: true });
    server = await startServerProcess(args, { env: swift.environment });
    try {
      const resumed = await post(server.baseUrl, '/api/exec', { code: 'JSON.stringify(rows.map((row) => row.id))', heap: second.value.heap, wait_ms: 20_000 });
      assert.equal(resumed.value.status, 'completed', String(resumed.value.error));
      assert.equal(resumed.value.result, '[0,1,2,3,4,5]');
    } finally {
      await server.stop();
    }
  });
});
