// JWTs verified against a JWKS document (`--jwks-url`): the algorithms are pinned (never `none`,
// never an HMAC one whose key could be the public key), iss, aud, exp and nbf are checked, and sub
// names the principal. jose's remote key set refetches the document when a token names a key id
// it does not know (key rotation), at most once per cooldown, and every 10 minutes anyway.
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { JwtConfig } from '../auth-config.ts';
import { anonymousPrincipal } from '../principal.ts';

export type JwtOutcome = { principal: string } | { refusal: string };

/** Leeway for clocks that disagree a little (exp, nbf, iat). */
const clockToleranceSecs = 5;
const subjectCharsMax = 256;
/** Verified tokens remembered, and for how long at most (see createJwtVerifier). */
export const verifiedTokensMax = 10_000;
export const verifiedReuseMs = 60_000;

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the token is not valid yet (nbf)';
    if (error.claim === 'iss') return 'the token was issued by another issuer (iss)';
    if (error.claim === 'aud') return 'the token is for another audience (aud)';
    return `the token's ${error.claim} claim is missing or wrong`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm this server does not accept';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer matches the token';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is not valid';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'the issuer\'s keys could not be read';
  return 'the token is not a valid JWT';
}

/** A URL as logs may show it: no user info, query or fragment, where a credential could hide. */
export function loggableUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
}

/** An error message with the JWKS URL's query (where a key may be passed) taken out. */
function redacted(message: string, url: string): string {
  const { search } = new URL(url);
  return search.length > 1 ? message.replaceAll(search, '?…') : message;
}

/** A token seen lately answers at once (no promise); others are verified. */
export function createJwtVerifier(config: JwtConfig, logger: Logger): (token: string) => JwtOutcome | Promise<JwtOutcome> {
  const keys = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: config.cooldownSecs * 1000, timeoutDuration: 5_000 });
  // A client sends the same token with every request until it expires: verifying its signature
  // each time (≈ 0.1–0.2 ms for RS256 here) would be most of the gate's cost. A verified token is
  // trusted again for at most verifiedReuseMs (and never past its exp), so a key the issuer
  // withdraws stops working within that time.
  const verified = new LRUCache<string, { principal: string; untilMs: number }>({ max: verifiedTokensMax });
  const verifyAndRemember = async (token: string): Promise<JwtOutcome> => {
    const outcome = await verify(token);
    if (!('principal' in outcome)) return outcome;
    verified.set(token, { principal: outcome.principal, untilMs: Math.min(Date.now() + verifiedReuseMs, outcome.expMs) });
    return { principal: outcome.principal };
  };
  return (token) => {
    const known = verified.get(token);
    if (known !== undefined) {
      if (Date.now() < known.untilMs) return { principal: known.principal };
      verified.delete(token);
    }
    return verifyAndRemember(token);
  };

  async function verify(token: string): Promise<{ principal: string; expMs: number } | { refusal: string }> {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: config.issuer, audience: config.audience, algorithms: config.algorithms, clockTolerance: clockToleranceSecs, requiredClaims: ['sub', 'exp'],
      });
      const subject = payload.sub!;
      if (subject === '' || subject.length > subjectCharsMax || subject === anonymousPrincipal) return { refusal: 'the token\'s sub claim is empty, too long or reserved' };
      return { principal: subject, expMs: (payload.exp! + clockToleranceSecs) * 1000 };
    } catch (error) {
      const why = describe(error);
      // The server's own problem (the issuer unreachable) is logged; the token itself never is.
      if (why === 'the token is not a valid JWT' || why === 'the issuer\'s keys could not be read') {
        logger.warn({ jwksUrl: loggableUrl(config.jwksUrl), error: redacted(String((error as Error).message), config.jwksUrl).slice(0, 200), code: (error as { code?: string }).code }, 'a JWT could not be verified');
      }
      return { refusal: why };
    }
  }
}
