// fetch() with streams, through the real policy gate to a loopback server: a ReadableStream as the
// request body (read whole in the isolate, then sent), the response body read as a stream, piped
// through TextDecoderStream, teed by clone(); and the request-body bound applied to what was read.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LocalRegoDecider } from '../../src/policy/decider.ts';
import { FetchGate } from '../../src/policy/fetch-gate.ts';
import type { PolicyCapabilities } from '../../src/policy/capabilities.ts';
import { engineWith, loopbackServer } from './effects-harness.ts';

const server = await loopbackServer((req, res, body) => {
  if (req.url === '/lines') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('first line\nsecond: é😀\n'.repeat(3000));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, body: body.toString('utf8'), length: body.length }));
});
const decider = new LocalRegoDecider([{ file: 'allow.rego', source: 'package mcp.fetch\nallow := true' }], 'data.mcp.fetch.allow');
const capabilities: PolicyCapabilities = { fetch: new FetchGate({ decider, requestBytesMax: 4096 }), fs: undefined, modules: undefined, summary: {} };
const { run } = await engineWith(capabilities);

async function value(code: string): Promise<unknown> {
  const ran = await run(code, { memoryMb: 32 });
  assert.equal(ran.status, 'completed', ran.error ?? '');
  return JSON.parse(ran.result!);
}

describe('fetch() with streams', () => {
  test('a ReadableStream request body arrives whole; duplex is required', async () => {
    const got = await value(`const body = ReadableStream.from(['stream', 'ed ', new Uint8Array([98, 111, 100, 121])].map((part) => typeof part === 'string' ? new TextEncoder().encode(part) : part));
      const r = await fetch('${server.origin}/echo', { method: 'POST', body, duplex: 'half' });
      let missing = '';
      try { new Request('${server.origin}/echo', { method: 'POST', body: new ReadableStream() }); } catch (error) { missing = error.name; }
      JSON.stringify([await r.json(), body.locked, missing])`);
    assert.deepEqual(got, [{ method: 'POST', body: 'streamed body', length: 13 }, true, 'TypeError']);
  });

  test('a stream body past the request bound is refused after it is read, naming the bound', async () => {
    const ran = await run(`await fetch('${server.origin}/echo', { method: 'POST', body: ReadableStream.from([new Uint8Array(3000), new Uint8Array(3000)]), duplex: 'half' })`);
    assert.match(ran.error ?? '', new RegExp(`^TypeError: fetch ${server.origin}/echo: request body larger than 4096 bytes`));
  });

  test('the response body reads as a stream: chunks, a TextDecoderStream pipe, a tee by clone()', async () => {
    const got = await value(`const r = await fetch('${server.origin}/lines');
      const copy = r.clone();
      let chunks = 0, bytes = 0;
      for await (const chunk of r.body) { chunks++; bytes += chunk.length; }
      let text = '';
      for await (const piece of copy.body.pipeThrough(new TextDecoderStream())) text += piece;
      JSON.stringify([chunks > 1, bytes, text.length, text.split('\\n')[1], r.bodyUsed, copy.bodyUsed])`);
    const expected = 'first line\nsecond: é😀\n'.repeat(3000);
    assert.deepEqual(got, [true, Buffer.byteLength(expected), expected.length, 'second: é😀', true, true]);
  });
});
