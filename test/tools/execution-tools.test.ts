// What an agent sees of the execution tools: bounded replies, no empty fields, a small tool list,
// waits that fit under client timeouts, pages of runs. Through the SDK client over stdio.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { firstPageBytesMax, resultCharsMax } from '../../src/tools/replies.ts';
import { waitMsMax } from '../../src/tools/execution-tools.ts';
import { linePageBytesMax } from '../../src/storage/output-pages.ts';
import { stdioClient } from '../support/agent-client.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';

describe('execution tools as an agent uses them (stateless)', () => {
  let client: Client;
  before(async () => { client = await stdioClient({ stateful: false, name: 'tools-stateless', flags: ['--max-concurrent-executions', '1'] }); });
  after(async () => { await client.close(); });

  test('the tool list: wait_ms ends under the 60 s client timeout, and heap/session/tags are not offered', async () => {
    const { tools } = await client.listTools();
    const runJs = tools.find((tool) => tool.name === 'run_js')!;
    const properties = runJs.inputSchema.properties as Record<string, { maximum?: number; description?: string }>;
    assert.equal(waitMsMax, 50_000);
    assert.equal(properties.wait_ms!.maximum, waitMsMax);
    assert.match(properties.wait_ms!.description!, /max 50000, under common 60 s client timeouts/);
    assert.deepEqual(Object.keys(properties).sort(), ['code', 'execution_timeout_secs', 'heap_memory_max_mb', 'wait_ms']);
    assert.equal(JSON.stringify(tools).includes('$schema'), false, 'no schema draft URL repeated in every schema');
    const refused = await callTool(client, 'run_js', { code: '1', heap: 'a'.repeat(64) });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /MCPV8_ERR_STATEFUL_ONLY: heap: only in stateful mode/);
  });

  test('a trivial reply carries no output object and no heap field', async () => {
    const run = await runAndWait(client, '1 + 1');
    assert.deepEqual(Object.keys(run).sort(), ['completed_at', 'error', 'execution_id', 'result', 'result_type', 'started_at', 'status']);
    assert.equal(run.result, '2');
    const printed = await runAndWait(client, "console.log('a'); console.log('b'); 3");
    assert.deepEqual(printed.output, { data: 'a\nb\n', total_lines: 2, total_bytes: 4, next_line_offset: 3, has_more: false });
  });

  test('a 5,000,000-character result is cut and marked, and get_execution result_offset reads on', async () => {
    const run = await runAndWait(client, "'x'.repeat(2_500_000) + 'y'.repeat(2_500_000)");
    assert.equal(run.result_chars, 5_000_000);
    const result = run.result as string;
    assert.ok(result.length < resultCharsMax + 200, `cut to about ${resultCharsMax} characters, got ${result.length}`);
    assert.match(result, /…\[cut at 20000 of 5000000 characters; read on with get_execution result_offset 20000\]$/);
    const tail = await callTool(client, 'get_execution', { execution_id: run.execution_id, result_offset: 4_990_000 });
    assert.equal(tail.value.result, 'y'.repeat(10_000));
    assert.equal(tail.value.result_chars, 5_000_000);
  });

  test('a 3 MB console line: the reply holds 8 KiB of it, a line page 64 KiB, and byte pages read on', async () => {
    const run = await runAndWait(client, "console.log('z'.repeat(3_000_000)); console.log('after'); 1");
    const output = run.output as { data: string; has_more: boolean; next_byte_offset: number; total_bytes: number };
    assert.equal(output.data.length, firstPageBytesMax);
    assert.equal(output.has_more, true);
    assert.equal(output.next_byte_offset, firstPageBytesMax);
    assert.equal(output.total_bytes, 3_000_001 + 6);
    const page = await callTool(client, 'get_execution_output', { execution_id: run.execution_id });
    assert.equal((page.value.data as string).length, linePageBytesMax);
    assert.equal(page.value.next_line_offset, 1, 'the line is not wholly read yet');
    const second = await callTool(client, 'get_execution_output', { execution_id: run.execution_id, line_offset: 2 });
    assert.equal(second.value.data, 'after\n');
  });

  test('list_executions pages by limit and offset, filters by status and tells runs apart by their code', async () => {
    for (let index = 0; index < 25; index++) await runAndWait(client, `/* run ${index} */ ${index}`);
    await runAndWait(client, "throw new Error('listed failure')");
    const first = (await callTool(client, 'list_executions')).value as { executions: Array<{ code: string; status: string }>; next_offset: number | null };
    assert.equal(first.executions.length, 20);
    assert.equal(first.next_offset, 20);
    assert.equal(first.executions[0]!.code, "throw new Error('listed failure')");
    assert.equal(first.executions[1]!.code, '/* run 24 */ 24');
    const second = (await callTool(client, 'list_executions', { limit: 5, offset: 2 })).value as { executions: Array<{ code: string }> };
    assert.deepEqual(second.executions.map((entry) => entry.code), [23, 22, 21, 20, 19].map((index) => `/* run ${index} */ ${index}`));
    const failed = (await callTool(client, 'list_executions', { status: 'failed' })).value as { executions: Array<{ code: string; status: string }>; next_offset: number | null };
    assert.deepEqual(failed.executions.map((entry) => entry.code), ["throw new Error('listed failure')"]);
    assert.equal(failed.next_offset, null);
    const long = await runAndWait(client, `const a = 1;\n\n   const b = 2;\n${'// padding\n'.repeat(20)}a + b`);
    const listed = (await callTool(client, 'list_executions', { limit: 1 })).value as { executions: Array<{ execution_id: string; code: string }> };
    assert.equal(listed.executions[0]!.execution_id, long.execution_id);
    assert.equal(listed.executions[0]!.code.length, 80);
    assert.match(listed.executions[0]!.code, /^const a = 1; const b = 2; \/\/ padding \/\/ padding.*…$/);
  });

  test('result_type tells a string from a number', async () => {
    const text = await runAndWait(client, "'1'");
    const number = await runAndWait(client, '1');
    assert.deepEqual([text.result, text.result_type], ['1', 'string']);
    assert.deepEqual([number.result, number.result_type], ['1', 'number']);
    assert.equal((await runAndWait(client, 'null')).result_type, 'null');
    assert.equal((await runAndWait(client, '({ a: 1 })')).result_type, 'object');
    assert.equal('result_type' in (await runAndWait(client, "throw new Error('x')")), false, 'only for a completed run');
  });

  test('errors that teach: syntax errors with line, column and the line itself; return, decorators, JSX; fences are taken off', async () => {
    const syntax = await runAndWait(client, 'const a = 1;\nconst b = [1, 2;\nconst c = 3;');
    assert.equal(syntax.error, "SyntaxError: Expected ',', got ';' [main.js:2:16]\nconst b = [1, 2;\n               ^");
    const typed = await runAndWait(client, 'const x: number = (1;');
    assert.match(String(typed.error), /^SyntaxError: Expected ',', got ';' \[main\.js:1:21\]/);
    const returned = await runAndWait(client, 'let x = 1;\nif (x) {\n  return x + 1;\n}');
    assert.match(String(returned.error), /^SyntaxError: Return statement is not allowed here \[main\.js:3:3\] \(the code runs as a script, not a function: end it with the expression whose value you want/);
    const decorated = await runAndWait(client, '@sealed\nclass A {}');
    assert.match(String(decorated.error), /decorators \(@name\) are not supported here/);
    const jsx = await runAndWait(client, 'const el = <div className="x">hi</div>;');
    assert.match(String(jsx.error), /JSX is not supported/);
    const transformed = await runAndWait(client, "enum Color { Red, Green }\nclass P { constructor(private x: number) {} }\nnamespace N { export const a = 1; }\nconst v: number = 1;\nthrow new Error('boom');");
    assert.equal(transformed.error, 'Error: boom\n    at main.js:5:7', 'the line the agent wrote, though swc wrote enum and namespace over several lines');
    const fenced = await runAndWait(client, '```js\nconst x = 20;\nx + 22\n```');
    assert.equal(fenced.result, '42');
    const bare = await runAndWait(client, '```\n1 + 2\n```\n');
    assert.equal(bare.result, '3');
  });

  test('a queued run has no started_at until it starts', async () => {
    const busy = await callTool(client, 'run_js', { code: 'while (true) {}', execution_timeout_secs: 300 });
    const queued = await callTool(client, 'run_js', { code: "'second'" });
    const waiting = await callTool(client, 'get_execution', { execution_id: queued.value.execution_id, wait_ms: 0 });
    assert.equal(waiting.value.status, 'running');
    assert.equal(waiting.value.started_at, null, 'one slot, held by the busy run: the second waits in the queue');
    const busyRecord = await callTool(client, 'get_execution', { execution_id: busy.value.execution_id, wait_ms: 0 });
    assert.match(String(busyRecord.value.started_at), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual((await callTool(client, 'cancel_execution', { execution_id: busy.value.execution_id })).value, { ok: true });
    const done = await callTool(client, 'get_execution', { execution_id: queued.value.execution_id, wait_ms: 20_000 });
    assert.equal(done.value.result, 'second');
    assert.match(String(done.value.started_at), /^\d{4}-\d\d-\d\dT/);
    assert.ok(String(done.value.started_at) >= String(busyRecord.value.started_at));
  });
});

describe('heap tools as an agent uses them (stateful)', () => {
  let client: Client;
  before(async () => { client = await stdioClient({ stateful: true, name: 'tools-stateful' }); });
  after(async () => { await client.close(); });

  test('a heap remembers the memory limit it was made with, by heap and by session', async () => {
    const made = await runAndWait(client, 'const big = new Uint8Array(24 * 1024 * 1024); big.length', { heap_memory_max_mb: 64, session: 'roomy' });
    assert.equal(made.status, 'completed', String(made.error));
    const resumed = await runAndWait(client, 'big.length + 1', { heap: made.heap });
    assert.equal(resumed.result, String(24 * 1024 * 1024 + 1), String(resumed.error));
    const continued = await runAndWait(client, 'big.length + 2', { session: 'roomy' });
    assert.equal(continued.result, String(24 * 1024 * 1024 + 2), String(continued.error));
    const again = await runAndWait(client, 'big.length + 3', { session: 'roomy' });
    assert.equal(again.result, String(24 * 1024 * 1024 + 3), 'the limit is passed on from heap to heap');
    const smaller = await runAndWait(client, 'big.length', { heap: made.heap, heap_memory_max_mb: 8 });
    assert.equal(smaller.status, 'failed', 'a limit given explicitly is used as given');
  });

  test('get_heap_tags on an unknown heap answers not found, as set_heap_tags does', async () => {
    const unknown = 'f'.repeat(64);
    const get = await callTool(client, 'get_heap_tags', { heap: unknown });
    const set = await callTool(client, 'set_heap_tags', { heap: unknown, tags: { a: 'b' } });
    assert.equal(get.isError, true);
    assert.match(get.text, /HEAP_NOT_FOUND/);
    assert.equal(get.text, set.text);
    const run = await runAndWait(client, '1', { tags: { k: 'v' } });
    assert.deepEqual((await callTool(client, 'get_heap_tags', { heap: run.heap })).value, { tags: { k: 'v' } });
  });
});
