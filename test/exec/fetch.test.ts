// fetch() in the sandbox, through the policy gate: the README's Fetch API surface, every request
// and redirect hop checked, denials naming the decision, bounds on size and time, header
// injection whose secrets the code never sees, Request/Response as globals, and hostile code.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Agent } from 'undici';
import { LocalRegoDecider } from '../../src/policy/decider.ts';
import { FetchGate } from '../../src/policy/fetch-gate.ts';
import { buildPolicyCapabilities, type PolicyCapabilities } from '../../src/policy/capabilities.ts';
import { parseFetchHeaderFlag } from '../../src/policy/headers.ts';
import { engineWith, loopbackServer, regoFile, tempFolder } from './effects-harness.ts';

const dir = tempFolder('fetch');
const fetchPolicy = regoFile(dir, 'fetch.rego', `package mcp.fetch
default allow = false
allow if {
  input.url_parsed.scheme == "http"
  not startswith(input.url_parsed.path, "/forbidden")
  not input.headers["x-deny"]
}
`);

/** Resolvers called when a /never request's connection closes (the gate gave up on it). */
const neverClosed: (() => void)[] = [];
const server = await loopbackServer((req, res, body) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const hop = /^\/hop\/(\d+)$/.exec(url.pathname);
  if (hop !== null) {
    const n = Number(hop[1]);
    res.writeHead(302, { location: n === 0 ? '/echo?done=1' : `/hop/${n - 1}` }).end();
  } else if (url.pathname === '/to-forbidden') {
    res.writeHead(301, { location: '/forbidden/x' }).end();
  } else if (url.pathname === '/big') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.alloc(Number(url.searchParams.get('n')), 7));
  } else if (url.pathname === '/never') {
    req.socket.once('close', () => neverClosed.shift()?.());
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
    // never ends: the gate's time bound must
  } else if (url.pathname === '/status') {
    res.writeHead(Number(url.searchParams.get('code')), { 'content-type': 'text/plain' }).end('s');
  } else {
    res.writeHead(200, { 'content-type': 'application/json', 'x-multi': 'a' }).end(JSON.stringify({ method: req.method, path: url.pathname + url.search, headers: req.headers, body: body.toString('utf8'), bodyBytes: [...body.subarray(0, 8)] }));
  }
});
const { origin } = server;

const capabilities = buildPolicyCapabilities({ policiesJson: JSON.stringify({ fetch: { policies: [{ url: fetchPolicy }] } }) });
const { run } = await engineWith(capabilities);

async function value(code: string, options: { memoryMb?: number } = {}): Promise<unknown> {
  const ran = await run(code, options);
  assert.equal(ran.status, 'completed', ran.error ?? '');
  return JSON.parse(ran.result!);
}

