// Blob, File, FormData and crypto.subtle.digest (src/exec/sandbox/web-api.js) answer a run that
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
