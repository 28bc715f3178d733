// Module imports on the engine, against a real HTTP server on 127.0.0.1 that serves ES modules as
// esm.sh lays them out (test/support/module-server.ts), the CDN base pointed at it.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { ModuleLoader, type ModuleLoaderOptions } from '../../src/exec/modules.ts';
import type { Engine, ReplayStep, RunOutcome, StatefulStart } from '../../src/exec/types.ts';
import { LocalRegoDecider } from '../../src/policy/decider.ts';
import { startModuleServer, type ModuleServer } from '../support/module-server.ts';
import { collectBeforeExit } from './harness.ts';
import { textFormatCurrent } from '../../src/model.ts';

let server: ModuleServer;
const engines: Engine[] = [];
const dirs: string[] = [];

before(async () => { server = await startModuleServer(); });
after(async () => {
  await Promise.all(engines.map((engine) => engine.close()));
  await server.close();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  collectBeforeExit();
});

async function engineWith(options: Partial<ModuleLoaderOptions> | null): Promise<{ engine: Engine; loader: ModuleLoader | null }> {
  const loader = options === null ? null : new ModuleLoader({ allowExternal: true, cdnUrl: server.url, ...options });
  const engine = await createEngine({ maxConcurrentExecutions: 2, ...(loader === null ? {} : { modules: loader }) });
  engines.push(engine);
  return { engine, loader };
}

function run(engine: Engine, code: string, stateful?: StatefulStart): Promise<RunOutcome> {
  return engine.run({
    code, limits: { heapMemoryMaxMb: 16, executionTimeoutMs: 10_000 }, signal: new AbortController().signal, onConsoleLine: () => {},
    ...(stateful === undefined ? {} : { stateful }),
  });
}

async function ok(engine: Engine, code: string): Promise<string | null> {
  const outcome = await run(engine, code);
  assert.equal(outcome.status, 'completed', outcome.error ?? '');
  return outcome.result;
}

describe('imports off (the default)', () => {
  test('npm:, jsr: and URL imports fail with the reference text and send no request', async () => {
    const { engine } = await engineWith(null);
    const before = server.total();
    const cases: Array<[string, string]> = [
      ['import { camelCase } from "npm:lodash-es@4.17.21"; camelCase("a b")', "Error: External module imports are disabled. Cannot import npm package 'npm:lodash-es@4.17.21'. Start the server with --allow-external-modules to enable."],
      ['import { camelCase } from "jsr:@luca/cases@1.0.0"; 1', "Error: External module imports are disabled. Cannot import jsr package 'jsr:@luca/cases@1.0.0'. Start the server with --allow-external-modules to enable."],
      [`import "${server.url}/x/counter.js"; 1`, `Error: External module imports are disabled. Cannot import URL module '${server.url}/x/counter.js'. Start the server with --allow-external-modules to enable.`],
    ];
    for (const [code, error] of cases) {
      const outcome = await run(engine, code);
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.error, error);
    }
    const dynamic = await run(engine, 'let m; try { await import("npm:lodash-es@4.17.21") } catch (e) { m = e.message } m');
    assert.equal(dynamic.result, "External module imports are disabled. Cannot import npm package 'npm:lodash-es@4.17.21'. Start the server with --allow-external-modules to enable.");
    assert.equal(server.total(), before, 'no request reached the module server');
  });

  test('top-level await works in scripts, including await (async () => …)()', async () => {
    const { engine } = await engineWith(null);
    assert.equal(await ok(engine, 'const v = await (async () => 1)(); JSON.stringify(v)'), '1');
    assert.equal(await ok(engine, 'let n = 0; for await (const x of [1, 2]) n += x; n'), '3');
    assert.equal(await ok(engine, 'async function f() { await 1; return 2 } f()'), '2');
  });
});

