// Bearer tokens on every HTTP surface: real clients (the SDK's Client over Streamable HTTP and
// SSE, the plain API) with no token, a wrong one and a right one; the 401 carries the challenge
// and the protected-resource metadata MCP clients look for; /healthz stays open, /metrics is
// protected unless opened; stdio needs no token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { runAndWait } from '../support/mcp-client.ts';
import { connectClient, httpRoutes, sseRoutes } from '../support/http-surfaces.ts';
import { rawRequest } from '../support/raw-http.ts';
import { repoRoot, runToExit, serverCommand, startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const aliceToken = 'alice-0123456789abcdef0123456789abcdef';
const bareToken = 'bare-fedcba9876543210fedcba9876543210';
const wrongToken = 'alice-0123456789abcdef0123456789abcdee';
const metadataPath = '/.well-known/oauth-protected-resource';

function headers(token?: string): Record<string, string> {
  return { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) };
}

describe('bearer tokens', () => {
  let http: ServerProcess;
  let sse: ServerProcess;
  before(async () => {
    [http, sse] = await Promise.all([
      startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('tokens-http'), '--auth-token', `alice=${aliceToken}`, '--auth-token', bareToken]),
      startServerProcess(['--stateless', '--sse-port', '0', '--execution-db-path', tempDir('tokens-sse')], { env: { MCP_V8_AUTH_TOKEN: `alice=${aliceToken},${bareToken}` } }),
    ]);
  });
  after(async () => { await Promise.all([http.stop(), sse.stop()]); });

  test('no token and a wrong token: 401 with the challenge on every route, fast path included', async () => {
    for (const server of [http, sse]) {
      for (const route of (server === http ? httpRoutes : sseRoutes).filter((candidate) => candidate.path !== metadataPath)) {
        for (const token of [undefined, wrongToken, 'not-a-jwt.at.all', '']) {
          const answer = await rawRequest(server.port, { method: route.method, path: route.path, headers: headers(token), ...(route.body === undefined ? {} : { body: route.body }) });
          const what = `${route.method} ${route.path} with ${token === undefined ? 'no token' : `'${token}'`}`;
          assert.equal(answer.status, 401, `${what}: ${answer.text}`);
          assert.equal(answer.json().code, 'MCPV8_ERR_UNAUTHORIZED', what);
          const challenge = answer.headers['www-authenticate'] as string;
          assert.match(challenge, new RegExp(`^Bearer realm="mcp-v8", resource_metadata="http://127\\.0\\.0\\.1:${server.port}/\\.well-known/oauth-protected-resource"`), what);
          if (token === undefined) assert.doesNotMatch(challenge, /invalid_token/, what);
          else assert.match(challenge, /error="invalid_token"/, what);
        }
      }
    }
  });

  test('the protected-resource metadata (RFC 9728) and /healthz answer without a token', async () => {
    for (const path of [metadataPath, `${metadataPath}/mcp`]) {
      const answer = await rawRequest(http.port, { path });
      assert.equal(answer.status, 200, path);
      assert.deepEqual(answer.json(), { resource: `http://127.0.0.1:${http.port}`, bearer_methods_supported: ['header'], resource_name: 'mcp-v8' });
    }
    assert.equal((await rawRequest(http.port, { path: '/healthz' })).status, 200);
  });

  test('the SDK client over Streamable HTTP and SSE (tokens from MCP_V8_AUTH_TOKEN): refused without a token or a wrong one, served with either right one', async () => {
    for (const [server, kind] of [[http, 'http'], [sse, 'sse']] as const) {
      await assert.rejects(connectClient(server.baseUrl, kind), /401|Unauthorized/i, kind);
      await assert.rejects(connectClient(server.baseUrl, kind, wrongToken), /401|Unauthorized/i, kind);
      for (const token of [aliceToken, bareToken]) {
        const client = await connectClient(server.baseUrl, kind, token);
        assert.equal((await runAndWait(client, '6 * 7')).result, '42', kind);
        await client.close();
      }
    }
  });

  test('the MCP Inspector CLI over both transports: with the token it lists the tools; without, it finds the 401 asks for OAuth', async () => {
    const inspector = join(repoRoot, 'node_modules', '.bin', 'mcp-inspector');
    const run = promisify(execFile);
    for (const [server, transport, path] of [[http, 'http', '/mcp'], [sse, 'sse', '/sse']] as const) {
      const cli = ['--cli', `${server.baseUrl}${path}`, '--transport', transport, '--method', 'tools/list'];
      const listed = await run(inspector, [...cli, '--header', `Authorization: Bearer ${aliceToken}`], { cwd: repoRoot, timeout: 60_000 });
      assert.ok((JSON.parse(listed.stdout) as { tools: Array<{ name: string }> }).tools.some((tool) => tool.name === 'run_js'), transport);
      const refused = await run(inspector, cli, { cwd: repoRoot, timeout: 60_000 }).then(
        () => assert.fail(`${transport}: listed without a token`),
        (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
      );
      assert.match(refused, /auth_required|OAuth/, transport);
    }
  });

  test('the plain API and /metrics with a token', async () => {
    const run = await rawRequest(http.port, { method: 'POST', path: '/api/exec', headers: headers(aliceToken), body: '{"code":"1 + 1","wait_ms":10000}' });
    assert.equal(run.status, 200, run.text);
    assert.equal(run.json().result, '2');
    const fast = await rawRequest(http.port, { method: 'GET', path: `/api/executions/${run.json().execution_id as string}`, headers: headers(aliceToken) });
    assert.equal(fast.json().result, '2');
    const metrics = await rawRequest(http.port, { path: '/metrics', headers: headers(bareToken) });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^mcp_v8_http_refused_total\{reason="unauthorized"\} [1-9]\d*$/m, 'the 401s of the first test are counted');
    assert.match(metrics.text, /^mcp_v8_http_refused_total\{reason="host"\} 0$/m);
  });

  test('the log names principals, never a token', () => {
    for (const server of [http, sse]) {
      assert.match(server.stderr(), /"tokens":\["alice","token1"\]/);
      for (const secret of [aliceToken, bareToken, wrongToken]) assert.ok(!server.stderr().includes(secret), 'no token in the log');
    }
  });
});

