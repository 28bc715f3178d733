// The prelude files that had no vandal test yet (fetch.js, timers.js, display.js, natives.js,
// modules.js) answer a run that first replaced every builtin they could call (vandal.ts) as they
// answer a clean run: the same result and the same console lines.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { ModuleLoader } from '../../src/exec/modules.ts';
import type { Engine } from '../../src/exec/types.ts';
import { buildPolicyCapabilities } from '../../src/policy/capabilities.ts';
import { startModuleServer, type ModuleServer } from '../support/module-server.ts';
import { loopbackServer, regoFile, tempFolder } from './effects-harness.ts';
import { collectBeforeExit } from './harness.ts';
import { vandalSource } from './vandal.ts';

const policy = regoFile(tempFolder('prelude-vandal'), 'fetch.rego', 'package mcp.fetch\ndefault allow = true\n');
const echo = await loopbackServer((req, res, body) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, url: req.url, type: req.headers['content-type'] ?? null, x: [req.headers['x-a'], req.headers['x-b'], req.headers['x-c']], body: [...body] }));
});
let modules: ModuleServer;
let engine: Engine;

before(async () => {
  modules = await startModuleServer();
  engine = await createEngine({
    maxConcurrentExecutions: 1,
    capabilities: buildPolicyCapabilities({ policiesJson: JSON.stringify({ fetch: { policies: [{ url: policy }] } }) }),
    modules: new ModuleLoader({ allowExternal: true, cdnUrl: modules.url }),
  });
});
after(async () => {
  await engine.close();
  await modules.close();
  collectBeforeExit();
});

async function run(code: string): Promise<{ status: string; result: string | null; error: string | null; lines: string[] }> {
  const lines: string[] = [];
  const outcome = await engine.run({ code, limits: { heapMemoryMaxMb: 16, executionTimeoutMs: 20_000 }, signal: new AbortController().signal, onConsoleLine: (line) => lines.push(line) });
  return { status: outcome.status, result: outcome.result, error: outcome.error, lines };
}

/** Runs `setup`, then (or not) the vandal, then `scenario`: both runs must answer alike. */
async function assertUnchanged(setup: string, scenario: string, imports = ''): Promise<string> {
  const clean = await run(`${imports}${setup}\n${scenario}`);
  assert.equal(clean.status, 'completed', clean.error ?? '');
  const vandalised = await run(`${imports}${setup}\n${vandalSource}\n${scenario}`);
  assert.equal(vandalised.error, clean.error);
  assert.equal(vandalised.result, clean.result);
  assert.deepEqual(vandalised.lines, clean.lines);
  return String(clean.result);
}

/** Made before the vandal runs, used after: what the scenarios take apart with captured calls. */
const captured = `const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const pngBuffer = png.buffer;
const bodyBuffer = new Uint8Array([5, 6, 7]).buffer;
const bodyView = new Uint8Array([1, 2, 3, 4]).subarray(1, 3);
const form = new URLSearchParams('a=1&b=x y');
const notImageBytes = new Uint8Array([1, 2, 3]);
const svg = '  <svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>';
const nativeText = Function.prototype.toString;
const realThen = Promise.prototype.then;
const applyOf = Reflect.apply;
const origin = ${JSON.stringify(echo.origin)};`;

