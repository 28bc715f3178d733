// The fetch gate against real HTTP servers on 127.0.0.1: a policy check on every hop, header
// injection after it, bounds on size and time.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { LocalRegoDecider, OpaRestDecider } from '../../src/policy/decider.ts';
import { FetchGate, FetchGateError } from '../../src/policy/fetch-gate.ts';
import { parseFetchHeaderFlag } from '../../src/policy/headers.ts';
import { startOpaStandIn } from './opa-stand-in.ts';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: string }

async function serve(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
      seen.push(s);
      handler(req, res, s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  return { port: (server.address() as AddressInfo).port, seen };
}

/** Allows everything on the given ports except paths under /forbidden. */
function portPolicy(ports: number[]): LocalRegoDecider {
  return new LocalRegoDecider([{ file: 'fetch.rego', source: `package mcp.fetch
default allow := false
allow if {
  input.url_parsed.port in ${JSON.stringify(ports)}
  not startswith(input.url_parsed.path, "/forbidden")
}
` }], 'data.mcp.fetch.allow');
}

test('an allowed request returns status, headers and body; the policy sees the documented input', async (t) => {
  const target = await serve(t, (_req, res, s) => res.writeHead(201, { 'content-type': 'application/json', 'x-echo': s.method }).end(JSON.stringify({ got: s.body })));
  const inputs: unknown[] = [];
  const gate = new FetchGate({ decider: { description: 'recording', decide: async (input) => { inputs.push(input); return { allow: true, reason: 'ok' }; } } });
  const res = await gate.fetch({ url: `http://127.0.0.1:${target.port}/a?b=1`, method: 'post', headers: [['Content-Type', 'application/json'], ['X-Mine', 'v']], body: '{"k":1}' });
  assert.equal(res.status, 201);
  assert.equal(res.statusText, 'Created');
  assert.equal(res.redirected, false);
  assert.deepEqual(JSON.parse(Buffer.from(res.body).toString()), { got: '{"k":1}' });
  assert.ok(res.headers.some(([k, v]) => k === 'x-echo' && v === 'POST'));
  assert.deepEqual(inputs, [{
    operation: 'fetch', url: `http://127.0.0.1:${target.port}/a?b=1`, method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mine': 'v' },
    url_parsed: { scheme: 'http', host: '127.0.0.1', port: target.port, path: '/a', query: 'b=1' },
  }]);
});

test('a denied request never reaches the server, and the error names the decision', async (t) => {
  const target = await serve(t, (_req, res) => res.end('secret'));
  const gate = new FetchGate({ decider: portPolicy([target.port]) });
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/forbidden/x` }), (e: FetchGateError) => e.kind === 'denied' && /fetch GET http:\/\/127\.0\.0\.1:\d+\/forbidden\/x denied by policy: rego data\.mcp\.fetch\.allow \(fetch\.rego\) is false/.test(e.message));
  assert.equal(target.seen.length, 0);
  await assert.rejects(gate.fetch({ url: 'file:///etc/passwd' }), /only http: and https: URLs/);
  await assert.rejects(gate.fetch({ url: 'http://user:pw@127.0.0.1/' }), /credentials are not allowed/);
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/`, headers: [['X-Bad', 'a\r\nInjected: 1']] }), /invalid header/);
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/${'a'.repeat(20_000)}` }), /at most 16384 characters/);
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/`, headers: [['X-Big', 'v'.repeat(70_000)]] }), /request headers larger than 65536 bytes/);
  assert.equal(target.seen.length, 0);
});

test('every redirect hop is checked: a chain into a denied host stops before it', async (t) => {
  const denied = await serve(t, (_req, res) => res.end('should not be reached'));
  const allowed = await serve(t, (req, res) => {
    if (req.url === '/start') res.writeHead(302, { location: '/middle' }).end();
    else if (req.url === '/middle') res.writeHead(307, { location: `http://127.0.0.1:${denied.port}/x` }).end();
    else if (req.url === '/to-forbidden') res.writeHead(301, { location: '/forbidden/y' }).end();
    else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
    else if (req.url === '/post') res.writeHead(303, { location: '/final' }).end();
    else res.end(`final ${req.method}`);
  });
  const gate = new FetchGate({ decider: portPolicy([allowed.port]), redirectsMax: 5 });
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${allowed.port}/start` }), (e: FetchGateError) => e.kind === 'denied' && e.message.includes(`:${denied.port}/x (redirect hop 2) denied by policy`));
  assert.equal(denied.seen.length, 0);
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${allowed.port}/to-forbidden` }), /\/forbidden\/y \(redirect hop 1\) denied/);
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${allowed.port}/loop` }), (e: FetchGateError) => e.kind === 'too_many_redirects' && /more than 5 redirects/.test(e.message));
  assert.equal(allowed.seen.filter((s) => s.url === '/loop').length, 6);
  const res = await gate.fetch({ url: `http://127.0.0.1:${allowed.port}/post`, method: 'POST', body: 'x', headers: [['content-type', 'text/plain']] });
  assert.deepEqual([res.status, Buffer.from(res.body).toString(), res.redirected, res.url], [200, 'final GET', true, `http://127.0.0.1:${allowed.port}/final`]);
  assert.equal(allowed.seen.at(-1)!.headers['content-type'], undefined);
});

