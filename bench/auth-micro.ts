// `npm run bench:auth`: what the access-control gate (src/auth/gate.ts) costs per request, in
// the process, without the network: the gate is called with a request as node:http hands it over
// (url, method, headers) for each configuration, in turns (A B C D A B C D …), and the medians of
// the per-round means are reported. Configurations:
//   none    – no gate at all (the call of an empty function: the floor)
//   host    – access control off: the Host and Origin checks only (every server pays this)
//   token   – one --auth-token (sha256 of the presented token, constant-time compare)
//   tokens  – ten --auth-token (the same, against each)
//   jwt     – an RS256 JWT of a JWKS served on loopback, sent again and again (verified once,
//             then remembered for up to a minute: what a client holding a token costs)
//   jwt-new – a JWT never seen before on every request (a signature verification each)
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { parseAuthConfig } from '../src/auth-config.ts';
import { createGate, type Gate } from '../src/auth/gate.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const syncCallsPerRound = 200_000;
const jwtCallsPerRound = 20_000;
const newJwtsPerRound = 300;
const token = 'bench-token-0123456789abcdef0123456789abcdef';
const logger = pino({ level: 'silent' });

function config(flags: Record<string, string[]>) {
  return parseAuthConfig({
    list: (name) => flags[name] ?? [],
    string: (name) => flags[name]?.[0],
    bool: () => false,
    int: (name) => (flags[name] === undefined ? undefined : Number(flags[name]![0])),
  });
}

const { privateKey, publicKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
const jwks = createServer((_request, response) => { response.writeHead(200, { 'content-type': 'application/json' }); response.end(JSON.stringify({ keys: [jwk] })); });
await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
const jwt = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://issuer.bench').setAudience('mcp-v8').setIssuedAt().setExpirationTime('1h').sign(privateKey);

const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
const jwtConfig = () => config({ 'jwks-url': [jwksUrl], 'jwt-issuer': ['https://issuer.bench'], 'jwt-audience': ['mcp-v8'] });
const newJwts = await Promise.all(Array.from({ length: newJwtsPerRound * (rounds + 1) }, (_, index) =>
  new SignJWT({ sub: 'bench', jti: String(index) }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://issuer.bench').setAudience('mcp-v8').setIssuedAt().setExpirationTime('1h').sign(privateKey)));

const gates: Array<{ name: string; gate: Gate; bearer: string | null | (() => string); calls: number }> = [
  { name: 'none', gate: () => true, bearer: null, calls: syncCallsPerRound },
  { name: 'host', gate: createGate({ auth: config({}), bindHost: '127.0.0.1', logger }), bearer: null, calls: syncCallsPerRound },
  { name: 'token', gate: createGate({ auth: config({ 'auth-token': [`bench=${token}`] }), bindHost: '127.0.0.1', logger }), bearer: token, calls: syncCallsPerRound },
  {
    name: 'tokens',
    gate: createGate({ auth: config({ 'auth-token': Array.from({ length: 10 }, (_, index) => `t${index}=${token}-${index}`) }), bindHost: '127.0.0.1', logger }),
    bearer: `${token}-9`, calls: syncCallsPerRound,
  },
  {
    name: 'jwt',
    gate: createGate({ auth: jwtConfig(), bindHost: '127.0.0.1', logger }),
    bearer: jwt, calls: jwtCallsPerRound,
  },
  { name: 'jwt-new', gate: createGate({ auth: jwtConfig(), bindHost: '127.0.0.1', logger }), bearer: () => newJwts.pop()!, calls: newJwtsPerRound },
];

const response = {} as ServerResponse;

function request(bearer: string | null | (() => string)): IncomingMessage {
  if (typeof bearer === 'function') bearer = bearer();
  const headers: Record<string, string> = { host: '127.0.0.1:8080', 'content-type': 'application/json', 'content-length': '12' };
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  return { url: '/api/exec', method: 'POST', headers } as unknown as IncomingMessage;
}

/** Mean µs per call of one round. A refusal would be a broken benchmark: it throws. */
async function round(entry: (typeof gates)[number]): Promise<number> {
  const fresh = typeof entry.bearer === 'function';
  const requests = Array.from({ length: fresh ? entry.calls : 64 }, () => request(entry.bearer));
  const start = process.hrtime.bigint();
  for (let index = 0; index < entry.calls; index++) {
    const admitted = entry.gate(requests[fresh ? index : index & 63]!, response);
    if (admitted !== true && (await admitted) !== true) throw new Error(`${entry.name}: refused`);
  }
  return Number(process.hrtime.bigint() - start) / 1000 / entry.calls;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const samples = new Map<string, number[]>(gates.map((entry) => [entry.name, []]));
for (const entry of gates) await round({ ...entry, calls: Math.min(entry.calls, newJwtsPerRound) }); // warm up, JWKS fetched
for (let index = 0; index < rounds; index++) {
  for (const entry of gates) samples.get(entry.name)!.push(await round(entry));
}
jwks.close();
const floor = median(samples.get('none')!);
console.log(`| gate | µs per request (median of ${rounds} rounds) | min–max | over the floor |`);
console.log('|---|---|---|---|');
for (const entry of gates) {
  const values = samples.get(entry.name)!;
  console.log(`| ${entry.name} | ${median(values).toFixed(3)} | ${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)} | ${(median(values) - floor).toFixed(3)} |`);
}
