// Policy and header-injection configuration: formats as the reference documents them, every
// error naming the file (or flag) and field, secrets never shown.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { describeHeaderRules, hostMatches, injectHeaders, mergeHeaderRules, parseFetchHeaderConfig, parseFetchHeaderFlag, redactFlag } from '../../src/policy/headers.ts';
import { buildDeciders, parsePoliciesJson, withOpaFetchShorthand } from '../../src/policy/policies-config.ts';

const SECRET = 'Bearer ghp_TOPSECRET,with,commas';

test('--fetch-header: fields, commas inside the value, methods, and errors without the secret', () => {
  const r = parseFetchHeaderFlag(`host=API.GitHub.com,header=Authorization,value=${SECRET},methods=GET;post`, 0);
  assert.equal(r.host, 'api.github.com');
  assert.deepEqual(r.headers, [['Authorization', SECRET]]);
  assert.deepEqual([...r.methods!], ['GET', 'POST']);
  assert.equal(r.override, false);
  const bad = [
    [`header=A,value=${SECRET}`, /host= is missing/],
    [`host=a.test,value=${SECRET}`, /header= is missing/],
    ['host=a.test,header=A', /value= is missing/],
    [`host=a b,header=A,value=${SECRET}`, /host "a b" must be a host name/],
    [`host=a.test,header=Bad Name,value=${SECRET}`, /header name "Bad Name"/],
    [`host=a.test,header=A,value=${SECRET},methods=`, /not an HTTP method|methods is empty/],
    [`colour=red,host=a.test,header=A,value=${SECRET}`, /expected host=/],
    [`host=a.test,host=b.test,header=A,value=${SECRET}`, /host is given twice/],
  ] as const;
  for (const [text, re] of bad) {
    assert.throws(() => parseFetchHeaderFlag(text, 2), (e: Error) => re.test(e.message) && e.message.startsWith('--fetch-header #3') && !e.message.includes('TOPSECRET'), text);
  }
  assert.equal(redactFlag(`host=a,header=b,value=${SECRET},methods=GET`), 'host=a,header=b,value=[redacted],methods=GET');
});

