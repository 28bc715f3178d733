// Blob, File, FormData, crypto.subtle.digest and URL (src/exec/sandbox/web-api.js) answer a run that
// first replaced every builtin they could call as they answer a clean run, and as Node does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { run } = await engineForFile(1);

/** Made before the vandal runs (the run's own literals iterate its arrays), used after. */
const setup = `const bytes = new Uint8Array([104, 105, 0xe2, 0x82, 0xac]);
const parts = ['a€', bytes, bytes.buffer, new DataView(bytes.buffer, 0, 2)];
const million = new Uint8Array(1000);
const names = ['SHA-1', 'sha-256', { name: 'SHA-384' }, 'SHA-512'];
const headerPairs = [['X-B', ' two '], ['x-a', '1'], ['Set-Cookie', 'a=1'], ['set-cookie', 'b=2'], ['X-A', '3']];
const headerRecord = { 'Content-Type': 'text/plain', Accept: '*/*' };
const queryPairs = [['b', '2 two'], ['a', 'x&y=z'], ['b', 'é+%']];
`;

/** Uses each class; everything it returns is text, so the clean run and Node compare as strings. */
const scenario = `(async () => {
  const hex = (buffer) => { const view = new Uint8Array(buffer); let text = ''; for (let i = 0; i < 3; i++) text += (view[i] < 16 ? '0' : '') + (view[i] >>> 0).toString(16); return text; };
  const blob = new Blob(parts, { type: 'Text/Plain' });
  const sliced = blob.slice(-6, -1, 'x/y');
  const file = new File([blob, 'z'], 'f.txt', { type: 'a/b', lastModified: 42 });
  const form = new FormData();
  form.append('k', 'one');
  form.append('b', blob);
  form.append('f', file, 'renamed');
  form.append('k', 'two');
  form.set('k', 'three');
  let seen = '';
  form.forEach((value, name) => { seen += name + '=' + (typeof value === 'string' ? value : value.name + ':' + value.size) + ','; });
  let digests = '';
  for (let i = 0; i < names.length; i++) digests += hex(await crypto.subtle.digest(names[i], million)) + ',';
  let unknown = 'none';
  try { await crypto.subtle.digest('MD5', million); } catch (error) { unknown = error.name; }
  const keys = form.keys();
  const headers = new Headers(headerPairs);
  headers.append('x-b', 'more');
  const copied = new Headers(headers);
  copied.set('X-New', '\t new ');
  copied.delete('x-a');
  let listed = '';
  copied.forEach((value, name) => { listed += name + ':' + value + ';'; });
  let badName = 'none';
  try { headers.append('bad name', 'x'); } catch (error) { badName = error.name; }
  const record = new Headers(headerRecord);
  const controller = new AbortController();
  let events = '';
  controller.signal.onabort = (event) => { events += 'onabort:' + event.type + ';'; };
  const once = () => { events += 'once;'; };
  controller.signal.addEventListener('abort', once, { once: true });
  controller.signal.addEventListener('abort', once);
  controller.signal.addEventListener('abort', { handleEvent: (event) => { events += 'object:' + event.type + ';'; } });
  const removed = () => { events += 'removed;'; };
  controller.signal.addEventListener('abort', removed);
  controller.signal.removeEventListener('abort', removed);
  const anyOf = AbortSignal.any([new AbortController().signal, controller.signal]);
  controller.abort();
  let thrown = 'none';
  try { controller.signal.throwIfAborted(); } catch (error) { thrown = error.name + ': ' + error.message; }
  const already = AbortSignal.any([AbortSignal.abort('why')]);
  const query = new URLSearchParams('?q=a+b%2Bc&q=%E2%82%AC&empty=&=v&&bare');
  query.append('z', 'ü ~*');
  query.set('q', 'one');
  query.delete('bare');
  const fromPairs = new URLSearchParams(queryPairs);
  fromPairs.sort();
  let params = '';
  fromPairs.forEach((value, name) => { params += name + '=' + value + ';'; });
  const fromRecord = new URLSearchParams({ k: 'v', n: 1 });
  return 'size ' + blob.size + ', type ' + blob.type + ', text ' + await blob.text() + ', slice ' + sliced.size + ' ' + sliced.type + ' ' + await sliced.text() +
    ', bytes ' + (await blob.bytes())[0] + ' ' + new Uint8Array(await blob.arrayBuffer())[1] +
    ', file ' + file.name + ' ' + file.size + ' ' + file.type + ' ' + file.lastModified + ' ' + await file.text() +
    ', form ' + seen + ' | ' + form.get('k') + ' ' + form.getAll('k').length + ' ' + form.has('b') + ' ' + form.get('b').name + ' ' + keys.next().value + keys.next().value +
    ', digests ' + digests + ' ' + unknown +
    ', headers ' + headers.get('X-A') + '|' + headers.get('x-b') + '|' + headers.getSetCookie().length + '|' + headers.has('SET-COOKIE') + '|' + listed + '|' + badName + '|' + record.get('content-type') + '|' + copied.has('x-a') +
    ', abort ' + events + '|' + controller.signal.aborted + '|' + thrown + '|' + anyOf.aborted + '|' + already.reason +
    ', params ' + query.toString() + '|' + query.get('q') + '|' + query.getAll('empty').length + '|' + query.has('z') + '|' + query.size + '|' + fromPairs.toString() + '|' + params + '|' + fromRecord.toString() + '|' + fromRecord.has('n', '1');
})()`;