describe('fetch() with a fetch policy', () => {
  test('GET: the README response surface', async () => {
    const got = await value(`const r = await fetch('${origin}/echo?a=1');
      const c = r.clone();
      JSON.stringify({ ok: r.ok, status: r.status, statusText: r.statusText, url: r.url, redirected: r.redirected, type: r.type,
        ct: r.headers.get('content-type'), has: r.headers.has('X-Multi'), keys: [...r.headers.keys()].includes('x-multi'),
        json: (await r.json()).path, used: r.bodyUsed, cloneText: (await c.text()).length > 0,
        again: await r.text().then(() => 'read twice', (e) => e.constructor.name + ': ' + e.message) })`);
    assert.deepEqual(got, { ok: true, status: 200, statusText: 'OK', url: `${origin}/echo?a=1`, redirected: false, type: 'basic', ct: 'application/json', has: true, keys: true, json: '/echo?a=1', used: true, cloneText: true, again: 'TypeError: Body is unusable: Body has already been read' });
  });

  test('request options: method, headers (object, array, Headers), body as string, JSON string, Uint8Array', async () => {
    const got = await value(`const post = await (await fetch('${origin}/echo', { method: 'post', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key: 'value' }) })).json();
      const bin = await (await fetch('${origin}/echo', { method: 'PUT', headers: [['x-a', '1']], body: new Uint8Array([1, 2, 255]) })).json();
      const text = await (await fetch(new Request('${origin}/echo', { method: 'POST', headers: new Headers({ 'x-b': '2' }), body: 'plain' }))).json();
      JSON.stringify({ post: [post.method, post.headers['content-type'], post.body], bin: [bin.method, bin.headers['x-a'], bin.bodyBytes], text: [text.headers['x-b'], text.headers['content-type'], text.body] })`);
    assert.deepEqual(got, {
      post: ['POST', 'application/json', '{"key":"value"}'],
      bin: ['PUT', '1', [1, 2, 255]],
      text: ['2', 'text/plain;charset=UTF-8', 'plain'],
    });
  });

  test('redirects are followed, each hop checked; a hop the policy denies rejects naming it', async () => {
    const got = await value(`const r = await fetch('${origin}/hop/3'); JSON.stringify({ url: r.url, redirected: r.redirected, path: (await r.json()).path })`);
    assert.deepEqual(got, { url: `${origin}/echo?done=1`, redirected: true, path: '/echo?done=1' });
    const before = server.seen.length;
    const denied = await run(`await fetch('${origin}/to-forbidden')`);
    assert.equal(denied.status, 'failed');
    assert.match(denied.error!, /^TypeError: fetch GET http:\/\/127\.0\.0\.1:\d+\/forbidden\/x \(redirect hop 1\) denied by policy: rego data\.mcp\.fetch\.allow \(.*fetch\.rego\) is false/);
    assert.deepEqual(server.seen.slice(before).map((s) => s.url), ['/to-forbidden'], 'the denied hop was never requested');
  });

  test('a denial rejects the promise with the decision; nothing is sent', async () => {
    const before = server.seen.length;
    const caught = await value(`JSON.stringify(await fetch('${origin}/forbidden').then(() => 'sent', (e) => [e.name, e.message]))`);
    assert.deepEqual(caught, ['TypeError', `fetch GET ${origin}/forbidden denied by policy: rego data.mcp.fetch.allow (${fetchPolicy.slice('file://'.length)}) is false`]);
    const byHeader = await value(`JSON.stringify(await fetch('${origin}/echo', { headers: { 'X-Deny': '1' } }).then(() => 'sent', (e) => e.message))`);
    assert.match(byHeader as string, /denied by policy/, 'the policy sees the lower-cased request headers');
    assert.equal(server.seen.length, before);
  });

  test('non-2xx statuses resolve (ok false); HEAD and 204 have no body', async () => {
    assert.deepEqual(await value(`const r = await fetch('${origin}/status?code=404'); JSON.stringify([r.ok, r.status, r.statusText, await r.text()])`), [false, 404, 'Not Found', 's']);
    assert.deepEqual(await value(`const r = await fetch('${origin}/status?code=204'); JSON.stringify([r.ok, r.status, await r.text()])`), [true, 204, '']);
  });

  test('a large body within the bound arrives whole, as bytes and as an ArrayBuffer', async () => {
    const got = await value(`const r = await fetch('${origin}/big?n=${3 * 1024 * 1024}'); const b = await r.clone().bytes(); const a = await r.arrayBuffer();
      JSON.stringify([b.length, b[0], b[b.length - 1], a.byteLength])`, { memoryMb: 64 });
    assert.deepEqual(got, [3 * 1024 * 1024, 7, 7, 3 * 1024 * 1024]);
  });

  test('fetch, fs absent without their policy; Request and Response always there', async () => {
    const { run: plainRun } = await engineWith(null);
    const ran = await plainRun(`JSON.stringify([typeof fetch, typeof fs, typeof Request, typeof Response, new Response('x').status])`);
    assert.equal(ran.result, '["undefined","undefined","function","function",200]');
    assert.equal((await run('typeof fetch + typeof fs')).result, 'functionundefined', 'a fetch policy alone gives fetch, not fs');
  });
});

describe('bounds: response size and time, named in the error', () => {
  const decider = new LocalRegoDecider([{ file: 'allow.rego', source: 'package mcp.fetch\nallow := true' }], 'data.mcp.fetch.allow');
  const bounded: PolicyCapabilities = { fetch: new FetchGate({ decider, responseBytesMax: 1024, timeoutMs: 300 }), fs: undefined, modules: undefined, summary: {} };

  test('a body past the bound, a response that never ends', async () => {
    const { run: boundedRun } = await engineWith(bounded);
    const big = await boundedRun(`await fetch('${origin}/big?n=5000')`);
    assert.match(big.error!, new RegExp(`^TypeError: fetch ${origin}/big\\?n=5000: response body larger than 1024 bytes`));
    const closed = new Promise<void>((resolve) => neverClosed.push(resolve));
    const slow = await boundedRun(`await fetch('${origin}/never')`);
    assert.match(slow.error!, new RegExp(`^TypeError: fetch ${origin}/never: no complete response within 300 ms`));
    await closed;
  });

  test('a fetch still in flight keeps the run going, as a pending request keeps Node running', async () => {
    const { run: boundedRun } = await engineWith(bounded);
    const closed = new Promise<void>((resolve) => neverClosed.push(resolve));
    const ended = await boundedRun(`fetch('${origin}/echo').then((r) => r.json()).then((j) => console.log('answered', j.path));
      fetch('${origin}/never').then(() => console.log('never answered'), (e) => console.log(e.message.includes('300 ms')));
      'done'`);
    assert.equal(ended.status, 'completed', ended.error ?? '');
    assert.equal(ended.result, 'done');
    assert.deepEqual(ended.lines.sort(), ['answered /echo', 'true']);
    await closed;
  });
});

