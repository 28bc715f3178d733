// A long session through a real server process whose early runs read lazily built globals (URL,
// Headers: lazy.js) and whose later runs keep using them: its heap records carry checkpoints
// naming the groups built, and after a restart the session resumes from the newest one (the
// server's /metrics count it; no fallback) with what the live context gave and what a whole
// replay gives. A session whose program changed a built class gets no checkpoint: after a restart
// it resumes by replaying its whole history, with the same result.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkpointRunsEvery } from '../../src/exec/run.ts';
import { decodeHeapRecord, encodeHeapRecord } from '../../src/storage/heap-record.ts';
import { openHeapStore } from '../../src/storage/heap-store.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const root = tempDir('checkpoint-server');
const heapsPath = join(root, 'heaps');
const args = ['--http-port', '0', '--directory-path', heapsPath, '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')];
let server: ServerProcess = await startServerProcess(args);
after(() => server.stop('SIGKILL'));

/** One POST /api/exec answered with its result; asserts it completed. */
async function exec(body: Record<string, unknown>): Promise<{ heap: string; result: string }> {
  const response = await fetch(`${server.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, wait_ms: 50_000 }) });
  const value = (await response.json()) as Record<string, unknown>;
  assert.equal(value.status, 'completed', `${String(body.code)}: ${JSON.stringify(value)}`);
  return { heap: value.heap as string, result: value.result as string };
}

/** The server's counts of resumes from storage (/metrics). */
async function resumes(): Promise<{ checkpoint: number; history: number; fallbacks: number }> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const count = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  return {
    checkpoint: count(/^mcp_v8_heap_resumes_from_storage_total\{from="checkpoint"\} (\d+)$/m),
    history: count(/^mcp_v8_heap_resumes_from_storage_total\{from="history"\} (\d+)$/m),
    fallbacks: count(/^mcp_v8_heap_checkpoint_fallbacks_total (\d+)$/m),
  };
}

async function restart(): Promise<void> {
  assert.equal(await server.stop('SIGTERM'), 0);
  server = await startServerProcess(args);
}

const runs = 1000;
const first = "var base = 'https://example.com/api/'; var limit = new URL('v1/items?limit=5', base).searchParams.get('limit'); var auth = new Headers({ Authorization: 'Bearer t' }).get('authorization'); limit";
const step = "var count = (globalThis.count ?? 0) + 1; var recent = [...(globalThis.recent ?? []).slice(-4), new URL('?n=' + count, base).search]; count";
const probe = "JSON.stringify([count, recent, limit, auth, new URL('x?y=' + count, base).href, new Headers([['a', String(count)]]).get('a'), typeof URL, String(URL)])";

describe('a long session that read URL and Headers, through a real server', () => {
  const heaps: string[] = [];
  let live = '';

  test(`${runs} runs leave checkpoints naming the built groups; the live context's answer is kept`, async () => {
    heaps.push((await exec({ code: first, session: 'web' })).heap);
    for (let index = 1; index < runs; index++) heaps.push((await exec({ code: step, session: 'web' })).heap);
    live = (await exec({ code: probe, heap: heaps.at(-1) })).result;
    assert.equal(JSON.parse(live)[0], runs - 1);
    const store = await openHeapStore({ kind: 'directory', path: heapsPath });
    try {
      const newest = heaps[Math.floor(runs / checkpointRunsEvery) * checkpointRunsEvery - 1]!;
      const checkpoint = decodeHeapRecord(newest, await store.get(newest)).checkpoint;
      assert.equal(typeof checkpoint, 'string');
      assert.deepEqual(JSON.parse(checkpoint!).groups, ['web-api']);
    } finally {
      await store.close();
    }
  });

  test('after a restart the session resumes from its newest checkpoint, as the live context was', async () => {
    await restart();
    assert.deepEqual(await resumes(), { checkpoint: 0, history: 0, fallbacks: 0 });
    const resumed = await exec({ code: probe, heap: heaps.at(-1) });
    assert.deepEqual(await resumes(), { checkpoint: 1, history: 0, fallbacks: 0 });
    assert.equal(resumed.result, live);
    // The session goes on from there.
    assert.equal((await exec({ code: step, session: 'web' })).result, String(runs));
  });

  test('the same heap rebuilt by a whole replay (its checkpoint refused) answers the same', async () => {
    const at = Math.floor(runs / checkpointRunsEvery) * checkpointRunsEvery - 1;
    await server.stop('SIGTERM');
    const store = await openHeapStore({ kind: 'directory', path: heapsPath });
    let forged: string;
    try {
      const record = decodeHeapRecord(heaps[at]!, await store.get(heaps[at]!));
      // Stored by its own hash, so the store accepts it: only the sandbox refuses the group it names.
      forged = await store.put(encodeHeapRecord({ ...record, checkpoint: record.checkpoint!.replace('"groups":["web-api"]', '"groups":["no-such-group"]') }));
    } finally {
      await store.close();
    }
    server = await startServerProcess(args);
    const fromCheckpoint = await exec({ code: probe, heap: heaps[at] });
    const replayed = await exec({ code: probe, heap: forged });
    assert.deepEqual(await resumes(), { checkpoint: 2, history: 0, fallbacks: 1 });
    assert.equal(fromCheckpoint.result, replayed.result);
    assert.equal(JSON.parse(replayed.result)[0], at);
    assert.match(server.stderr(), /no-such-group/);
  });
});

describe('a session whose program changed a built class, through a real server', () => {
  test('gets no checkpoint, and after a restart resumes by replaying its whole history, with the same result', async () => {
    const heaps: string[] = [];
    heaps.push((await exec({ code: "URL.prototype.toString = function () { return 'mine:' + this.href; }; var base = 'https://example.com/'; 1", session: 'vandal' })).heap);
    for (let index = 1; index < checkpointRunsEvery + 4; index++) heaps.push((await exec({ code: "var count = (globalThis.count ?? 0) + 1; var last = String(new URL('?n=' + count, base)); count", session: 'vandal' })).heap);
    const vandalProbe = "JSON.stringify([count, last, String(new URL('z', base))])";
    const live = (await exec({ code: vandalProbe, heap: heaps.at(-1) })).result;
    const store = await openHeapStore({ kind: 'directory', path: heapsPath });
    try {
      for (const heap of heaps) assert.equal(decodeHeapRecord(heap, await store.get(heap)).checkpoint, undefined);
    } finally {
      await store.close();
    }
    await restart();
    const resumed = await exec({ code: vandalProbe, heap: heaps.at(-1) });
    assert.deepEqual(await resumes(), { checkpoint: 0, history: 1, fallbacks: 0 });
    assert.equal(resumed.result, live);
    assert.match(resumed.result, /mine:https:\/\/example.com\/z/);
  });
});
