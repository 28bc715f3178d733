// Policy deciders: in-process Rego and OPA's REST API (against a stand-in OPA, see
// opa-stand-in.ts), including every way a decision can fail, each of which must deny.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { CombinedDecider, LocalRegoDecider, OpaRestDecider } from '../../src/policy/decider.ts';
import { fetchInput, moduleInput } from '../../src/policy/inputs.ts';
import { startOpaStandIn } from './opa-stand-in.ts';

const FETCH_POLICY = `package mcp.fetch
default allow := false
allow if {
  input.method == "GET"
  input.url_parsed.host == "api.example.com"
  startswith(input.url_parsed.path, "/public/")
  not input.headers["x-forbidden"]
}
`;

const get = (url: string, headers: [string, string][] = []) => fetchInput(new URL(url), 'get', headers);

test('fetch input document: operation, url, upper-case method, lower-cased headers, url_parsed', () => {
  assert.deepEqual(fetchInput(new URL('https://API.example.com:8443/a/b?x=1&y=2'), 'post', [['Content-Type', 'text/plain'], ['X-Trace', '1']]), {
    operation: 'fetch',
    url: 'https://api.example.com:8443/a/b?x=1&y=2',
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'x-trace': '1' },
    url_parsed: { scheme: 'https', host: 'api.example.com', port: 8443, path: '/a/b', query: 'x=1&y=2' },
  });
  assert.equal(get('http://h.test/').url_parsed.port, 80);
  assert.deepEqual(moduleInput('npm:lodash-es@4', new URL('https://esm.sh/lodash-es@4')), {
    specifier: 'npm:lodash-es@4', specifier_type: 'npm', resolved_url: 'https://esm.sh/lodash-es@4',
    url_parsed: { scheme: 'https', host: 'esm.sh', port: 443, path: '/lodash-es@4', query: '' },
  });
  assert.equal(moduleInput('https://x.test/m.js', new URL('https://x.test/m.js')).specifier_type, 'url');
});

test('local Rego decider: allow only on true; a failing policy denies with the reason', async () => {
  const d = new LocalRegoDecider([{ file: 'fetch.rego', source: FETCH_POLICY }], 'data.mcp.fetch.allow');
  assert.equal((await d.decide(get('https://api.example.com/public/x'))).allow, true);
  const denied = await d.decide(get('https://api.example.com/private'));
  assert.equal(denied.allow, false);
  assert.match(denied.reason, /data\.mcp\.fetch\.allow \(fetch\.rego\) is false/);
  assert.equal((await d.decide(get('https://api.example.com/public/x', [['X-Forbidden', '1']]))).allow, false);
  const broken = new LocalRegoDecider([{ file: 'b.rego', source: 'package mcp.fetch\nallow := 1 if input.a\nallow := 2 if input.a\n' }], 'data.mcp.fetch.allow');
  const d2 = await broken.decide({ a: true });
  assert.equal(d2.allow, false);
  assert.match(d2.reason, /failed to evaluate: .*eval_conflict_error/);
  const nonBoolean = new LocalRegoDecider([{ file: 'n.rego', source: 'package mcp.fetch\nallow := "yes"\n' }], 'data.mcp.fetch.allow');
  assert.equal((await nonBoolean.decide({})).allow, false);
  const runaway = new LocalRegoDecider([{ file: 'w.rego', source: 'package mcp.fetch\nallow if { some a, b, c, d; input.xs[a]; input.xs[b]; input.xs[c]; input.xs[d]; false }\n' }], 'data.mcp.fetch.allow');
  const d3 = await runaway.decide({ xs: Array.from({ length: 60 }, (_, i) => i) });
  assert.deepEqual([d3.allow, /eval_limit_error: policy evaluation exceeded 200000 steps/.test(d3.reason)], [false, true]);
  assert.throws(() => new LocalRegoDecider([{ file: 'x.rego', source: 'package x\nallow if {' }], 'data.x.allow'), /x\.rego:2: rego_parse_error/);
  assert.throws(() => new LocalRegoDecider([], 'mcp.fetch.allow'), /must be a reference like data\.mcp\.fetch\.allow/);
});

