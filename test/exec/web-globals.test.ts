// The web globals the sandbox provides beside V8's own: TextEncoder/TextDecoder (UTF-8),
// atob/btoa, structuredClone, crypto (with subtle.digest), performance, URL, URLSearchParams,
// AbortController/AbortSignal, Headers, Blob; Node's own implementations are the reference.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { run, result } = await engineForFile();

/** The same code in the sandbox and in Node, whose own web globals are the reference. */
async function same(code: string, message = code): Promise<void> {
  const sandbox = await result(`(async () => { ${code} })().then((value) => JSON.stringify(value))`);
  const node = JSON.stringify(await (new Function(`return (async () => { ${code} })()`) as () => Promise<unknown>)());
  assert.equal(sandbox, node, message);
}

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
      ['URL', 'URL'], ['URLSearchParams.prototype.get', 'get'], ['Headers', 'Headers'], ['Blob.prototype.text', 'text'], ['AbortSignal.abort', 'abort'], ['crypto.subtle.digest', 'digest'],
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

  test('URL parses like Node: parts, relative references, normalisation, setters, errors', async () => {
    const inputs: Array<[string, string?]> = [
      ['https://user:pa ss@Example.COM:443/a/./b/../c d?q=1 2&q=3#frag ment'], ['http://example.com:8080'], ['HTTP://EXAMPLE.com/%7Efoo'],
      ['../x?y#z', 'https://a.example/b/c/d'], ['//other.example/p', 'https://a.example/'], ['?only', 'https://a.example/p?old#h'], ['#h2', 'https://a.example/p?q'],
      ['/abs', 'http://a.example/b/c'], ['http://127.1/'], ['http://0x7f.0.0.1:80/'], ['https://a.example/\u00e9?\u00e9=\u00e9#\u00e9'], ['http:\\\\a.example\\b\\c'],
      ['mailto:someone@example.com'], ['data:text/plain,hi'], ['file:///etc/hosts'], ['ws://a.example:80/x'], ['https://[::1]:8443/'], ['https://a.example/?a=%zz'],
    ];
    for (const [input, base] of inputs) {
      const args = JSON.stringify(base === undefined ? [input] : [input, base]);
      await same(`const u = new URL(...${args}); return [u.href, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.origin, String(u), u.toJSON(), JSON.stringify({ u })]`, args);
    }
    for (const bad of ['', 'no scheme', 'http://', 'https://a.example:99999/', 'http://a b/']) {
      await same(`try { new URL(${JSON.stringify(bad)}); return 'parsed'; } catch (e) { return e instanceof TypeError; }`);
      await same(`return URL.canParse(${JSON.stringify(bad)})`);
    }
    await same("const u = new URL('https://a.example/p?x=1#h'); u.pathname = 'q/r'; u.search = 'a=b c'; u.hash = 'k'; u.port = '8443'; u.hostname = 'B.example'; return u.href");
    await same("const u = new URL('https://a.example/p?x=1'); u.searchParams.append('y', 'a b&c'); u.searchParams.set('x', '2'); return [u.href, u.search]");
    await same("const u = new URL('https://a.example/p?x=1'); u.searchParams.delete('x'); return [u.href, u.search]");
  });

  test('URLSearchParams reads, edits and serialises like Node', async () => {
    await same("const p = new URLSearchParams('?a=1&b=2&a=3&c=%20x+y&d&=e&f=%E2%82%AC'); return [p.get('a'), p.getAll('a'), p.get('c'), p.get('d'), p.get(''), p.get('f'), p.get('zz'), p.has('b'), p.has('a', '3'), p.size, p.toString(), [...p.entries()], [...p.keys()], [...p.values()]]");
    await same("const p = new URLSearchParams({ x: 'a b', y: '\u20ac&=' }); p.append('x', '2'); p.set('y', 'z'); p.delete('nope'); const seen = []; p.forEach((v, k) => seen.push(k + v)); return [p.toString(), seen]");
    await same("const p = new URLSearchParams([['b', '1'], ['a', '2'], ['b', '0']]); p.sort(); p.delete('b', '1'); return [p.toString(), String(p)]");
    await same("const p = new URLSearchParams('a=1&a=2&b=3'); p.set('a', '9'); return p.toString()");
    await same("return new URLSearchParams('q=~!*()\\'.-_').toString()");
  });

  test('AbortController and AbortSignal abort once, with a reason, and tell their listeners', async () => {
    await same(`const c = new AbortController(); const seen = []; c.signal.onabort = (e) => seen.push('on:' + e.type);
      c.signal.addEventListener('abort', (e) => seen.push('listener:' + e.type + (e.target === c.signal)));
      c.signal.addEventListener('abort', () => seen.push('once'), { once: true });
      const before = c.signal.aborted; c.abort('why'); c.abort('again');
      let thrown; try { c.signal.throwIfAborted(); } catch (e) { thrown = e; }
      return [before, c.signal.aborted, c.signal.reason, seen, thrown]`);
    await same("const c = new AbortController(); c.abort(); return [c.signal.reason instanceof Error, c.signal.reason.name, c.signal.reason.message]");
    await same("const s = AbortSignal.abort(); const t = AbortSignal.abort(42); return [s.aborted, s.reason.name, t.reason]");
    await same("const c = new AbortController(); const any = AbortSignal.any([c.signal]); c.abort('r'); return [any.aborted, any.reason]");
    await same("try { new AbortSignal(); return 'made'; } catch (e) { return e instanceof TypeError; }");
  });

  test('Headers are case-insensitive, combine values and iterate sorted, like Node', async () => {
    await same(`const h = new Headers({ 'Content-Type': 'text/plain', Accept: 'a' }); h.append('accept', 'b'); h.set('X-One', ' 1 '); h.append('Set-Cookie', 'a=1'); h.append('set-cookie', 'b=2');
      const seen = []; h.forEach((v, k) => seen.push(k + '=' + v));
      const before = h.has('X-ONE'); h.delete('x-one');
      return [h.get('ACCEPT'), h.get('content-type'), h.get('missing'), before, h.has('x-one'), [...h.entries()], [...h], [...h.keys()], [...h.values()], seen, h.getSetCookie()]`);
    await same("return [...new Headers([['b', '2'], ['A', '1']])].concat([...new Headers(new Headers({ z: 'y' }))])");
    await same("try { new Headers({ 'bad name': 'x' }); return 'made'; } catch (e) { return e instanceof TypeError; }");
  });

  test('Blob holds strings and bytes: size, type, text, arrayBuffer, slice, like Node', async () => {
    await same(`const b = new Blob(['h\u00e9', new Uint8Array([0x21, 0xe2, 0x82, 0xac]), new Blob(['!'])], { type: 'Text/Plain' });
      const part = b.slice(1, 5, 'x/y');
      return [b.size, b.type, await b.text(), Array.from(new Uint8Array(await b.arrayBuffer())), part.size, part.type, await part.text(), await b.slice(-2).text(), new Blob().size]`);
  });

  test('crypto.subtle.digest gives the SHA-1/256/384/512 of Node', async () => {
    const hex = "const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');";
    for (const algorithm of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) {
      for (const text of ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(111), 'a'.repeat(112), 'é€😀'.repeat(50)]) {
        await same(`${hex} return hex(await crypto.subtle.digest(${JSON.stringify(algorithm)}, new TextEncoder().encode(${JSON.stringify(text)})))`, `${algorithm} of ${text.length}`);
      }
    }
    await same(`${hex} return hex(await crypto.subtle.digest({ name: 'sha-256' }, new Uint8Array([1, 2, 3]).buffer))`);
    await same("try { await crypto.subtle.digest('MD5', new Uint8Array(1)); return 'hashed'; } catch (e) { return e.name; }");
  });

  test('user code that replaces builtins before using the web globals breaks neither them in later runs nor other runs', async () => {
    const vandal = `Array.prototype.push = () => { throw new Error('push'); }; String.prototype.split = () => { throw new Error('split'); };
      Array.prototype[Symbol.iterator] = function* () { throw new Error('iterate'); }; Map.prototype.get = () => 'bad'; Object.keys = () => [];
      Uint8Array.prototype.slice = () => { throw new Error('slice'); }; String.prototype.toLowerCase = () => 'x';
      try { new URL('https://a.example/?a=1').searchParams.get('a'); } catch {} 'vandalised'`;
    assert.equal(await result(vandal), 'vandalised');
    const code = "const u = new URL('https://A.example/p?a=1&a=2'); const h = new Headers({ A: '1' }); const c = new AbortController(); c.abort('r'); return [u.href, u.searchParams.getAll('a'), h.get('a'), c.signal.reason, await new Blob(['x']).text()]";
    // A vandal running beside a clean run, then a clean run after it.
    const [vandalAgain] = await Promise.all([run(vandal), same(code)]);
    assert.equal(vandalAgain.result, 'vandalised');
    await same(code);
  });
});