describe('header injection', () => {
  // Every host name reaches the loopback server: the rules match on the URL's host.
  const loopback = new Agent({ connect: { lookup: (_host, options, callback) => (options as { all?: boolean }).all ? (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]) : (callback as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4) } });
  const decider = new LocalRegoDecider([{ file: 'allow.rego', source: 'package mcp.fetch\nallow if not input.headers["x-api-key"]' }], 'data.mcp.fetch.allow');
  const rules = [
    parseFetchHeaderFlag('host=*.example.test,header=X-Api-Key,value=TOPSECRET-1,methods=GET;POST', 0),
    parseFetchHeaderFlag('host=API.other.test,header=Authorization,value=Bearer TOPSECRET-2', 1),
  ];
  const injecting: PolicyCapabilities = { fetch: new FetchGate({ decider, headerRules: rules, dispatcher: loopback }), fs: undefined, modules: undefined, summary: {} };

  test('exact and *. wildcard hosts (the bare domain too), case-insensitive, methods filter, code-set headers win', async () => {
    const { run: injectRun } = await engineWith(injecting);
    const port = server.port;
    const ran = await injectRun(`const seen = async (url, init) => (await (await fetch(url, init)).json()).headers;
      const out = {
        sub: (await seen('http://a.b.example.test:${port}/echo'))['x-api-key'],
        bare: (await seen('http://EXAMPLE.test:${port}/echo'))['x-api-key'],
        post: (await seen('http://api.example.test:${port}/echo', { method: 'POST', body: 'x' }))['x-api-key'],
        put: (await seen('http://api.example.test:${port}/echo', { method: 'PUT', body: 'x' }))['x-api-key'] ?? null,
        other: (await seen('http://notexample.test:${port}/echo'))['x-api-key'] ?? null,
        exact: (await seen('http://api.other.test:${port}/echo')).authorization,
        exactOnly: (await seen('http://x.api.other.test:${port}/echo')).authorization ?? null,
        own: (await seen('http://api.other.test:${port}/echo', { headers: { Authorization: 'Bearer mine' } })).authorization,
      };
      const req = new Request('http://api.example.test:${port}/echo');
      const res = await fetch(req);
      out.visible = [...req.headers.keys(), ...res.headers.keys()].filter((k) => k === 'x-api-key' || k === 'authorization');
      console.log(JSON.stringify(out));
      JSON.stringify(out)`);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    const got = JSON.parse(ran.result!);
    assert.deepEqual(got, { sub: 'TOPSECRET-1', bare: 'TOPSECRET-1', post: 'TOPSECRET-1', put: null, other: null, exact: 'Bearer TOPSECRET-2', exactOnly: null, own: 'Bearer mine', visible: [] });
  });

  test('the secret is not visible to the sandbox (nor to the policy); errors do not carry it', async () => {
    const { run: injectRun } = await engineWith(injecting);
    const port = server.port;
    // The policy denies a request whose own headers carry x-api-key: it sees the code's headers, before injection.
    const ran = await injectRun(`const r = await fetch('http://api.example.test:${port}/echo');
      const text = JSON.stringify([...r.headers.entries()]) + String(globalThis.fetch) + Object.getOwnPropertyNames(globalThis).join();
      const denied = await fetch('http://api.example.test:${port}/echo', { headers: { 'X-Api-Key': 'mine' } }).then(() => 'sent', (e) => e.message);
      JSON.stringify({ leaked: text.includes('TOPSECRET'), denied })`);
    const got = JSON.parse(ran.result!);
    assert.equal(got.leaked, false);
    assert.match(got.denied, /denied by policy/);
    assert.ok(!got.denied.includes('TOPSECRET'));
    assert.ok(!JSON.stringify(injecting.fetch).includes('TOPSECRET'), 'a log line of the gate shows no secret');
  });
});

