// The evaluator on the README's example policies and on the errors a policy author meets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegoError, RegoPolicy } from '../../src/policy/rego/index.ts';
import { README_FETCH_POLICY, README_FS_POLICY } from '../../src/policy/readme-examples.ts';



test('the README fetch policy allows GET /public/ on api.example.com and nothing else', () => {
  const p = new RegoPolicy([{ file: 'fetch.rego', source: README_FETCH_POLICY }]);
  const input = (method: string, host: string, path: string) => ({ operation: 'fetch', method, url: `https://${host}${path}`, headers: {}, url_parsed: { scheme: 'https', host, port: 443, path, query: '' } });
  assert.equal(p.evaluate(['mcp', 'fetch', 'allow'], input('GET', 'api.example.com', '/public/x')), true);
  assert.equal(p.evaluate(['mcp', 'fetch', 'allow'], input('POST', 'api.example.com', '/public/x')), false);
  assert.equal(p.evaluate(['mcp', 'fetch', 'allow'], input('GET', 'evil.example.com', '/public/x')), false);
  assert.equal(p.evaluate(['mcp', 'fetch', 'allow'], input('GET', 'api.example.com', '/private')), false);
});

test('the README fs policy: read, write and listing under /tmp/ only', () => {
  const p = new RegoPolicy([{ file: 'fs.rego', source: README_FS_POLICY }]);
  const allow = (operation: string, path: string) => p.evaluate(['mcp', 'fs', 'allow'], { operation, path });
  assert.equal(allow('readFile', '/tmp/a'), true);
  assert.equal(allow('stat', '/tmp/a'), true);
  assert.equal(allow('rm', '/tmp/a'), false);
  assert.equal(allow('readFile', '/etc/passwd'), false);
});

test('else chains, functions, comprehensions, every and with', () => {
  const p = new RegoPolicy([{
    file: 'x.rego',
    source: `package x
import rego.v1
grade(n) := "high" if n > 10 else := "low"
hosts := {h | some u in input.urls; h := split(u, "/")[2]}
all_https if every u in input.urls { startswith(u, "https://") }
by_host[h] := n if { some h in hosts; n := count([u | some u in input.urls; contains(u, h)]) }
wrapped := v if v := count(hosts) with input.urls as ["http://c.test/"]
`,
  }]);
  const input = { urls: ['https://a.test/x', 'https://b.test/y', 'https://a.test/z'] };
  assert.deepEqual(p.evaluate(['x'], input), {
    all_https: true,
    by_host: { 'a.test': 2, 'b.test': 1 },
    hosts: ['a.test', 'b.test'],
    wrapped: 1,
  });
  assert.deepEqual(p.query('x := data.x.grade(11); y := data.x.grade(1)').map((r) => Object.fromEntries(r)), [{ x: 'high', y: 'low' }]);
});

test('bad policies are refused with the file and line; conflicts and recursion are errors', () => {
  assert.throws(() => new RegoPolicy([{ file: 'bad.rego', source: 'package x\n\nallow if {\n  input.a ==\n}\n' }]), (e: unknown) => e instanceof RegoError && e.code === 'rego_parse_error' && e.message.startsWith('bad.rego:5:'));
  const conflict = new RegoPolicy([{ file: 'c.rego', source: 'package c\np := 1 if input.a\np := 2 if input.a\n' }]);
  assert.throws(() => conflict.evaluate(['c', 'p'], { a: true }), (e: unknown) => e instanceof RegoError && e.code === 'eval_conflict_error');
  const rec = new RegoPolicy([{ file: 'r.rego', source: 'package r\np if q\nq if p\n' }]);
  assert.throws(() => rec.evaluate(['r', 'p'], {}), (e: unknown) => e instanceof RegoError && /recursi/.test(e.message));
  // Unknown functions fail at load time, even in a rule no request reaches.
  assert.throws(() => new RegoPolicy([{ file: 'u.rego', source: 'package u\np if http.send({})\n' }]), (e: unknown) => e instanceof RegoError && e.code === 'unsupported' && e.message === 'unsupported: built-in function http.send (u.rego:2)');
  assert.throws(() => new RegoPolicy([{ file: 'v.rego', source: 'package v\nf(x) := x\np if { input.a; q.g(1) }\nq := 1\n' }]), /v\.rego:3: rego_type_error: undefined function q\.g/);
  assert.equal(new RegoPolicy([{ file: 'w.rego', source: 'package w\np if { print("debug", input.a); input.a == 1 }\n' }]).evaluate(['w', 'p'], { a: 1 }), true);
});

test('a combinatorial policy stops at the step bound instead of running away', () => {
  const p = new RegoPolicy([{ file: 'b.rego', source: 'package b\np if { some a, b, c, d; input.xs[a]; input.xs[b]; input.xs[c]; input.xs[d]; false }\n' }]);
  const xs = Array.from({ length: 60 }, (_, i) => i);
  assert.throws(() => p.evaluate(['b', 'p'], { xs }, { stepsMax: 100_000 }), (e: unknown) => e instanceof RegoError && e.code === 'eval_limit_error');
});

