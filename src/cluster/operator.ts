// `mcp-v8 raft status|leave`: the operator's calls to a node's cluster port, signed with the
// cluster secret from the environment (MCP_V8_CLUSTER_SECRET), since with a secret the port
// answers signed requests only and curl cannot sign.
import { checkClusterSecret, signClusterRequest } from '../auth/cluster.ts';
import { checkHostPort } from '../config.ts';

const usage = 'usage: mcp-v8 raft status HOST:PORT | mcp-v8 raft leave HOST:PORT NODE_ID (signed with MCP_V8_CLUSTER_SECRET when it is set)';
const statusTimeoutMs = 10_000;
/** A leave waits for a membership change on a quorum (2 x the default --cluster-write-timeout, and the hop). */
const leaveTimeoutMs = 30_000;

/** Runs the command; answers the exit status (0: the node answered 2xx; 1: it refused or failed; 2: bad usage). */
export async function raftCommand(args: readonly string[], environment: NodeJS.ProcessEnv, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const [action, addr, nodeId] = args;
  if (!((action === 'status' && args.length === 2) || (action === 'leave' && args.length === 3)) || addr === undefined) {
    err(`mcp-v8 raft: ${usage}\n`);
    return 2;
  }
  const secret = environment.MCP_V8_CLUSTER_SECRET === undefined || environment.MCP_V8_CLUSTER_SECRET === '' ? null : environment.MCP_V8_CLUSTER_SECRET;
  try {
    checkHostPort('HOST:PORT', addr);
    if (secret !== null) checkClusterSecret(secret);
  } catch (error) {
    err(`mcp-v8 raft: ${(error as Error).message}\n`);
    return 2;
  }
  const method = action === 'status' ? 'GET' : 'POST';
  const path = action === 'status' ? '/raft/status' : '/raft/leave';
  const body = action === 'status' ? '' : JSON.stringify({ node_id: nodeId });
  const signature = secret === null ? {} : signClusterRequest(secret, 'operator', { method, path, body });
  try {
    const response = await fetch(`http://${addr}${path}`, {
      method, headers: { ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...signature }, body: method === 'POST' ? body : undefined,
      signal: AbortSignal.timeout(action === 'status' ? statusTimeoutMs : leaveTimeoutMs),
    });
    const text = await response.text();
    (response.ok ? out : err)(`${text}\n`);
    return response.ok ? 0 : 1;
  } catch (error) {
    err(`mcp-v8 raft: ${method} http://${addr}${path} failed: ${(error as Error).message}\n`);
    return 1;
  }
}
