// The tool list an agent reads on every connection, made smaller without losing meaning: the
// SDK's JSON schemas name their draft in every schema ($schema), spell out the largest safe
// integer as the maximum of every unbounded integer, and mark every tool "taskSupport:
// forbidden", which is the protocol's default. Measured in bench/RESULTS.md ("Agent context").
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListToolsRequestSchema, type ListToolsResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolDefinition } from '../tools/tool.ts';
import { installedHandler } from './sdk-handlers.ts';


function compactSchema(value: unknown, keepClosed = false): unknown {
  if (Array.isArray(value)) return value.map((item) => compactSchema(item, keepClosed));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === '$schema') continue;
    // Output schemas only describe what the server sends: closing them says nothing to a client.
    // An input schema's closing says something: no other argument is taken (one validation path).
    if (key === 'additionalProperties' && child === false && !keepClosed) continue;
    if (key === 'maximum' && child === Number.MAX_SAFE_INTEGER) continue;
    if (key === 'minimum' && child === Number.MIN_SAFE_INTEGER) continue;
    out[key] = compactSchema(child, keepClosed);
  }
  return out;
}

function withoutProperties(schema: ListToolsResult['tools'][number]['inputSchema'], names: readonly string[]): unknown {
  if (names.length === 0 || schema.properties === undefined) return schema;
  const properties = Object.fromEntries(Object.entries(schema.properties).filter(([name]) => !names.includes(name)));
  const required = schema.required?.filter((name) => !names.includes(name));
  return { ...schema, properties, ...(required === undefined ? {} : { required }) };
}

/** The protocol's defaults: readOnly false, destructive true, idempotent false, openWorld true. */
const hintDefaults: Record<string, boolean> = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };

function withoutDefaultHints(annotations: NonNullable<ListToolsResult['tools'][number]['annotations']>): typeof annotations {
  return Object.fromEntries(Object.entries(annotations).filter(([key, value]) => hintDefaults[key] !== value)) as typeof annotations;
}

export function compactToolList(result: ListToolsResult, definitions: readonly ToolDefinition[], taskTools: readonly string[] = []): ListToolsResult {
  return {
    ...result,
    tools: result.tools.map((tool) => {
      const { execution, ...rest } = tool;
      const hidden = definitions.find((definition) => definition.name === tool.name)?.unadvertised ?? [];
      const compact = { ...rest, inputSchema: compactSchema(withoutProperties(tool.inputSchema, hidden), true) } as ListToolsResult['tools'][number];
      if (tool.annotations !== undefined) compact.annotations = withoutDefaultHints(tool.annotations);
      if (tool.outputSchema !== undefined) compact.outputSchema = compactSchema(tool.outputSchema) as typeof tool.outputSchema;
      if (taskTools.includes(tool.name)) compact.execution = { taskSupport: 'optional' };
      else if (execution !== undefined && execution.taskSupport !== 'forbidden') compact.execution = execution;
      return compact;
    }),
  };
}

/**
 * Replaces the McpServer's tools/list handler (installed by its first registerTool) with one that
 * answers the compact list. The list depends only on the tool definitions, so it is made once
 * per definition list rather than per session or per stateless request.
 */
const cache = new WeakMap<object, Map<string, Promise<ListToolsResult>>>();

export function serveCompactToolList(server: McpServer, definitions: readonly ToolDefinition[], taskTools: readonly string[] = []): void {
  const original = installedHandler(server, 'tools/list') as ((request: unknown, extra: unknown) => Promise<ListToolsResult>) | undefined;
  if (original === undefined) return;
  server.server.setRequestHandler(ListToolsRequestSchema, (request, extra) => {
    let lists = cache.get(definitions);
    if (lists === undefined) cache.set(definitions, lists = new Map());
    const key = taskTools.join(',');
    let list = lists.get(key);
    if (list === undefined) {
      list = original(request, extra).then((full) => compactToolList(full, definitions, taskTools));
      lists.set(key, list);
      list.catch(() => lists.delete(key));
    }
    return list;
  });
}
