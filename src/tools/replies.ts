// What the execution tools answer, shaped for an agent's context: bounded in size, with nothing
// it does not need (no empty output page, no heap field on a stateless server), and truncation
// always marked with the way to read the rest.
import { z } from 'zod';
import type { ExecutionRecord } from '../model.ts';
import type { OutputPage, OutputQuery } from '../storage/execution-store.ts';

/** Characters of `result` in one reply; the rest is read with get_execution result_offset. */
export const resultCharsMax = 20_000;
/** Characters of `error` in one reply (a thrown string may be megabytes). */
export const errorCharsMax = 4_000;
/** Bytes of console output in run_js's reply (its first page); get_execution_output reads on. */
export const firstPageBytesMax = 8 * 1024;
/** Lines of console output in run_js's reply. */
export const firstPageLinesMax = 100;
/** run_js's first page of console lines (finishedRunReply); a run forwarded to another node brings it back with its record. */
export const firstPageQuery: OutputQuery = { mode: 'line', lineOffset: 1, lineLimit: firstPageLinesMax, bytesMax: firstPageBytesMax };

export const statusSchema = z.enum(['running', 'completed', 'failed', 'cancelled', 'timed_out']);

/** The fields of an execution in a reply. `heap` only in stateful mode. */
export function executionShape(stateful: boolean) {
  return {
    execution_id: z.string(),
    status: statusSchema,
    result: z.string().nullable(),
    result_type: z.string().optional(),
    result_chars: z.number().optional(),
    ...(stateful ? { heap: z.string().nullable() } : {}),
    error: z.string().nullable(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
  };
}

export const firstPageShape = z.object({
  data: z.string(), total_lines: z.number(), total_bytes: z.number(), next_line_offset: z.number(), has_more: z.boolean(),
  next_byte_offset: z.number().optional(),
});

export type FirstPage = z.infer<typeof firstPageShape>;

/**
 * Images a reply carries (display()), under a symbol: JSON (the text block, structuredContent)
 * leaves them out, and the MCP layer turns them into image content blocks.
 */
export const replyImages = Symbol('mcp-v8 reply images');
export interface ReplyImage { mimeType: string; data: string }

export function withImages<Value extends object>(value: Value, images: readonly ReplyImage[]): Value {
  if (images.length > 0) Object.defineProperty(value, replyImages, { value: images, enumerable: false });
  return value;
}

export function imagesOf(value: unknown): readonly ReplyImage[] {
  return value !== null && typeof value === 'object' ? ((value as { [replyImages]?: ReplyImage[] })[replyImages] ?? []) : [];
}

export interface ExecutionReply {
  execution_id: string;
  status: ExecutionRecord['status'];
  result: string | null;
  result_type?: string;
  result_chars?: number;
  heap?: string | null;
  error: string | null;
  started_at: string | null;
  completed_at: string | null;
}

function cut(text: string, max: number, how: string): string {
  return `${text.slice(0, max)}\n…[cut at ${max} of ${text.length} characters; ${how}]`;
}

/** A record as a reply: `result` from `resultOffset`, at most resultCharsMax characters of it. */
export function executionReply(record: ExecutionRecord, stateful: boolean, resultOffset = 0): ExecutionReply {
  let result = record.result;
  let resultChars: number | undefined;
  if (result !== null && (resultOffset > 0 || result.length > resultCharsMax)) {
    resultChars = result.length;
    const rest = result.slice(resultOffset);
    result = rest.length > resultCharsMax
      ? cut(rest, resultCharsMax, `read on with get_execution result_offset ${resultOffset + resultCharsMax}`)
      : rest;
  }
  const error = record.error !== null && record.error.length > errorCharsMax ? cut(record.error, errorCharsMax, 'the error text is long') : record.error;
  return {
    execution_id: record.execution_id,
    status: record.status,
    result,
    ...(record.result_type === undefined ? {} : { result_type: record.result_type }),
    ...(resultChars === undefined ? {} : { result_chars: resultChars }),
    ...(stateful ? { heap: record.heap } : {}),
    error,
    started_at: record.started_at,
    completed_at: record.completed_at,
  };
}

/** The first page of output in a reply, or undefined when the run printed nothing. */
export function firstPage(page: OutputPage): z.infer<typeof firstPageShape> | undefined {
  if (page.total_lines === 0) return undefined;
  const reply = { data: page.data, total_lines: page.total_lines, total_bytes: page.total_bytes, next_line_offset: page.next_line_offset, has_more: page.has_more };
  // A line longer than the page was cut inside: say where its bytes go on.
  return page.data.endsWith('\n') || page.data === '' ? reply : { ...reply, next_byte_offset: page.next_byte_offset };
}
