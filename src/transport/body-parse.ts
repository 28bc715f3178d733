// Big JSON bodies parsed off the main thread (issue 18, item 6). A legal body of up to the 4 MiB
// limit, a `code` string of 4 MB, took the main thread 16–220 ms to decode and JSON.parse on this
// machine (a string of newlines, `\n` escapes, was no faster than one without), every other
// request waiting meanwhile; eight at once, a client held its neighbours for as long again.
// Bodies from `workerParseBytesMin` up are parsed by one worker thread, the bytes moved to it
// without a copy; the value comes back by structured clone (a memcpy for a long string; a body's
// counts of strings and values are already bounded as it arrived: body.ts). Parses waiting or
// under way are bounded (`workerParsesMax`): past it a body is refused with 503 and Retry-After.
import { Worker } from 'node:worker_threads';
import { McpV8Error } from '../errors.ts';

/** Bodies of this many bytes or more are parsed by the worker (smaller ones cost less than the trip). */
export const workerParseBytesMin = 256 * 1024;
/** Big bodies parsing or waiting for the worker at most (each up to the body limit: 16 × 4 MiB). */
export const workerParsesMax = 16;

/** What the worker answers: the value, an empty body, or JSON.parse's message. */
type ParseAnswer = { id: number; ok: true; value: unknown } | { id: number; ok: false; empty: boolean; message: string };

// Plain JavaScript, evaluated: no TypeScript loader or module graph in the worker.
const workerSource = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, parts }) => {
  const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let answer;
  try {
    answer = { id, ok: true, value: JSON.parse(text) };
  } catch (error) {
    answer = { id, ok: false, empty: text.trim() === '', message: String(error && error.message) };
  }
  parentPort.postMessage(answer);
});`;

interface Waiting { resolve: (answer: ParseAnswer) => void; reject: (error: Error) => void }

let worker: Worker | null = null;
const waiting = new Map<number, Waiting>();
let nextId = 1;

function failAll(error: Error): void {
  worker = null;
  for (const entry of waiting.values()) entry.reject(error);
  waiting.clear();
}

function started(): Worker {
  if (worker !== null) return worker;
  const made = new Worker(workerSource, { eval: true, name: 'mcp-v8 body parser' });
  made.on('message', (answer: ParseAnswer) => {
    const entry = waiting.get(answer.id);
    waiting.delete(answer.id);
    if (waiting.size === 0) made.unref();
    entry?.resolve(answer);
  });
  made.on('error', (error) => { if (worker === made) failAll(error); });
  made.on('exit', (code) => { if (worker === made) failAll(new Error(`the body parser's thread exited (code ${code})`)); });
  // Idle, it must not keep the process alive (unref'd, and ref'd while parses are under way); its
  // end must not lose a request: its parses fail, and the next starts another thread.
  worker = made;
  return made;
}

/**
 * Parses `body` (a body read whole, its counts checked; or its chunks as they came, joined on the
 * worker) on the worker; the errors parseJsonBody gives.
 */
export async function parseInWorker(body: Buffer | readonly Buffer[]): Promise<unknown> {
  if (waiting.size >= workerParsesMax) {
    throw new McpV8Error('BUSY', `the server is parsing ${workerParsesMax} large request bodies (of ${workerParseBytesMin} bytes or more) already; retry shortly`, { retryAfterSecs: 1 });
  }
  const id = nextId++;
  const parts = Buffer.isBuffer(body) ? [body] : body;
  // Moved, not copied, where a part owns its memory (each chunk node's HTTP parser hands over
  // does, as does Buffer.concat of a big body): a body of 2 MB is joined on the worker, not here
  // (Buffer.concat of its chunks cost the main thread ≈ 8 % of its time per legal 2 MB code: the
  // copy and the page faults of a fresh 2 MB).
  const moved = new Set<ArrayBuffer>();
  for (const part of parts) {
    if (part.byteOffset === 0 && part.byteLength === part.buffer.byteLength && part.buffer instanceof ArrayBuffer) moved.add(part.buffer);
  }
  const answer = await new Promise<ParseAnswer>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    const thread = started();
    thread.ref();
    thread.postMessage({ id, parts }, [...moved]);
  });
  if (answer.ok) return answer.value;
  if (answer.empty) throw new McpV8Error('INVALID_ARGUMENT', 'request body is empty; send a JSON object');
  throw new McpV8Error('INVALID_ARGUMENT', `request body is not valid JSON: ${answer.message.slice(0, 300)}`);
}
