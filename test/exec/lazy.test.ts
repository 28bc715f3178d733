// Globals made on first use (src/exec/sandbox/lazy.js): web-api.js's classes are not in a new
// context until a run reads one. What a run can tell: the names exist from the start, the first
// read gives the class and turns the global into the data property V8 would have; a write or a
// delete before that is kept; a run that replaced every builtin first still gets working classes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import ivm from 'isolated-vm';
import { preludeSource } from '../../src/exec/isolate-pool.ts';
import { heapBytesPerContext } from '../../bench/lib/context-bytes.ts';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { result } = await engineForFile(1);
const lazyNames = ['URL', 'URLSearchParams', 'AbortController', 'AbortSignal', 'Headers', 'Blob', 'File', 'FormData'];

/** Heap bytes a new context takes, on an isolate made from `source`'s snapshot. */
async function bytesPerContext(source: string): Promise<number> {
  const isolate = new ivm.Isolate({ memoryLimit: 256, snapshot: ivm.Isolate.createSnapshot([{ code: source, filename: 'mcp-v8:prelude' }]) });
  try {
    return await heapBytesPerContext(isolate);
  } finally {
    isolate.dispose();
  }
}

describe('globals made on first use', () => {
  test('a new context holds accessors; the first read builds them all as data properties, as V8 defines its own', async () => {
    const before = `JSON.stringify(${JSON.stringify(lazyNames)}.map((name) => Object.keys(Object.getOwnPropertyDescriptor(globalThis, name)).sort().join()))`;
    assert.deepEqual(JSON.parse((await result(before))!), lazyNames.map(() => 'configurable,enumerable,get,set'));
    const after = `const first = URL; JSON.stringify([first === URL, ...${JSON.stringify(lazyNames)}.map((name) => { const d = Object.getOwnPropertyDescriptor(globalThis, name); return [typeof d.value, d.writable, d.enumerable, d.configurable].join(); })])`;
    assert.deepEqual(JSON.parse((await result(after))!), [true, ...lazyNames.map(() => 'function,true,false,true')]);
    assert.equal(await result("const d = Object.getOwnPropertyDescriptor(crypto, 'subtle'); typeof d.get"), 'function');
    assert.equal(await result("crypto.subtle; const d = Object.getOwnPropertyDescriptor(crypto, 'subtle'); [typeof d.value.digest, d.writable, d.enumerable, d.configurable].join()"), 'function,false,true,true');
  });

  test('built classes and the accessors print as V8 own functions', async () => {
    assert.equal(await result('String(Object.getOwnPropertyDescriptor(globalThis, "Blob").get)'), 'function get Blob() { [native code] }');
    assert.equal(await result('String(Blob) + " " + String(URL.prototype.toString) + " " + String(AbortSignal.timeout) + " " + String(crypto.subtle.digest)'),
      'function Blob() { [native code] } function toString() { [native code] } function timeout() { [native code] } function digest() { [native code] }');
  });

  test('functions print as V8 own after a vandal and index setters on Array.prototype (the names of natives are listed until attach, then a WeakMap)', async () => {
    const code = "apply(toText, Blob, []) + ' ' + apply(toText, setTimeout, []) + ' ' + apply(toText, URL.prototype.toString, []) + ' ' + apply(toText, descriptorOf(globalThis, 'EventTarget').get, [])";
    const prefix = 'const toText = Function.prototype.toString; const apply = Reflect.apply; const define = Object.defineProperty; const descriptorOf = Object.getOwnPropertyDescriptor;';
    const clean = await result(`${prefix}\n${code}`);
    assert.equal(clean, 'function Blob() { [native code] } function setTimeout() { [native code] } function toString() { [native code] } function get EventTarget() { [native code] }');
    // After the vandal, whose own code pushes onto arrays.
    const indexSetters = "for (let index = 0; index < 2000; index++) define(Array.prototype, index, { __proto__: null, set() { throw new Error('index setter ' + index); }, configurable: true });";
    assert.equal(await result(`${prefix}\n${vandalSource}\n${indexSetters}\n${code}`), clean);
  });

  test('a write or a delete before the first read is kept, and the rest of the group still builds', async () => {
    assert.equal(await result("URL = 5; [URL, typeof new Headers([['a', '1']]).get, typeof URL].join()"), '5,function,number');
    assert.equal(await result("delete globalThis.URLSearchParams; [typeof URLSearchParams, new URL('https://a.example/?q=1').searchParams.get('q')].join()"), 'undefined,1');
    assert.equal(await result("'use strict'; try { crypto.subtle = 1; 'written' } catch (error) { error.name + ' ' + typeof crypto.subtle.digest }"), 'TypeError function');
    // fetch's Request takes the classes from web-api.js, not from the globals the run replaced.
    assert.equal(await result("globalThis.Headers = function () { throw new Error('not ours'); }; new Request('https://a.example/x', { headers: { A: '1' } }).headers.get('a')"), '1');
  });

  test('a run that replaced every builtin before the first read gets the same classes as a clean run', async () => {
    // String concatenation only: the vandal replaced Array.prototype.join for the run's own code too.
    const code = "new URL('../b?x=1#f', 'https://u@a.example/p/q').href + ' ' + new URLSearchParams({ a: 'b c' }).toString() + ' ' + new Headers({ B: '2', a: '1' }).get('b') + ' ' + new AbortController().signal.aborted + ' ' + new Request('https://a.example/').url";
    const clean = await result(code);
    assert.equal(clean, 'https://u@a.example/b?x=1#f a=b+c 2 false https://a.example/');
    assert.equal(await result(`${vandalSource}\n${code}`), clean);
  });

  test('events.js: Event, CustomEvent and EventTarget built after the vandal dispatch as in a clean run', async () => {
    const code = `const target = new EventTarget(); let seen = '';
target.addEventListener('ping', (event) => { seen += event.type + ':' + event.detail + ':' + event.eventPhase + ':' + (event instanceof Event); }, { once: true });
target.dispatchEvent(new CustomEvent('ping', { detail: 7 })); target.dispatchEvent(new CustomEvent('ping', { detail: 8 }));
seen + ' ' + Event.AT_TARGET + ' ' + Object.keys(Object.getOwnPropertyDescriptor(globalThis, 'EventTarget')).length`;
    const clean = await result(code);
    assert.equal(clean, 'ping:7:2:true 2 4');
    assert.equal(await result(`${vandalSource}\n${code.replace("Object.keys(Object.getOwnPropertyDescriptor(globalThis, 'EventTarget')).length", '4')}`), clean);
  });

  test('fetch.js: Request and Response are accessors until read, then built after the vandal as in a clean run', async () => {
    assert.equal(await result("['Request', 'Response'].map((name) => Object.keys(Object.getOwnPropertyDescriptor(globalThis, name)).sort().join()).join(' ')"), 'configurable,enumerable,get,set configurable,enumerable,get,set');
    assert.equal(await result("Response; ['Request', 'Response'].map((name) => { const d = Object.getOwnPropertyDescriptor(globalThis, name); return [typeof d.value, d.writable, d.enumerable, d.configurable].join(); }).join(' ')"), 'function,true,false,true function,true,false,true');
    const code = "const response = new Response('hi', { status: 201, headers: { A: '1' } }); const request = new Request('https://a.example/x', { method: 'POST', body: 'b' }); "
      + "describe(response) + ' ' + response.status + ' ' + response.headers.get('a') + ' ' + request.method + ' ' + request.url + ' ' + describe(request) + ' ' + describe(Response.error()) + ' ' + toText(Response)";
    const prefix = 'const toText = Function.prototype.toString; const describe = (value) => Reflect.apply(Object.prototype.toString, value, []);';
    const clean = await result(`${prefix}\n${code.replaceAll('toText(Response)', 'Reflect.apply(toText, Response, [])')}`);
    assert.equal(clean, '[object Response] 201 1 POST https://a.example/x [object Request] [object Response] function Response() { [native code] }');
    const captured = 'const toText = Function.prototype.toString; const apply = Reflect.apply; const objectToString = Object.prototype.toString; const describe = (value) => apply(objectToString, value, []);';
    assert.equal(await result(`${captured}\n${vandalSource}\n${code.replaceAll('toText(Response)', 'apply(toText, Response, [])')}`), clean);
  });

  test('the classes are no longer copied into every new context', async () => {
    // Heap bytes do not depend on the machine's load: the lazy classes' objects are not in a
    // context that has not read them. The same prelude with the group built at start-up is the reference.
    const eager = preludeSource.replace("Object.defineProperty(globalThis, '__mcpv8_webApi', { value: webApi, configurable: true });", "webApi();\n  Object.defineProperty(globalThis, '__mcpv8_webApi', { value: webApi, configurable: true });");
    assert.notEqual(eager, preludeSource);
    const [lazy, built] = [await bytesPerContext(preludeSource), await bytesPerContext(eager)];
    assert.ok(built - lazy > 16 * 1024, `lazy ${lazy} bytes per context, built at start-up ${built}`);
  });
});
