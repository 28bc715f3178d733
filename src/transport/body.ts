// Reads a JSON request body with a size bound: 413 past the bound, 400 naming what is wrong.
// Plain 'data'/'end' listeners rather than an async iterator: this runs for every POST, and the
// iterator's promise per chunk is measurable at thousands of requests per second.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { McpV8Error } from '../errors.ts';
import type { BodyShape, KeyKinds } from './body-shape.ts';
import { parseInWorker, workerParseBytesMin } from './body-parse.ts';

/**
 * How long the connection of a refused body stays open, unread, after the answer and our FIN.
 * Closed at once, the client still sending got a reset (EPIPE) that lost the answer: undici's
 * fetch failed 46 of 100 bodies of 5.3 MB refused on their Content-Length. Half-closed instead
 * (the way nginx's lingering close does it, without reading what still comes), the client reads
 * the answer and closes; a client that does not is cut off after this.
 */
export const refusedLingerMs = 2_000;

/**
 * Reads no more of a refused body, and closes its connection once the answer is out: the error
 * asks for `Connection: close` (closeConnection), after which node's server calls the socket's
 * destroySoon; that one is replaced here by a lingering close (refusedLingerMs). Draining the rest
 * on a kept connection, as before, cost the server per refused 2.4 MB body 7.5 ms of CPU (200,000
 * keys) and 5.5 ms (1,200,000 numbers), against 2.8 and 1.3 ms now (bench/body-cost.ts,
 * bench/RESULTS.md): a flood of big bodies costs little.
 */
