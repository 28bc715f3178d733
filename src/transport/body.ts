// Reads a JSON request body with a size bound: 413 past the bound, 400 naming what is wrong.
// Plain 'data'/'end' listeners rather than an async iterator: this runs for every POST, and the
// iterator's promise per chunk is measurable at thousands of requests per second.
import type { IncomingMessage } from 'node:http';
import { McpV8Error } from '../errors.ts';

function readBody(request: IncomingMessage, bodyBytesMax: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > bodyBytesMax) {
        cleanup();
        request.resume();
        reject(new McpV8Error('BODY_TOO_LARGE', `request body exceeds the limit of ${bodyBytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    // A client that goes away mid-body: the stream closes without 'end' (and maybe no 'error').
    const onClose = () => onError(new Error('the request was aborted before its body ended'));
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

export async function readJsonBody(request: IncomingMessage, bodyBytesMax: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > bodyBytesMax) {
    request.resume();
    throw new McpV8Error('BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${bodyBytesMax}`);
  }
  const text = (await readBody(request, bodyBytesMax)).toString('utf8');
  if (text.trim() === '') throw new McpV8Error('INVALID_ARGUMENT', 'request body is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new McpV8Error('INVALID_ARGUMENT', `request body is not valid JSON: ${(error as Error).message}`);
  }
}
