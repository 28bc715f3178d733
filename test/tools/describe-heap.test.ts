// describe_heap, as an agent that lost its context calls it: what a heap holds (its own bindings,
// not the sandbox's globals) and how it was made.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { stdioClient } from '../support/agent-client.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';

interface Binding { name: string; kind: string; type: string; preview: string; size_bytes: number }

describe('describe_heap', () => {
  let client: Client;
  before(async () => { client = await stdioClient({ stateful: true, name: 'describe-heap' }); });
  after(async () => { await client.close(); });

  test('lists the user\'s bindings with kind, type, preview and size, and the lineage with session and code', async () => {
    await runAndWait(client, "const rows = [1, 2, 3]; let title = 'sales report'; var total = 0;", { session: 'desk' });
    await runAndWait(client, 'function sum(list) { return list.reduce((a, b) => a + b, 0); }\nclass Report { constructor(name) { this.name = name; } }\nconst index = new Map([["a", 1], ["b", 2]]);\ntotal = sum(rows);', { session: 'desk' });
    const last = await runAndWait(client, "const big = 'x'.repeat(100000); total", { session: 'desk' });
    assert.equal(last.result, '6');
    const described = await callTool(client, 'describe_heap', { heap: last.heap });
    assert.equal(described.isError, false, described.text);
    const value = described.value as { heap: string; session: string; memory_mb: number; bindings: Binding[]; lineage: Array<{ heap: string; code: string; status: string }>; lineage_steps: number };
    const byName = new Map(value.bindings.map((binding) => [binding.name, binding]));
    assert.deepEqual([...byName.keys()].sort(), ['Report', 'big', 'index', 'rows', 'sum', 'title', 'total'], 'only what the code defined');
    assert.deepEqual(byName.get('rows'), { name: 'rows', kind: 'variable', type: 'Array(3)', preview: '[1, 2, 3]', size_bytes: 32 + 3 * 8 + 3 * 8 });
    assert.equal(byName.get('title')!.preview, '"sales report"');
    assert.equal(byName.get('title')!.type, 'string(12)');
    assert.equal(byName.get('total')!.preview, '6');
    assert.equal(byName.get('sum')!.kind, 'function');
    assert.equal(byName.get('sum')!.preview, 'function sum(list) { return list.reduce((a, b) => a + b, 0); }');
    assert.equal(byName.get('Report')!.kind, 'class');
    assert.equal(byName.get('index')!.type, 'Map(2)');
    assert.equal(byName.get('big')!.size_bytes, 16 + 200_000);
    assert.ok(byName.get('big')!.preview.length <= 100);
    assert.equal(value.session, 'desk');
    assert.equal(value.lineage_steps, 3);
    assert.equal(value.lineage.at(-1)!.heap, last.heap);
    assert.match(value.lineage[0]!.code, /rows = \[1, 2, 3\]/);
    assert.deepEqual(value.lineage.map((step) => step.status), ['completed', 'completed', 'completed']);
    // Describing changes nothing: the heap resumes as before.
    assert.equal((await runAndWait(client, 'total + rows.length', { heap: last.heap })).result, '9');
  });

  test('an unknown heap is not found', async () => {
    const missing = await callTool(client, 'describe_heap', { heap: '0'.repeat(64) });
    assert.equal(missing.isError, true);
    assert.match(missing.text, /HEAP_NOT_FOUND/);
  });

  test('heap code that broke JSON cannot break the server: the answer says so', async () => {
    const run = await runAndWait(client, 'JSON.stringify = () => "{not json"; 1');
    const described = await callTool(client, 'describe_heap', { heap: run.heap });
    assert.equal(described.isError, true);
    assert.match(described.text, /changed builtins the introspection relies on/);
  });
});
