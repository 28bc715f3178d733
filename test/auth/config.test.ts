// The access-control flags as parsed (src/auth-config.ts through src/config.ts), the token
// table and the rate limiter, without a server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRateLimiter } from '../../src/auth/rate-limit.ts';
import { createTokenTable } from '../../src/auth/tokens.ts';
import { parseConfig, type Config } from '../../src/config.ts';

const token = 'a-token-of-sixteen-or-more';

function auth(argv: string[], environment: NodeJS.ProcessEnv = {}): Config['auth'] {
  const parsed = parseConfig(['--http-port', '0', ...argv], environment);
  assert.equal(parsed.action, 'run');
  return (parsed as { config: Config }).config.auth;
}

describe('access-control flags', () => {
  test('defaults: nothing allowed beyond loopback, no credentials, no limits but the executions bound', () => {
    assert.deepEqual(auth([]), {
      allowedHosts: [], allowedOrigins: [], tokens: [], jwt: null, allowUnauthenticated: false, metricsUnauthenticated: false,
      publicUrl: null, shareHeaps: false, principalExecutionsMax: 1000, principalRequestsPerSec: 0, trustedProxies: [],
    });
  });

  test('lists come repeated or comma-separated, from flags or MCP_V8_* variables; flags win', () => {
    assert.deepEqual(auth(['--allowed-hosts', 'A.example,b.example:8080', '--allowed-hosts', 'c.example']).allowedHosts, ['a.example', 'b.example:8080', 'c.example']);
    assert.deepEqual(auth([], { MCP_V8_ALLOWED_ORIGINS: 'https://app.example, http://localhost:3000' }).allowedOrigins, ['https://app.example', 'http://localhost:3000']);
    assert.deepEqual(auth([], { MCP_V8_AUTH_TOKEN: `ops=${token},${token}-2` }).tokens, [{ name: 'ops', token }, { name: 'token1', token: `${token}-2` }]);
    assert.deepEqual(auth(['--auth-token', `cli=${token}`], { MCP_V8_AUTH_TOKEN: `env=${token}-2` }).tokens, [{ name: 'cli', token }]);
    const jwt = auth(['--jwks-url', 'https://issuer.example/jwks?k=1', '--jwt-issuer', 'https://issuer.example', '--jwt-audience', 'mcp', '--jwt-algorithms', 'ES256,EdDSA']).jwt;
    assert.deepEqual(jwt, { jwksUrl: 'https://issuer.example/jwks?k=1', issuer: 'https://issuer.example', audience: 'mcp', algorithms: ['ES256', 'EdDSA'], cooldownSecs: 30 });
    assert.equal(auth(['--public-url', 'https://mcp.example/some/path']).publicUrl, 'https://mcp.example');
  });

  test('--trusted-proxy: addresses and CIDRs, IPv4 and IPv6, repeated or comma-separated or from MCP_V8_TRUSTED_PROXY', () => {
    assert.deepEqual(auth(['--trusted-proxy', '10.0.0.5', '--trusted-proxy', '192.168.0.0/16, FD00::/8']).trustedProxies, ['10.0.0.5', '192.168.0.0/16', 'fd00::/8']);
    assert.deepEqual(auth([], { MCP_V8_TRUSTED_PROXY: '127.0.0.1,::1' }).trustedProxies, ['127.0.0.1', '::1']);
    assert.deepEqual(auth([]).trustedProxies, []);
  });

  test('--trusted-proxy: a bad value is a start-up error naming it', () => {
    const cases: [string, RegExp][] = [
      ['proxy.example', /--trusted-proxy: 'proxy\.example' is not an IP address or CIDR/],
      ['10.0.0.256', /'10\.0\.0\.256' is not an IP address/],
      ['10.0.0.0/33', /'10\.0\.0\.0\/33': the prefix length must be a whole number from 0 to 32/],
      ['fd00::/129', /from 0 to 128/],
      ['10.0.0.0/', /prefix length/],
      ['10.0.0.0/8x', /prefix length/],
    ];
    for (const [value, message] of cases) assert.throws(() => parseConfig(['--http-port', '0', '--trusted-proxy', value], {}), message, value);
  });

  test('beyond loopback: a credential or --allow-unauthenticated; loopback and stdio need neither', () => {
    assert.throws(() => parseConfig(['--http-port', '0', '--bind-host', '0.0.0.0'], {}), /--bind-host 0\.0\.0\.0: listening beyond loopback without authentication/);
    assert.throws(() => parseConfig(['--sse-port', '0', '--bind-host', '10.0.0.5'], {}), /without authentication/);
    for (const argv of [['--auth-token', token], ['--allow-unauthenticated'], ['--jwks-url', 'http://127.0.0.1:1/jwks', '--jwt-issuer', 'i', '--jwt-audience', 'a']]) {
      assert.equal(parseConfig(['--http-port', '0', '--bind-host', '0.0.0.0', ...argv], {}).action, 'run', argv.join(' '));
    }
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.0.0.2']) assert.equal(parseConfig(['--http-port', '0', '--bind-host', host], {}).action, 'run', host);
    assert.equal(parseConfig(['--bind-host', '0.0.0.0'], {}).action, 'run', 'stdio listens nowhere');
  });

  test('bad values name the flag', () => {
    assert.throws(() => auth(['--jwks-url', 'not a url', '--jwt-issuer', 'i', '--jwt-audience', 'a']), /--jwks-url must be the URL of a JWKS document/);
    assert.throws(() => auth(['--jwks-url', 'ftp://x/jwks', '--jwt-issuer', 'i', '--jwt-audience', 'a']), /--jwks-url must be an http\(s\) URL/);
    assert.throws(() => auth(['--jwks-url', 'https://u:p@x.example/jwks', '--jwt-issuer', 'i', '--jwt-audience', 'a']), /must not carry user:password@/);
    assert.throws(() => auth(['--jwks-cooldown', '5']), /--jwks-cooldown requires --jwks-url/);
    assert.throws(() => auth(['--principal-rate-limit', '-1']), /--principal-rate-limit must be a whole number/);
    assert.throws(() => auth(['--auth-token', 'has a space in it, long']), /contains white space/);
  });
});

describe('the token table and the rate limiter', () => {
  test('each token names its principal; anything else, even one character off, names none', () => {
    const table = createTokenTable([{ name: 'a', token: `${token}-a` }, { name: 'b', token: `${token}-b` }]);
    assert.equal(table.principalOf(`${token}-a`), 'a');
    assert.equal(table.principalOf(`${token}-b`), 'b');
    for (const wrong of [`${token}-c`, `${token}-a `, token, '', `${token}-ab`]) assert.equal(table.principalOf(wrong), null, wrong);
  });

  test('a bucket of one second\'s worth, refilled at the rate; Retry-After in whole seconds', () => {
    const limiter = createRateLimiter(2);
    assert.equal(limiter.take('p', 0), 0);
    assert.equal(limiter.take('p', 0), 0);
    assert.equal(limiter.take('p', 0), 1, 'the third at once waits');
    assert.equal(limiter.take('q', 0), 0, 'another principal has its own bucket');
    assert.equal(limiter.take('p', 499), 1, 'not quite one token back');
    assert.equal(limiter.take('p', 1000), 0, 'one token back after half a second');
    assert.equal(createRateLimiter(0).take('p', 0), 0, '0: no limit');
    const slow = createRateLimiter(1);
    slow.take('p', 0);
    assert.equal(slow.take('p', 0), 1);
  });
});
