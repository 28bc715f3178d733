// Big JSON bodies parsed on a worker thread (src/transport/body-parse.ts): the same value as
// JSON.parse (own `__proto__` keys kept as data), the same errors as the main thread's parse, and
// a bound on the parses in flight past which a body is refused as busy.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseJsonBody } from '../../src/transport/body.ts';
import { parseInWorker, workerParseBytesMin, workerParsesMax } from '../../src/transport/body-parse.ts';

/** A JSON text of about `bytes` bytes: a long code string full of escapes, and the rest. */
function bigBody(bytes: number, extra: Record<string, unknown> = {}): string {
  const code = 'say "hi" \\ é 😀\n\t'.repeat(Math.ceil(bytes / 24));
  return `{"code":${JSON.stringify(code)},"tags":{"__proto__":"x","a":"b"},"n":[1,2.5,-3e7,true,null],${JSON.stringify(extra).slice(1, -1) || '"z":0'}}`;
}

describe('big bodies parsed on a worker thread', () => {
  test('the same value as JSON.parse, own __proto__ keys kept as data, whether the bytes are moved or copied', async () => {
    const text = bigBody(2 * workerParseBytesMin);
    const owned = Buffer.concat([Buffer.from(text), Buffer.alloc(0)]);
    assert.equal(owned.byteLength, owned.buffer.byteLength, 'a Buffer owning its memory (moved)');
    const moved = await parseInWorker(owned) as Record<string, Record<string, unknown>>;
    assert.deepEqual(moved, JSON.parse(text));
    assert.equal(Object.hasOwn(moved.tags!, '__proto__'), true);
    assert.equal(Object.getPrototypeOf(moved.tags), Object.prototype);
    // A view into a larger buffer is copied, not moved: the rest of that memory stays usable.
    const shared = Buffer.from(`xx${text}yy`).subarray(2, -2);
    assert.deepEqual(await parseInWorker(shared), JSON.parse(text));
    assert.equal(shared.toString('utf8', 0, 8), '{"code":');
  });

  test('a body in chunks, as they came off the socket, is joined on the worker: owned chunks moved, a view copied, a character split between chunks whole', async () => {
    const text = bigBody(2 * workerParseBytesMin);
    const bytes = Buffer.from(text);
    // Cut inside the 4-byte emoji's UTF-8 and elsewhere; the middle chunk a view into a larger buffer.
    const emoji = bytes.indexOf(Buffer.from('😀'), 100_000);
    const cuts = [0, emoji + 2, emoji + 100_000, bytes.length];
    const chunks = cuts.slice(0, -1).map((from, index) => Buffer.concat([bytes.subarray(from, cuts[index + 1])]));
    chunks[1] = Buffer.from(Buffer.concat([Buffer.from('ab'), chunks[1]!, Buffer.from('cd')])).subarray(2, -2);
    const owned = [chunks[0]!, chunks[2]!];
    assert.deepEqual(await parseInWorker(chunks), JSON.parse(text));
    assert.deepEqual(owned.map((chunk) => chunk.byteLength), [0, 0], 'the chunks owning their memory were moved');
    assert.ok(chunks[1]!.byteLength > 0, 'the view was copied');
  });

  test('the errors the main thread\'s parse gives: not JSON (with JSON.parse\'s words), empty', async () => {
    const broken = Buffer.from(`${bigBody(workerParseBytesMin).slice(0, -1)},}`);
    const onMain = (() => { try { parseJsonBody(Buffer.from(broken)); } catch (error) { return (error as Error).message; } return ''; })();
    assert.match(onMain, /^request body is not valid JSON: /);
    await assert.rejects(parseInWorker(broken), (error: Error) => error.message === onMain);
    await assert.rejects(parseInWorker(Buffer.from(' \n'.repeat(workerParseBytesMin))), /^McpV8Error: request body is empty; send a JSON object$|request body is empty; send a JSON object/);
  });

  test(`past ${workerParsesMax} parses in flight a body is refused as busy, with Retry-After; the others are parsed`, async () => {
    const text = bigBody(workerParseBytesMin);
    const parses = Array.from({ length: workerParsesMax + 1 }, () => parseInWorker(Buffer.from(text)).then(() => 'parsed', (error: { code?: string; message: string; retryAfterSecs?: number | null }) => `${error.code} ${error.retryAfterSecs} ${error.message}`));
    const outcomes = await Promise.all(parses);
    assert.deepEqual(outcomes.slice(0, workerParsesMax), Array.from({ length: workerParsesMax }, () => 'parsed'));
    assert.match(outcomes.at(-1)!, new RegExp(`^BUSY 1 the server is parsing ${workerParsesMax} large request bodies`));
    // Once they are done, the next is parsed again.
    assert.deepEqual(await parseInWorker(Buffer.from(text)), JSON.parse(text));
  });
});
