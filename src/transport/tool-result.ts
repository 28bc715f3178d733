// A tool's value as an MCP result: the JSON as text and as structuredContent, and the images the
// value carries (display()) as image content blocks after the text.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { imagesOf } from '../tools/replies.ts';

export function toolResult(value: unknown): CallToolResult {
  const images = imagesOf(value).map(({ mimeType, data }) => ({ type: 'image' as const, mimeType, data }));
  return { content: [{ type: 'text', text: JSON.stringify(value) }, ...images], structuredContent: value as Record<string, unknown> };
}
