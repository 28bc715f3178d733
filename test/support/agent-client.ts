// An SDK client over stdio to a server started for one test file, stateless or stateful, as an
// agent's host (Claude Desktop, Cursor) starts it.
import { join } from 'node:path';
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { serverCommand, tempDir } from './server-process.ts';

export async function stdioClient(options: { stateful: boolean; flags?: string[]; clientOptions?: ClientOptions; name?: string }): Promise<Client> {
  const root = tempDir(options.name ?? 'agent');
  const modeArgs = options.stateful
    ? ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions')]
    : ['--stateless'];
  const { command, args } = serverCommand([...modeArgs, '--execution-db-path', join(root, 'executions'), ...(options.flags ?? [])]);
  const client = new Client({ name: options.name ?? 'agent-test', version: '1.0.0' }, options.clientOptions);
  await client.connect(new StdioClientTransport({ command, args, stderr: 'pipe' }));
  return client;
}
