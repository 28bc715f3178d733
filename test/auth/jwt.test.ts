// JWTs against a JWKS endpoint this test serves with keys it makes: valid tokens name their sub
// as the principal; alg none, HMAC with the public key, unknown keys, expired, not-yet-valid,
// wrong issuer, wrong audience, no sub or no exp are refused with a 401 that says why; a rotated
// key set is followed.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { runAndWait } from '../support/mcp-client.ts';
import { rawRequest } from '../support/raw-http.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const issuer = 'https://issuer.test';
const audience = 'mcp-v8-test';

interface Key { kid: string; alg: string; privateKey: CryptoKey; publicJwk: JWK }

async function makeKey(kid: string, alg: 'RS256' | 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function sign(key: Key, claims: Record<string, unknown>, options: { expiresIn?: string | number; notBefore?: string | number } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).setIssuedAt();
  if (!('iss' in claims)) jwt = jwt.setIssuer(issuer);
  if (!('aud' in claims)) jwt = jwt.setAudience(audience);
  if (options.expiresIn !== undefined) jwt = jwt.setExpirationTime(options.expiresIn);
  if (options.notBefore !== undefined) jwt = jwt.setNotBefore(options.notBefore);
  return jwt.sign(key.privateKey);
}

const base64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('JWT access', () => {
  let jwks: Server;
  let served: Key[];
  let fetches = 0;
  let server: ServerProcess;
  let rsa: Key;
  let ec: Key;
  before(async () => {
    rsa = await makeKey('rsa-1', 'RS256');
    ec = await makeKey('ec-1', 'ES256');
    served = [rsa, ec];
    jwks = createServer((request, response) => {
      fetches++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: served.map((key) => key.publicJwk) }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', tempDir('jwt'),
      '--jwks-url', jwksUrl, '--jwt-issuer', issuer, '--jwt-audience', audience, '--jwks-cooldown', '0']);
  });
  after(async () => {
    await server.stop();
    await new Promise((resolve) => jwks.close(resolve));
  });

  async function exec(token: string) {
    return rawRequest(server.port, { method: 'POST', path: '/api/exec', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"code":"1"}' });
  }

  test('RS256 and ES256 tokens of the issuer are accepted', async () => {
    for (const key of [rsa, ec]) {
      const answer = await exec(await sign(key, { sub: 'alice' }, { expiresIn: '5m' }));
      assert.equal(answer.status, 202, `${key.alg}: ${answer.text}`);
    }
  });

  test('every bad token is a 401 that says why', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stranger = await makeKey('rsa-1', 'RS256'); // the same kid, another key
    const unknownKid = await makeKey('rsa-9', 'RS256');
    const publicPem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey);
    const cases: Array<[string, string, RegExp]> = [
      ['expired', await sign(rsa, { sub: 'alice', exp: now - 3600 }), /has expired/],
      ['not yet valid', await sign(rsa, { sub: 'alice' }, { expiresIn: '2h', notBefore: now + 3600 }), /not valid yet/],
      ['wrong issuer', await sign(rsa, { sub: 'alice', iss: 'https://other.test' }, { expiresIn: '5m' }), /another issuer/],
      ['wrong audience', await sign(rsa, { sub: 'alice', aud: 'another-service' }, { expiresIn: '5m' }), /another audience/],
      ['no sub', await sign(rsa, {}, { expiresIn: '5m' }), /sub claim/],
      ['no exp', await sign(rsa, { sub: 'alice' }), /exp claim/],
      ['alg none', `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: 'alice', iss: issuer, aud: audience, exp: now + 300 })}.`, /algorithm this server does not accept/],
      ['HS256 keyed with a public key', `${base64url({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' })}.${base64url({ sub: 'alice', iss: issuer, aud: audience, exp: now + 300 })}.${base64url(publicPem)}`, /algorithm this server does not accept/],
      ['signed by a stranger under a known kid', await sign(stranger, { sub: 'alice' }, { expiresIn: '5m' }), /signature is not valid/],
      ['signed by a key the issuer does not publish', await sign(unknownKid, { sub: 'alice' }, { expiresIn: '5m' }), /no key of the issuer/],
      ['sub reserved', await sign(rsa, { sub: 'anonymous' }, { expiresIn: '5m' }), /sub claim is empty, too long or reserved/],
      ['a tampered payload', (await sign(rsa, { sub: 'alice' }, { expiresIn: '5m' })).replace(/\.([^.]+)\./, `.${base64url({ sub: 'mallory', iss: issuer, aud: audience, exp: now + 300 })}.`), /signature is not valid/],
    ];
    for (const [what, token, why] of cases) {
      const answer = await exec(token);
      assert.equal(answer.status, 401, `${what}: ${answer.text}`);
      assert.match(answer.headers['www-authenticate'] as string, /error="invalid_token"/, what);
      assert.match(answer.headers['www-authenticate'] as string, why, what);
      assert.ok(!server.stderr().includes(token), `${what}: the token is not logged`);
    }
  });

  test('key rotation: a token under a new key id is accepted once the issuer publishes it; the retired key is refused', async () => {
    const next = await makeKey('rsa-2', 'RS256');
    const before = fetches;
    served = [next, ec];
    const answer = await exec(await sign(next, { sub: 'alice' }, { expiresIn: '5m' }));
    assert.equal(answer.status, 202, answer.text);
    assert.ok(fetches > before, 'the key set was fetched again');
    // A token never seen before (jti): one verified lately would be trusted for up to a minute more.
    const retired = await exec(await sign(rsa, { sub: 'alice', jti: 'after-rotation' }, { expiresIn: '5m' }));
    assert.equal(retired.status, 401, retired.text);
    served = [rsa, ec];
  });

  test('the metadata names the issuer, and the SDK client works with a JWT', async () => {
    const metadata = await rawRequest(server.port, { path: '/.well-known/oauth-protected-resource' });
    assert.deepEqual(metadata.json().authorization_servers, [issuer]);
    const token = await sign(ec, { sub: 'bob' }, { expiresIn: '5m' });
    const client = new Client({ name: 'jwt-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.baseUrl}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    assert.equal((await runAndWait(client, '40 + 2')).result, '42');
    await client.close();
  });
});
