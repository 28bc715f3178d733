// What an agent pays in context for this server: the characters of the tool list (stateful and
// stateless) and of a trivial run_js reply with wait_ms, as the SDK client receives them over
// stdio. Tokens are estimated as characters / 4 (no tokenizer is installed here); the character
// counts are exact. Run: node --no-node-snapshot bench/agent-tokens.ts
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

async function measure(stateful: boolean): Promise<{ toolsChars: number; replyChars: number; tools: number }> {
  const root = mkdtempSync(join(tmpdir(), 'mcp-v8-tokens-'));
  const modeArgs = stateful
    ? ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions')]
    : ['--stateless'];
  const transport = new StdioClientTransport({ command: process.execPath, args: ['--no-node-snapshot', cli, ...modeArgs, '--execution-db-path', join(root, 'executions')], stderr: 'ignore' });
  const client = new Client({ name: 'tokens', version: '1' });
  await client.connect(transport);
  const list = await client.listTools();
  const reply = await client.callTool({ name: 'run_js', arguments: { code: '1 + 1', wait_ms: 20_000 } });
  await client.close();
  return { toolsChars: JSON.stringify(list.tools).length, replyChars: JSON.stringify(reply).length, tools: list.tools.length };
}

for (const stateful of [true, false]) {
  const { toolsChars, replyChars, tools } = await measure(stateful);
  const mode = stateful ? 'stateful' : 'stateless';
  console.log(`${mode}: tools/list ${tools} tools, ${toolsChars} chars (~${Math.round(toolsChars / 4)} tokens); run_js '1 + 1' wait_ms reply ${replyChars} chars (~${Math.round(replyChars / 4)} tokens)`);
}
