// Wrapping a request handler the SDK installed (McpServer's tools/list and tools/call, Server's
// logging/setLevel): the SDK has no public way to reach the handler it installed, so this reads
// Protocol's handler map. Pinned by the tests that use each wrapper (tool list, tasks, logging).
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

export type RawHandler = (request: unknown, extra: unknown) => Promise<unknown>;

/** The handler installed for `method`, or undefined. */
export function installedHandler(server: McpServer, method: string): RawHandler | undefined {
  const handlers = (server.server as unknown as { _requestHandlers?: Map<string, RawHandler> })._requestHandlers;
  if (!(handlers instanceof Map)) throw new Error('the MCP SDK no longer keeps request handlers where mcp-v8 expects them (Protocol._requestHandlers)');
  return handlers.get(method);
}
