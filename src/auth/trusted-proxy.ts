// --trusted-proxy: behind a reverse proxy every request's TCP peer is the proxy, so the fair
// share of CPU lanes (src/exec/scheduler.ts) keyed by connection would count the proxy's pooled
// connections as clients, and a client's own address would be lost. When the peer is a trusted
// proxy, the client is the rightmost X-Forwarded-For address that is not a trusted proxy itself
// (each proxy appends the address it was reached from, so everything left of that is the
// client's to forge). From any other peer X-Forwarded-For is ignored: a forged header changes
// nothing. Entries are validated at start-up (auth-config.ts, parseTrustedProxies).
import { BlockList, isIP } from 'node:net';

/** X-Forwarded-For entries looked at, from the right: a chain of proxies longer than this is not expected. */
export const forwardedHopsMax = 16;

/** "::ffff:10.0.0.1" (an IPv4 peer on a dual-stack socket) as the IPv4 address it is. */
function plainAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

export interface TrustedProxies {
  /** The client address a request stands for, or null when its peer is not a trusted proxy or it names none. */
  clientOf(peer: string | undefined, forwardedFor: string | string[] | undefined): string | null;
}

/** `entries`: addresses and CIDRs already checked by parseTrustedProxies. */
export function createTrustedProxies(entries: readonly string[]): TrustedProxies | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (slash === -1) list.addAddress(address, type);
    else list.addSubnet(address, Number(entry.slice(slash + 1)), type);
  }
  const trusted = (address: string) => list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  return {
    clientOf(peer, forwardedFor) {
      if (peer === undefined || forwardedFor === undefined || !trusted(plainAddress(peer))) return null;
      const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
      let client: string | null = null;
      for (let index = hops.length - 1; index >= 0 && index >= hops.length - forwardedHopsMax; index--) {
        const hop = plainAddress(hops[index]!.trim());
        // Not an address: nothing a proxy of ours wrote; the hop's own peer is all that is known.
        if (isIP(hop) === 0) return client;
        client = hop;
        if (!trusted(hop)) return hop;
      }
      // Every hop a trusted proxy: the leftmost looked at is as far as the chain goes.
      return client;
    },
  };
}
