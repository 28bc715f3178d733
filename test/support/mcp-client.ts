// Helpers for tests that talk to the server as an MCP client would.
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

export interface ToolOutcome {
  isError: boolean;
  text: string;
  value: Record<string, unknown>;
}

export async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> {
  const result = await client.callTool({ name, arguments: args });
  const content = result.content as Array<{ type: string; text: string }>;
  assert.equal(content.length, 1, 'one text block');
  const text = content[0]!.text;
  const isError = result.isError === true;
  const value = isError ? {} : (result.structuredContent as Record<string, unknown>);
  if (!isError) assert.deepEqual(JSON.parse(text), value, 'the text block holds the same JSON as structuredContent');
  return { isError, text, value };
}

/** Runs code and waits for it in the same call (wait_ms), as an agent in a hurry would. */
export async function runAndWait(client: Client, code: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const outcome = await callTool(client, 'run_js', { code, wait_ms: 20_000, ...extra });
  assert.equal(outcome.isError, false, outcome.text);
  assert.notEqual(outcome.value.status, 'running', 'finished within wait_ms');
  return outcome.value;
}
