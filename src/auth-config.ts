// Access control's part of the Config (src/auth uses it; a file of its own so that config.ts
// depends on no part of the server): allowed Host and Origin values, bearer tokens, JWT
// verification, tenancy and per-principal limits. Parsed from the flags declared in
// src/config.ts; every bad value is an INVALID_FLAG error naming the flag.
import { isIP } from 'node:net';
import { McpV8Error } from './errors.ts';
import { anonymousPrincipal } from './principal.ts';

/** The shortest cluster secret accepted (src/auth/cluster.ts signs node traffic with it). */
export const clusterSecretCharsMin = 32;

export interface StaticToken {
  /** The principal the token stands for (`name=token`, or `token1`, `token2`… for bare tokens). */
  name: string;
  token: string;
}

export interface JwtConfig {
  jwksUrl: string;
  issuer: string;
  audience: string;
  /** Only these `alg` values are accepted; `none` never is. */
  algorithms: string[];
  /** How soon a token naming an unknown key id may refetch the JWKS (`--jwks-cooldown`). */
  cooldownSecs: number;
}

export interface AuthConfig {
  /** `--allowed-hosts`: Host values accepted beside loopback names and the bind address; `*` accepts any. */
  allowedHosts: string[];
  /** `--allowed-origins`: browser origins accepted beside the request's own (same-origin); `*` accepts any. */
  allowedOrigins: string[];
  tokens: StaticToken[];
  jwt: JwtConfig | null;
  allowUnauthenticated: boolean;
  /** `/metrics` without a token. */
  metricsUnauthenticated: boolean;
  /** The URL clients reach this server by, for the OAuth protected-resource metadata; null: from the Host header. */
  publicUrl: string | null;
  /** Tenants may resume and tag each other's heaps (listings stay separate). */
  shareHeaps: boolean;
  /** Executions queued or running per principal at once. */
  principalExecutionsMax: number;
  /** Requests per second per principal (burst: one second's worth); 0: no limit. */
  principalRequestsPerSec: number;
  /** `--trusted-proxy`: addresses and CIDRs whose X-Forwarded-For names the client (src/auth/trusted-proxy.ts). */
  trustedProxies: string[];
}

/** True when some credential is required: tenancy and per-principal limits apply. */
export function authEnabled(auth: Pick<AuthConfig, 'tokens' | 'jwt'>): boolean {
  return auth.tokens.length > 0 || auth.jwt !== null;
}

/** What config.ts hands over: each flag's values, already merged with MCP_V8_* variables. */
export interface AuthFlagValues {
  list(name: string): string[];
  string(name: string): string | undefined;
  bool(name: string): boolean;
  int(name: string): number | undefined;
}

export const tokenCharsMin = 16;
const principalNamePattern = /^[A-Za-z0-9_.@-]{1,64}$/;
const defaultAlgorithms = ['RS256', 'ES256'];
const knownAlgorithms = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

function flagError(message: string): McpV8Error {
  return new McpV8Error('INVALID_FLAG', message);
}

/** A list flag: repeated, and/or comma-separated (the only way to give several in one MCP_V8_* variable). */
function commaList(values: string[]): string[] {
  return values.flatMap((value) => value.split(',')).map((item) => item.trim()).filter((item) => item !== '');
}

/** Never echoes the token: a refused flag's message ends up in logs and terminals. */
function parseTokens(values: string[]): StaticToken[] {
  const tokens: StaticToken[] = [];
  let bare = 0;
  for (const [index, value] of commaList(values).entries()) {
    const equalsAt = value.indexOf('=');
    const named = equalsAt > 0 && principalNamePattern.test(value.slice(0, equalsAt));
    const name = named ? value.slice(0, equalsAt) : `token${++bare}`;
    const token = named ? value.slice(equalsAt + 1) : value;
    const which = named ? `the token named '${name}'` : `token #${index + 1}`;
    if (token.length < tokenCharsMin) throw flagError(`--auth-token: ${which} is shorter than ${tokenCharsMin} characters; use a long random token (e.g. openssl rand -hex 32)`);
    if (/\s/.test(token)) throw flagError(`--auth-token: ${which} contains white space`);
    if (name === anonymousPrincipal) throw flagError(`--auth-token: '${anonymousPrincipal}' is reserved; name the token otherwise`);
    if (tokens.some((other) => other.name === name)) throw flagError(`--auth-token: two tokens are named '${name}'`);
    if (tokens.some((other) => other.token === token)) throw flagError(`--auth-token: ${which} is the same token as '${tokens.find((other) => other.token === token)!.name}'`);
    tokens.push({ name, token });
  }
  return tokens;
}

