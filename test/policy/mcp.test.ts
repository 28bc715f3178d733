// fetch() and fs through the real server process and the SDK's MCP client: the policy flags as a
// user passes them (local Rego via --policies-json, the OPA REST API via --opa-url against the
// stand-in), header injection whose secret reaches only the target server (not the result, not
// the log), and stateful mode, where a heap resumed after a restart (rebuilt by replay from
// storage) does not fetch again.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { runAndWait } from '../support/mcp-client.ts';
import { runToExit, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';
import { startOpaStandIn, type OpaStandIn } from './opa-stand-in.ts';

async function connect(baseUrl: string): Promise<Client> {
  const client = new Client({ name: 'policy-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`)));
  return client;
}

const seen: { url: string; key: string | undefined }[] = [];
const target = createServer((req, res) => {
  seen.push({ url: req.url ?? '', key: req.headers['x-key'] as string | undefined });
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ n: seen.length, key: req.headers['x-key'] ?? null }));
});
await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
after(() => { target.closeAllConnections(); target.close(); });
const origin = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;

const root = tempDir('policy-mcp');
const files = join(root, 'files');
mkdirSync(files);
writeFileSync(join(files, 'hello.txt'), 'hello from disk');
const fetchRego = join(root, 'fetch.rego');
writeFileSync(fetchRego, 'package mcp.fetch\ndefault allow = false\nallow if {\n  input.method == "GET"\n  input.url_parsed.host == "127.0.0.1"\n  not startswith(input.url_parsed.path, "/private")\n}\n');
const fsRego = join(root, 'fs.rego');
writeFileSync(fsRego, `package mcp.filesystem\ndefault allow = false\nallow if {\n  input.operation in ["readFile", "readdir", "stat", "exists"]\n  startswith(input.path, ${JSON.stringify(`${files}/`)})\n}\n`);
const policiesJson = join(root, 'policies.json');
writeFileSync(policiesJson, JSON.stringify({ fetch: { policies: [{ url: `file://${fetchRego}` }] }, filesystem: { policies: [{ url: `file://${fsRego}` }] } }));
const secret = 'TOPSECRET-value-42';

