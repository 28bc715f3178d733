// The `Mcp-V8-Session` header of POST /api/exec: the run's session, percent-encoded, for a load
// balancer to route by (src/cluster/session-home.ts computes the node it picks). The node runs by
// the body; the header must name the same session.
import { McpV8Error } from '../errors.ts';

/** The request header that names a run's session for the load balancer (percent-encoded, as `sessionRoutingKey`). */
export const sessionHeader = 'mcp-v8-session';

/** The session's name as the header carries it: percent-encoded UTF-8, so any name travels in a header as ASCII. */
export function sessionRoutingKey(session: string): string {
  return encodeURIComponent(session);
}

/**
 * POST /api/exec with the `Mcp-V8-Session` header: it must name the body's session (a balancer
 * routes by the header, the node runs by the body; a header that names another session would send
 * every run to the wrong node). Absent, nothing is checked.
 */
export function checkSessionHeader(header: string | string[] | undefined, args: unknown): void {
  if (header === undefined) return;
  const session = args !== null && typeof args === 'object' ? (args as { session?: unknown }).session : undefined;
  const value = Array.isArray(header) ? header.join(', ') : header;
  let named: string | null = null;
  try {
    named = decodeURIComponent(value);
  } catch {
    throw new McpV8Error('INVALID_ARGUMENT', `the ${sessionHeader} header must be the session's name percent-encoded (encodeURIComponent); got '${value.slice(0, 80)}'`);
  }
  if (typeof session !== 'string') throw new McpV8Error('INVALID_ARGUMENT', `the ${sessionHeader} header names session '${named.slice(0, 80)}', but the body has no session: send the header only with the body's session`);
  if (named !== session) throw new McpV8Error('INVALID_ARGUMENT', `the ${sessionHeader} header names session '${named.slice(0, 80)}', but the body's session is '${session.slice(0, 80)}': they must be the same (the header is the body's session, percent-encoded)`);
}