describe('imports allowed, from the local CDN', () => {
  test('npm: through the CDN layout: absolute-path re-exports and nested relative imports', async () => {
    const { engine } = await engineWith({});
    assert.equal(await ok(engine, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("hello world")'), 'helloWorld');
    assert.equal(await ok(engine, 'import _, * as ns from "npm:lodash-like@1.0.0"; JSON.stringify([_.chunk([1, 2, 3], 2), typeof ns.camelCase])'), '[[[1,2],[3]],"function"]');
  });

  test('jsr: through /jsr/, a redirect, and a TypeScript module type-stripped', async () => {
    const { engine } = await engineWith({});
    assert.equal(await ok(engine, 'import { pascalCase, camelCase } from "jsr:@luca/cases@1.0.0"; pascalCase("hello world") + " " + camelCase("a b")'), 'HelloWorld aB');
  });

  test('.tsx modules: types stripped; JSX is a syntax error naming the module', async () => {
    const tsx = await startModuleServer({ '/c.tsx': { body: 'type P = { n: number };\nexport const id = <T,>(x: T): T => x;\nexport const twice = (p: P): number => p.n * 2;' }, '/e.tsx': { body: 'export const el = <div>hi</div>;' } });
    try {
      const { engine } = await engineWith({ cdnUrl: tsx.url });
      assert.equal(await ok(engine, `import { id, twice } from "${tsx.url}/c.tsx"; id(1) + twice({ n: 2 })`), '5');
      const jsx = await run(engine, `import { el } from "${tsx.url}/e.tsx"; el`);
      assert.match(jsx.error ?? '', new RegExp(`^SyntaxError in module ${tsx.url}/e\\.tsx: Expression expected \\[line 1:27\\]`));
    } finally {
      await tsx.close();
    }
  });

  test('a relative import resolves against the module\'s final URL, after its redirect', async () => {
    const { engine } = await engineWith({});
    assert.equal(await ok(engine, `import { near } from "${server.url}/x/moved.js"; near`), 'resolved against the final URL');
  });

  test('dynamic import(), in the code and in a module; top-level await in a module', async () => {
    const { engine } = await engineWith({});
    assert.equal(await ok(engine, 'const { default: _ } = await import("npm:lodash-like@1.0.0"); JSON.stringify(_.chunk([1, 2, 3, 4, 5], 2))'), '[[1,2],[3,4],[5]]');
    assert.equal(await ok(engine, `const m = await import("${server.url}/x/lazy.js"); const c = await m.load(); c.bump() + c.bump()`), '3');
    assert.equal(await ok(engine, `import { value } from "${server.url}/x/tla.js"; value`), '42');
    const computed = await run(engine, 'const name = "npm:" + "lodash-like@2.0.0"; await import(name)');
    assert.match(computed.error ?? '', /^Error: Cannot import 'npm:lodash-like@2\.0\.0': it was not loaded before the run/);
  });

  test('failures name the module: syntax error, 404, a throw, a missing dependency', async () => {
    const { engine } = await engineWith({});
    const cases: Array<[string, RegExp]> = [
      [`import "${server.url}/x/broken.js"; 1`, new RegExp(`^SyntaxError in module ${server.url}/x/broken\\.js: Unexpected token`)],
      [`import "${server.url}/x/nothere.js"; 1`, new RegExp(`^Error: Fetching module ${server.url}/x/nothere\\.js failed: HTTP 404$`)],
      [`import "${server.url}/x/throws.js"; 1`, new RegExp(`^TypeError: module refused\\n    at ${server.url}/x/throws\\.js:1:7`)],
      [`import "${server.url}/x/missing-dep.js"; 1`, new RegExp(`HTTP 404 \\(imported by ${server.url}/x/missing-dep\\.js\\)$`)],
      ['import x from "lodash"; x', /^Error: Cannot import 'lodash': only npm:, jsr:, https:\/\/ and http:\/\/ specifiers and relative paths can be imported; for an npm package write 'npm:lodash'$/],
    ];
    for (const [code, error] of cases) {
      const outcome = await run(engine, code);
      assert.equal(outcome.status, 'failed', code);
      assert.match(outcome.error ?? '', error);
    }
    const caught = await run(engine, `let m; try { await import("${server.url}/x/nothere.js") } catch (e) { m = e.message } m`);
    assert.equal(caught.result, `Fetching module ${server.url}/x/nothere.js failed: HTTP 404`);
    // An error only V8 finds (swc parses it): the static import fails the run, a literal import() only itself.
    const early = await run(engine, `import "${server.url}/x/early.js"; 1`);
    assert.match(early.error ?? '', new RegExp(`^SyntaxError in module ${server.url}/x/early\\.js: Duplicate export of 'a'`));
    const lazy = await run(engine, `let m; try { await import("${server.url}/x/early.js") } catch (e) { m = e.message } m`);
    assert.match(lazy.result ?? '', new RegExp(`^SyntaxError in module ${server.url}/x/early\\.js: Duplicate export`));
  });

  test('bounds: an oversize module and a slow one fail naming the module and the bound', async () => {
    const { engine } = await engineWith({ moduleBytesMax: 64 });
    const big = await run(engine, 'import "npm:lodash-like@1.0.0/es2022/lodash-like.mjs"; 1');
    assert.match(big.error ?? '', /^Error: Module http:\/\/127\.0\.0\.1:\d+\/lodash-like@1\.0\.0\/es2022\/lodash-like\.mjs is larger than the 64 bytes a module may have/);
    const { engine: patient } = await engineWith({ fetchTimeoutMs: 300 });
    const slow = await run(patient, `import "${server.url}/x/slow.js"; 1`);
    server.release();
    assert.equal(slow.error, `Error: Fetching module ${server.url}/x/slow.js took longer than 300 ms (--module-fetch-timeout-ms)`);
  });

  test('the disk cache answers after a server restart, with no request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-v8-modules-'));
    dirs.push(dir);
    const first = await startModuleServer();
    const port = Number(new URL(first.url).port);
    const { engine } = await engineWith({ cdnUrl: first.url, cacheDir: dir });
    assert.equal(await ok(engine, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("a b")'), 'aB');
    assert.equal(first.total(), 3);
    await first.close();
    const second = await startModuleServer(undefined, {}, port);
    try {
      const { engine: fresh, loader } = await engineWith({ cdnUrl: second.url, cacheDir: dir });
      assert.equal(await ok(fresh, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("c d")'), 'cD');
      assert.equal(second.total(), 0, 'every module came from the disk cache');
      assert.equal(loader!.cache.diskHits, 3);
    } finally {
      await second.close();
    }
  });

  test('a modules policy is asked for every import; a denial says so', async () => {
    const policy = new LocalRegoDecider([{ file: 'modules.rego', source: 'package mcp.modules\ndefault allow := false\nallow if input.specifier_type == "npm"\nallow if startswith(input.resolved_url, "http://127.0.0.1")\nallow if false' }], 'data.mcp.modules.allow');
    const { engine } = await engineWith({ modulePolicy: policy });
    assert.equal(await ok(engine, 'import { camelCase } from "npm:lodash-like@1.0.0"; camelCase("a b")'), 'aB');
    const strict = new LocalRegoDecider([{ file: 'modules.rego', source: 'package mcp.modules\ndefault allow := false\nallow if input.specifier_type == "npm"' }], 'data.mcp.modules.allow');
    const { engine: denying } = await engineWith({ modulePolicy: strict });
    const denied = await run(denying, 'import { pascalCase } from "jsr:@luca/cases@1.0.0"; 1');
    assert.match(denied.error ?? '', /^Error: Module import denied by policy: 'jsr:@luca\/cases@1\.0\.0' \(http:\/\/127\.0\.0\.1:\d+\/jsr\/@luca\/cases@1\.0\.0\): rego data\.mcp\.modules\.allow \(modules\.rego\) is false$/);
    // A redirect's target is checked before it is fetched.
    const hops = new LocalRegoDecider([{ file: 'modules.rego', source: 'package mcp.modules\ndefault allow := false\nallow if not contains(input.resolved_url, "/y/")' }], 'data.mcp.modules.allow');
    const { engine: hopping } = await engineWith({ modulePolicy: hops });
    const before = server.requests.get('/y/final/entry.js') ?? 0;
    const redirected = await run(hopping, `import { near } from "${server.url}/x/moved.js"; near`);
    assert.match(redirected.error ?? '', new RegExp(`^Error: Module import denied by policy: '${server.url}/x/moved\\.js' \\(${server.url}/y/final/entry\\.js\\)`));
    assert.equal(server.requests.get('/y/final/entry.js') ?? 0, before, 'the denied target was not fetched');
    // A module's own imports are checked too (its relative specifier is a "url" import).
    const nested = await run(denying, 'import { camelCase } from "npm:lodash-like@1.0.0"; 1');
    assert.match(nested.error ?? '', /^Error: Module import denied by policy: '\/lodash-like@1\.0\.0\/es2022\/lodash-like\.mjs'/);
  });
});

describe('hostile code', () => {
  test('builtins replaced by an earlier run do not reach the import machinery of a later one', async () => {
    const { engine } = await engineWith({});
    const first = await run(engine, 'Array.isArray = () => false; Promise.reject = () => 0; Function.prototype.bind = null; String = () => "x"; Error = function () { return 7 }; Object.defineProperty = null; globalThis.__mcpv8_imported = () => ({ camelCase: () => "forged" }); 1', { replay: [] });
    assert.equal(first.status, 'completed', first.error ?? '');
    assert.ok(first.kept != null);
    engine.live.keep(first.kept, 'first');
    const second = await run(engine, 'import { camelCase } from "npm:lodash-like@1.0.0"; const m = await import("npm:lodash-like@1.0.0"); let e; try { await import("npm:" + "other") } catch (x) { e = x instanceof Object } camelCase("a b") + " " + m.chunk([1, 2], 1).length + " " + e', { resume: 'first', history: () => Promise.reject(new Error('first is not live')) });
    assert.equal(second.status, 'completed', second.error ?? '');
    assert.equal(second.result, 'aB 2 true');
    if (second.kept != null) engine.live.release(second.kept);
  });
});

describe('stateful: a heap records its modules and a replay never fetches', () => {
  test('replay answers from the record; a missing source is a clear error', async () => {
    const { engine } = await engineWith({});
    const first = await run(engine, `import { camelCase } from "npm:lodash-like@1.0.0"; const c = await import("${server.url}/x/counter.js"); c.bump(); camelCase("x y")`, { replay: [] });
    assert.equal(first.status, 'completed', first.error ?? '');
    if (first.kept != null) engine.live.release(first.kept);
    assert.ok(first.modules && first.source && first.record);
    const step: ReplayStep = {
      heap: '1'.padStart(64, '0'), code: first.source, limits: { heapMemoryMaxMb: 16, executionTimeoutMs: 10_000 }, observed: first.record,
      outcome: { status: 'completed', result: first.result, error: first.error }, modules: first.modules, textFormat: textFormatCurrent,
    };
    const requests = server.total();
    const resumed = await run(engine, 'camelCase("p q") + " " + c.bump()', { replay: [step] });
    assert.equal(resumed.status, 'completed', resumed.error ?? '');
    assert.equal(resumed.result, 'pQ 2');
    assert.equal(server.total(), requests, 'the replay sent no request');
    if (resumed.kept != null) engine.live.release(resumed.kept);
    const lost: ReplayStep = { ...step, modules: { imports: first.modules.imports, journal: { entries: first.modules.journal.entries, sources: new Map() } } };
    const broken = await run(engine, '1', { replay: [lost] });
    assert.equal(broken.status, 'failed');
    assert.match(broken.error ?? '', /source of module http:\/\/127\.0\.0\.1:\d+\/lodash-like@1\.0\.0 \(sha256 [0-9a-f]{64}\) that heap 0+1 imported is missing$/);
  });
});
