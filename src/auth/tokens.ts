// Static bearer tokens (`--auth-token`). Each request's token is hashed once and compared with
// every configured token's hash in constant time, never stopping at the first match: how long the
// check takes says nothing about how close a guess was or which token it matched.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { StaticToken } from '../auth-config.ts';

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export interface TokenTable {
  /** The principal the token stands for, or null. */
  principalOf(token: string): string | null;
}

export function createTokenTable(tokens: readonly StaticToken[]): TokenTable {
  const entries = tokens.map(({ name, token }) => ({ name, hash: digest(token) }));
  return {
    principalOf(token) {
      const hash = digest(token);
      let found: string | null = null;
      for (const entry of entries) {
        if (timingSafeEqual(hash, entry.hash) && found === null) found = entry.name;
      }
      return found;
    },
  };
}
