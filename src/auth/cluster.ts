// Requests between the nodes of a cluster, signed with the cluster secret (`--cluster-secret`):
// the hook the cluster's own listener will call once cluster mode exists (issue 19, "Cluster
// traffic"). A request carries its sender, a timestamp, a nonce, the principal it acts for (a
// forwarded client request keeps its principal) and an HMAC-SHA256 over all of them, its
// method, path and body. The receiver refuses a bad signature, a timestamp outside the window,
// and a nonce it has seen within the window (a captured request replayed).
import { createHash, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { clusterSecretCharsMin } from '../auth-config.ts';

export { clusterSecretCharsMin };
/** How far a request's timestamp may be from the receiver's clock, either way. */
export const replayWindowMsDefault = 30_000;
/** Nonces remembered (≈ 30 MB): up to this many requests per replay window are told apart, ≈ 6,600/s with the default window. */
export const noncesMax = 200_000;

export const clusterHeaders = {
  node: 'x-mcp-v8-node',
  timestamp: 'x-mcp-v8-timestamp',
  nonce: 'x-mcp-v8-nonce',
  principal: 'x-mcp-v8-principal',
  signature: 'x-mcp-v8-signature',
} as const;

export interface ClusterRequest {
  method: string;
  path: string;
  body: Buffer | string;
}

export type ClusterVerdict = { ok: true; node: string; principal: string | null } | { ok: false; why: string };

function canonical(request: ClusterRequest, node: string, timestamp: string, nonce: string, principal: string): string {
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  return [request.method.toUpperCase(), request.path, node, timestamp, nonce, principal, bodyHash].join('\n');
}

/** Random bytes drawn 4 KiB at a time: a nonce is then a slice (≈ 0.3 µs, where randomBytes(16) took ≈ 4 µs per request). */
const noncePool = Buffer.alloc(4096);
let nonceOffset = noncePool.length;

function newNonce(): string {
  if (nonceOffset + 16 > noncePool.length) {
    randomFillSync(noncePool);
    nonceOffset = 0;
  }
  nonceOffset += 16;
  return noncePool.toString('hex', nonceOffset - 16, nonceOffset);
}

export function checkClusterSecret(secret: string): void {
  if (secret.length < clusterSecretCharsMin) throw new Error(`the cluster secret must have at least ${clusterSecretCharsMin} characters (e.g. openssl rand -hex 32)`);
}

/** The headers that sign `request` as sent by `node` (for `principal`, when it forwards a client's request). */
export function signClusterRequest(secret: string, node: string, request: ClusterRequest, options: { principal?: string; nowMs?: number } = {}): Record<string, string> {
  checkClusterSecret(secret);
  const timestamp = String(options.nowMs ?? Date.now());
  const nonce = newNonce();
  const principal = options.principal ?? '';
  const signature = createHmac('sha256', secret).update(canonical(request, node, timestamp, nonce, principal)).digest('hex');
  return {
    [clusterHeaders.node]: node, [clusterHeaders.timestamp]: timestamp, [clusterHeaders.nonce]: nonce,
    ...(principal === '' ? {} : { [clusterHeaders.principal]: principal }), [clusterHeaders.signature]: signature,
  };
}

/** A verifier with its own memory of nonces; one per receiving node. */
export function createClusterVerifier(secret: string, options: { windowMs?: number } = {}): (request: ClusterRequest, headers: Record<string, string | string[] | undefined>, nowMs?: number) => ClusterVerdict {
  checkClusterSecret(secret);
  const windowMs = options.windowMs ?? replayWindowMsDefault;
  const seen = new LRUCache<string, true>({ max: noncesMax, ttl: 2 * windowMs, ttlAutopurge: false });
  const one = (headers: Record<string, string | string[] | undefined>, name: string) => {
    const value = headers[name];
    return typeof value === 'string' ? value : null;
  };
  return (request, headers, nowMs = Date.now()) => {
    const node = one(headers, clusterHeaders.node);
    const timestamp = one(headers, clusterHeaders.timestamp);
    const nonce = one(headers, clusterHeaders.nonce);
    const signature = one(headers, clusterHeaders.signature);
    const principal = one(headers, clusterHeaders.principal) ?? '';
    if (node === null || timestamp === null || nonce === null || signature === null) return { ok: false, why: 'not a signed cluster request' };
    if (!/^\d{1,16}$/.test(timestamp) || !/^[0-9a-f]{32}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(signature)) return { ok: false, why: 'malformed cluster signature headers' };
    const expected = createHmac('sha256', secret).update(canonical(request, node, timestamp, nonce, principal)).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, why: 'bad cluster signature (another secret, or the request was altered)' };
    if (Math.abs(nowMs - Number(timestamp)) > windowMs) return { ok: false, why: `cluster request timestamp outside the ${windowMs} ms window (clocks apart, or a replay)` };
    if (seen.has(nonce)) return { ok: false, why: 'cluster request replayed (nonce seen before)' };
    // Only a request with a good signature spends a nonce: a forger cannot fill the memory.
    seen.set(nonce, true);
    return { ok: true, node, principal: principal === '' ? null : principal };
  };
}
