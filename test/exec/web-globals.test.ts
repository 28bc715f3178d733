// The web globals the sandbox provides beside V8's own: TextEncoder/TextDecoder (UTF-8),
// atob/btoa, structuredClone, crypto, performance.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { run, result } = await engineForFile();

describe('web globals', () => {
  test('TextEncoder and TextDecoder round-trip UTF-8 like Node', async () => {
    const sample = 'aé€😀';
    assert.equal(await result(`Array.from(new TextEncoder().encode(${JSON.stringify(sample)})).join()`), Array.from(Buffer.from(sample)).join());
    assert.equal(await result(`new TextDecoder().decode(new TextEncoder().encode(${JSON.stringify(sample)}))`), sample);
    assert.equal(await result("new TextDecoder().decode(new Uint8Array([0xff, 0x61, 0xe2, 0x82]))"), new TextDecoder().decode(new Uint8Array([0xff, 0x61, 0xe2, 0x82])));
    assert.equal(await result("new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]).buffer)"), 'A');
    assert.equal(await result("try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xc3])); 'no' } catch (e) { e.name }"), 'TypeError');
    assert.equal(await result("JSON.stringify(new TextEncoder().encodeInto('h€', new Uint8Array(3)))"), '{"read":1,"written":1}');
    assert.equal(await result("new TextEncoder().encode('\\ud800').join()"), '239,191,189', 'a lone surrogate becomes U+FFFD');
  });

  test('atob and btoa', async () => {
    for (const text of ['', 'f', 'fo', 'foo', 'foob', 'hello world', '\u00ff\u0000\u0080']) {
      assert.equal(await result(`btoa(${JSON.stringify(text)})`), btoa(text));
      assert.equal(await result(`atob(${JSON.stringify(btoa(text))})`), text);
    }
    assert.equal(await result("try { btoa('€'); 'no' } catch (e) { e.name }"), 'InvalidCharacterError');
    assert.equal(await result("try { atob('a'); 'no' } catch (e) { e.name }"), 'InvalidCharacterError');
  });

  test('structuredClone copies deeply, keeps cycles and the common built-in types, refuses functions', async () => {
    const code = `
      const source = { n: 1, list: [1, { x: 2 }], when: new Date(0), map: new Map([['k', new Set([1])]]), bytes: new Uint8Array([1, 2]) };
      source.self = source;
      const copy = structuredClone(source);
      [copy !== source, copy.list[1] !== source.list[1], copy.self === copy, copy.when instanceof Date, copy.map.get('k').has(1), copy.bytes[1]].join()`;
    assert.equal(await result(code), 'true,true,true,true,true,2');
    assert.equal(await result("try { structuredClone({ f() {} }); 'no' } catch (e) { e.name }"), 'DataCloneError');
  });

  test('performance.now counts from the first reading; crypto refuses float arrays and oversize requests', async () => {
    const ran = await run('const start = performance.now(); await new Promise((r) => setTimeout(r, 30)); performance.now() - start');
    assert.ok(Number(ran.result) >= 25, String(ran.result));
    assert.equal(await result("try { crypto.getRandomValues(new Float64Array(2)); 'no' } catch (e) { e.name }"), 'TypeMismatchError');
    assert.equal(await result("try { crypto.getRandomValues(new Uint8Array(65537)); 'no' } catch (e) { e.name }"), 'QuotaExceededError');
  });

  test('functions the sandbox provides print as V8\'s own; everything else keeps its source', async () => {
    const natives: Array<[string, string]> = [
      ['setTimeout', 'setTimeout'], ['clearTimeout', 'clearTimeout'], ['clearInterval', 'clearInterval'], ['queueMicrotask', 'queueMicrotask'],
      ['Date', 'Date'], ['Date.now', 'now'], ['Math.random', 'random'], ['console.log', 'log'], ['console.groupCollapsed', 'groupCollapsed'],
      ['ArrayBuffer', 'ArrayBuffer'], ['SharedArrayBuffer', 'SharedArrayBuffer'], ['Intl.DateTimeFormat', 'DateTimeFormat'],
      ['WebAssembly.Memory', 'Memory'], ['WebAssembly.compile', 'compile'], ['TextEncoder', 'TextEncoder'], ['structuredClone', 'structuredClone'],
      ['FinalizationRegistry', 'FinalizationRegistry'], ['Function.prototype.toString', 'toString'],
      // Wrapped by the bounds on builtin loops (src/exec/sandbox/bounds.js).
      ['Array.prototype.indexOf', 'indexOf'], ['Array.from', 'from'], ['String.prototype.split', 'split'], ['JSON.stringify', 'stringify'], ['encodeURI', 'encodeURI'],
    ];
    for (const [expression, name] of natives) {
      assert.equal(await result(`String(${expression})`), `function ${name}() { [native code] }`, expression);
      assert.equal(await result(`${expression}.name`), name, `${expression}.name`);
    }
    // lodash's isNative: a pattern made from a native method's text.
    const isNative = "const reIsNative = RegExp('^' + Function.prototype.toString.call(Object.prototype.hasOwnProperty).replace(/[\\\\^$.*+?()[\\]{}|]/g, '\\\\$&').replace(/hasOwnProperty|(function).*?(?=\\\\\\()| for .+?(?=\\\\\\])/g, '$1.*?') + '$');";
    assert.equal(await result(`${isNative} [Date, setTimeout, Math.random, ArrayBuffer, console.log, Object].every((f) => reIsNative.test(Function.prototype.toString.call(f)))`), 'true');
    assert.equal(await result(`${isNative} reIsNative.test(String(function own() {}))`), 'false');
    assert.equal(await result('String(function own(a) { return a; })'), 'function own(a) { return a; }');
    assert.equal(await result('String(class A { m() {} })'), 'class A { m() {} }');
    assert.equal(await result('String(Object.keys)'), 'function keys() { [native code] }');
    assert.equal(await result('try { Function.prototype.toString.call({}); "no" } catch (e) { e.name }'), 'TypeError');
    assert.equal(await result('try { new Function.prototype.toString(); "no" } catch (e) { e.name }'), 'TypeError');
  });
});
