// WHATWG streams in the sandbox (src/exec/sandbox/prelude/streams.js): each case runs the same
// code in the sandbox and in Node 24, whose own globals are the reference, and the two answers
// (a log of what happened, in order) must be equal. The logs record promise-resolution order,
// backpressure (desiredSize), locking and error/cancel propagation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { result } = await engineForFile();

/** Runs `code` (an async function body that fills `log` and may return) in the sandbox and in Node. */
async function same(code: string, name: string): Promise<void> {
  const body = `const log = []; const note = (...parts) => log.push(parts.map((part) => typeof part === 'string' ? part : part instanceof Error ? part.name + ':' + (part.name === 'TypeError' || part.name === 'RangeError' ? '' : part.message) : part instanceof Uint8Array ? 'u8[' + Array.from(part).join(',') + ']' : JSON.stringify(part)).join(' '));
    try { const value = await (async () => { ${code} })(); if (value !== undefined) note('=', value); } catch (error) { note('threw', error); }
    return log.join('\\n');`;
  const sandbox = await result(`(async () => { ${body} })()`);
  const node = await (new Function(`return (async () => { ${body} })()`) as () => Promise<string>)();
  assert.equal(sandbox, node, name);
}

const cases: Array<[string, string]> = [
  ['read, enqueue, close order', `
    const rs = new ReadableStream({ start(c) { note('start', c.desiredSize); c.enqueue('a'); note('after a', c.desiredSize); c.enqueue('b'); note('after b', c.desiredSize); }, pull(c) { note('pull', c.desiredSize); } });
    const reader = rs.getReader();
    reader.closed.then(() => note('closed'));
    note('locked', rs.locked);
    const r1 = reader.read().then((r) => note('r1', r));
    const r2 = reader.read().then((r) => note('r2', r));
    const r3 = reader.read().then((r) => note('r3', r));
    await r1; await r2;
    note('waiting');
    await Promise.resolve();
    note('tick');
    `],
  ['pull on demand with a highWaterMark and a size function', `
    let n = 0;
    const rs = new ReadableStream({ pull(c) { note('pull', c.desiredSize); c.enqueue('x'.repeat(++n)); if (n === 4) c.close(); } }, { highWaterMark: 5, size: (chunk) => chunk.length });
    await new Promise((r) => setTimeout(r, 0));
    for await (const chunk of rs) note('chunk', chunk);
    note('done', rs.locked);
    `],
  ['controller.error rejects pending reads and closed', `
    let ctrl;
    const rs = new ReadableStream({ start(c) { ctrl = c; } });
    const reader = rs.getReader();
    const p = reader.read().then((r) => note('read', r), (e) => note('read rejected', e));
    reader.closed.catch((e) => note('closed rejected', e));
    ctrl.error(new Error('boom'));
    await p;
    note('desiredSize', ctrl.desiredSize);
    await reader.read().catch((e) => note('later read', e));
    `],
  ['locked streams throw TypeError', `
    const rs = new ReadableStream();
    const reader = rs.getReader();
    try { rs.getReader(); } catch (e) { note('second getReader', e); }
    await rs.cancel().catch((e) => note('cancel locked', e));
    await rs.pipeTo(new WritableStream()).catch((e) => note('pipeTo locked', e));
    try { rs.tee(); } catch (e) { note('tee locked', e); }
    reader.releaseLock();
    await reader.closed.catch((e) => note('closed after release', e));
    await reader.read().catch((e) => note('read after release', e));
    note('locked', rs.locked);
    const ws = new WritableStream();
    const writer = ws.getWriter();
    try { ws.getWriter(); } catch (e) { note('second getWriter', e); }
    await ws.abort().catch((e) => note('abort locked', e));
    await ws.close().catch((e) => note('close locked', e));
    writer.releaseLock();
    await writer.write('x').catch((e) => note('write after release', e));
    try { writer.desiredSize; } catch (e) { note('desiredSize after release', e); }
    `],
  ['cancel reaches the source and closes the reader', `
    const rs = new ReadableStream({ start(c) { c.enqueue(1); }, cancel(reason) { note('source cancel', reason); return new Promise((r) => setTimeout(r, 1)).then(() => note('source cancel done')); } });
    const reader = rs.getReader();
    reader.closed.then(() => note('closed'));
    await reader.cancel('why').then((v) => note('cancel resolved', v));
    await reader.read().then((r) => note('read', r));
    `],
  ['tee: both branches see every chunk; cancel both reaches the source with both reasons', `
    const rs = new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); }, cancel(reason) { note('cancel', reason); } });
    const [left, right] = rs.tee();
    const l = left.getReader();
    const r = right.getReader();
    note('l1', await l.read());
    note('r1', await r.read());
    note('l2', await l.read());
    const leftCancel = l.cancel('L').then(() => note('left cancel resolved'));
    note('right cancel', await r.cancel('R'));
    await leftCancel;
    note('locked', rs.locked);
    `],
  ['tee of a stream that errors', `
    const rs = new ReadableStream({ start(c) { c.enqueue(1); setTimeout(() => c.error(new RangeError('late'))); } });
    const [a, b] = rs.tee();
    const chunks = [];
    try { for await (const chunk of a) chunks.push(chunk); } catch (e) { note('a', chunks, e); }
    await b.getReader().closed.catch((e) => note('b closed', e));
    `],
  ['WritableStream: backpressure via desiredSize and ready, writes in order', `
    const ws = new WritableStream({
      start() { note('start'); },
      write(chunk) { note('write', chunk); return new Promise((r) => setTimeout(r, 1)); },
      close() { note('sink close'); },
    }, { highWaterMark: 2 });
    const writer = ws.getWriter();
    note('desired', writer.desiredSize);
    const writes = ['a', 'b', 'c'].map((chunk) => writer.write(chunk).then(() => note('written', chunk, writer.desiredSize)));
    note('desired after 3', writer.desiredSize);
    writer.ready.then(() => note('ready'));
    await Promise.all(writes);
    await writer.close();
    note('closed', writer.desiredSize);
    await writer.closed.then(() => note('closed promise'));
    `],
  ['WritableStream: a write that fails errors the stream', `
    const ws = new WritableStream({ write(chunk) { if (chunk === 2) throw new TypeError('bad'); note('wrote', chunk); } });
    const writer = ws.getWriter();
    await writer.write(1);
    await writer.write(2).catch((e) => note('write 2', e));
    await writer.write(3).catch((e) => note('write 3', e));
    await writer.closed.catch((e) => note('closed', e));
    note('desired', writer.desiredSize);
    `],
  ['WritableStream: abort signals the controller, rejects queued writes', `
    let ctrl;
    const ws = new WritableStream({ start(c) { ctrl = c; }, write() { return new Promise((r) => setTimeout(r, 5)); }, abort(reason) { note('sink abort', reason); } });
    const writer = ws.getWriter();
    await writer.ready;
    ctrl.signal.addEventListener('abort', () => note('signal', ctrl.signal.reason));
    const w1 = writer.write('1').then(() => note('w1 ok'), (e) => note('w1', e));
    const w2 = writer.write('2').then(() => note('w2 ok'), (e) => note('w2', e));
    await writer.abort('stop').then(() => note('abort resolved'));
    await w1; await w2;
    await writer.closed.catch((e) => note('closed', e));
    `],
  ['pipeTo copies, closes the destination, releases the locks', `
    const rs = ReadableStream.from(['a', 'b', 'c']);
    const seen = [];
    const ws = new WritableStream({ write(chunk) { seen.push(chunk); }, close() { note('dest closed', seen); } });
    await rs.pipeTo(ws).then(() => note('piped'));
    note('locks', rs.locked, ws.locked);
    `],
  ['pipeTo: a source error aborts the destination; preventAbort keeps it', `
    const failing = () => new ReadableStream({ start(c) { c.enqueue(1); c.error(new RangeError('src')); } });
    const ws = new WritableStream({ abort(reason) { note('abort', reason); } });
    await failing().pipeTo(ws).catch((e) => note('pipe 1', e));
    const ws2 = new WritableStream({ abort(reason) { note('abort 2', reason); } });
    await failing().pipeTo(ws2, { preventAbort: true }).catch((e) => note('pipe 2', e));
    note('ws2 locked', ws2.locked);
    const w = ws2.getWriter(); await w.write('ok').then(() => note('ws2 still writable'));
    `],
  ['pipeTo: a destination error cancels the source; an AbortSignal stops the pipe', `
    const src = () => new ReadableStream({ pull(c) { c.enqueue('x'); }, cancel(reason) { note('source cancel', reason); } });
    const ws = new WritableStream({ write() { throw new RangeError('dest'); } });
    await src().pipeTo(ws).catch((e) => note('pipe', e));
    const controller = new AbortController();
    let writes = 0;
    const slow = new WritableStream({ write() { if (++writes === 3) controller.abort('enough'); }, abort(reason) { note('dest abort', reason); } });
    await src().pipeTo(slow, { signal: controller.signal }).catch((e) => note('aborted pipe', e));
    note('writes', writes);
    `],
  ['pipeThrough a TransformStream with flush, and the stream it returns', `
    const upper = new TransformStream({ start() { note('t start'); }, transform(chunk, c) { c.enqueue(chunk.toUpperCase()); c.enqueue('|'); }, flush(c) { c.enqueue('!'); note('flush'); } });
    const out = ReadableStream.from(['ab', 'cd']).pipeThrough(upper);
    note('same readable', out === upper.readable);
    let text = '';
    for await (const chunk of out) text += chunk;
    return text;
    `],
  ['TransformStream: backpressure, terminate, error', `
    const ts = new TransformStream({ transform(chunk, c) { note('transform', chunk, c.desiredSize); c.enqueue(chunk); } });
    const writer = ts.writable.getWriter();
    note('w desired', writer.desiredSize);
    const w1 = writer.write('a').then(() => note('a written'));
    const reader = ts.readable.getReader();
    note('read', await reader.read());
    await w1;
    const ts2 = new TransformStream({ start(c) { c.terminate(); } });
    await ts2.writable.getWriter().write('x').catch((e) => note('after terminate', e));
    note('terminated read', await ts2.readable.getReader().read());
    const ts3 = new TransformStream({ transform() { throw new RangeError('nope'); } });
    const w3 = ts3.writable.getWriter();
    const written = w3.write('x').catch((e) => note('w3', e));
    await ts3.readable.getReader().read().catch((e) => note('r3', e));
    await written;
    `],
  ['ReadableStream.from: async generators, sync iterables of promises, cancel calls return()', `
    async function* gen() { try { yield 1; yield 2; yield 3; } finally { note('gen finally'); } }
    for await (const value of ReadableStream.from(gen())) { note('v', value); if (value === 2) break; }
    const fromSync = ReadableStream.from([Promise.resolve('p'), 'q']);
    for await (const value of fromSync) note('sync', value);
    try { ReadableStream.from(42); } catch (e) { note('not iterable', e); }
    `],
  ['async iteration: preventCancel, return() cancels, the stream locks', `
    const rs = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.enqueue(3); }, cancel(r) { note('cancel', r); } });
    for await (const v of rs.values({ preventCancel: true })) { note('v', v); break; }
    note('locked after preventCancel', rs.locked);
    const it = rs[Symbol.asyncIterator]();
    note('next', await it.next());
    note('return', await it.return('bye'));
    note('next after return', await it.next());
    note('locked', rs.locked);
    `],
  ['queuing strategies', `
    const b = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
    const c = new CountQueuingStrategy({ highWaterMark: 2 });
    note(b.highWaterMark, b.size(new Uint8Array(5)), c.highWaterMark, c.size('anything'), b.size === new ByteLengthQueuingStrategy({ highWaterMark: 1 }).size);
    try { new CountQueuingStrategy(); } catch (e) { note('no init', e); }
    try { new ReadableStream({}, { highWaterMark: -1 }); } catch (e) { note('negative hwm', e); }
    try { new ReadableStream({ start: 1 }); } catch (e) { note('start not a function', e); }
    const rs = new ReadableStream({ start(c) { note('desired', c.desiredSize); c.enqueue(new Uint8Array(10)); note('desired', c.desiredSize); } }, b);
    const ws = new WritableStream({}, { highWaterMark: 3, size() { return 2; } });
    const w = ws.getWriter(); note('w', w.desiredSize); w.write(1); note('w', w.desiredSize);
    try { new ReadableStream({ start(c) { c.enqueue('x'); } }, { size() { return -1; } }); } catch (e) { note('bad size', e); }
    `],
  ['controller misuse', `
    let ctrl;
    const rs = new ReadableStream({ start(c) { ctrl = c; } });
    ctrl.close();
    try { ctrl.enqueue(1); } catch (e) { note('enqueue after close', e); }
    try { ctrl.close(); } catch (e) { note('close twice', e); }
    try { new ReadableStreamDefaultController(); } catch (e) { note('illegal constructor', e); }
    try { ReadableStream.prototype.getReader.call({}); } catch (e) { note('brand', e); }
    note(Object.prototype.toString.call(rs), Object.prototype.toString.call(rs.getReader()), Object.prototype.toString.call(ctrl));
    `],
  ['TextEncoderStream and TextDecoderStream split multi-byte characters and surrogate pairs', `
    const enc = new TextEncoderStream();
    const w = enc.writable.getWriter();
    w.write('a\\ud83d'); w.write('\\ude00é'); w.write('\\ud800'); w.close();
    const bytes = [];
    for await (const chunk of enc.readable) bytes.push(...chunk);
    note('encoded', bytes);
    const dec = new TextDecoderStream();
    const dw = dec.writable.getWriter();
    const all = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9, 0xe2]);
    for (let i = 0; i < all.length; i += 3) dw.write(all.slice(i, i + 3));
    dw.close();
    let text = '';
    for await (const chunk of dec.readable) text += chunk;
    note('decoded', text, dec.encoding, dec.fatal, dec.ignoreBOM);
    const fatal = new TextDecoderStream('utf-8', { fatal: true });
    const fw = fatal.writable.getWriter();
    fw.write(new Uint8Array([0xff])).catch((e) => note('fatal write', e));
    await fatal.readable.getReader().read().catch((e) => note('fatal read', e));
    try { new TextDecoderStream('no-such-encoding'); } catch (e) { note('label', e); }
    `],
  ['Response and Request bodies are streams of Uint8Array', `
    const res = new Response('héllo');
    const body = res.body;
    note(body instanceof ReadableStream, res.bodyUsed, res.body === body);
    const reader = body.getReader();
    const first = await reader.read();
    note(first.value instanceof Uint8Array, first.value, res.bodyUsed);
    await res.text().catch((e) => note('text after read', e));
    const streamed = new Response(ReadableStream.from([new Uint8Array([104, 105]), new TextEncoder().encode('!')]));
    note('from stream', await streamed.text(), streamed.bodyUsed);
    const bad = new Response(ReadableStream.from(['not bytes']));
    await bad.text().catch((e) => note('string chunk', e));
    const c1 = new Response('twice');
    const c2 = c1.clone();
    note(await c1.text(), await c2.text());
    const s = new Response(ReadableStream.from([new Uint8Array([1, 2])]));
    const s2 = s.clone();
    note(await s.arrayBuffer().then((b) => b.byteLength), await s2.bytes());
    note('null body', new Response(null).body, new Response(null, { status: 204 }).body);
    const req = new Request('http://example.com/', { method: 'POST', body: 'abc' });
    note('req body', req.body instanceof ReadableStream, await req.text());
    note('get body', new Request('http://example.com/').body);
    const locked = ReadableStream.from([]); locked.getReader();
    try { new Response(locked); } catch (e) { note('locked body', e); }
    note('json', await new Response(ReadableStream.from([new TextEncoder().encode('{"a":')  , new TextEncoder().encode('1}')])).json());
    `],
  ['TransformStream: cancelling the readable side errors the writable side; aborting the writable side errors the readable', `
    const ts = new TransformStream({ cancel(reason) { note('transformer cancel', reason); } });
    const writer = ts.writable.getWriter();
    await ts.readable.cancel('stop reading').then(() => note('cancelled'));
    await writer.closed.catch((e) => note('writable closed', e));
    await writer.write('x').catch((e) => note('write after cancel', e));
    const ts2 = new TransformStream();
    const reader = ts2.readable.getReader();
    await ts2.writable.abort(new RangeError('abort')).then(() => note('aborted'));
    await reader.closed.catch((e) => note('readable closed', e));
    `],
  ['start() that rejects, or throws, errors the stream; Infinity is a highWaterMark', `
    const rejecting = new ReadableStream({ start() { return Promise.reject(new RangeError('no start')); } });
    await rejecting.getReader().read().catch((e) => note('read', e));
    try { new ReadableStream({ start() { throw new TypeError('sync'); } }); } catch (e) { note('constructor', e); }
    const sink = new WritableStream({ start() { return Promise.reject(new RangeError('sink start')); } });
    const w = sink.getWriter();
    await w.write('a').catch((e) => note('write', e));
    await w.closed.catch((e) => note('closed', e));
    const wide = new ReadableStream({ start(c) { for (let i = 0; i < 5; i++) c.enqueue(i); note('desired', c.desiredSize); } }, { highWaterMark: Infinity });
    note('locked', wide.locked);
    `],
  ['pipeTo with preventClose and preventCancel; ReadableStream.from(a ReadableStream)', `
    const seen = [];
    const ws = new WritableStream({ write(chunk) { seen.push(chunk); }, close() { note('closed?'); } });
    await ReadableStream.from(['a', 'b']).pipeTo(ws, { preventClose: true });
    note('after pipe', seen, ws.locked);
    const w = ws.getWriter(); await w.write('c'); await w.close(); note('now closed', seen);
    const source = new ReadableStream({ start(c) { c.enqueue(1); }, cancel(reason) { note('source cancel', reason); } });
    const failing = new WritableStream({ write() { throw new RangeError('w'); } });
    await source.pipeTo(failing, { preventCancel: true }).catch((e) => note('pipe', e));
    note('source locked', source.locked);
    const wrapped = ReadableStream.from(ReadableStream.from([1, 2]));
    const all = []; for await (const v of wrapped) all.push(v); note('wrapped', all);
    `],
  ['Blob.stream()', `
    const blob = new Blob(['x'.repeat(70000), 'yz']);
    let sizes = [];
    let total = '';
    for await (const chunk of blob.stream()) { sizes.push(chunk.length); total += new TextDecoder().decode(chunk); }
    note(sizes.reduce((a, b) => a + b, 0), total.slice(-3));
    note('empty', (await new Blob([]).stream().getReader().read()).done);
    `],
];

