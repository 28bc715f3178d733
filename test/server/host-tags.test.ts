// Issue 18, item 8: the tag key `__proto__` was accepted and silently dropped by run_js and
// set_heap_tags, and `query_heaps_by_tags {"__proto__": "nomatch"}` returned every tagged heap.
// Now each refuses it by name (src/tools/tags-argument.ts), and nothing is stored or matched.
// A real server process over the plain API, with raw JSON bodies (a JavaScript object literal
// cannot hold the key as data).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { serverForSuite } from '../support/hostile.ts';
import { type ServerProcess } from '../support/server-process.ts';

async function post(server: ServerProcess, path: string, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(60_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("the tag key '__proto__'", () => {
  const server = serverForSuite('host-tags', 'stateful');

  test('is refused by run_js, set_heap_tags and query_heaps_by_tags, and matches nothing', async () => {
    const reserved = /tag key '__proto__' is reserved/;
    const run = await post(server(), '/api/exec', '{"code":"1","wait_ms":30000,"tags":{"__proto__":"x","kept":"no"}}');
    assert.equal(run.status, 400, JSON.stringify(run.body));
    assert.match(JSON.stringify(run.body), reserved);

    const tagged = await post(server(), '/api/exec', '{"code":"2","wait_ms":30000,"tags":{"project":"p"}}');
    assert.equal(tagged.body.status, 'completed', JSON.stringify(tagged.body));
    const heap = tagged.body.heap as string;
    const set = await post(server(), '/api/tools/set_heap_tags', `{"heap":"${heap}","tags":{"__proto__":"x","other":"y"}}`);
    assert.equal(set.status, 400, JSON.stringify(set.body));
    assert.match(JSON.stringify(set.body), reserved);
    const kept = await post(server(), '/api/tools/get_heap_tags', `{"heap":"${heap}"}`);
    assert.deepEqual(kept.body.tags, { project: 'p' }, 'the refused write changed nothing');

    const query = await post(server(), '/api/tools/query_heaps_by_tags', '{"tags":{"__proto__":"nomatch"}}');
    assert.equal(query.status, 400, JSON.stringify(query.body));
    assert.match(JSON.stringify(query.body), reserved);
    const constructorKey = await post(server(), '/api/tools/query_heaps_by_tags', '{"tags":{"constructor":"nomatch"}}');
    assert.deepEqual(constructorKey.body.results, [], 'other keys named like Object.prototype members are plain data');
  });
});
