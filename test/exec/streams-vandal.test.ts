// The streams (src/exec/sandbox/prelude/streams.js) and the bodies made of them answer a run that
// first replaced every builtin they could call (test/exec/vandal.ts) as they answer a clean run,
// and as Node does: they call only what the prelude captured at start-up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { run } = await engineForFile(1);

/** Made before the vandal runs (the run's own array literals and iterators are the vandal's after). */
const setup = `const encoded = new TextEncoder().encode('héllo wörld 😀');
const parts = [encoded.slice(0, 2), encoded.slice(2, 9), encoded.slice(9)];
const items = ['a', 'b', 'c'];
async function* generate(list) { for (let i = 0; i < list.length; i++) yield list[i]; }
`;

/** Uses every class; plain loops and concatenation only (the vandal replaced the rest). */
const scenario = `(async () => {
  let out = '';
  let pulls = 0;
  const counted = new ReadableStream({
    start(c) { out += 'start ' + c.desiredSize + ';'; },
    pull(c) { pulls++; out += 'pull ' + c.desiredSize + ';'; c.enqueue(items[pulls - 1]); if (pulls === 3) c.close(); },
  }, new CountQueuingStrategy({ highWaterMark: 2 }));
  const reader = counted.getReader();
  for (;;) { const r = await reader.read(); if (r.done) break; out += r.value; }
  reader.releaseLock();
  out += '|locked ' + counted.locked;
  const branches = ReadableStream.from(generate(items)).tee();
  for await (const v of branches[0]) out += v;
  const second = branches[1].getReader();
  out += '|tee ' + (await second.read()).value + (await second.read()).value;
  await second.cancel('enough');
  let sunk = '';
  await ReadableStream.from(generate(items))
    .pipeThrough(new TransformStream({ transform(chunk, c) { c.enqueue(chunk + chunk); }, flush(c) { c.enqueue('!'); } }))
    .pipeThrough(new TransformStream())
    .pipeTo(new WritableStream({ write(chunk) { sunk += chunk + ','; }, close() { sunk += 'closed'; } }, new CountQueuingStrategy({ highWaterMark: 4 })));
  // ByteLengthQueuingStrategy's size reads chunk.byteLength as the standard says: the vandal's getter would answer.
  out += '|byte strategy ' + new ByteLengthQueuingStrategy({ highWaterMark: 8 }).highWaterMark;
  out += '|piped ' + sunk;
  let controller;
  const failing = new ReadableStream({ start(c) { controller = c; } });
  const failingReader = failing.getReader();
  const pending = failingReader.read();
  controller.error(new RangeError('boom'));
  try { await pending; } catch (error) { out += '|read ' + error.name + ' ' + error.message; }
  try { failing.getReader(); } catch (error) { out += '|locked ' + error.name; }
  let aborted = '';
  const erroring = new ReadableStream({ pull(c) { c.enqueue('x'); } });
  try { await erroring.pipeTo(new WritableStream({ write() { throw new TypeError('sink'); } })); } catch (error) { aborted += error.message; }
  out += '|pipe error ' + aborted + ' ' + erroring.locked;
  const decoder = new TextDecoderStream();
  const decodeWriter = decoder.writable.getWriter();
  for (let i = 0; i < parts.length; i++) decodeWriter.write(parts[i]);
  decodeWriter.close();
  let text = '';
  for await (const piece of decoder.readable) text += piece + '/';
  const encoder = new TextEncoderStream();
  const encodeWriter = encoder.writable.getWriter();
  encodeWriter.write('h\\ud83d'); encodeWriter.write('\\ude00'); encodeWriter.close();
  let bytes = '';
  for await (const chunk of encoder.readable) for (let i = 0; chunk[i] !== undefined; i++) bytes += chunk[i] + ' '; // the vandal replaced the length getter
  out += '|text ' + text + ' ' + bytes;
  const body = new Response('body text').body.getReader();
  const first = await body.read();
  out += '|body ' + new TextDecoder().decode(first.value) + ' ' + (await body.read()).done;
  out += '|from stream ' + await new Response(ReadableStream.from(generate(parts))).text();
  out += '|blob ' + await new Response(new Blob(parts).stream()).text();
  const cloned = new Response(ReadableStream.from(generate(parts)));
  const copy = cloned.clone();
  out += '|clone ' + new TextDecoder().decode(await cloned.bytes()) + ' ' + (await copy.text()).length + ' ' + cloned.bodyUsed;
  const sink = new WritableStream({ write() { return new Promise((resolve) => setTimeout(resolve, 1)); }, abort(reason) { out += '|sink abort ' + reason; } }, { highWaterMark: 2 });
  const writer = sink.getWriter();
  out += '|desired ' + writer.desiredSize;
  writer.write(1);
  writer.write(2);
  out += ' ' + writer.desiredSize;
  await writer.ready;
  out += ' ' + writer.desiredSize;
  await writer.abort('stop');
  try { await writer.closed; } catch (error) { out += ' closed ' + error; }
  return out;
})()`;

describe('streams with every builtin they use replaced by the run', () => {
  test('they answer as in a clean run and as Node', async () => {
    const node = await (new Function(`${setup} return ${scenario}`) as () => Promise<string>)();
    const clean = await run(setup + scenario);
    assert.equal(clean.status, 'completed', clean.error ?? '');
    assert.equal(clean.result, node);
    const ran = await run(setup + vandalSource + scenario);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, clean.result);
  });
});
