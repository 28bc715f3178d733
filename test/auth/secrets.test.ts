// Secrets never leave: after requests with no token, near-miss tokens, the right ones, broken
// JWTs and a JWKS URL that carries a credential, neither the server's log (at trace level), nor any
// answer, nor /metrics, nor anything sandboxed code can reach holds a token or that credential.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { rawRequest, type RawResponse } from '../support/raw-http.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const argvToken = 'ops-secret-5f0c1d2e3b4a59687766554433221100';
const envToken = 'env-secret-00112233445566778899aabbccddeeff';
const jwksCredential = 'jwks-credential-9a8b7c6d5e4f';
const secrets = [argvToken, envToken, jwksCredential, argvToken.slice(0, 20), envToken.slice(-20)];

describe('secrets', () => {
  let server: ServerProcess;
  const answers: RawResponse[] = [];
  let jwks: ReturnType<typeof createServer>;
  before(async () => {
    jwks = createServer((_request, response) => { response.writeHead(500); response.end(); });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks?key=${jwksCredential}`;
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('secrets'), '--log-level', 'trace',
      '--jwks-url', jwksUrl, '--jwt-issuer', 'https://issuer.test', '--jwt-audience', 'mcp-v8'], { env: { MCP_V8_AUTH_TOKEN: `ops=${argvToken},agent=${envToken}` } });
  });
  after(async () => {
    await server.stop();
    await new Promise((resolve) => jwks.close(resolve));
  });

  test('requests of every kind, then nothing holds a secret', async () => {
    const send = async (token: string | undefined, method: string, path: string, body?: string) => {
      const answer = await rawRequest(server.port, { method, path, headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }, ...(body === undefined ? {} : { body }) });
      answers.push(answer);
      return answer;
    };
    // The tokens (from the environment) and the JWKS credential (from argv): is any visible to sandboxed code?
    const probe = `const seen = []; const walk = (value, depth) => { if (depth > 2 || value === null || (typeof value !== 'object' && typeof value !== 'function')) { seen.push(String(value)); return; } for (const key of Reflect.ownKeys(value)) { try { walk(value[key], depth + 1); } catch {} } }; walk(globalThis, 0); seen.join('\\n')`;
    const run = await send(envToken, 'POST', '/api/exec', JSON.stringify({ code: probe, wait_ms: 20_000 }));
    assert.equal(run.json().status, 'completed', run.text);
    assert.ok((run.json().result as string).length > 100, 'the probe saw the globals');
    for (const token of [undefined, argvToken.slice(0, -1) + 'x', `${envToken}x`, 'a.b.c', `${argvToken}.${envToken}.sig`, 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln']) {
      for (const [method, path] of [['POST', '/api/exec'], ['GET', '/api/executions'], ['GET', '/metrics'], ['POST', '/mcp']]) {
        const answer = await send(token, method!, path!, method === 'POST' ? '{"code":"1"}' : undefined);
        assert.equal(answer.status, 401);
      }
    }
    await send(argvToken, 'GET', '/metrics');
    await send(envToken, 'GET', '/api/executions');
    await send(argvToken, 'GET', '/.well-known/oauth-protected-resource');
    await send(argvToken, 'POST', '/api/exec', '{"code": "throw new Error(\\"boom\\")", "wait_ms": 20000}');
    await send(argvToken, 'POST', '/api/exec', '{not json');
    const log = server.stderr();
    assert.match(log, /a JWT could not be verified/, 'the failed JWKS fetch was logged');
    for (const secret of secrets) {
      assert.ok(!log.includes(secret), `the log holds ${secret}`);
      for (const answer of answers) {
        assert.ok(!answer.text.includes(secret), `an answer holds ${secret}: ${answer.text.slice(0, 200)}`);
        assert.ok(!JSON.stringify(answer.headers).includes(secret), `a header holds ${secret}`);
      }
    }
  });
});
