// The cluster-request signature (src/auth/cluster.ts), ready for the cluster's listener: a node
// with the secret is accepted; without it, with an altered request, outside the window or
// replaying a captured request, it is refused. The real three-node test lands with cluster mode.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clusterHeaders, createClusterVerifier, signClusterRequest } from '../../src/auth/cluster.ts';

const secret = 'cluster-secret-0123456789abcdef0123456789abcdef';
const vote = { method: 'POST', path: '/raft/vote', body: '{"term":3,"candidate":"node2"}' };

describe('signed cluster requests', () => {
  test('a signed request is accepted once, with its sender and the principal it forwards', () => {
    const verify = createClusterVerifier(secret);
    const headers = signClusterRequest(secret, 'node2', vote, { nowMs: 1_000_000 });
    assert.deepEqual(verify(vote, headers, 1_000_000), { ok: true, node: 'node2', principal: null });
    assert.deepEqual(verify(vote, headers, 1_000_001), { ok: false, why: 'cluster request replayed (nonce seen before)' });
    const forwarded = { method: 'POST', path: '/api/exec', body: '{"code":"1"}' };
    const withPrincipal = signClusterRequest(secret, 'node3', forwarded, { principal: 'alice', nowMs: 1_000_000 });
    assert.deepEqual(verify(forwarded, withPrincipal, 1_000_000), { ok: true, node: 'node3', principal: 'alice' });
  });

  test('another secret, an altered request, a changed principal, stale or missing headers: refused', () => {
    const verify = createClusterVerifier(secret, { windowMs: 30_000 });
    const now = 5_000_000;
    const rogue = signClusterRequest('another-secret-0123456789abcdef0123456789', 'rogue', vote, { nowMs: now });
    assert.match((verify(vote, rogue, now) as { why: string }).why, /bad cluster signature/);
    const good = () => signClusterRequest(secret, 'node2', vote, { nowMs: now, principal: 'bob' });
    assert.match((verify({ ...vote, body: '{"term":4,"candidate":"node2"}' }, good(), now) as { why: string }).why, /bad cluster signature/);
    assert.match((verify({ ...vote, path: '/raft/append' }, good(), now) as { why: string }).why, /bad cluster signature/);
    assert.match((verify(vote, { ...good(), [clusterHeaders.principal]: 'alice' }, now) as { why: string }).why, /bad cluster signature/);
    assert.match((verify(vote, { ...good(), [clusterHeaders.node]: 'node1' }, now) as { why: string }).why, /bad cluster signature/);
    assert.match((verify(vote, good(), now + 30_001) as { why: string }).why, /outside the 30000 ms window/);
    assert.match((verify(vote, good(), now - 30_001) as { why: string }).why, /outside the 30000 ms window/);
    assert.match((verify(vote, {}, now) as { why: string }).why, /not a signed cluster request/);
    assert.match((verify(vote, { ...good(), [clusterHeaders.signature]: 'zz' }, now) as { why: string }).why, /malformed/);
    assert.equal(verify(vote, good(), now).ok, true, 'and a fresh one still passes');
  });

  test('a short secret is refused', () => {
    assert.throws(() => createClusterVerifier('short'), /at least 32 characters/);
    assert.throws(() => signClusterRequest('short', 'n', vote), /at least 32 characters/);
  });
});
