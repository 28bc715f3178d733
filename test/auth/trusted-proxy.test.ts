// --trusted-proxy (src/auth/trusted-proxy.ts; its values as parsed: config.test.ts): the rule that picks a
// forwarded client, and the gate on a real HTTP server on loopback deciding the client key that
// the fair share of CPU lanes uses (connectionOf): from a trusted proxy, the forwarded client;
// from any other peer, a forged X-Forwarded-For changes nothing.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import pino from 'pino';
import { createGate } from '../../src/auth/gate.ts';
import { createTrustedProxies, forwardedHopsMax } from '../../src/auth/trusted-proxy.ts';
import { parseConfig, type Config } from '../../src/config.ts';
import { connectionOf } from '../../src/principal.ts';

/** The access-control part of the config these flags give (the flag's own parsing: test/auth/config.test.ts). */
function authWith(argv: string[]): Config['auth'] {
  const parsed = parseConfig(['--http-port', '0', ...argv], {});
  if (parsed.action !== 'run') throw new Error(`no config: ${parsed.action}`);
  return parsed.config.auth;
}

describe('--trusted-proxy', () => {
  test('the client is the rightmost forwarded address that is not a trusted proxy; only a trusted peer is heard', () => {
    const proxies = createTrustedProxies(['10.0.0.0/8', 'fd00::/8'])!;
    assert.equal(createTrustedProxies([]), null, 'no flag: nothing to look at');
    assert.equal(proxies.clientOf('203.0.113.9', '198.51.100.7'), null, 'an untrusted peer: X-Forwarded-For ignored');
    assert.equal(proxies.clientOf('10.1.2.3', undefined), null, 'a trusted peer that forwards nothing');
    assert.equal(proxies.clientOf('10.1.2.3', '198.51.100.7'), '198.51.100.7');
    assert.equal(proxies.clientOf('::ffff:10.1.2.3', '1.1.1.1, 198.51.100.7'), '198.51.100.7', 'the forged left part is ignored');
    assert.equal(proxies.clientOf('10.1.2.3', '1.1.1.1, 198.51.100.7, 10.9.9.9, fd00::1'), '198.51.100.7', 'trusted hops are skipped');
    assert.equal(proxies.clientOf('10.1.2.3', ['1.1.1.1', '2001:DB8::1']), '2001:db8::1');
    assert.equal(proxies.clientOf('fd00::2', '10.0.0.1, 10.0.0.2'), '10.0.0.1', 'every hop trusted: the leftmost');
    assert.equal(proxies.clientOf('10.1.2.3', 'garbage'), null, 'not an address: no client named');
    assert.equal(proxies.clientOf('10.1.2.3', 'garbage, 10.0.0.7'), '10.0.0.7');
    const long = [...Array.from({ length: forwardedHopsMax + 5 }, () => '10.0.0.9'), '198.51.100.7'];
    assert.equal(proxies.clientOf('10.1.2.3', long.join(',')), '198.51.100.7');
    assert.equal(proxies.clientOf('10.1.2.3', ['1.1.1.1', ...long.slice(1, -1)].join(',')), '10.0.0.9', `at most ${forwardedHopsMax} hops looked at`);
  });

  /** A real HTTP server on loopback that runs the gate, then answers the request's client key. */
  async function keyServer(argv: string[]): Promise<{ key: (forwardedFor?: string) => Promise<string>; close: () => Promise<void> }> {
    const gate = createGate({ auth: authWith(argv), bindHost: '127.0.0.1', logger: pino({ level: 'silent' }) });
    const server = http.createServer(async (request, response) => {
      if (!await gate(request, response)) return;
      response.end(connectionOf(request));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const key = (forwardedFor?: string) => new Promise<string>((resolve, reject) => {
      const headers: Record<string, string> = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
      http.get({ host: '127.0.0.1', port, path: '/api/exec', headers, agent: false }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; }).on('end', () => resolve(text));
      }).on('error', reject);
    });
    return { key, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  test('through the gate: behind a trusted proxy every request of one forwarded client has one key; a forged header from an untrusted peer changes nothing', async () => {
    const trusting = await keyServer(['--trusted-proxy', '127.0.0.1']);
    try {
      assert.equal(await trusting.key('198.51.100.7'), 'client 198.51.100.7');
      assert.equal(await trusting.key('1.1.1.1, 198.51.100.7'), 'client 198.51.100.7', 'one client over another connection, whatever it forged');
      assert.match(await trusting.key(), /^connection 127\.0\.0\.1:\d+$/, 'no header: the connection');
    } finally {
      await trusting.close();
    }
    const other = await keyServer(['--trusted-proxy', '10.0.0.0/8']);
    try {
      const forged = [await other.key('198.51.100.7'), await other.key('198.51.100.7')];
      for (const key of forged) assert.match(key, /^connection 127\.0\.0\.1:\d+$/, 'an untrusted peer is keyed by its connection');
      assert.notEqual(forged[0], forged[1], 'two connections stay two clients, as without the header');
    } finally {
      await other.close();
    }
  });
});