describe('Blob, File, FormData and crypto.subtle.digest with every builtin they use replaced by the run', () => {
  test('they answer as in a clean run and as Node', async () => {
    const node = await (new Function(`${setup} return ${scenario}`) as () => Promise<string>)();
    const clean = await run(setup + scenario);
    assert.equal(clean.status, 'completed', clean.error ?? '');
    assert.equal(clean.result, node);
    // After the vandal, the scenario's own Number.prototype.toString would fail: it writes hex by hand.
    const vandalScenario = scenario.replace("(view[i] >>> 0).toString(16)", "'0123456789abcdef'[view[i] >> 4] + '0123456789abcdef'[view[i] & 15]").replace("(view[i] < 16 ? '0' : '') + ", '');
    const cleanAgain = await run(setup + vandalScenario);
    assert.equal(cleanAgain.result, clean.result);
    const ran = await run(setup + vandalSource + vandalScenario);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, clean.result);
  });
});

/** URLs (and bases) to parse: an IDNA host, IPv6 (compressed), opaque paths with spaces, IPv4 numbers, percent-encoding, relative references, search params and hashes; made before the vandal runs. */
const urlSetup = `const urlCases = [
  ['https://Bücher.Example/a/./b/../c?x=1 2&y=é#frag ment'], ['http://例え.テスト/パス'], ['http://[2001:DB8::1]:8080/p?q#h'], ['http://0x7f.1/'],
  ['http://user:p@ss@EXAMPLE.com:80/%7Efoo/ba r/%2e%2E/x\\\\y'], ['HTTPS:\\\\\\\\host.test\\\\a?b=1'], ['file:///C:/dir/../file.txt'], ['mailto:Someone@Example.com?subject=Hi there'],
  ['../x/y?z=%zz#h', 'http://example.com/a/b/c'], ['//other.org/p', 'https://example.com/'], ['?q=1&q=2', 'http://e.com/path?old#f'], ['#only', 'http://e.com/p?q'],
  ['', 'http://e.com/p?q#f'], ['sub/file', 'ws://e.com:81/dir/'], ['http:rel', 'http://e.com/a/b'], ['http://exa mple.com/'], ['http://1.2.3.256/'], ['nope'],
  // IPv6: compressed as WHATWG serializes it, an IPv4 end in hex, refused forms
  ['http://[0:0:0:0:0:0:0:1]/'], ['http://[1:0:0:2:0:0:0:3]/'], ['http://[0:0:1:0:0:1:0:0]/'], ['http://[::ffff:192.168.0.1]/'], ['http://[0001:02:003::]/'],
  ['http://[1:0:0:0:0:0:0:0]/'], ['http://[1:2:3:4:5:6:7:8]/'], ['sc://[::127.0.0.1]/x'], ['http://[1::2::3]/'], ['http://[::1.2.3]/'], ['http://[12345::]/'],
  ['http://[1:2:3:4:5:6:7:8:9]/'], ['http://[:1]/'], ['http://[1:]/'], ['http://[::01.2.3.4]/'], ['http://[g::]/'],
  // Opaque paths keep their spaces; one that ends the path before a query or fragment is %20
  ['data:a b  '], ['mailto:x y?z'], ['mailto:x y #f'], ['sc:a  ?q'], ['sc:a\u007f b'], ['data:text/plain,a b c'], ['mailto:x y#f g'],
];
`;
/** Parses each case and reads its parts; plain loops and concatenation only (the vandal has replaced the rest). */
const urlScenario = `(() => {
  let out = '';
  for (let i = 0; i < urlCases.length; i++) {
    const input = urlCases[i][0];
    const base = urlCases[i].length > 1 ? urlCases[i][1] : undefined; // [1] of a 1-element array reads the vandal's Object.prototype[1]
    if (!URL.canParse(input, base)) { out += 'invalid ' + input + '\\n'; continue; }
    const url = new URL(input, base);
    out += url.href + ' | ' + url.protocol + ' ' + url.host + ' ' + url.hostname + ' ' + url.port + ' ' + url.pathname + ' ' + url.search + ' ' + url.hash + ' ' + url.origin +
      ' ' + url.username + ' ' + url.password + ' ' + url.searchParams.get('q') + ' ' + url.searchParams.size + '\\n';
  }
  const edited = new URL('https://a.example/x?y=1');
  edited.search = '?k=v w';
  edited.hash = 'top';
  edited.pathname = 'p/../q';
  edited.port = '8443abc';
  edited.hostname = 'B.Example';
  edited.searchParams.append('n', 'é');
  return out + edited.href + ' ' + (URL.parse('bad') === null) + ' ' + edited.toString() + ' ' + edited.toJSON();
})()`;

describe('URL with every builtin its parser uses replaced by the run', () => {
  test('it parses as in a clean run and as Node', async () => {
    const node = (new Function(`${urlSetup} return ${urlScenario}`) as () => string)();
    const clean = await run(urlSetup + urlScenario);
    assert.equal(clean.status, 'completed', clean.error ?? '');
    assert.equal(clean.result, node);
    const ran = await run(urlSetup + vandalSource + urlScenario);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, clean.result);
  });
});
