// Reads a JSON request body with a size bound: 413 past the bound, 400 naming what is wrong.
import type { IncomingMessage } from 'node:http';
import { McpV8Error } from '../errors.ts';

export async function readJsonBody(request: IncomingMessage, bodyBytesMax: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > bodyBytesMax) {
    request.resume();
    throw new McpV8Error('BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${bodyBytesMax}`);
  }
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > bodyBytesMax) {
      request.resume();
      throw new McpV8Error('BODY_TOO_LARGE', `request body exceeds the limit of ${bodyBytesMax} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new McpV8Error('INVALID_ARGUMENT', 'request body is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new McpV8Error('INVALID_ARGUMENT', `request body is not valid JSON: ${(error as Error).message}`);
  }
}
