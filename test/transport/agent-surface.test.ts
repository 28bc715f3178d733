// What an agent finds besides the tools: short instructions, the guide (a resource and /llms.txt),
// execution output as resources, and console lines live while a run is waited for, bounded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { liveBatchBytesMax, liveNotificationsPerSecond } from '../../src/transport/live-output.ts';
import { stdioClient } from '../support/agent-client.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { startServerProcess, tempDir } from '../support/server-process.ts';

describe('instructions, the guide and output resources', () => {
  let client: Client;
  before(async () => { client = await stdioClient({ stateful: true, name: 'surface' }); });
  after(async () => { await client.close(); });

  test('instructions are short and point to the guide, which tells tools, limits, the workflow and the globals', async () => {
    const instructions = client.getInstructions()!;
    assert.ok(instructions.length < 400, `instructions stay short: ${instructions.length} characters`);
    assert.match(instructions, /mcp-v8:\/\/guide/);
    const { resources } = await client.listResources();
    assert.ok(resources.some((resource) => resource.uri === 'mcp-v8://guide'));
    const guide = (await client.readResource({ uri: 'mcp-v8://guide' })).contents[0] as { text: string; mimeType: string };
    assert.equal(guide.mimeType, 'text/markdown');
    for (const part of ['run_js', 'wait_ms is at most 50000', 'heap_memory_max_mb', '## Stateful workflow', '## Globals in the sandbox', 'structuredClone', 'execution://{execution_id}/output']) {
      assert.ok(guide.text.includes(part), `the guide mentions ${part}`);
    }
  });

  test('execution output is a resource by template, and recent executions are listed', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.deepEqual(resourceTemplates.map((template) => template.uriTemplate), ['execution://{id}/output']);
    const run = await runAndWait(client, "console.log('first'); console.log('second'); 1");
    const uri = `execution://${String(run.execution_id)}/output`;
    const read = await client.readResource({ uri });
    assert.deepEqual(read.contents, [{ uri, mimeType: 'text/plain', text: 'first\nsecond\n' }]);
    const { resources } = await client.listResources();
    assert.ok(resources.some((resource) => resource.uri === uri && resource.name === "completed: console.log('first'); console.log('second'); 1"));
    await assert.rejects(client.readResource({ uri: 'execution://not-an-id/output' }), /execution_id must be a UUID/);
  });
});

describe('live console output', () => {
  let client: Client;
  before(async () => { client = await stdioClient({ stateful: false, name: 'live' }); });
  after(async () => { await client.close(); });

  test('with a progress token, console lines arrive while the run is waited for', async () => {
    const progress: Progress[] = [];
    const code = "for (let i = 0; i < 5; i++) { console.log('step ' + i); await new Promise((resolve) => setTimeout(resolve, 150)); } 'done'";
    const result = await client.callTool({ name: 'run_js', arguments: { code, wait_ms: 20_000 } }, undefined, { onprogress: (update) => progress.push(update) });
    assert.equal((result.structuredContent as { result: string }).result, 'done');
    const text = progress.map((update) => update.message).join('\n');
    assert.equal(text, ['step 0', 'step 1', 'step 2', 'step 3', 'step 4'].join('\n'), 'every line, in order, before the reply');
    for (let index = 1; index < progress.length; index++) assert.ok(progress[index]!.progress > progress[index - 1]!.progress, 'progress increases');
  });

  test('a flood of lines is bounded in notifications per second and bytes per notification; the output keeps every line', async () => {
    // Counted as they arrive on the transport: the SDK's client hands a notification to its progress
    // handler a microtask later but takes the reply at once, so a last notification read in the same
    // chunk as the reply is dropped by the client (its handler is gone), though the server sent it first.
    const progress: Progress[] = [];
    const transport = client.transport!;
    const deliver = transport.onmessage!;
    transport.onmessage = (message, extra) => {
      if ('method' in message && message.method === 'notifications/progress') progress.push(message.params as unknown as Progress);
      deliver(message, extra);
    };
    const startedMs = Date.now();
    const code = "let i = 0; for (; i < 30000; i++) { console.log('flood line ' + i); if (i % 3000 === 0) await new Promise((resolve) => setTimeout(resolve, 20)); } i";
    const result = await client.callTool({ name: 'run_js', arguments: { code, wait_ms: 40_000 } }, undefined, { onprogress: () => undefined })
      .finally(() => { transport.onmessage = deliver; });
    const elapsedMs = Date.now() - startedMs;
    const lines = Number((result.structuredContent as { result: string }).result);
    assert.equal(lines, 30_000);
    const bound = Math.ceil((elapsedMs / 1000) * liveNotificationsPerSecond) + 2;
    assert.ok(progress.length <= bound, `${progress.length} notifications in ${elapsedMs} ms, bound ${bound}`);
    for (const update of progress) assert.ok(Buffer.byteLength(update.message!, 'utf8') <= liveBatchBytesMax + 120, 'each notification is bounded');
    const sent = progress.flatMap((update) => update.message!.split('\n')).filter((line) => line.startsWith('flood line'));
    const skipped = progress.reduce((sum, update) => sum + Number(/\[(\d+) lines not sent live/.exec(update.message!)?.[1] ?? 0), 0);
    assert.equal(sent.length + skipped, lines, 'every line is either sent or counted as not sent');
    assert.ok(skipped > 0, 'the rate bound held some back');
    const page = await callTool(client, 'get_execution_output', { execution_id: (result.structuredContent as { execution_id: string }).execution_id, line_offset: lines, line_limit: 1 });
    assert.equal(page.value.data, `flood line ${lines - 1}\n`);
    assert.equal(page.value.total_lines, lines, 'the paged output has every line');
  });

  test('a quiet run gets a heartbeat', async () => {
    const progress: Progress[] = [];
    const code = "await new Promise((resolve) => setTimeout(resolve, 8000)); 'slept'";
    await client.callTool({ name: 'run_js', arguments: { code, wait_ms: 40_000 } }, undefined, { onprogress: (update) => progress.push(update) });
    assert.ok(progress.length >= 1);
    assert.match(progress[0]!.message!, /^running for \d+ s, 0 console lines so far$/);
  });

  test('with logging enabled and no progress token, console lines arrive as log messages', async () => {
    const messages: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => { messages.push(notification.params); });
    await client.setLoggingLevel('info');
    await runAndWait(client, "console.log('logged live'); 1");
    assert.deepEqual(messages, [{ level: 'info', logger: 'console', data: 'logged live' }]);
  });
});

test('GET /llms.txt serves the guide', async () => {
  const server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('llms')]);
  try {
    const response = await fetch(`${server.baseUrl}/llms.txt`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/markdown/);
    const text = await response.text();
    assert.match(text, /^# mcp-v8: a JavaScript\/TypeScript sandbox for agents/);
    assert.match(text, /This server is stateless/);
  } finally {
    await server.stop();
  }
});
