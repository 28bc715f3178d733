// A tool is defined once: zod input and output shapes, a description written for the agent, and
// a handler. MCP (every transport) and the plain HTTP API both serve these same definitions.
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';

/** Who is calling: transports fill it; access control (a later issue) decides on it. */
export interface ToolContext {
  principal: string;
  transport: 'stdio' | 'http' | 'sse' | 'api';
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
  /** Served only when the server keeps heaps (not with --stateless). */
  statefulOnly: boolean;
  handler: (args: z.infer<z.ZodObject<Input>>, context: ToolContext) => Promise<z.infer<z.ZodObject<Output>>>;
}

export function defineTool<Input extends z.ZodRawShape, Output extends z.ZodRawShape>(
  definition: ToolDefinition<Input, Output>,
): ToolDefinition<Input, Output> {
  return definition;
}

/** Strict schemas built once per tool: building a zod object costs more than parsing with it. */
const strictSchemas = new WeakMap<z.ZodRawShape, z.ZodObject>();

/** Validates arguments outside MCP (the plain API) with the same schema and one error shape. */
export function parseToolArguments<Input extends z.ZodRawShape>(tool: ToolDefinition<Input, z.ZodRawShape>, value: unknown): z.infer<z.ZodObject<Input>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new McpV8Error('INVALID_ARGUMENT', `${tool.name}: the body must be a JSON object`);
  }
  let schema = strictSchemas.get(tool.input);
  if (schema === undefined) {
    schema = z.strictObject(tool.input);
    strictSchemas.set(tool.input, schema);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new McpV8Error('INVALID_ARGUMENT', `${tool.name}: ${describeIssues(parsed.error)}`);
  return parsed.data as z.infer<z.ZodObject<Input>>;
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