describe('prelude files with every builtin they use replaced by the run', () => {
  test('timers: setTimeout with arguments, clearTimeout, setInterval, ref/unref/hasRef, queueMicrotask, AbortSignal.timeout', async () => {
    const result = await assertUnchanged(captured, `(async () => {
  let order = '';
  const cleared = setTimeout(() => { order += 'cleared;'; }, 1);
  clearTimeout(cleared);
  clearInterval(null);
  let ticks = 0;
  await new Promise((resolve) => { const every = setInterval(() => { ticks++; if (ticks === 3) { clearInterval(every); resolve(); } }, 1); });
  const first = setTimeout((a, b) => { order += 'timeout ' + a + b + ';'; }, 5, 'x', 'y');
  queueMicrotask(() => { order += 'microtask;'; });
  order += 'sync;';
  const idle = setTimeout(() => {}, 100000).unref();
  const refs = '' + idle.hasRef() + idle.ref().hasRef() + idle.unref().hasRef();
  idle.refresh();
  clearTimeout(idle);
  let badCallback = 'none';
  try { setTimeout('code', 1); } catch (error) { badCallback = error.name + ': ' + error.message; }
  const reason = await new Promise((resolve) => { const signal = AbortSignal.timeout(2); signal.addEventListener('abort', () => resolve(signal.reason.name)); setTimeout(() => {}, 30); });
  await new Promise((resolve) => setTimeout(resolve, 10));
  return [order, ticks, refs, typeof +first, badCallback, reason];
})()`);
    assert.equal(result, "[\n  'sync;microtask;timeout xy;',\n  3,\n  'falsetruefalse',\n  'number',\n  `TypeError: The \"callback\" argument must be of type function. Received 'code'`,\n  'TimeoutError'\n]");
  });

  test('display: SVG, PNG bytes and buffer, and its refusals', async () => {
    const result = await assertUnchanged(captured, `(() => {
  display(svg);
  display(png);
  display(pngBuffer);
  let notSvg = 'none';
  try { display('nope'); } catch (error) { notSvg = error.name + ': ' + error.message; }
  let notImage = 'none';
  try { display(notImageBytes); } catch (error) { notImage = error.name + ': ' + error.message; }
  let wrongType = 'none';
  try { display(5); } catch (error) { wrongType = error.name + ': ' + error.message; }
  return [notSvg, notImage, wrongType];
})()`);
    assert.match(result, /a string must be SVG markup/);
    assert.match(result, /neither PNG nor JPEG/);
    assert.match(result, /takes PNG or JPEG bytes/);
  });

  test('natives: the sandbox\'s functions still print as V8\'s own', async () => {
    const result = await assertUnchanged(captured, `[applyOf(nativeText, setTimeout, []), applyOf(nativeText, clearInterval, []), applyOf(nativeText, queueMicrotask, []), applyOf(nativeText, Response, []), applyOf(nativeText, Request, []), applyOf(nativeText, display, []), applyOf(nativeText, fetch, []), applyOf(nativeText, URL, []), applyOf(nativeText, Headers, []), applyOf(nativeText, nativeText, []), applyOf(nativeText, AbortSignal.timeout, [])]`);
    assert.match(result, /'function setTimeout\(\) \{ \[native code\] \}'/);
    assert.match(result, /'function fetch\(\) \{ \[native code\] \}'/);
    assert.doesNotMatch(result, /=>|return/);
  });

  test('fetch: bodies of every kind, headers of every kind, Request, Response and its statics', async () => {
    // Put back: Promise.prototype.then. isolated-vm resolves its promise of the host's answer with
    // another promise, which V8 adopts through it, so code that replaces it breaks its own fetch
    // (docs/policy.md, "Sandbox side"); everything else stays replaced.
    const result = await assertUnchanged(captured, `Promise.prototype.then = realThen;
(async () => {
  const got = await (await fetch(origin + '/echo?q=1', { headers: { 'x-a': '1' } })).json();
  const buffer = await (await fetch(new Request(origin + '/buffer', { method: 'post', body: bodyBuffer, headers: [['x-b', '2']] }))).json();
  const view = await (await fetch(new URL(origin + '/view'), { method: 'PUT', body: bodyView })).json();
  const params = await (await fetch(origin + '/form', { method: 'POST', body: form, headers: new Headers({ 'x-c': '3' }) })).json();
  const text = await (await fetch(origin + '/text', { method: 'POST', body: 'é' })).json();
  const made = new Response(bodyBuffer, { status: 201, statusText: 'Made', headers: { 'x-d': '4' } });
  const copy = new Uint8Array(await made.clone().arrayBuffer());
  const madeText = await made.text();
  let usedTwice = 'none';
  try { await made.text(); } catch (error) { usedTwice = error.name + ': ' + error.message; }
  const json = Response.json({ a: [1] });
  const redirect = Response.redirect(origin + '/x', 301);
  const request = new Request(origin + '/y', { method: 'delete', signal: new AbortController().signal }).clone();
  const controller = new AbortController();
  controller.abort();
  let aborted = 'none';
  try { await fetch(origin + '/z', { signal: controller.signal }); } catch (error) { aborted = error.name; }
  let badBody = 'none';
  try { new Request(origin, { body: 'x' }); } catch (error) { badBody = error.name; }
  return [got, buffer, view, params, text, made.status, made.statusText, made.headers.get('x-d'), copy[2], madeText.length, usedTwice,
    await json.json(), json.headers.get('content-type'), redirect.status, redirect.headers.get('location'), request.method, request.signal !== null, aborted, badBody];
})()`);
    assert.match(result, /body: \[ 5, 6, 7 \]/, 'an ArrayBuffer body is sent as its bytes');
    assert.match(result, /body: \[ 2, 3 \]/, 'a view is sent as the bytes it views');
    assert.match(result, /type: 'application\/x-www-form-urlencoded;charset=UTF-8'/);
    assert.match(result, /x: \[ '1', null, null \]/, 'headers from an object');
  });

  test('modules: static and dynamic imports, and the error of one that was not loaded', async () => {
    const result = await assertUnchanged(captured, `(async () => {
  const dynamic = await import('npm:lodash-like@1.0.0');
  const specifier = 'npm:' + 'other@1.0.0';
  let missing = 'none';
  try { await import(specifier); } catch (error) { missing = error.message; }
  // The module's own code runs on the builtins the run replaced (camelCase splits a string): what
  // is compared is what the sandbox hands over, the functions themselves.
  return [typeof camelCase, dynamic.camelCase === camelCase, missing];
})()`, 'import { camelCase } from "npm:lodash-like@1.0.0";\n');
    assert.match(result, /'function',\n {2}true,\n {2}"Cannot import 'npm:other@1.0.0': it was not loaded before the run/);
  });
});
