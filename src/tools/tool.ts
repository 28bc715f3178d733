// A tool is defined once: zod input and output shapes, a description written for the agent, and
// a handler. MCP (every transport) and the plain HTTP API both serve these same definitions.
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';

/** Who is calling: transports fill it from the access-control gate (src/auth/gate.ts). */
export interface ToolContext {
  principal: string;
  transport: 'stdio' | 'http' | 'sse' | 'api';
  /**
   * The caller's connection (remote address and port) or MCP session: the scheduler's key for an
   * anonymous caller (src/principal.ts, schedulingClientOf). Absent on stdio.
   */
  connection?: string;
  /**
   * Called by a tool that is about to wait for an execution (run_js or get_execution with
   * wait_ms): MCP uses it to send the run's console lines live while the request is open.
   */
  watch?: (executionId: string) => void;
}

export interface ToolAnnotations {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ToolDefinition<Input extends z.ZodRawShape = z.ZodRawShape, Output extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  input: Input;
  output: Output;
  annotations: ToolAnnotations;
  /**
   * Arguments accepted (to refuse them with a clear error) but left out of the advertised
   * schema: heap, session and tags on a stateless server, which an agent should not try.
   */
  unadvertised?: readonly string[];
  handler: (args: z.infer<z.ZodObject<Input>>, context: ToolContext) => Promise<z.infer<z.ZodObject<Output>>>;
}

export function defineTool<Input extends z.ZodRawShape, Output extends z.ZodRawShape>(
  definition: ToolDefinition<Input, Output>,
): ToolDefinition<Input, Output> {
  return definition;
}

/** Strict schemas built once per tool: building a zod object costs more than parsing with it. */
const strictSchemas = new WeakMap<z.ZodRawShape, z.ZodObject>();

/** A tool's input as a strict object: an argument it does not know is an error, not ignored. */
export function strictInput(tool: Pick<ToolDefinition, 'input'>): z.ZodObject {
  let schema = strictSchemas.get(tool.input);
  if (schema === undefined) {
    schema = z.strictObject(tool.input);
    strictSchemas.set(tool.input, schema);
  }
  return schema;
}

/** Validates a tool's arguments, on every transport, with the same schema and one error shape. */
export function parseToolArguments<Input extends z.ZodRawShape>(tool: ToolDefinition<Input, z.ZodRawShape>, value: unknown): z.infer<z.ZodObject<Input>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new McpV8Error('INVALID_ARGUMENT', `${tool.name}: the arguments must be a JSON object`);
  }
  const parsed = strictInput(tool).safeParse(value);
  if (!parsed.success) throw new McpV8Error('INVALID_ARGUMENT', `${tool.name}: ${describeIssues(parsed.error)}`);
  return parsed.data as z.infer<z.ZodObject<Input>>;
}

export function findTool(tools: readonly ToolDefinition[], name: string): ToolDefinition {
  const tool = tools.find((candidate) => candidate.name === name);
  if (tool === undefined) throw new McpV8Error('TOOL_NOT_FOUND', `no tool named '${name.slice(0, 80)}'; tools: ${tools.map((t) => t.name).join(', ')}`);
  return tool;
}

/** A tool call as every transport makes it: find the tool, validate its arguments, run it. */
export async function callTool(tools: readonly ToolDefinition[], name: string, args: unknown, context: ToolContext): Promise<Record<string, unknown>> {
  const tool = findTool(tools, name);
  return tool.handler(parseToolArguments(tool, args), context);
}

/** An issue's message longer than this is cut. */
const issueCharsMax = 300;

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    // Capped: zod's "Unrecognized keys" names every key, which a body can have by the thousand.
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.').slice(0, 200) : 'input'}: ${issue.message.length > issueCharsMax ? `${issue.message.slice(0, issueCharsMax)}… [${issue.message.length - issueCharsMax} more characters]` : issue.message}`)
    .join('; ');
}
