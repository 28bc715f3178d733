// The principal a tool call acts for, through everything it awaits: a call another node answers
// (cluster mode, src/cluster/executions.ts) is signed with it, so the owning node checks the
// tenant too. Set by the tenancy wrapper (src/auth/tenants.ts) only when access control is on.
import { AsyncLocalStorage } from 'node:async_hooks';

export const forwardedPrincipal = new AsyncLocalStorage<string>();
