// MCP over stdio. Stdout carries JSON-RPC and nothing else: the transport gets the real stdout,
// and every other writer in the process (a library's console.log, say) is sent to stderr.
import { Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Logger } from 'pino';
import type { ToolDefinition } from '../tools/tool.ts';
import type { McpExtras } from './mcp-extras.ts';
import { createMcpServer } from './mcp-server.ts';

function claimStdout(): Writable {
  const writeToStdout = process.stdout.write.bind(process.stdout);
  const jsonRpcOut = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      writeToStdout(chunk, (error) => callback(error ?? null));
    },
  });
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) =>
    (process.stderr.write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stdout.write;
  return jsonRpcOut;
}

export async function serveStdio(options: { tools: readonly ToolDefinition[]; logger: Logger; onClose: () => void; extras?: McpExtras }): Promise<void> {
  const out = claimStdout();
  // A client that closes its end of the pipe while an answer is on its way (EPIPE): it is gone,
  // as when stdin ends. Without a listener the error would be uncaught and stop the process
  // before its executions are cancelled and recorded.
  const clientGone = (error: Error) => {
    options.logger.info({ err: error }, 'the stdio client closed its end of stdout; stopping');
    options.onClose();
  };
  out.on('error', clientGone);
  process.stdout.on('error', clientGone);
  const transport = new StdioServerTransport(process.stdin, out);
  const server = createMcpServer({ tools: options.tools, context: { principal: 'local', transport: 'stdio' }, logger: options.logger, extras: options.extras });
  transport.onclose = options.onClose;
  process.stdin.on('end', options.onClose);
  await server.connect(transport);
}
