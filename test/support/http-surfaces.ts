// Every route of the HTTP transports, for tests that must cover them all (Host/Origin, tokens),
// and an SDK client over either MCP transport with a bearer token.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface Route { method: string; path: string; body?: string }

const id = '0190a4f2-1c3b-8d4e-9f00-1a2b3c4d5e6f';
const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });

/** The plain API, /metrics, the metadata and an unknown route: served beside either transport. */
export const apiRoutes: Route[] = [
  { method: 'POST', path: '/api/exec', body: '{"code":"1"}' }, // the fast path
  { method: 'POST', path: '/api/exec', body: '{"code":"1","wait_ms":0}' }, // through Koa
  { method: 'GET', path: `/api/executions/${id}` }, // the fast path
  { method: 'GET', path: `/api/executions/${id}?wait_ms=0` },
  { method: 'GET', path: '/api/executions' },
  { method: 'GET', path: `/api/executions/${id}/output` },
  { method: 'POST', path: `/api/executions/${id}/cancel`, body: '{}' },
  { method: 'POST', path: '/api/tools/list_executions', body: '{}' },
  { method: 'GET', path: '/api/tools' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/.well-known/oauth-protected-resource' },
  { method: 'GET', path: '/no/such/route' },
];
export const httpRoutes: Route[] = [...apiRoutes, { method: 'POST', path: '/mcp', body: initialize }, { method: 'GET', path: '/mcp' }, { method: 'DELETE', path: '/mcp' }];
export const sseRoutes: Route[] = [...apiRoutes, { method: 'GET', path: '/sse' }, { method: 'POST', path: '/message?sessionId=x', body: '{"jsonrpc":"2.0","method":"ping","id":1}' }];

/** The SDK's Client over Streamable HTTP (`/mcp`) or SSE (`/sse`), sending the token if given. */
export async function connectClient(baseUrl: string, kind: 'http' | 'sse', token?: string): Promise<Client> {
  const client = new Client({ name: 'auth-test', version: '1.0.0' });
  const options = token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } };
  await client.connect(kind === 'http' ? new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), options) : new SSEClientTransport(new URL(`${baseUrl}/sse`), options));
  return client;
}
