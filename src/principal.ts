// Who a call is for, as the tools see it. A leaf of src/ (it imports nothing), so the flags, the
// access-control gate and the tools can all name the same principal without depending on each other.

/** The principal of every request when access control is off; no token or JWT may name it. */
export const anonymousPrincipal = 'anonymous';

/** The principal whose things a call may see, or null when everyone sees everything (access control off, stdio). */
export function ownerOf(context: { principal: string; transport: string }): string | null {
  return context.transport === 'stdio' || context.principal === anonymousPrincipal ? null : context.principal;
}
