// Who a call is for, as the tools see it. A leaf of src/ (it imports nothing), so the flags, the
// access-control gate and the tools can all name the same principal without depending on each other.

/** The principal of every request when access control is off; no token or JWT may name it. */
export const anonymousPrincipal = 'anonymous';

/**
 * Who the scheduler shares CPU lanes between (src/exec/scheduler.ts): the principal, or for an
 * anonymous caller its connection or MCP session (`ToolContext.connection`), so that without
 * access control one caller's spinning runs cannot take every other caller's lanes. Undefined:
 * the one anonymous client (stdio, whose caller is one process).
 */
export function schedulingClientOf(context: { principal: string; transport: string; connection?: string | undefined }): string | undefined {
  return ownerOf(context) ?? context.connection;
}

/** Requests from a trusted proxy, with the client address its X-Forwarded-For names (src/auth/trusted-proxy.ts; set by the gate). */
const forwardedClients = new WeakMap<object, string>();

export function setForwardedClient(request: object, address: string): void {
  forwardedClients.set(request, address);
}

/**
 * An anonymous caller's key for fair shares: the remote address and port of a request's
 * connection, or behind a trusted proxy (--trusted-proxy) the client address it forwarded.
 */
export function connectionOf(request: { socket: { remoteAddress?: string | undefined; remotePort?: number | undefined } }): string {
  const forwarded = forwardedClients.get(request);
  if (forwarded !== undefined) return `client ${forwarded}`;
  return `connection ${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
}

/** The principal whose things a call may see, or null when everyone sees everything (access control off, stdio). */
export function ownerOf(context: { principal: string; transport: string }): string | null {
  return context.transport === 'stdio' || context.principal === anonymousPrincipal ? null : context.principal;
}
