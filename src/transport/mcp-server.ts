// Builds an McpServer that serves the tool definitions. One is made per MCP session (and per
// request in stateless HTTP mode); tools are plain data, so building one is cheap.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { isMcpV8Error } from '../errors.ts';
import { callTool, strictInput, type ToolContext, type ToolDefinition } from '../tools/tool.ts';
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
    : { instructions: extras.instructions, capabilities: extrasCapabilities(), taskStore: extras.tasksFor(options.context.principal) });
  // Set when the client asks for log messages (logging/setLevel): console lines then go live.
  let loggingOn = false;
  // Registered for tools/list (the strict schema says additionalProperties: false)...
  for (const tool of options.tools) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: strictInput(tool), outputSchema: tool.output, annotations: tool.annotations },
      () => { throw new Error('unreachable: tools/call is answered below'); },
    );
  }
  // ...but called through the one validation path the plain API uses (`callTool`): the SDK's own
  // checks would word every error differently, and with a non-strict object would drop a typo'd
  // argument (`timeout_secs`) silently instead of refusing it.
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const live = extras === undefined ? null : liveContext(extras, options.context, extra as never, () => loggingOn);
    try {
      return toolResult(await callTool(options.tools, request.params.name, request.params.arguments ?? {}, live?.context ?? options.context));
    } catch (error) {
      return toolError(error, options.logger, request.params.name);
    } finally {
      // The last lines go out before the reply, which ends the client's progress handler.
      await live?.stop();
    }
  });
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
