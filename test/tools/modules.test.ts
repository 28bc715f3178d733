// Module imports as an agent uses them: through the SDK's Client over stdio to a real server
// process, stateless and stateful, the CDN pointed at a local HTTP server serving real ES modules
// in esm.sh's layout (test/support/module-server.ts).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { esmRoutes, startModuleServer, type ModuleServer } from '../support/module-server.ts';
import { callTool, runAndWait } from '../support/mcp-client.ts';
import { serverCommand, tempDir } from '../support/server-process.ts';

async function connect(args: string[]): Promise<Client> {
  const { command, args: full } = serverCommand(args);
  const client = new Client({ name: 'modules-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args: full, stderr: 'pipe' }));
  return client;
}

let modules: ModuleServer;
before(async () => { modules = await startModuleServer(); });
after(async () => { await modules.close(); });

describe('imports through MCP (stateless)', () => {
  test('off by default: the reference text, and no request reaches the module server', async () => {
    const root = tempDir('modules-off');
    const client = await connect(['--stateless', '--execution-db-path', join(root, 'executions'), '--module-cdn-url', modules.url]);
    try {
      const before = modules.total();
      const run = await runAndWait(client, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("a b")');
      assert.equal(run.status, 'failed');
      assert.equal(run.error, "Error: External module imports are disabled. Cannot import npm package 'npm:lodash-like@1.0.0'. Start the server with --allow-external-modules to enable.");
      assert.equal(modules.total(), before);
    } finally {
      await client.close();
    }
  });

  test('with --allow-external-modules: npm:, jsr: and dynamic import()', async () => {
    const root = tempDir('modules-on');
    const client = await connect(['--stateless', '--execution-db-path', join(root, 'executions'), '--allow-external-modules', '--module-cdn-url', modules.url, '--module-cache-dir', join(root, 'modules')]);
    try {
      const run = await runAndWait(client, 'import { camelCase } from "npm:lodash-like@1.0.0";\nconst { pascalCase } = await import("jsr:@luca/cases@1.0.0");\ncamelCase("hello world") + " " + pascalCase("hello world")');
      assert.equal(run.error, null);
      assert.equal(run.result, 'helloWorld HelloWorld');
    } finally {
      await client.close();
    }
  });
});

describe('imports gated by the modules policy of --policies-json (stateless, local Rego)', () => {
  test('an import the policy denies fails naming the decision and is never fetched; one it allows runs', async () => {
    const root = tempDir('modules-policy');
    await mkdir(root, { recursive: true });
    const rego = join(root, 'modules.rego');
    await writeFile(rego, 'package mcp.modules\n\ndefault allow := false\n\nallow if input.specifier_type == "jsr"\n\n# a jsr module\'s own relative imports are url imports under /jsr/\nallow if {\n  input.specifier_type == "url"\n  contains(input.resolved_url, "/jsr/")\n}\n');
    const policies = JSON.stringify({ modules: { policies: [{ url: pathToFileURL(rego).href }] } });
    const client = await connect(['--stateless', '--execution-db-path', join(root, 'executions'), '--allow-external-modules', '--module-cdn-url', modules.url, '--module-cache-dir', join(root, 'modules'), '--policies-json', policies]);
    try {
      const before = modules.total();
      const denied = await runAndWait(client, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("a b")');
      assert.equal(denied.status, 'failed');
      assert.match(String(denied.error ?? ''), /^Error: Module import denied by policy: 'npm:lodash-like@1\.0\.0'/);
      assert.equal(modules.total(), before, 'the denied module was not fetched');
      const allowed = await runAndWait(client, 'const { pascalCase } = await import("jsr:@luca/cases@1.0.0"); pascalCase("hello world")');
      assert.equal(allowed.error, null);
      assert.equal(allowed.result, 'HelloWorld');
    } finally {
      await client.close();
    }
  });
});

describe('imports through MCP (stateful)', () => {
  test('a resumed heap replays its imports from its record: no fetch, the same module even when the CDN changed', async () => {
    const root = tempDir('modules-stateful');
    const stateful = ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions'), '--allow-external-modules', '--live-heaps-max', '0'];
    const first = await connect([...stateful, '--module-cdn-url', modules.url, '--module-cache-dir', join(root, 'cache-1')]);
    let heap: string;
    try {
      const run = await runAndWait(first, 'import { camelCase } from "npm:lodash-like@1.0.0"; var said = camelCase("first run"); said');
      assert.equal(run.result, 'firstRun');
      heap = run.heap as string;
      assert.match(heap, /^[0-9a-f]{64}$/);
    } finally {
      await first.close();
    }
    // A new server process, a new (empty) module cache, and a CDN whose module changed.
    const changed = await startModuleServer(esmRoutes, { '/lodash-like@1.0.0/es2022/words.mjs': { body: 'export const words = () => ["changed", "module"];' } });
    const second = await connect([...stateful, '--module-cdn-url', changed.url, '--module-cache-dir', join(root, 'cache-2')]);
    try {
      const run = await runAndWait(second, 'said + " " + camelCase("second run")', { heap });
      assert.equal(run.error, null);
      assert.equal(run.result, 'firstRun secondRun', 'the recorded module, not the changed one');
      assert.equal(changed.total(), 0, 'the replay fetched nothing');
      const fresh = await runAndWait(second, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("new run")');
      assert.equal(fresh.result, 'changedModule', 'a new import fetches (and sees the change)');
      const described = await callTool(second, 'describe_heap', { heap });
      assert.equal(described.isError, false, described.text);
    } finally {
      await second.close();
      await changed.close();
    }
    // A module source lost from the heap store: the resume fails naming the module, never fetches.
    const words = esmRoutes['/lodash-like@1.0.0/es2022/words.mjs']!.body!;
    const sha256 = createHash('sha256').update(words).digest('hex');
    await rm(join(root, 'heaps', sha256.slice(0, 2), sha256));
    const third = await connect([...stateful, '--module-cdn-url', modules.url, '--module-cache-dir', join(root, 'cache-3')]);
    try {
      const requests = modules.total();
      const lost = await callTool(third, 'run_js', { code: 'said', heap, wait_ms: 20_000 });
      assert.match(lost.isError ? lost.text : String(lost.value.error), new RegExp(`heap ${heap} imported module ${modules.url.replace(/[.]/g, '\\.')}/lodash-like@1\\.0\\.0/es2022/words\\.mjs \\(sha256 ${sha256}\\), whose source is missing from the heap store; it cannot be resumed`));
      assert.equal(modules.total(), requests, 'nothing was fetched instead');
    } finally {
      await third.close();
    }
  });
});