test('--fetch-header-config: the README format; errors name the file and field', () => {
  const rules = parseFetchHeaderConfig(JSON.stringify([
    { host: 'api.github.com', methods: ['GET', 'POST'], headers: { Authorization: SECRET, 'X-GitHub-Api-Version': '2022-11-28' } },
    { host: '*.example.com', headers: { 'X-API-Key': 'secret123' } },
  ]), 'headers.json');
  assert.equal(rules.length, 2);
  assert.equal(rules[1]!.methods, undefined);
  const dump = JSON.stringify(describeHeaderRules(rules));
  assert.ok(!dump.includes('TOPSECRET') && !dump.includes('secret123') && dump.includes('[redacted]'), dump);
  const cases: [unknown, RegExp][] = [
    [{ host: 'a' }, /headers\.json: the file: .*expected \[/],
    [[{ host: 'a.test' }], /headers\.json: field \[0\]\.headers/],
    [[{ host: 'a.test', headers: { A: 1 } }], /field \[0\]\.headers\.A/],
    [[{ host: 'a.test', headers: {}, extra: 1 }], /field \[0\]|Unrecognized/],
    [[{ host: 'a.test', headers: { A: 'x\r\nInjected: 1' } }], /line break/],
    [[{ host: 'a.test', methods: [], headers: { A: 'x' } }], /methods is empty/],
  ];
  for (const [json, re] of cases) assert.throws(() => parseFetchHeaderConfig(JSON.stringify(json), 'headers.json'), re);
  assert.throws(() => parseFetchHeaderConfig('[{"host": "a", "headers": {"A": "secret123"}', 'h.json'), (e: Error) => /h\.json: not valid JSON/.test(e.message) && !e.message.includes('secret123'));
});

test('host matching: exact, wildcard (bare domain too), case-insensitive', () => {
  assert.ok(hostMatches('api.github.com', 'API.GITHUB.COM'));
  assert.ok(!hostMatches('api.github.com', 'github.com'));
  for (const h of ['api.github.com', 'github.com', 'sub.api.github.com', 'GitHub.com']) assert.ok(hostMatches('*.github.com', h), h);
  for (const h of ['evilgithub.com', 'github.com.evil.test', 'com']) assert.ok(!hostMatches('*.github.com', h), h);
});

test('injection: methods filter, code-set headers win, first rule wins, override', () => {
  const rules = mergeHeaderRules(
    [parseFetchHeaderFlag('host=api.example.com,header=Authorization,value=Bearer injected', 0), parseFetchHeaderFlag('host=*.example.com,header=X-Post,value=p,methods=POST', 1)],
    parseFetchHeaderConfig(JSON.stringify([{ host: '*.example.com', headers: { Authorization: 'Bearer second' } }, { host: '*.example.com', headers: { 'X-Force': 'f' }, override: true }]), 'h.json'),
  );
  const url = new URL('https://api.example.com/data');
  const h1 = new Map<string, string>();
  assert.deepEqual(injectHeaders(rules, url, 'get', h1), ['authorization', 'x-force']);
  assert.deepEqual(Object.fromEntries(h1), { authorization: 'Bearer injected', 'x-force': 'f' });
  const h2 = new Map([['authorization', 'Bearer my-own-token'], ['x-force', 'mine']]);
  injectHeaders(rules, url, 'POST', h2);
  assert.deepEqual(Object.fromEntries(h2), { authorization: 'Bearer my-own-token', 'x-force': 'f', 'x-post': 'p' });
  const h3 = new Map<string, string>();
  injectHeaders(rules, new URL('https://other.test/'), 'GET', h3);
  assert.equal(h3.size, 0);
});

test('--policies-json: the api.md format, inline or a file; errors name the file and field', () => {
  const cfg = parsePoliciesJson('{"fetch": {"policies": [{"url": "file:///etc/mcp/fetch.rego"}]}, "filesystem": {"mode": "any", "policies": [{"url": "http://opa:8181", "policy_path": "mcp/filesystem"}]}}');
  assert.deepEqual(cfg, { fetch: { mode: 'all', policies: [{ url: 'file:///etc/mcp/fetch.rego' }] }, filesystem: { mode: 'any', policies: [{ url: 'http://opa:8181', policy_path: 'mcp/filesystem' }] } });
  const read = (text: string) => () => text;
  const cases: [string, RegExp][] = [
    ['{"fetch": {"policies": []}}', /p\.json: field fetch\.policies: /],
    ['{"fetch": {"policies": [{"url": "ftp://x"}]}}', /field fetch\.policies\[0\]\.url: must be a file:\/\/, http:\/\/ or https:\/\/ URL/],
    ['{"fetch": {"mode": "some", "policies": [{"url": "http://o"}]}}', /field fetch\.mode/],
    ['{"fecth": {}}', /p\.json: top level: .*fecth/],
    ['{"modules": {"policies": [{"url": "file:///x", "rule": "mcp.x"}]}}', /field modules\.policies\[0\]\.rule: must be a reference/],
    ['[1', /p\.json: not valid JSON/],
  ];
  for (const [text, re] of cases) assert.throws(() => parsePoliciesJson('p.json', read(text)), re, text);
  assert.throws(() => parsePoliciesJson('/nonexistent/p.json'), /--policies-json \/nonexistent\/p\.json: cannot read the file \(ENOENT\)/);
});

test('--opa-url shorthand and loading file:// Rego (a file or a folder) into deciders', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-v8-policies-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'fs'));
  writeFileSync(join(dir, 'fs', 'a.rego'), 'package mcp.filesystem\nimport data.mcp.lib.under_tmp\ndefault allow := false\nallow if under_tmp(input.path)\n');
  writeFileSync(join(dir, 'fs', 'lib.rego'), 'package mcp.lib\nunder_tmp(p) if startswith(p, "/tmp/")\n');
  writeFileSync(join(dir, 'broken.rego'), 'package mcp.fetch\nallow if {\n');
  const cfg = withOpaFetchShorthand(parsePoliciesJson(JSON.stringify({ filesystem: { policies: [{ url: pathToFileURL(join(dir, 'fs')).href }] } })), 'http://127.0.0.1:9', undefined);
  assert.deepEqual(cfg.fetch, { mode: 'all', policies: [{ url: 'http://127.0.0.1:9', policy_path: 'mcp/fetch' }] });
  const deciders = buildDeciders(cfg);
  assert.equal((await deciders.filesystem!.decide({ operation: 'readFile', path: '/tmp/x' })).allow, true);
  assert.equal((await deciders.filesystem!.decide({ operation: 'readFile', path: '/etc/x' })).allow, false);
  assert.match(deciders.fetch!.description, /OPA http:\/\/127\.0\.0\.1:9\/v1\/data\/mcp\/fetch/);
  assert.throws(() => buildDeciders(parsePoliciesJson(JSON.stringify({ fetch: { policies: [{ url: pathToFileURL(join(dir, 'broken.rego')).href }] } }))), /--policies-json fetch\.policies\[0\]: .*broken\.rego:3: rego_parse_error/);
  assert.throws(() => buildDeciders(parsePoliciesJson(JSON.stringify({ fetch: { policies: [{ url: pathToFileURL(join(dir, 'none')).href }] } }))), /cannot read .*none \(ENOENT\)/);
  assert.throws(() => withOpaFetchShorthand({}, undefined, 'mcp/x'), /--opa-fetch-policy requires --opa-url/);
  assert.throws(() => withOpaFetchShorthand({}, 'opa:8181', undefined), /--opa-url "opa:8181" must be an http/);
});