test('injected headers: after the policy check, only to matching hosts, the code wins', async (t) => {
  const other = await serve(t, (_req, res) => res.end('other'));
  const main = await serve(t, (req, res) => {
    if (req.url === '/away') res.writeHead(302, { location: `http://127.0.0.1:${other.port}/` }).end();
    else res.end('main');
  });
  const inputs: { headers: Record<string, string> }[] = [];
  const gate = new FetchGate({
    decider: { description: 'recording', decide: async (input) => { inputs.push(input as { headers: Record<string, string> }); return { allow: true, reason: 'ok' }; } },
    headerRules: [parseFetchHeaderFlag('host=localhost,header=Authorization,value=Bearer injected-secret', 0), parseFetchHeaderFlag('host=localhost,header=X-Post-Only,value=p,methods=POST', 1)],
  });
  await gate.fetch({ url: `http://localhost:${main.port}/` });
  assert.equal(main.seen.at(-1)!.headers.authorization, 'Bearer injected-secret');
  assert.equal(main.seen.at(-1)!.headers['x-post-only'], undefined);
  assert.deepEqual(inputs.at(-1)!.headers, {}, 'the policy sees the code\'s headers, not the secret');
  await gate.fetch({ url: `http://localhost:${main.port}/`, method: 'POST', headers: [['authorization', 'Bearer my-own-token']] });
  assert.equal(main.seen.at(-1)!.headers.authorization, 'Bearer my-own-token');
  assert.equal(main.seen.at(-1)!.headers['x-post-only'], 'p');
  await gate.fetch({ url: `http://localhost:${main.port}/away` });
  assert.equal(other.seen.at(-1)!.headers.authorization, undefined, 'the secret does not follow a redirect to another host');
});

test('bounds: a large body (declared or streamed) and a slow response are refused', async (t) => {
  let release: (() => void) | undefined;
  const target = await serve(t, (req, res) => {
    if (req.url === '/declared') res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) }).end(Buffer.alloc(2 * 1024 * 1024));
    else if (req.url === '/chunked') { res.writeHead(200); for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024)); res.end(); }
    else if (req.url === '/slow') { res.writeHead(200); res.write('partial'); release = () => res.end(); }
    else res.end(Buffer.alloc(1024 * 1024));
  });
  t.after(() => release?.());
  const gate = new FetchGate({ decider: portPolicy([target.port]), responseBytesMax: 1024 * 1024, timeoutMs: 300 });
  assert.equal((await gate.fetch({ url: `http://127.0.0.1:${target.port}/exact` })).body.byteLength, 1024 * 1024);
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/declared` }), (e: FetchGateError) => e.kind === 'response_too_large' && /larger than 1048576 bytes/.test(e.message));
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/chunked` }), (e: FetchGateError) => e.kind === 'response_too_large');
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/slow` }), (e: FetchGateError) => e.kind === 'timeout' && /no complete response within 300 ms/.test(e.message));
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/`, body: Buffer.alloc(20 * 1024 * 1024) }), /request body larger than/);
});

test('through a remote OPA (stand-in): allow, deny, and an unreachable OPA denies', async (t) => {
  const target = await serve(t, (_req, res) => res.end('ok'));
  const opa = await startOpaStandIn({ 'fetch.rego': `package mcp.fetch\ndefault allow := false\nallow if input.url_parsed.path == "/ok"\n` });
  const gate = new FetchGate({ decider: new OpaRestDecider({ url: opa.url, policyPath: 'mcp/fetch' }) });
  assert.equal(Buffer.from((await gate.fetch({ url: `http://127.0.0.1:${target.port}/ok` })).body).toString(), 'ok');
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/no` }), /denied by policy: OPA .* result is \{"allow":false\}/);
  await opa.close();
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/ok` }), /denied by policy: OPA .* unreachable \(ECONNREFUSED\)/);
  assert.equal(target.seen.length, 1);
});

test('a policy that fails to evaluate denies, and nothing is sent', async (t) => {
  const target = await serve(t, (_req, res) => res.end('ok'));
  const broken = new LocalRegoDecider([{ file: 'broken.rego', source: 'package mcp.fetch\nallow := true if input.method == "GET"\nallow := false if startswith(input.url, "http")\n' }], 'data.mcp.fetch.allow');
  const gate = new FetchGate({ decider: broken });
  await assert.rejects(gate.fetch({ url: `http://127.0.0.1:${target.port}/` }), (e: FetchGateError) => e.kind === 'denied' && /failed to evaluate: broken\.rego:\d+: eval_conflict_error/.test(e.message));
  assert.equal(target.seen.length, 0);
});

test('fetches in flight are bounded: one more is refused at once, and the slot frees on completion', async (t) => {
  const held: (() => void)[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const target = await serve(t, (_req, res) => {
    held.push(() => res.end('done'));
    for (const w of waiters.splice(0)) { if (held.length >= w.count) w.resolve(); else waiters.push(w); }
  });
  const arrivals = (count: number) => new Promise<void>((resolve) => { if (held.length >= count) resolve(); else waiters.push({ count, resolve }); });
  t.after(() => held.splice(0).forEach((f) => f()));
  const gate = new FetchGate({ decider: portPolicy([target.port]), concurrentMax: 2 });
  const url = `http://127.0.0.1:${target.port}/`;
  const first = [gate.fetch({ url }), gate.fetch({ url })];
  await arrivals(2);
  await assert.rejects(gate.fetch({ url }), (e: FetchGateError) => e.kind === 'busy' && /2 fetches are already in flight/.test(e.message));
  held.splice(0).forEach((f) => f());
  assert.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
  const again = gate.fetch({ url });
  await arrivals(1);
  held.splice(0).forEach((f) => f());
  assert.equal((await again).status, 200);
});
