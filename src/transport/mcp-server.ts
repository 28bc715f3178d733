// Builds an McpServer that serves the tool definitions. One is made per MCP session (and per
// request in stateless HTTP mode); tools are plain data, so building one is cheap.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { isMcpV8Error } from '../errors.ts';
import type { ToolContext, ToolDefinition } from '../tools/tool.ts';
import { version } from '../version.ts';
import { toolResult } from './tool-result.ts';
import { serveCompactToolList } from './tool-list.ts';
import { extrasCapabilities, installExtras, liveContext, type McpExtras } from './mcp-extras.ts';

const instructions =
  'A JavaScript/TypeScript sandbox. run_js runs code in an isolated V8 and returns an execution_id; ' +
  'pass wait_ms to get quick results in the same reply, else poll get_execution and read get_execution_output.';

export { toolResult };

/** A tool's failure as the agent sees it: a coded message it can act on, never a dropped connection. */
export function toolError(error: unknown, logger: Logger, toolName: string): CallToolResult {
  if (isMcpV8Error(error) && error.expose) {
    return { isError: true, content: [{ type: 'text', text: `${error.publicCode}: ${error.message}` }] };
  }
  logger.error({ err: error, tool: toolName }, 'tool failed');
  return { isError: true, content: [{ type: 'text', text: `MCPV8_ERR_INTERNAL: ${toolName} failed inside the server; the error was logged` }] };
}

export function createMcpServer(options: { tools: readonly ToolDefinition[]; context: ToolContext; logger: Logger; extras?: McpExtras | undefined }): McpServer {
  const extras = options.extras;
  const server = new McpServer({ name: 'mcp-v8', version }, extras === undefined
    ? { instructions, capabilities: { tools: {} } }
    : { instructions: extras.instructions, capabilities: extrasCapabilities(), taskStore: extras.tasks });
  // Set when the client asks for log messages (logging/setLevel): console lines then go live.
  let loggingOn = false;
  for (const tool of options.tools) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.input, outputSchema: tool.output, annotations: tool.annotations },
      async (args: unknown, extra) => {
        const live = extras === undefined ? null : liveContext(extras, options.context, extra as never, () => loggingOn);
        try {
          return toolResult(await tool.handler(args as never, live?.context ?? options.context));
        } catch (error) {
          return toolError(error, options.logger, tool.name);
        } finally {
          // The last lines go out before the reply, which ends the client's progress handler.
          await live?.stop();
        }
      },
    );
  }
  serveCompactToolList(server, options.tools, extras === undefined ? [] : ['run_js']);
  if (extras !== undefined) {
    installExtras(server, { extras, tools: options.tools, context: options.context, logger: options.logger, onLogging: () => { loggingOn = true; }, toolError });
  }
  // A message the transport cannot read (not JSON, not JSON-RPC, a stdio line past the SDK's
  // 10 MiB) would otherwise leave no trace; past the 10 MiB the SDK also closes the stdio
  // transport, and the server stops.
  server.server.onerror = (error) => {
    options.logger.warn({ err: error, transport: options.context.transport }, 'an MCP message could not be read');
  };
  return server;
}