function stopReading(request: IncomingMessage): void {
  request.pause();
  // A body no one has read from is drained by node's server once the answer is sent (its _dump):
  // a read marks it as being consumed (it buffers one chunk at most, then the socket stops).
  request.read(0);
  const socket = request.socket;
  socket.destroySoon = function lingeringClose(this: Socket) {
    this.end();
    const timer = setTimeout(() => this.destroy(), refusedLingerMs);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/**
 * The raw body, up to `bodyBytesMax` bytes (413 past it). `strings`: counts the JSON strings as
 * the chunks arrive and refuses the body past `bodyStringsMax` at once. A refused body's rest is
 * not read (stopReading).
 */
export async function readBody(request: IncomingMessage, bodyBytesMax: number, strings: StringCounter | null = null): Promise<Buffer> {
  const chunks = await readChunks(request, bodyBytesMax, strings);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** The body's chunks as they came (readBody, which joins them). */
function readChunks(request: IncomingMessage, bodyBytesMax: number, strings: StringCounter | null): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const refuse = (error: McpV8Error) => {
      cleanup();
      chunks.length = 0;
      stopReading(request);
      reject(new McpV8Error(error.code, error.message, { closeConnection: true }));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > bodyBytesMax) return refuse(new McpV8Error('BODY_TOO_LARGE', `request body exceeds the limit of ${bodyBytesMax} bytes`));
      if (strings !== null && !strings.add(chunk)) return refuse(strings.refusal!);
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks);
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
/**
 * Commas, '[' and '{' outside strings a JSON body may hold (at least its array items, members and
 * objects, less one), counted before it is parsed: strings alone did not bound the parse, since
 * 2.4 MB of `[1,1,…]` took the main thread ≈ 100 ms to parse and 200,000 `{}` ≈ 40 ms, with no
 * string in them. No request needs a thousandth of this.
 */
export const bodyValuesMax = 10_000;
/**
 * The same two bounds for a body a client sends (a tool's arguments, an MCP message), counted as
 * it arrives: a tool takes at most 64 tags and a few scalars, an MCP message as much plus its
 * envelope. At 10,000, a body of 200,000 `"k":1,` members nested where the reader does not check
 * keys (an MCP message's arguments, a tool's `tags`) was scanned for ≈ 100 KB, ≈ 1.5 ms of the
 * main thread per body; at 1,000, ≈ 10 KB. Peers' bodies (src/cluster, Raft's entries) keep the
 * larger bounds.
 */
export const requestStringsMax = 1_000;
export const requestValuesMax = 1_000;
/** Bytes of a string read one at a time before its closing quote is looked for by memchr. */
const shortStringBytes = 32;
/** Bytes of a top-level key kept to name it; a longer one is no key a tool takes. */
const keyBytesMax = 256;

/** How many strings and values (see bodyStringsMax, bodyValuesMax) a counter lets through. */
export interface CountBounds { stringsMax: number; valuesMax: number }
export const peerBounds: CountBounds = { stringsMax: bodyStringsMax, valuesMax: bodyValuesMax };
export const requestBounds: CountBounds = { stringsMax: requestStringsMax, valuesMax: requestValuesMax };

const tooManyStrings = (max: number) => new McpV8Error('INVALID_ARGUMENT', `request body holds more than ${max} strings (keys and values); no request takes that many`);
const tooManyValues = (max: number) => new McpV8Error('INVALID_ARGUMENT', `request body holds more than ${max} values (array items, objects, members); no request takes that many`);
/** A key's name in a message: JSON-quoted, cut at 40 characters. */
const keyName = (key: string) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);

/**
 * Counts the strings of a JSON text as its bytes arrive, escapes honoured across chunk
 * boundaries. Eight 2.4 MB bodies of 200,000 keys, sent again and again, cost a neighbour's `1+1`
 * 15 times its latency when each was received whole, copied into one string and scanned
 * (allocation and GC of 19 MB/s on the main thread); the count stops a body in its first 150 KB,
 * and the rest is drained unread. A byte at a time outside strings and in a string's first
 * `shortStringBytes`, then a jump from quote to quote (memchr) through a longer one: it hopped
 * from quote to quote and from comma to comma by Buffer.indexOf, one native call per key and
 * per comma, ≈ 2.9 ms of main thread per refused body of keys (bench/RESULTS.md).
 */
export class StringCounter {
  private strings = 0;
  private inString = false;
  /** In a string, the byte before was a backslash that escapes the next one. */
  private escaped = false;
  /** Commas, '[' and '{' seen outside strings (bodyValuesMax). */
  private values = 0;
  /** Which bound the text passed, once add() has answered false. */
  refusal: McpV8Error | null = null;
  /** With a shape: nesting depth outside strings, and where the top-level object's scan is. */
  private depth = 0;
  private role: 'key' | 'colon' | 'value' | 'after' | 'none' = 'none';
  /** The bytes of the top-level key being read (null outside one), and how many. */
  private keyParts: Buffer[] | null = null;
  private keyBytes = 0;
  /** The kinds the current top-level key's value may be. */
  private kinds: KeyKinds | undefined;
  private readonly shape: BodyShape | null;
  private readonly bounds: CountBounds;

  /**
   * `shape`: a tool's arguments are read: its first key the tool does not take, or an array or
   * object where the tool takes neither, refuses the body at once. (A key given twice is left to
   * JSON.parse, which keeps the last, as it does over MCP: the counts bound how many.)
   */
  constructor(shape: BodyShape | null = null, bounds: CountBounds = peerBounds) {
    this.shape = shape;
    this.bounds = bounds;
  }

  /** False once the text holds more than bodyStringsMax strings or bodyValuesMax values (`refusal` says which). */
  add(chunk: Buffer): boolean {
    let at = 0;
    while (at < chunk.length) {
      if (this.inString) {
        const from = at;
        at = this.stringEnd(chunk, at);
        if (this.keyParts !== null) this.keyPart(chunk.subarray(from, this.inString ? at : at - 1));
        if (this.inString) return true;
        if (++this.strings > this.bounds.stringsMax) { this.refusal = tooManyStrings(this.bounds.stringsMax); return false; }
        if (this.keyParts !== null && !this.keyEnded()) return false;
        continue;
      }
      const byte = chunk[at++]!;
      if (this.shape !== null && !this.shaped(byte)) return false;
      if (byte === 34) this.inString = true;
      else if ((byte === 44 || byte === 91 || byte === 123) && ++this.values > this.bounds.valuesMax) { this.refusal = tooManyValues(this.bounds.valuesMax); return false; }
    }
    return true;
  }

  /** Where `byte` (outside strings) puts the top-level object's scan; false (`refusal`) on an array or object its key takes neither of. */
  private shaped(byte: number): boolean {
    if (byte === 32 || byte === 10 || byte === 13 || byte === 9) return true;
    if (this.depth === 1 && this.role !== 'none') {
      if (this.role === 'value') {
        this.role = 'after';
        const refusal = byte === 91 ? this.kinds!.array : byte === 123 ? this.kinds!.object : null;
        if (refusal !== null) { this.refusal = new McpV8Error('INVALID_ARGUMENT', refusal); return false; }
      } else if (byte === 58) this.role = 'value';
      else if (byte === 44) this.role = 'key';
      else if (byte === 34 && this.role === 'key') { this.keyParts = []; this.keyBytes = 0; }
    }
    if (byte === 91 || byte === 123) {
      // A top-level array: no tool takes one (the schema says so); only the counts apply.
      if (this.depth++ === 0) this.role = byte === 123 ? 'key' : 'none';
    } else if (byte === 93 || byte === 125) this.depth--;
    return true;
  }

  private keyPart(bytes: Buffer): void {
    if (this.keyBytes < keyBytesMax) this.keyParts!.push(bytes.subarray(0, keyBytesMax - this.keyBytes));
    this.keyBytes += bytes.length;
  }

  /** A top-level key has ended: false (`refusal`) if the tool does not take it. */
  private keyEnded(): boolean {
    const raw = Buffer.concat(this.keyParts!).toString('utf8');
    this.keyParts = null;
    this.role = 'colon';
    let key = raw;
    // Escapes are decoded as JSON.parse will; a bad one is left to it (its error says where).
    if (raw.includes('\\')) try { key = JSON.parse(`"${raw}"`) as string; } catch { key = raw; }
    const { tool, keys } = this.shape!;
    this.kinds = this.keyBytes > keyBytesMax ? undefined : keys.get(key);
    if (this.kinds === undefined) {
      // zod's words for one unknown key: the same answer as over MCP, where the schema finds it.
      this.refusal = new McpV8Error('INVALID_ARGUMENT', `${tool}: input: Unrecognized key: ${keyName(key)}`);
      return false;
    }
    return true;
  }

  /** In a string from `from`: where the byte after its closing quote is (inString false), or the chunk's end (still in it). */
  private stringEnd(chunk: Buffer, from: number): number {
    const shortEnd = Math.min(chunk.length, from + shortStringBytes);
    let at = from;
    for (; at < shortEnd; at++) {
      const byte = chunk[at]!;
      if (this.escaped) this.escaped = false;
      else if (byte === 92) this.escaped = true;
      else if (byte === 34) { this.inString = false; return at + 1; }
    }
    for (;;) {
      const quote = chunk.indexOf(34, at);
      const end = quote === -1 ? chunk.length : quote;
      // The backslashes right before the quote (or the chunk's end) from `at` on; if they reach
      // back to `at`, one that escaped the byte at `at` counts too.
      let before = end - 1;
      while (before >= at && chunk[before] === 92) before--;
      const escaping = (end - 1 - before + (before < at && this.escaped ? 1 : 0)) % 2 === 1;
      if (quote === -1) { this.escaped = escaping; return chunk.length; }
      this.escaped = false;
      if (!escaping) { this.inString = false; return quote + 1; }
      at = quote + 1;
    }
  }
}

/** Refuses, before JSON.parse, a body already read with more than bodyStringsMax strings or bodyValuesMax values. */
function checkCounts(body: Buffer): void {
  if (body.length <= bodyValuesMax) return;
  const counter = new StringCounter();
  if (!counter.add(body)) throw counter.refusal!;
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

/**
 * A client's JSON body, counted as it arrives with requestBounds (a cluster peer's: peerBounds);
 * `shape`: the tool whose arguments it is, to refuse its first key the tool does not take
 * (src/transport/body-shape.ts).
 */
export async function readJsonBody(request: IncomingMessage, bodyBytesMax: number, shape: BodyShape | null = null, bounds: CountBounds = requestBounds): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > bodyBytesMax) {
    stopReading(request);
    throw new McpV8Error('BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${bodyBytesMax}`, { closeConnection: true });
  }
  const chunks = await readChunks(request, bodyBytesMax, new StringCounter(shape, bounds));
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  // A peer's body (peerBounds: an unsigned cluster's Raft messages) is parsed here, as its signed twin is (parseJsonBody).
  if (length < workerParseBytesMin || bounds !== requestBounds) return parseJsonBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length), true);
  // A big body (a long `code`) is joined, decoded and parsed off the main thread (body-parse.ts).
  const value = await parseInWorker(chunks);
  checkKeyCount(value);
  return value;
}

/** A body already read (readBody), parsed with the same checks as readJsonBody (`counted`: its strings and values were counted as it arrived). */
export function parseJsonBody(body: Buffer, counted = false): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') throw new McpV8Error('INVALID_ARGUMENT', 'request body is empty; send a JSON object');
  if (!counted) checkCounts(body);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new McpV8Error('INVALID_ARGUMENT', `request body is not valid JSON: ${(error as Error).message.slice(0, 300)}`);
  }
  checkKeyCount(value);
  return value;
}
