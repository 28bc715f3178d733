// DNS rebinding and cross-site requests: a spoofed Host or a foreign Origin is refused on every
// route of every HTTP transport, fast path included, with a body that names the header and the
// flag that would allow it; loopback names, same-origin pages and what the flags allow pass.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHostOriginPolicy } from '../../src/auth/host-origin.ts';
import { httpRoutes, sseRoutes, type Route } from '../support/http-surfaces.ts';
import { rawRequest } from '../support/raw-http.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const jsonHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function send(server: ServerProcess, route: Route, headers: Record<string, string>) {
  return rawRequest(server.port, { method: route.method, path: route.path, headers: { ...jsonHeaders, ...headers }, ...(route.body === undefined ? {} : { body: route.body }) });
}

async function assertEveryRoute(server: ServerProcess, routes: Route[]): Promise<void> {
  const own = `127.0.0.1:${server.port}`;
  for (const route of routes) {
    const what = `${route.method} ${route.path}`;
    const spoofed = await send(server, route, { host: 'evil.example.com' });
    assert.equal(spoofed.status, 403, `${what} with Host evil.example.com: ${spoofed.text}`);
    assert.equal(spoofed.json().header, 'Host', what);
    assert.equal(spoofed.json().code, 'MCPV8_ERR_HOST_NOT_ALLOWED', what);
    assert.match(spoofed.json().error as string, /--allowed-hosts "evil\.example\.com"/, what);
    const rebound = await send(server, route, { host: `evil.example.com:${server.port}`, origin: `http://evil.example.com:${server.port}` });
    assert.equal(rebound.status, 403, `${what} rebound: ${rebound.text}`);
    const foreign = await send(server, route, { host: own, origin: 'https://evil.example.com' });
    assert.equal(foreign.status, 403, `${what} with a foreign Origin: ${foreign.text}`);
    assert.equal(foreign.json().header, 'Origin', what);
    assert.match(foreign.json().error as string, /--allowed-origins "https:\/\/evil\.example\.com"/, what);
    const nullOrigin = await send(server, route, { host: own, origin: 'null' });
    assert.equal(nullOrigin.status, 403, `${what} with Origin null`);
    for (const host of [own, `localhost:${server.port}`, `[::1]:${server.port}`]) {
      const plain = await send(server, route, { host });
      assert.notEqual(plain.status, 403, `${what} with Host ${host}: ${plain.text}`);
    }
    const sameOrigin = await send(server, route, { host: own, origin: `http://${own}` });
    assert.notEqual(sameOrigin.status, 403, `${what} same-origin: ${sameOrigin.text}`);
  }
}

describe('Host and Origin on every route', () => {
  let http: ServerProcess;
  let sse: ServerProcess;
  before(async () => {
    [http, sse] = await Promise.all([
      startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('host-http')]),
      startServerProcess(['--stateless', '--sse-port', '0', '--execution-db-path', tempDir('host-sse')]),
    ]);
  });
  after(async () => { await Promise.all([http.stop(), sse.stop()]); });

  test('Streamable HTTP and the plain API beside it', async () => { await assertEveryRoute(http, httpRoutes); });
  test('SSE and the plain API beside it', async () => { await assertEveryRoute(sse, sseRoutes); });

  test('the refusals are counted by reason in /metrics', async () => {
    const metrics = (await rawRequest(http.port, { path: '/metrics' })).text;
    assert.match(metrics, new RegExp(`^mcp_v8_http_refused_total\\{reason="host"\\} ${2 * httpRoutes.length}$`, 'm'));
    assert.match(metrics, new RegExp(`^mcp_v8_http_refused_total\\{reason="origin"\\} ${2 * httpRoutes.length}$`, 'm'));
  });

  test('/healthz answers whatever the Host, for load balancers and probes', async () => {
    const answer = await rawRequest(http.port, { path: '/healthz', headers: { host: 'evil.example.com' } });
    assert.equal(answer.status, 200);
  });
});

describe('--allowed-hosts and --allowed-origins widen what is accepted', () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('host-allowed'),
      '--allowed-hosts', 'mcp.example.com', '--allowed-hosts', 'other.example.com:8443', '--allowed-origins', 'https://app.example.com']);
  });
  after(async () => { await server.stop(); });

  test('a listed host on any port, a host:port on that port only, a listed origin', async () => {
    const exec = { method: 'POST', path: '/api/exec', body: '{"code":"1"}' };
    assert.equal((await send(server, exec, { host: 'mcp.example.com' })).status, 202);
    assert.equal((await send(server, exec, { host: 'mcp.example.com:9999' })).status, 202);
    assert.equal((await send(server, exec, { host: 'other.example.com:8443' })).status, 202);
    assert.equal((await send(server, exec, { host: 'other.example.com:8444' })).status, 403);
    assert.equal((await send(server, exec, { host: 'evil.example.com' })).status, 403);
    assert.equal((await send(server, exec, { host: 'mcp.example.com', origin: 'https://app.example.com' })).status, 202);
    assert.equal((await send(server, exec, { host: 'mcp.example.com', origin: 'https://mcp.example.com' })).status, 202, 'same origin');
    assert.equal((await send(server, exec, { host: 'mcp.example.com', origin: 'http://app.example.com' })).status, 403, 'another scheme is another origin');
  });
});

describe('the policy itself', () => {
  test('loopback names, ports, IPv6, a final dot; the bind address answers to itself', () => {
    const policy = createHostOriginPolicy({ allowedHosts: [], allowedOrigins: [] }, '127.0.0.1');
    for (const host of ['localhost', 'LOCALHOST:80', 'localhost.:3000', '127.0.0.1', '127.1.2.3:8080', '[::1]', '[::1]:8080']) {
      assert.equal(policy.check({ host }), null, host);
    }
    for (const host of ['evil.example.com', 'localhost.evil.example.com', '127.0.0.1.evil.example.com', '0.0.0.0', '[::2]', 'local host', '']) {
      assert.equal(policy.check({ host })?.header, 'Host', host);
    }
    assert.equal(policy.check({})?.header, 'Host', 'no Host at all');
    const wide = createHostOriginPolicy({ allowedHosts: [], allowedOrigins: [] }, '10.1.2.3');
    assert.equal(wide.check({ host: '10.1.2.3:8080' }), null);
    assert.equal(wide.check({ host: '10.1.2.4:8080' })?.header, 'Host');
    const any = createHostOriginPolicy({ allowedHosts: ['*'], allowedOrigins: ['*'] }, '0.0.0.0');
    assert.equal(any.check({ host: 'whatever.example', origin: 'https://elsewhere.example' }), null);
    assert.equal(policy.check({ host: 'localhost:1', origin: 'http://localhost:2' })?.header, 'Origin', 'another port is another origin');
    assert.equal(policy.check({ host: 'localhost:1', origin: 'file://' })?.header, 'Origin');
  });
});
