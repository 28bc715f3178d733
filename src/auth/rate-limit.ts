// Per-principal request rate: a token bucket per principal that holds one second's worth of
// requests. The table is bounded (least recently seen principals are forgotten, which only
// gives them a full bucket again).
import { LRUCache } from 'lru-cache';

export const rateLimitPrincipalsMax = 100_000;

interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface RateLimiter {
  /** 0 when the request may go; else the seconds to wait before the next one would. */
  take(principal: string, nowMs?: number): number;
}

export function createRateLimiter(requestsPerSec: number): RateLimiter {
  if (requestsPerSec === 0) return { take: () => 0 };
  const buckets = new LRUCache<string, Bucket>({ max: rateLimitPrincipalsMax });
  return {
    take(principal, nowMs = performance.now()) {
      let bucket = buckets.get(principal);
      if (bucket === undefined) {
        bucket = { tokens: requestsPerSec, updatedMs: nowMs };
        buckets.set(principal, bucket);
      }
      bucket.tokens = Math.min(requestsPerSec, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * requestsPerSec);
      bucket.updatedMs = nowMs;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / requestsPerSec));
    },
  };
}