describe('token flags and the other surfaces', () => {
  test('--metrics-unauthenticated opens /metrics only; --public-url names the resource', async () => {
    const server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('tokens-metrics'), '--auth-token', aliceToken, '--metrics-unauthenticated', '--public-url', 'https://mcp.example']);
    try {
      assert.equal((await rawRequest(server.port, { path: '/metrics' })).status, 200);
      const refused = await rawRequest(server.port, { path: '/api/executions' });
      assert.equal(refused.status, 401);
      assert.match(refused.headers['www-authenticate'] as string, /resource_metadata="https:\/\/mcp\.example\/\.well-known\/oauth-protected-resource"/);
      assert.equal((await rawRequest(server.port, { path: metadataPath })).json().resource, 'https://mcp.example');
    } finally {
      await server.stop();
    }
  });

  test('a short, blank-containing or duplicate token is refused at start without echoing it', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--auth-token', 'short-secret'], /--auth-token: token #1 is shorter than 16 characters/],
      [['--auth-token', 'bob=short-secret'], /the token named 'bob' is shorter than 16/],
      [['--auth-token', `a=${aliceToken}`, '--auth-token', `b=${aliceToken}`], /is the same token as 'a'/],
      [['--auth-token', `anonymous=${aliceToken}`], /'anonymous' is reserved/],
      [['--jwt-issuer', 'https://issuer.example'], /--jwt-issuer requires --jwks-url/],
      [['--jwks-url', 'https://issuer.example/jwks'], /--jwks-url requires --jwt-issuer/],
      [['--jwks-url', 'https://issuer.example/jwks', '--jwt-issuer', 'i', '--jwt-audience', 'a', '--jwt-algorithms', 'HS256'], /'HS256' is not an asymmetric JWS algorithm/],
      [['--jwks-url', 'https://issuer.example/jwks', '--jwt-issuer', 'i', '--jwt-audience', 'a', '--jwt-algorithms', 'none'], /'none' is not an asymmetric JWS algorithm/],
      [['--allowed-hosts', 'http://x.example'], /--allowed-hosts: 'http:\/\/x\.example' is not a host name/],
      [['--allowed-origins', 'https://x.example/path'], /--allowed-origins: .* no path/],
    ];
    for (const [args, message] of cases) {
      const result = await runToExit(['--stateless', '--http-port', '0', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.ok(!result.stderr.includes('short-secret') && !result.stderr.includes(aliceToken), 'the token is not echoed');
    }
  });

  test('stdio needs no token even when tokens are configured', async () => {
    const { command, args } = serverCommand(['--stateless', '--execution-db-path', tempDir('tokens-stdio'), '--auth-token', aliceToken]);
    const client = new Client({ name: 'tokens-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command, args, stderr: 'ignore' }));
    try {
      assert.equal((await runAndWait(client, '2 + 3')).result, '5');
    } finally {
      await client.close();
    }
  });
});