test('OPA REST decider against the stand-in: result.allow, boolean result, undefined, errors', async (t) => {
  const opa = await startOpaStandIn({ 'fetch.rego': FETCH_POLICY, 'flat.rego': 'package mcp.flat\nimport rego.v1\ndefault allow := false\nallow if input.url_parsed.host == "ok.test"\n' });
  t.after(() => opa.close());
  const object = new OpaRestDecider({ url: opa.url, policyPath: 'mcp/fetch' });
  assert.equal((await object.decide(get('https://api.example.com/public/x'))).allow, true);
  const denied = await object.decide(get('https://api.example.com/nope'));
  assert.equal(denied.allow, false);
  assert.match(denied.reason, /OPA http:\/\/127\.0\.0\.1:\d+\/v1\/data\/mcp\/fetch result is \{"allow":false\}/);
  assert.deepEqual(opa.requests.at(-1), { path: '/v1/data/mcp/fetch', body: { input: get('https://api.example.com/nope') } });
  const boolean = new OpaRestDecider({ url: `${opa.url}/`, policyPath: '/mcp/flat/allow' });
  assert.equal((await boolean.decide(get('https://ok.test/'))).allow, true);
  assert.equal((await boolean.decide(get('https://no.test/'))).allow, false);
  const missing = await new OpaRestDecider({ url: opa.url, policyPath: 'mcp/none' }).decide({});
  assert.equal(missing.allow, false);
  assert.match(missing.reason, /undefined/);
});

test('an unreachable, failing, slow or garbled OPA denies with a clear reason', async (t) => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const unreachable = await new OpaRestDecider({ url: `http://127.0.0.1:${deadPort}`, policyPath: 'mcp/fetch' }).decide({});
  assert.equal(unreachable.allow, false);
  assert.match(unreachable.reason, /unreachable \(ECONNREFUSED\)/);

  let hang: (() => void) | undefined;
  const odd = createServer((req, res) => {
    if (req.url === '/v1/data/slow') { hang = () => res.end('{}'); return; }
    if (req.url === '/v1/data/fail') { res.writeHead(500).end('{"code":"internal_error"}'); return; }
    if (req.url === '/v1/data/big') { res.writeHead(200).end(`{"result":{"allow":true,"pad":"${'x'.repeat(2 * 1024 * 1024)}"}}`); return; }
    res.writeHead(200).end('not json');
  });
  await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
  t.after(() => { hang?.(); odd.closeAllConnections(); odd.close(); });
  const base = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
  const slow = await new OpaRestDecider({ url: base, policyPath: 'slow', timeoutMs: 200 }).decide({});
  assert.deepEqual([slow.allow, /no answer within 200 ms/.test(slow.reason)], [false, true]);
  const fail = await new OpaRestDecider({ url: base, policyPath: 'fail' }).decide({});
  assert.deepEqual([fail.allow, /HTTP 500/.test(fail.reason)], [false, true]);
  const garbled = await new OpaRestDecider({ url: base, policyPath: 'garbled' }).decide({});
  assert.deepEqual([garbled.allow, /invalid JSON/.test(garbled.reason)], [false, true]);
  const big = await new OpaRestDecider({ url: base, policyPath: 'big' }).decide({});
  assert.deepEqual([big.allow, /larger than 1048576 bytes/.test(big.reason)], [false, true]);
  assert.throws(() => new OpaRestDecider({ url: 'ftp://x', policyPath: 'a' }), /must be http:\/\/ or https:\/\//);
  assert.throws(() => new OpaRestDecider({ url: base, policyPath: '../x?y' }), /must look like mcp\/fetch/);
});

test('combined deciders: all must allow by default, any needs one', async () => {
  const yes = new LocalRegoDecider([{ file: 'y.rego', source: 'package p\nallow := true\n' }], 'data.p.allow');
  const no = new LocalRegoDecider([{ file: 'n.rego', source: 'package p\nallow := false\n' }], 'data.p.allow');
  assert.equal((await new CombinedDecider([yes, no]).decide({})).allow, false);
  assert.match((await new CombinedDecider([yes, no]).decide({})).reason, /n\.rego/);
  assert.equal((await new CombinedDecider([yes, no], 'any').decide({})).allow, true);
  assert.equal((await new CombinedDecider([no, no], 'any').decide({})).allow, false);
});