function parseUrl(flag: string, text: string, what: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw flagError(`--${flag} must be ${what}, got '${text.slice(0, 200)}'`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw flagError(`--${flag} must be an http(s) URL, got '${text.slice(0, 200)}'`);
  return url.href;
}

function parseJwt(values: AuthFlagValues): JwtConfig | null {
  const jwksUrl = values.string('jwks-url');
  const issuer = values.string('jwt-issuer');
  const audience = values.string('jwt-audience');
  const algorithmsGiven = values.list('jwt-algorithms');
  if (jwksUrl === undefined) {
    for (const name of ['jwt-issuer', 'jwt-audience', 'jwt-algorithms', 'jwks-cooldown']) {
      if (values.list(name).length > 0) throw flagError(`--${name} requires --jwks-url`);
    }
    return null;
  }
  if (issuer === undefined) throw flagError('--jwks-url requires --jwt-issuer (the iss every accepted token must carry)');
  if (audience === undefined) throw flagError('--jwks-url requires --jwt-audience (the aud every accepted token must carry)');
  const algorithms = algorithmsGiven.length === 0 ? defaultAlgorithms : commaList(algorithmsGiven);
  for (const algorithm of algorithms) {
    if (!knownAlgorithms.has(algorithm)) throw flagError(`--jwt-algorithms: '${algorithm.slice(0, 40)}' is not an asymmetric JWS algorithm; choose from ${[...knownAlgorithms].join(', ')}`);
  }
  const url = new URL(parseUrl('jwks-url', jwksUrl, 'the URL of a JWKS document'));
  if (url.username !== '' || url.password !== '') throw flagError('--jwks-url must not carry user:password@ (fetch refuses it); pass a key in the query string or serve the JWKS without credentials');
  return { jwksUrl: url.href, issuer, audience, algorithms, cooldownSecs: values.int('jwks-cooldown') ?? 30 };
}

function parseHosts(values: string[]): string[] {
  const hosts = commaList(values).map((host) => host.toLowerCase());
  for (const host of hosts) {
    if (host !== '*' && !/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host)) throw flagError(`--allowed-hosts: '${host.slice(0, 200)}' is not a host name or host:port (or * for any)`);
  }
  return hosts;
}

function parseOrigins(values: string[]): string[] {
  return commaList(values).map((origin) => {
    if (origin === '*') return origin;
    const parsed = parseUrl('allowed-origins', origin, 'an origin like https://app.example.com (or * for any)');
    const url = new URL(parsed);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw flagError(`--allowed-origins: '${origin.slice(0, 200)}' is an origin: scheme://host[:port], no path`);
    return url.origin;
  });
}

/** `--trusted-proxy` values: an IPv4 or IPv6 address, or one with a /prefix (CIDR); comma lists allowed. */
export function parseTrustedProxies(values: string[]): string[] {
  return commaList(values).map((entry) => {
    const slash = entry.indexOf('/');
    const address = (slash === -1 ? entry : entry.slice(0, slash)).toLowerCase();
    const family = isIP(address);
    const what = `--trusted-proxy: '${entry.slice(0, 200)}'`;
    if (family === 0) throw flagError(`${what} is not an IP address or CIDR (like 10.0.0.5, 10.0.0.0/8 or fd00::/8)`);
    if (slash === -1) return address;
    const prefix = entry.slice(slash + 1);
    const bits = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) throw flagError(`${what}: the prefix length must be a whole number from 0 to ${bits}`);
    return `${address}/${Number(prefix)}`;
  });
}

export function parseAuthConfig(values: AuthFlagValues): AuthConfig {
  const publicUrl = values.string('public-url');
  return {
    allowedHosts: parseHosts(values.list('allowed-hosts')),
    allowedOrigins: parseOrigins(values.list('allowed-origins')),
    tokens: parseTokens(values.list('auth-token')),
    jwt: parseJwt(values),
    allowUnauthenticated: values.bool('allow-unauthenticated'),
    metricsUnauthenticated: values.bool('metrics-unauthenticated'),
    publicUrl: publicUrl === undefined ? null : new URL(parseUrl('public-url', publicUrl, 'the URL clients reach this server by')).origin,
    shareHeaps: values.bool('share-heaps'),
    principalExecutionsMax: values.int('principal-executions-max') ?? 1000,
    principalRequestsPerSec: values.int('principal-rate-limit') ?? 0,
    trustedProxies: parseTrustedProxies(values.list('trusted-proxy')),
  };
}

/** The start-up rule: beyond loopback, some credential or an explicit --allow-unauthenticated. */
export function checkNetworkExposure(auth: AuthConfig, bindHost: string, transport: string): void {
  if (transport === 'stdio' || isLoopbackName(bindHost) || authEnabled(auth) || auth.allowUnauthenticated) return;
  throw flagError(`--bind-host ${bindHost}: listening beyond loopback without authentication would let anyone who reaches the port run code; give --auth-token or --jwks-url, or --allow-unauthenticated if a proxy in front authenticates`);
}

/** 127.0.0.0/8, ::1 and localhost (with or without brackets or a final dot). */
export function isLoopbackName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name === '::1' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