test('a literal that needs a variable bound later waits for it, as OPA orders them', () => {
  const p = new RegoPolicy([{ file: 'o.rego', source: `package o
allow if {
  count(parts) == 3
  parts[0] == "api"
  parts = split(input.host, ".")
  not blocked[parts[1]]
}
blocked contains "evil"
out_arg if { glob.match("*.test", ["."], input.host, matched); matched == true }
` }]);
  assert.equal(p.evaluate(['o', 'allow'], { host: 'api.example.com' }), true);
  assert.equal(p.evaluate(['o', 'allow'], { host: 'api.evil.com' }), undefined);
  assert.equal(p.evaluate(['o', 'allow'], { host: 'www.example.com' }), undefined);
  assert.equal(p.evaluate(['o', 'out_arg'], { host: 'a.test' }), true);
  const unsafe = new RegoPolicy([{ file: 'u.rego', source: 'package u\np if { x > 1 }\n' }]);
  assert.throws(() => unsafe.evaluate(['u', 'p'], {}), /rego_unsafe_var_error: var x is unsafe/);
});

test('regexes that could backtrack exponentially on sandbox input are refused, not run', () => {
  const p = new RegoPolicy([{ file: 'r.rego', source: 'package r\nok if regex.match(input.re, input.s)\n' }]);
  for (const re of ['^(a+)+$', '^(a|aa)*$', '(x*)*y', '^([a-z]+\\.)*example\\.com$', '(a)\\1', 'a(?=b)']) {
    assert.throws(() => p.evaluate(['r', 'ok'], { re, s: `${'a'.repeat(40)}!` }), /unsupported: regex/, re);
  }
  assert.deepEqual(p.query('x := regex.is_valid("^(a+)+$"); y := regex.is_valid("(")').map((r) => Object.fromEntries(r)), [{ x: true, y: false }]);
  for (const [re, s, want] of [['^[a-z]+\\[[0-9]+\\]$', 'foo[1]', true], ['^(foo|bar)/[0-9]+$', 'bar/12', true], ['(?i)^GET$', 'get', true], ['^a{2,3}$', 'aaaa', undefined]] as const) {
    assert.equal(p.evaluate(['r', 'ok'], { re, s }), want, re);
  }
});

test('glob.match: delimiters, **, ?, classes, alternatives, escapes; linear on long subjects', () => {
  const p = new RegoPolicy([{ file: 'g.rego', source: 'package g\nok if glob.match(input.p, input.d, input.s)\n' }]);
  const m = (pattern: string, d: string[] | null, subject: string) => p.evaluate(['g', 'ok'], { p: pattern, d, s: subject }) === true;
  assert.ok(m('*.github.com', ['.'], 'api.github.com'));
  assert.ok(!m('*.github.com', ['.'], 'a.b.github.com'));
  assert.ok(m('**.github.com', ['.'], 'a.b.github.com'));
  assert.ok(m('*.github.com', null, 'api.github.com'));
  assert.ok(m('/tmp/**', ['/'], '/tmp/a/b/c'));
  assert.ok(!m('/tmp/*', ['/'], '/tmp/a/b'));
  assert.ok(m('file-?.txt', [], 'file-1.txt'));
  assert.ok(m('{api,www}.*.com', ['.'], 'www.example.com'));
  assert.ok(m('{a*,b?}x', [], 'bzx') && !m('{a*,b?}x', [], 'bzzx'));
  assert.ok(m('[!a-c]at', [], 'fat') && !m('[!a-c]at', [], 'bat'));
  assert.ok(m('\\*literal', [], '*literal') && !m('\\*literal', [], 'xliteral'));
  // A regex translation backtracks O(n^4) here; the state simulation is linear.
  const long = `/${'a/'.repeat(6000)}`;
  assert.ok(!m('*/*/*/*/x', [], long));
  assert.ok(m('**/a/', [], long));
});

test('net.cidr_contains keeps a fetch policy off private ranges', () => {
  const p = new RegoPolicy([{ file: 'n.rego', source: `package mcp.fetch
private := ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "::1/128", "fc00::/7"]
default allow := false
allow if {
  input.url_parsed.scheme == "https"
  not is_private(input.url_parsed.host)
}
is_private(h) if { net.cidr_is_valid(concat("", [h, "/32"])); some c in private; net.cidr_contains(c, h) }
is_private(h) if { contains(h, ":"); some c in private; net.cidr_contains(c, trim(h, "[]")) }
` }]);
  const allow = (host: string) => p.evaluate(['mcp', 'fetch', 'allow'], { url_parsed: { scheme: 'https', host } });
  assert.equal(allow('93.184.216.34'), true);
  assert.equal(allow('api.example.com'), true);
  for (const h of ['10.1.2.3', '127.0.0.1', '192.168.1.1', '169.254.169.254', '[::1]', '[fd00::1]']) assert.equal(allow(h), false, h);
  assert.deepEqual(p.query('x := net.cidr_contains("10.0.0.0/8", "10.2.0.0/16"); y := net.cidr_contains("10.0.0.0/16", "10.0.0.0/8")').map((r) => Object.fromEntries(r)), [{ x: true, y: false }]);
});
