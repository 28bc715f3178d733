// Reads a JSON request body with a size bound: 413 past the bound, 400 naming what is wrong.
// Plain 'data'/'end' listeners rather than an async iterator: this runs for every POST, and the
// iterator's promise per chunk is measurable at thousands of requests per second.
import type { IncomingMessage } from 'node:http';
import { McpV8Error } from '../errors.ts';

/**
 * The raw body, up to `bodyBytesMax` bytes (413 past it). `strings`: counts the JSON strings as
 * the chunks arrive and refuses the body past `bodyStringsMax` at once, the rest unread (drained).
 */
export function readBody(request: IncomingMessage, bodyBytesMax: number, strings: StringCounter | null = null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const refuse = (error: McpV8Error) => {
      cleanup();
      chunks.length = 0;
      request.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > bodyBytesMax) return refuse(new McpV8Error('BODY_TOO_LARGE', `request body exceeds the limit of ${bodyBytesMax} bytes`));
      if (strings !== null && !strings.add(chunk)) return refuse(tooManyStrings());
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

/**
 * Top-level keys a JSON object body may have: no tool takes a tenth of this. A 2.4 MB body of
 * 200,000 unknown keys got a 400 listing every one (2.5 MB, ≈ 0.3 s of the main thread each;
 * eight at once held a neighbour's `1+1` for 4.6 s); now it is refused on the count, cheaply, and
 * the message names the first few.
 */
export const bodyKeysMax = 64;
/**
 * Strings (keys and values, at any depth) a JSON body may hold, counted before it is parsed: to
 * parse 200,000 keys took the main thread ≈ 0.1 s per body before any check could run, and a
 * client sending eight such bodies again and again held a neighbour's `1+1` for seconds. No
 * request needs a thousandth of this; a body too small to hold this many is not scanned.
 */
export const bodyStringsMax = 10_000;
const scannedCharsMin = 4 * bodyStringsMax;

const tooManyStrings = () => new McpV8Error('INVALID_ARGUMENT', `request body holds more than ${bodyStringsMax} strings (keys and values); no request takes that many`);

/**
 * Counts the strings of a JSON text as its bytes arrive, hopping from quote to quote (memchr),
 * escapes honoured across chunk boundaries. Eight 2.4 MB bodies of 200,000 keys, sent again and
 * again, cost a neighbour's `1+1` 15 times its latency when each was received whole, copied
 * into one string and scanned (allocation and GC of 19 MB/s on the main thread); now the
 * count stops a body in its first 150 KB, and the rest is drained unread.
 */
export class StringCounter {
  private strings = 0;
  private inString = false;
  /** Backslashes that ended the chunks before, inside a string. */
  private carry = 0;

  /** False once the text holds more than bodyStringsMax strings. */
  add(chunk: Buffer): boolean {
    let at = chunk.indexOf(34);
    while (at !== -1) {
      if (this.inString) {
        let before = at - 1;
        while (before >= 0 && chunk[before] === 92) before--;
        const backslashes = at - 1 - before + (before < 0 ? this.carry : 0);
        // A quote after an odd number of backslashes is inside the string.
        if (backslashes % 2 === 1) { at = chunk.indexOf(34, at + 1); continue; }
      }
      this.inString = !this.inString;
      if (!this.inString && ++this.strings > bodyStringsMax) return false;
      at = chunk.indexOf(34, at + 1);
    }
    let last = chunk.length - 1;
    while (last >= 0 && chunk[last] === 92) last--;
    this.carry = last < 0 ? this.carry + chunk.length : chunk.length - 1 - last;
    return true;
  }
}

/** Refuses, before JSON.parse, a body of more than bodyStringsMax strings (hops from quote to quote). */
function checkStringCount(text: string): void {
  if (text.length < scannedCharsMin) return;
  let strings = 0;
  let at = text.indexOf('"');
  while (at !== -1) {
    let end = text.indexOf('"', at + 1);
    // A quote after an odd number of backslashes is inside the string.
    for (;;) {
      if (end === -1) return; // unterminated: JSON.parse says so
      let backslashes = 0;
      while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes++;
      if (backslashes % 2 === 0) break;
      end = text.indexOf('"', end + 1);
    }
    if (++strings > bodyStringsMax) throw tooManyStrings();
    at = text.indexOf('"', end + 1);
  }
}
const keysNamedMax = 5;

function checkKeyCount(value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  // One enumeration (V8 sorts a large object's keys for it; a for-in with an early break sorts them all too).
  const keys = Object.keys(value);
  if (keys.length <= bodyKeysMax) return;
  const named = keys.slice(0, keysNamedMax).map((key) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key));
  throw new McpV8Error('INVALID_ARGUMENT', `request body has ${keys.length} keys, more than any request takes (at most ${bodyKeysMax}); the first: ${named.join(', ')}, …`);
}

export async function readJsonBody(request: IncomingMessage, bodyBytesMax: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > bodyBytesMax) {
    request.resume();
    throw new McpV8Error('BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${bodyBytesMax}`);
  }
  return parseJsonBody(await readBody(request, bodyBytesMax, new StringCounter()));
}

/** A body already read (readBody), parsed with the same checks as readJsonBody. */
export function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new McpV8Error('INVALID_ARGUMENT', 'request body is empty; send a JSON object');
  checkStringCount(text);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new McpV8Error('INVALID_ARGUMENT', `request body is not valid JSON: ${(error as Error).message.slice(0, 300)}`);
  }
  checkKeyCount(value);
  return value;
}
