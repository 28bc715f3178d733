// The door of every HTTP surface, run before the fast path and before Koa: Host and Origin
// first, then who is calling (a static token or a JWT), then that principal's request rate.
// It answers refusals itself and hands the principal on by the request (principalOf).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics, RefusalReason } from '../metrics.ts';
import { authEnabled, type AuthConfig } from '../auth-config.ts';
import { anonymousPrincipal, setForwardedClient } from '../principal.ts';
import { createHostOriginPolicy } from './host-origin.ts';
import { createJwtVerifier, type JwtOutcome } from './jwt.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createTokenTable } from './tokens.ts';
import { createTrustedProxies } from './trusted-proxy.ts';

const principals = new WeakMap<IncomingMessage, string>();

/** Who made this request: the gate's verdict, or `anonymous` when access control is off. */
export function principalOf(request: IncomingMessage): string {
  return principals.get(request) ?? anonymousPrincipal;
}

export const metadataPath = '/.well-known/oauth-protected-resource';
/** Seconds clients may keep the metadata document. */
const metadataMaxAgeSecs = 3600;

export interface GateOptions {
  auth: AuthConfig;
  bindHost: string;
  logger: Logger;
  /** Counts refusals by reason for /metrics. */
  metrics?: Pick<Metrics, 'requestRefused'>;
}

/** True: go on (the principal is recorded). False: refused and answered. A promise while a JWT is verified. */
export type Gate = (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>;

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** Where a path sits: open to all, checked for Host/Origin only, or needing a principal. */
function classify(path: string, auth: AuthConfig): 'open' | 'origin-only' | 'protected' {
  if (path === '/healthz') return 'open';
  if (path === metadataPath || path.startsWith(`${metadataPath}/`)) return 'origin-only';
  if (path === '/metrics' && auth.metricsUnauthenticated) return 'origin-only';
  return 'protected';
}

function bearerOf(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match === null ? '' : match[1]!;
}

export function createGate(options: GateOptions): Gate {
  const { auth, logger } = options;
  const refused = (reason: RefusalReason) => options.metrics?.requestRefused(reason);
  const hostOrigin = createHostOriginPolicy(auth, options.bindHost);
  const enabled = authEnabled(auth);
  const tokens = createTokenTable(auth.tokens);
  const verifyJwt = auth.jwt === null ? null : createJwtVerifier(auth.jwt, logger);
  const rate = createRateLimiter(auth.principalRequestsPerSec);
  const proxies = createTrustedProxies(auth.trustedProxies);
  const baseUrl = (request: IncomingMessage) => auth.publicUrl ?? `http://${request.headers.host ?? options.bindHost}`;

  function metadata(request: IncomingMessage, response: ServerResponse): void {
    const base = baseUrl(request);
    sendJson(response, 200, {
      resource: base,
      ...(auth.jwt === null ? {} : { authorization_servers: [auth.jwt.issuer] }),
      bearer_methods_supported: ['header'],
      resource_name: 'mcp-v8',
      ...(auth.jwt === null ? {} : { resource_signing_alg_values_supported: auth.jwt.algorithms }),
    }, { 'cache-control': `public, max-age=${metadataMaxAgeSecs}` });
  }

  function unauthorized(request: IncomingMessage, response: ServerResponse, why: string, tokenGiven: boolean): false {
    refused('unauthorized');
    const challenge = `Bearer realm="mcp-v8", resource_metadata="${baseUrl(request)}${metadataPath}"${tokenGiven ? `, error="invalid_token", error_description="${why}"` : ''}`;
    sendJson(response, 401, { error: `${why}; send Authorization: Bearer <token> (see ${metadataPath})`, code: 'MCPV8_ERR_UNAUTHORIZED' }, { 'www-authenticate': challenge });
    return false;
  }

  function admit(request: IncomingMessage, response: ServerResponse, principal: string): boolean {
    const waitSecs = rate.take(principal);
    if (waitSecs > 0) {
      refused('rate_limited');
      sendJson(response, 429, { error: `too many requests from ${principal}: at most ${auth.principalRequestsPerSec} per second (--principal-rate-limit); retry after ${waitSecs} s`, code: 'MCPV8_ERR_RATE_LIMITED' }, { 'retry-after': String(waitSecs) });
      return false;
    }
    principals.set(request, principal);
    return true;
  }

  return (request, response) => {
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const kind = classify(path, auth);
    if (kind === 'open') return true;
    if (proxies !== null) {
      const client = proxies.clientOf(request.socket.remoteAddress, request.headers['x-forwarded-for']);
      if (client !== null) setForwardedClient(request, client);
    }
    const notAllowed = hostOrigin.check(request.headers);
    if (notAllowed !== null) {
      refused(notAllowed.header === 'Host' ? 'host' : 'origin');
      sendJson(response, 403, { error: notAllowed.message, code: notAllowed.header === 'Host' ? 'MCPV8_ERR_HOST_NOT_ALLOWED' : 'MCPV8_ERR_ORIGIN_NOT_ALLOWED', header: notAllowed.header });
      return false;
    }
    if (path === metadataPath || path.startsWith(`${metadataPath}/`)) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return true;
      metadata(request, response);
      return false;
    }
    if (kind === 'origin-only' || !enabled) return true;
    const token = bearerOf(request);
    if (token === null) return unauthorized(request, response, 'this server requires a bearer token', false);
    if (token === '') return unauthorized(request, response, 'the Authorization header is not a bearer token', true);
    const named = tokens.principalOf(token);
    if (named !== null) return admit(request, response, named);
    if (verifyJwt === null || token.split('.').length !== 3) return unauthorized(request, response, 'the token is not valid', true);
    const decide = (outcome: JwtOutcome) => ('principal' in outcome ? admit(request, response, outcome.principal) : unauthorized(request, response, outcome.refusal, true));
    const outcome = verifyJwt(token);
    return outcome instanceof Promise ? outcome.then(decide) : decide(outcome);
  };
}
