// From flags to working gates, as the server will build them once the sandbox side exists.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildPolicyCapabilities } from '../../src/policy/capabilities.ts';
import { startOpaStandIn } from './opa-stand-in.ts';

test('flags → fetch gate (local Rego + OPA, all must allow) with injected headers, and fs gate', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mcp-v8-capabilities-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let seenAuth: string | undefined;
  const target = createServer((req, res) => { seenAuth = req.headers.authorization; res.end('hello'); });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  t.after(() => { target.closeAllConnections(); target.close(); });
  const port = (target.address() as AddressInfo).port;
  const opa = await startOpaStandIn({ 'f.rego': 'package mcp.fetch\ndefault allow := false\nallow if input.method == "GET"\n' });
  t.after(() => opa.close());
  writeFileSync(join(dir, 'fetch.rego'), `package mcp.fetch\ndefault allow := false\nallow if input.url_parsed.port == ${port}\n`);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'fs.rego'), `package mcp.filesystem\ndefault allow := false\nallow if startswith(input.path, ${JSON.stringify(`${dir}/data/`)})\n`);
  writeFileSync(join(dir, 'headers.json'), JSON.stringify([{ host: '127.0.0.1', headers: { Authorization: 'Bearer from-file-secret' } }]));
  writeFileSync(join(dir, 'policies.json'), JSON.stringify({
    fetch: { policies: [{ url: pathToFileURL(join(dir, 'fetch.rego')).href }] },
    filesystem: { policies: [{ url: pathToFileURL(join(dir, 'fs.rego')).href }] },
  }));
  const caps = buildPolicyCapabilities({ policiesJson: join(dir, 'policies.json'), opaUrl: opa.url, fetchHeaderConfig: join(dir, 'headers.json') });
  assert.equal(caps.modules, undefined);
  const res = await caps.fetch!.fetch({ url: `http://127.0.0.1:${port}/x` });
  assert.equal(Buffer.from(res.body).toString(), 'hello');
  assert.equal(seenAuth, 'Bearer from-file-secret');
  await assert.rejects(caps.fetch!.fetch({ url: `http://127.0.0.1:${port}/x`, method: 'POST' }), /denied by policy: OPA .*result is \{"allow":false\}/);
  await caps.fs!.writeFile(join(dir, 'data', 'a.txt'), 'x');
  await assert.rejects(caps.fs!.readFile(join(dir, 'fetch.rego')), /denied by policy/);
  const summary = JSON.stringify(caps.summary);
  assert.ok(summary.includes('[redacted]') && !summary.includes('from-file-secret'), summary);
  assert.match(summary, /"fetch":"all of \[rego data\.mcp\.fetch\.allow/);
});

test('flag errors are INVALID_FLAG, name the flag, and hide secrets', () => {
  const fail = (flags: Parameters<typeof buildPolicyCapabilities>[0], re: RegExp) => assert.throws(() => buildPolicyCapabilities(flags, () => { throw Object.assign(new Error('no'), { code: 'ENOENT' }); }), (e: Error & { code?: string }) => e.code === 'INVALID_FLAG' && re.test(e.message) && !e.message.includes('s3cr3t'), re.source);
  fail({ fetchHeader: ['host=a.test,header=A,value=s3cr3t'] }, /--fetch-header requires a fetch policy/);
  fail({ fetchHeaderConfig: 'h.json' }, /--fetch-header-config h\.json: cannot read the file \(ENOENT\)/);
  fail({ opaUrl: 'http://127.0.0.1:9', fetchHeader: ['host=a.test,value=s3cr3t'] }, /--fetch-header #1 .*header= is missing/);
  fail({ policiesJson: 'missing.json' }, /--policies-json missing\.json: cannot read the file \(ENOENT\)/);
  fail({ opaFetchPolicy: 'mcp/x' }, /--opa-fetch-policy requires --opa-url/);
  assert.deepEqual(buildPolicyCapabilities({}).summary, {});
});