describe('hostile code', () => {
  test('replaced built-ins do not change what fetch sends or answers', async () => {
    const ran = await run(`const r0 = await fetch('${origin}/echo');
      const payload = new Uint8Array([9, 8]);
      const saved = [Promise.prototype.then, Array.prototype[Symbol.iterator], Reflect.apply];
      Array.prototype[Symbol.iterator] = function () { throw new Error('hijacked iterator'); };
      JSON.stringify = () => 'hijacked'; const stringify = JSON.stringify;
      TextDecoder.prototype.decode = () => 'hijacked decode';
      Uint8Array.prototype.set = () => { throw new Error('hijacked set'); };
      Object.defineProperty(Object.prototype, 'ok', { get() { return true; }, configurable: true });
      Reflect.apply = () => { throw new Error('hijacked apply'); };
      globalThis.WeakMap = function () {};
      const r = await fetch('${origin}/echo', { method: 'POST', body: payload });
      const t = await r.text();
      delete Object.prototype.ok;
      Promise.prototype.then = saved[0]; Array.prototype[Symbol.iterator] = saved[1]; Reflect.apply = saved[2];
      [r0.status, t.includes('"bodyBytes":[9,8]'), r.status].join()`);
    assert.equal(ran.result, '200,true,200', ran.error ?? '');
    // Not covered: Promise.prototype.then. isolated-vm's own promise for the host's answer goes
    // through it, so code that replaces it breaks its own fetch (as it breaks its own top-level
    // await): nothing of the host or of other runs (docs/policy.md, "Sandbox side").
  });

  test('weird argument types are refused in the sandbox, with TypeErrors; the host sees only checked requests', async () => {
    const before = server.seen.length;
    const got = await value(`const reasons = [];
      const tryIt = async (...args) => { try { await fetch(...args); reasons.push('sent'); } catch (e) { reasons.push(e.name); } };
      await tryIt(Symbol('x'));
      await tryIt({ toString() { throw new RangeError('no'); } });
      await tryIt('not a url');
      await tryIt('ftp://127.0.0.1/x');
      await tryIt('${origin}/echo', { method: 'GET', body: 'x' });
      await tryIt('${origin}/echo', { method: 'bad method' });
      await tryIt('${origin}/echo', { headers: 7 });
      await tryIt('${origin}/echo', { headers: [['a']] });
      await tryIt('${origin}/echo', { headers: { 'bad name': 'v' } });
      await tryIt('${origin}/echo', { headers: { a: 'line\\r\\nbreak' } });
      await tryIt('${origin}/echo', { method: 'CONNECT' });
      await tryIt('http://user:pw@127.0.0.1:1/');
      await tryIt('${origin}/echo', { method: 'POST', body: new Uint8Array(11 * 1024 * 1024) });
      JSON.stringify(reasons)`, { memoryMb: 64 });
    assert.deepEqual(got, ['TypeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError']);
    assert.equal(server.seen.length, before, 'none of them reached the server');
  });

  test('Response and Request: a subset of the web spec', async () => {
    const got = await value(`const r = Response.json({ a: 1 }, { status: 201, headers: { 'x-y': 'z' } });
      const bad = []; for (const f of [() => new Response('x', { status: 99 }), () => new Response('x', { status: 204 }), () => Object.getOwnPropertyDescriptor(Response.prototype, 'status').get.call({}), () => Response.redirect('/rel')]) { try { f(); bad.push('ok'); } catch (e) { bad.push(e.name); } }
      const req = new Request('${origin}/x?q', { method: 'patch', body: 'b' });
      const copy = new Request(req, { headers: { 'x-c': '1' } });
      JSON.stringify({ status: r.status, ct: r.headers.get('content-type'), xy: r.headers.get('x-y'), body: await r.json(), err: Response.error().type,
        redirect: Response.redirect('${origin}/x', 301).headers.get('location'), bad, method: req.method, url: req.url, copyMethod: copy.method, copyBody: await copy.text(), tag: Object.prototype.toString.call(req) })`);
    assert.deepEqual(got, { status: 201, ct: 'application/json', xy: 'z', body: { a: 1 }, err: 'error', redirect: `${origin}/x`, bad: ['RangeError', 'TypeError', 'TypeError', 'TypeError'], method: 'PATCH', url: `${origin}/x?q`, copyMethod: 'PATCH', copyBody: 'b', tag: '[object Request]' });
  });
});
