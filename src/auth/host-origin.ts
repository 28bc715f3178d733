// DNS rebinding and cross-site requests (MCP transport spec, "Security Warning"): a web page
// whose name is rebound to 127.0.0.1 reaches a local server with its own name in Host, and a
// page on any site can POST with its own Origin. Host must be a name this server answers to;
// Origin, when a browser sends one, must be this server's own origin or one the operator allowed.
import type { IncomingHttpHeaders } from 'node:http';
import { isLoopbackName, type AuthConfig } from '../auth-config.ts';

export interface HostOriginPolicy {
  /** Null when allowed; else which header and how to allow it, for the 403 body. */
  check(headers: IncomingHttpHeaders): { header: 'Host' | 'Origin'; message: string } | null;
}

/** `name` and `name:port` of a Host value, lower case, without a final dot on the name. */
function splitHost(host: string): { name: string; hostPort: string } | null {
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+?)\.?(?::(\d{1,5}))?$/.exec(host.toLowerCase());
  if (match === null) return null;
  const name = match[1]!;
  return { name, hostPort: match[2] === undefined ? name : `${name}:${match[2]}` };
}

function listed(value: string): string {
  return JSON.stringify(value.slice(0, 200));
}

export function createHostOriginPolicy(auth: Pick<AuthConfig, 'allowedHosts' | 'allowedOrigins'>, bindHost: string): HostOriginPolicy {
  const anyHost = auth.allowedHosts.includes('*');
  const anyOrigin = auth.allowedOrigins.includes('*');
  const bindName = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost.toLowerCase()}]` : bindHost.toLowerCase();
  // The bind address answers to itself (a client that connects by IP sends it as Host);
  // 0.0.0.0 and :: are not names anybody reaches the server by.
  const names = new Set<string>(bindName === '0.0.0.0' || bindName === '[::]' ? [] : [bindName]);
  const hostPorts = new Set<string>();
  for (const host of auth.allowedHosts) (/:\d+$/.test(host) ? hostPorts : names).add(host);
  const origins = new Set(auth.allowedOrigins);

  function hostAllowed(host: string | undefined): { hostPort: string } | null {
    if (host === undefined) return null;
    const parts = splitHost(host);
    if (parts === null) return null;
    if (anyHost || isLoopbackName(parts.name) || names.has(parts.name) || hostPorts.has(parts.hostPort)) return parts;
    return null;
  }

  return {
    check(headers) {
      const host = headers.host;
      const allowedHost = hostAllowed(host);
      if (allowedHost === null) {
        return {
          header: 'Host',
          message: host === undefined
            ? 'the request has no Host header; send the name you reach this server by'
            : `Host ${listed(host)} is not a name this server answers to (loopback names and the bind address are); if it is this server's name, start it with --allowed-hosts ${listed(host.replace(/:\d+$/, ''))}`,
        };
      }
      const origin = headers.origin;
      if (origin === undefined || anyOrigin) return null;
      let url: URL | null = null;
      try {
        url = new URL(origin);
      } catch {
        url = null;
      }
      // Same-origin: the page was served by this very server under the name it uses now.
      if (url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && (url.host === allowedHost.hostPort || origins.has(url.origin))) return null;
      return {
        header: 'Origin',
        message: `Origin ${listed(origin)} is not allowed: a web page from another site may not call this server; to allow that site, start the server with --allowed-origins ${listed(url?.origin ?? origin)}`,
      };
    },
  };
}
