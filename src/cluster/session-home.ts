// A session's home node: the voter its runs go to, so that they queue in order there and each
// resumes its parent's live context. Every node computes it alone, from the session's name and the
// voters; so does a load balancer that hashes the `Mcp-V8-Session` header: the function is nginx's
// `hash $http_mcp_v8_session` (the Cache::Memcached hash of its upstream module) over the voters in
// the order of their node ids, so nginx sends a session's runs straight to its home node
// (deploy/topology.ts, `nginxConfig`). A balancer that disagrees (another order, a node it marked
// down) costs a forward, never an answer: the node a run reaches still forwards it to the home.
import { crc32 } from 'node:zlib';
import { sessionRoutingKey } from '../transport/session-header.ts';

/**
 * Which of `count` voters (in the order of their node ids) is the home of `session`: nginx's
 * `hash` at its first try, `((crc32(key) >> 16) & 0x7fff) % count` (test/cluster/balancer-home
 * checks it against nginx itself). A change of membership moves most sessions (unlike a
 * rendezvous hash): their next run replays its heap once on the new home.
 */
export function homeIndex(session: string, count: number): number {
  if (!Number.isInteger(count) || count < 1) throw new RangeError('a home among at least one voter');
  return ((crc32(sessionRoutingKey(session)) >>> 16) & 0x7fff) % count;
}

/** The home's name among `voters` (node ids, any order); null with no voters. */
export function homeAmong(session: string, voters: readonly string[]): string | null {
  if (voters.length === 0) return null;
  const ordered = [...voters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return ordered[homeIndex(session, ordered.length)]!;
}