describe('stateless server with --policies-json and --fetch-header', () => {
  let server: ServerProcess;
  let client: Client;
  before(async () => {
    server = await startServerProcess(['--stateless', '--http-port', '0', '--log-level', 'debug', '--policies-json', policiesJson, '--fetch-header', `host=127.0.0.1,header=X-Key,value=${secret}`]);
    client = await connect(server.baseUrl);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  test('run_js and the guide tell agents that fetch and fs exist here', async () => {
    const runJs = (await client.listTools()).tools.find((tool) => tool.name === 'run_js')!;
    assert.match(runJs.description!, /fetch\(\) reaches URLs the server's policy allows, an fs global \(promises\) reaches paths a policy allows/);
    const guide = await fetch(`${server.baseUrl}/llms.txt`).then((r) => r.text());
    assert.match(guide, /Runs your code in an isolated V8 \(fetch\(\) to URLs a policy allows, a promise-based fs global/);
  });

  test('fetch and fs work, the secret reaches only the target server', async () => {
    const ran = await runAndWait(client, `const r = await fetch('${origin}/data'); const body = await r.json();
      JSON.stringify({ status: r.status, sawKey: body.key !== null, headers: [...r.headers.keys()], file: await fs.readFile(${JSON.stringify(join(files, 'hello.txt'))}) })`);
    assert.equal(ran.status, 'completed', String(ran.error));
    const got = JSON.parse(ran.result as string);
    assert.deepEqual({ ...got, headers: undefined }, { status: 200, sawKey: true, headers: undefined, file: 'hello from disk' });
    assert.equal(seen.at(-1)!.key, secret);
    assert.ok(!JSON.stringify(ran).includes(secret), 'not in the result');
    const denied = await runAndWait(client, `await fetch('${origin}/private/x')`);
    assert.equal(denied.status, 'failed');
    assert.match(String(denied.error), /^TypeError: fetch GET http:\/\/127\.0\.0\.1:\d+\/private\/x denied by policy: rego data\.mcp\.fetch\.allow/);
    const write = await runAndWait(client, `await fs.writeFile(${JSON.stringify(join(files, 'x.txt'))}, 'no')`);
    assert.match(String(write.error), /fs\.writeFile .* denied by policy/);
    assert.ok(!server.stderr().includes(secret), 'not in the server log');
    assert.match(server.stderr(), /"fetchHeaders":\[\{"host":"127\.0\.0\.1","headers":\{"X-Key":"\[redacted\]"\}/, 'the start-up line names the rule, value redacted');
  });
});

describe('--opa-url: the OPA REST API (a stand-in speaking its exact protocol)', () => {
  let opa: OpaStandIn;
  let server: ServerProcess;
  let client: Client;
  before(async () => {
    opa = await startOpaStandIn({ 'fetch.rego': 'package mcp.http\ndefault allow := false\nallow if input.url_parsed.path == "/open"\n' });
    server = await startServerProcess(['--stateless', '--http-port', '0', '--opa-url', opa.url, '--opa-fetch-policy', 'mcp/http']);
    client = await connect(server.baseUrl);
  });
  after(async () => {
    await client?.close();
    await server?.stop();
    await opa?.close();
  });

  test('allowed and denied by the remote policy, with the README input document', async () => {
    const ok = await runAndWait(client, `(await fetch('${origin}/open', { headers: { 'X-Trace': 'T' } })).status`);
    assert.equal(ok.result, '200');
    const input = (opa.requests.at(-1)!.body as { input: Record<string, unknown> }).input;
    assert.equal(opa.requests.at(-1)!.path, '/v1/data/mcp/http');
    assert.deepEqual(input, { operation: 'fetch', url: `${origin}/open`, method: 'GET', headers: { 'x-trace': 'T' }, url_parsed: { scheme: 'http', host: '127.0.0.1', port: Number(new URL(origin).port), path: '/open', query: '' } });
    const denied = await runAndWait(client, `await fetch('${origin}/closed')`);
    assert.match(String(denied.error), /denied by policy/);
    assert.equal((await runAndWait(client, 'typeof fs')).result, 'undefined', 'no filesystem policy: no fs');
    const runJs = (await client.listTools()).tools.find((tool) => tool.name === 'run_js')!;
    assert.match(runJs.description!, /fetch\(\) reaches URLs the server's policy allows, no file system/);
  });
});

describe('stateful server: a resumed heap does not fetch again', () => {
  const dirs = tempDir('policy-stateful');
  const args = ['--http-port', '0', '--directory-path', join(dirs, 'heaps'), '--session-db-path', join(dirs, 'sessions'), '--execution-db-path', join(dirs, 'executions'), '--policies-json', policiesJson];

  test('after a restart the heap is rebuilt by replay from storage, answered from its record', async () => {
    let server = await startServerProcess(args);
    let client = await connect(server.baseUrl);
    const first = await runAndWait(client, `globalThis.answer = await (await fetch('${origin}/once')).json(); answer.n`);
    assert.equal(first.status, 'completed', String(first.error));
    const count = seen.filter((s) => s.url === '/once').length;
    assert.equal(count, 1);
    await client.close();
    await server.stop();
    server = await startServerProcess(args);
    client = await connect(server.baseUrl);
    try {
      const resumed = await runAndWait(client, 'answer.n', { heap: first.heap });
      assert.equal(resumed.status, 'completed', String(resumed.error));
      assert.equal(resumed.result, first.result);
      assert.equal(seen.filter((s) => s.url === '/once').length, 1, 'the target server was not asked again');
    } finally {
      await client.close();
      await server.stop();
    }
  });
});

describe('bad policy flags stop start-up with INVALID_FLAG, secrets not echoed', () => {
  test('each names what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['--fetch-header', `host=api.x.com,value=${secret}`], /--fetch-header #1 .*header= is missing/],
      [['--fetch-header', `host=api.x.com,header=A,value=${secret}`], /--fetch-header requires a fetch policy/],
      [['--opa-fetch-policy', 'mcp/fetch'], /--opa-fetch-policy requires --opa-url/],
      [['--opa-url', 'ftp://x'], /--opa-url "ftp:\/\/x" must be an http:\/\/ or https:\/\/ URL/],
      [['--policies-json', '{"fetch": {}}'], /--policies-json \(inline JSON\): field fetch\.policies/],
      [['--policies-json', join(root, 'missing.json')], /cannot read the file \(ENOENT\)/],
      [['--opa-url', 'http://127.0.0.1:1', '--fetch-header-config', join(root, 'missing.json')], /--fetch-header-config .*cannot read the file/],
    ];
    for (const [flags, pattern] of cases) {
      const exited = await runToExit(['--stateless', ...flags]);
      assert.equal(exited.code, 2, exited.stderr);
      assert.match(exited.stderr, pattern);
      assert.ok(!exited.stderr.includes(secret), exited.stderr);
    }
  });
});