describe('WHATWG streams, compared with Node', () => {
  for (const [name, code] of cases) test(name, () => same(code, name));
});

describe('a run that makes every object a thenable', () => {
  test('a body read whole through its stream still gives its bytes', async () => {
    assert.equal(await result(`const bytes = new TextEncoder().encode('safe');
      Object.prototype.then = function (resolve) { resolve('trapped'); };
      const streamed = new Response(new ReadableStream({ start(c) { c.enqueue(bytes); c.close(); } }));
      const viaBody = new Response('body');
      viaBody.body;
      // Blob.stream() gets the blob's bytes from Blob.prototype.bytes(), a promise resolved with them (web-api.js), which
      // asks the run's then: the stream errors with a TypeError, in this run only.
      const texts = [await streamed.text(), await viaBody.text(), await new Response(new Blob(['blob']).stream()).text().catch((error) => error.name)];
      delete Object.prototype.then;
      texts.join()`), 'safe,body,TypeError');
  });
});

describe('the stream globals are built on first use', () => {
  test('they print as native, and a run may replace or delete one before the first use without breaking bodies', async () => {
    assert.equal(await result("[String(ReadableStream), String(ReadableStream.prototype.getReader), String(Object.getOwnPropertyDescriptor(ReadableStream.prototype, 'locked').get), String(Blob.prototype.stream)].join()"),
      'function ReadableStream() { [native code] },function getReader() { [native code] },function get locked() { [native code] },function stream() { [native code] }', 'as V8 prints its own (Node\'s streams are JavaScript and print their source)');
    assert.equal(await result("ReadableStream = 1; delete globalThis.WritableStream; [ReadableStream, typeof WritableStream, new Response('ab').body.constructor.name, typeof TransformStream].join()"), '1,undefined,ReadableStream,function');
    // A build cut short (the stack runs out inside it) leaves nothing half made: the next use builds again.
    assert.equal(await result(`function dive() { try { return dive(); } catch { try { return typeof ReadableStream; } catch (error) { return error.name; } } }
      const atTheEdge = dive();
      const stream = new ReadableStream({ start(c) { c.enqueue(1); c.close(); } });
      [atTheEdge === 'function' || atTheEdge === 'RangeError', (await stream.getReader().read()).value, String(TextDecoderStream), typeof new Response('x').body.getReader].join()`),
    'true,1,function TextDecoderStream() { [native code] },function');
    assert.equal(await result("const first = ReadableStream; [first === ReadableStream, Object.getOwnPropertyDescriptor(globalThis, 'ReadableStream').writable, Object.keys(globalThis).includes('ReadableStream')].join()"), 'true,true,false');
  });
});
