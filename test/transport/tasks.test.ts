// run_js as an MCP task, against one real server over Streamable HTTP: a client that negotiates
// tasks gets a task at once, follows it with tasks/get and tasks/result, lists and cancels it, and
// finds the same execution in get_execution; a client that does not ask sees no change.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

async function connect(baseUrl: string, tasks: boolean): Promise<Client> {
  const client = new Client({ name: tasks ? 'tasks-client' : 'plain-client', version: '1.0.0' }, tasks ? { capabilities: { tasks: { list: {}, cancel: {} } } } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`)));
  return client;
}

describe('run_js as an MCP task', () => {
  let server: ServerProcess;
  let tasksClient: Client;
  let plainClient: Client;
  before(async () => {
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('tasks')]);
    tasksClient = await connect(server.baseUrl, true);
    plainClient = await connect(server.baseUrl, false);
  });
  after(async () => {
    await tasksClient?.close();
    await plainClient?.close();
    await server?.stop();
  });

  test('the server offers tasks for run_js only, in its capabilities and its tool list', async () => {
    assert.deepEqual(tasksClient.getServerCapabilities()?.tasks, { list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const { tools } = await tasksClient.listTools();
    assert.deepEqual(tools.find((tool) => tool.name === 'run_js')!.execution, { taskSupport: 'optional' });
    for (const tool of tools.filter((candidate) => candidate.name !== 'run_js')) assert.equal(tool.execution, undefined, tool.name);
  });

  test('a task is created at once, polled to completion, and its result is run_js\'s reply; get_execution shows the same run', async () => {
    const code = "await new Promise((resolve) => setTimeout(resolve, 200)); console.log('from a task'); 6 * 7";
    const messages = [];
    for await (const message of tasksClient.experimental.tasks.callToolStream({ name: 'run_js', arguments: { code } }, CallToolResultSchema, { task: { ttl: 60_000 } })) messages.push(message);
    assert.equal(messages[0]!.type, 'taskCreated');
    const created = messages[0] as { task: { taskId: string; status: string; pollInterval: number } };
    assert.equal(created.task.status, 'working');
    const last = messages.at(-1) as { type: string; result: { structuredContent: Record<string, unknown> } };
    assert.equal(last.type, 'result');
    assert.equal(last.result.structuredContent.result, '42');
    assert.equal(last.result.structuredContent.execution_id, created.task.taskId, 'the task is the execution');
    assert.deepEqual(last.result.structuredContent.output, { data: 'from a task\n', total_lines: 1, total_bytes: 12, next_line_offset: 2, has_more: false });
    const record = await callTool(plainClient, 'get_execution', { execution_id: created.task.taskId });
    assert.equal(record.value.status, 'completed');
    assert.equal(record.value.result, '42');
    const task = await tasksClient.experimental.tasks.getTask(created.task.taskId);
    assert.equal(task.status, 'completed');
    assert.equal(task.ttl, 60_000);
  });

  test('tasks/result waits for a working task and answers its result', async () => {
    const created = await tasksClient.request({ method: 'tools/call', params: { name: 'run_js', arguments: { code: "await new Promise((resolve) => setTimeout(resolve, 300)); 'waited'" }, task: {} } }, CreateTaskResultSchema);
    assert.equal(created.task.status, 'working');
    const result = await tasksClient.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema);
    assert.equal((result.structuredContent as { result: string }).result, 'waited');
  });

  test('tasks are listed, and cancelling one cancels its execution', async () => {
    const stream = tasksClient.experimental.tasks.callToolStream({ name: 'run_js', arguments: { code: 'await new Promise((resolve) => setTimeout(resolve, 120_000))' } }, CallToolResultSchema, { task: {} });
    const first = await stream.next();
    const taskId = (first.value as { task: { taskId: string } }).task.taskId;
    assert.equal((await tasksClient.experimental.tasks.getTask(taskId)).status, 'working');
    const listed = await tasksClient.experimental.tasks.listTasks();
    assert.equal(listed.tasks[0]!.taskId, taskId, 'newest first');
    assert.ok(listed.tasks.length >= 2);
    const cancelled = await tasksClient.experimental.tasks.cancelTask(taskId);
    assert.equal(cancelled.status, 'cancelled');
    const record = await callTool(plainClient, 'get_execution', { execution_id: taskId });
    assert.equal(record.value.status, 'cancelled');
    const rest = [];
    for await (const message of stream) rest.push(message);
    assert.equal(rest.at(-1)!.type, 'error', 'the stream ends with the cancellation');
  });

  test('a task request with bad arguments is refused like run_js refuses them', async () => {
    const refused = await tasksClient.experimental.tasks.callToolStream({ name: 'run_js', arguments: { code: '1', heap: 'x' } }, CallToolResultSchema, { task: {} }).next();
    assert.equal(refused.value!.type, 'error');
    assert.match(String((refused.value as { error: Error }).error.message), /MCPV8_ERR_STATEFUL_ONLY: heap: only in stateful mode/);
  });

  test('a client that does not ask for tasks gets the plain reply, as before', async () => {
    const run = await runAndWait(plainClient, "console.log('plain'); 'done'");
    assert.equal(run.result, 'done');
    assert.equal((run.output as { data: string }).data, 'plain\n');
    const started = await callTool(plainClient, 'run_js', { code: '1' });
    assert.deepEqual(Object.keys(started.value), ['execution_id']);
  });

  test('one session does not see another session\'s tasks', async () => {
    const other = await connect(server.baseUrl, true);
    try {
      const mine = (await tasksClient.experimental.tasks.listTasks()).tasks.map((task) => task.taskId);
      assert.ok(mine.length > 0);
      assert.deepEqual((await other.experimental.tasks.listTasks()).tasks, []);
      await assert.rejects(other.experimental.tasks.getTask(mine[0]!), /Task not found/);
    } finally {
      await other.close();
    }
  });
});
