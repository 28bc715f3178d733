// A run's code is made ready (types stripped, rewrites) before it takes a slot, in one of two
// source workers by its size: a megabyte that takes the worker seconds delays nobody else.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { SourcePrep } from '../../src/exec/source-prep.ts';
import { type SourceAnswer, lean } from '../../src/exec/source-worker.ts';
import { routedCodeCharsMax } from '../../src/exec/top-level-await.ts';
import { SourceError, strippedCacheInputCharsMax } from '../../src/exec/typescript.ts';
import { collectBeforeExit, engineForFile } from './harness.ts';

// One slot: a run that held it while its code was prepared would hold up every other run.
const { run } = await engineForFile(1);

/** ≈ 1,000,000 characters that need the top-level await rewrite: ≈ 1–2 s of a source worker. */
const huge = 'await 0;\n' + 'a = 1;'.repeat(166_000) + '\na';

const limits = { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 };

describe('source preparation', () => {
  test('with one slot, a small run sent after a megabyte with top-level await finishes first', async () => {
    const order: string[] = [];
    const big = run(huge, { timeoutMs: 30_000 }).then((ran) => { order.push('huge'); return ran; });
    // Not cached (no earlier run had this text), so it needs a worker too.
    const small = run('const small: number = 6 * 7;\nsmall').then((ran) => { order.push('small'); return ran; });
    const [bigRan, smallRan] = await Promise.all([big, small]);
    assert.equal(smallRan.status, 'completed', smallRan.error ?? '');
    assert.equal(smallRan.result, '42');
    assert.equal(bigRan.status, 'completed', bigRan.error ?? '');
    assert.equal(bigRan.result, '1');
    assert.deepEqual(order, ['small', 'huge'], 'the small run neither waited for the slot nor for the worker');
  });

  test('code that does not parse fails at once, while the one slot is busy', async () => {
    const controller = new AbortController();
    const sleeper = run('await new Promise((resolve) => setTimeout(resolve, 10_000)); 1', { signal: controller.signal, timeoutMs: 30_000 });
    const bad = await run('let broken: = 1');
    assert.equal(bad.status, 'failed');
    assert.match(bad.error!, /^SyntaxError/);
    controller.abort();
    assert.equal((await sleeper).status, 'cancelled', 'the syntax error was answered while the sleeper held the slot');
  });

  test('a run cancelled while its code is prepared, or when the engine closes, answers cancelled without a slot', async () => {
    const controller = new AbortController();
    const cancelled = run(huge + ' ', { signal: controller.signal, timeoutMs: 30_000 });
    controller.abort();
    const ran = await cancelled;
    assert.equal(ran.status, 'cancelled');
    assert.deepEqual(ran.lines, []);

    const engine = await createEngine({ maxConcurrentExecutions: 1 });
    const pending = engine.run({ code: huge + '  ', limits, signal: new AbortController().signal, onConsoleLine: () => undefined });
    await engine.close();
    assert.equal((await pending).status, 'cancelled');
    // The first engine still runs code, and sees nothing of the two.
    assert.equal((await run('typeof a')).result, 'undefined');
  });

  test('code that V8 will refuse as a script gets its rewrite ahead; repeated code is answered at once', async () => {
    const sources = new SourcePrep();
    after(() => sources.close());
    const topLevel = 'const t: number = await 1;\nt + 1';
    const first = await sources.prepare(topLevel, false);
    assert.equal(first.code, 'const t         = await 1;\nt + 1');
    assert.ok(first.wrapped !== null, 'the rewrite is made ahead');
    assert.match(await first.wrapped, /^\/\* mcp-v8: top-level await \*\/.*\nconst t         = await 1;\nreturn \(t \+ 1\);\n\}\)\(\)\)$/);
    const again = sources.prepare(topLevel, false);
    assert.ok(!(again instanceof Promise), 'strip and rewrite come from the caches');
    assert.equal(await again.wrapped, await first.wrapped);

    // `await` only inside a function: V8 compiles it as it is, and no rewrite is made; unless it
    // ends with an expression, which may be a promise (the wrapper handles it in the run's call).
    const inner = 'async function f() { await 1; return 2 }\nvar g = f()';
    assert.equal((await sources.prepare(inner, false)).wrapped, null);
    const innerAgain = sources.prepare(inner, false);
    assert.ok(!(innerAgain instanceof Promise));
    assert.equal(innerAgain.wrapped, null);
    const endsWithPromise = 'async function f() { await 1; return 2 }\nf()';
    assert.match(await (await sources.prepare(endsWithPromise, false)).wrapped!, /^\/\* mcp-v8: top-level await \*\/ __mcpv8_handled\(.*\nasync function f\(\) \{ await 1; return 2 \};return void 0, \(\nf\(\)\);\n\} catch \(thrown\) \{.*\} \}\)\(\)\)$/);
    assert.equal((await sources.prepare('[1, 2].map((n) => n * 2)', false)).wrapped, null, 'code with no word that makes a promise runs as it is');
    assert.equal((await sources.prepare('await 1; var x = 2', false)).wrapped !== null, true, 'top-level await is rewritten whatever it ends with');
    const long = `Promise.resolve(1)${' '.repeat(routedCodeCharsMax)}`;
    const longPrepared = sources.prepare(long, false);
    assert.equal((await longPrepared).wrapped, null, 'code past the bound runs as a script');

    // Import statements become script code first (module-rewrite.ts), then the rewrite is made.
    const imported = await sources.prepare('import x from "y";\nawait x', false);
    assert.deepEqual(imported.imports, [{ specifier: 'y', dynamic: false }]);
    assert.match(await imported.wrapped!, / var x; .*\n;\(  \{default: x\} = __mcpv8_imported\("y", ""\)\);\nreturn \(await x\);\n/);
    const importedAgain = sources.prepare('import x from "y";\nawait x', false);
    assert.ok(!(importedAgain instanceof Promise), 'code with imports is answered from the cache the second time');
    assert.deepEqual(importedAgain.imports, imported.imports);
    await sources.prepare('// import nothing\n1', false);
    const commented = sources.prepare('// import nothing\n1', false);
    assert.ok(!(commented instanceof Promise), 'so is code that only mentions the word');
    assert.deepEqual(commented.imports, []);
    // A rewrite that cannot be done rejects when awaited, with the code's own error.
    const exported = await sources.prepare('export const e = await 1', false);
    assert.ok(exported.wrapped !== null);
    await assert.rejects(exported.wrapped, (error: unknown) => error instanceof SourceError && /export statements are not supported in the code of a run/.test(error.message));

    // Stateful mode: declarations become globals first, then the rewrite is made of that.
    const stateful = await sources.prepare('const s = await 2;\ns', true);
    assert.equal(stateful.code, 'var   s = await 2;\ns');
    assert.match(await stateful.wrapped!, /^\/\* mcp-v8: top-level await \*\/ var s; /);

    // A syntax error of the code is the run's failure, as it was written.
    await assert.rejects(async () => sources.prepare('let x: = 1', false), (error: unknown) => error instanceof SourceError && /^SyntaxError/.test(error.message));
  });

  test('a small input waits for at most the two inputs a worker holds, not for a flood of larger ones', async () => {
    const sources = new SourcePrep();
    after(() => sources.close());
    const order: string[] = [];
    // 40 inputs of ≈ 60,000 characters with top-level await, ≈ 20 ms of the worker each.
    const flood = Array.from({ length: 40 }, (_, index) => {
      const code = `await 0;\nlet q${index} = 0;\n` + `q${index}++;`.repeat(7_000);
      return Promise.resolve(sources.prepare(code, false)).then(() => { order.push(`large ${index}`); });
    });
    const small = Promise.resolve(sources.prepare('const after: number = 1;\nafter', false)).then(() => { order.push('small'); });
    await Promise.all([...flood, small]);
    assert.ok(order.indexOf('small') <= 2, `answered after ${order.indexOf('small')} of the larger inputs`);
  });

  test('a worker that dies fails the two asks it held; the waiting ones go to a new worker', async () => {
    const sources = new SourcePrep({ workerUrl: new URL('../fixtures/dying-source-worker.ts', import.meta.url) });
    after(() => sources.close());
    const settled = await Promise.allSettled(['/* die */', 'let held: number = 1', 'let waited: number = 2', 'let waited2: number = 3'].map((code) => sources.prepare(code, false)));
    assert.deepEqual(settled.map((outcome) => outcome.status), ['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    for (const outcome of settled.slice(0, 2)) assert.match(String((outcome as PromiseRejectedResult).reason), /preparing the code failed: the source worker exited with code 3/);
    assert.equal((settled[3] as PromiseFulfilledResult<{ code: string }>).value.code, 'let waited2         = 3');
    assert.equal((await sources.prepare('let later: number = 4', false)).code, 'let later         = 4');
  });

  test('strings the main thread has are not sent back, and come out the same as before', async () => {
    const plain = 'const p = 6 * 7;\np';
    const answer = { id: 1, ok: true as const, code: plain, strip: { value: plain, cacheable: true }, wrap: null, imports: [], awaits: false };
    assert.deepEqual(lean({ ...answer, code: plain.slice(0) }, plain), { ...answer, code: '', strip: { value: '', cacheable: true }, same: { code: true, strip: 'input' } });
    const typed = 'const t: number = 6;\nt';
    const sameOf = (leaned: SourceAnswer) => 'code' in leaned ? leaned.same : undefined;
    assert.deepEqual(sameOf(lean({ ...answer, code: 'const t         = 6;\nt', strip: { value: 'const t         = 6;\nt', cacheable: true } }, typed)), { code: false, strip: 'code' });
    assert.deepEqual(sameOf(lean({ ...answer, code: 'var   t         = 6;\nt', strip: { value: 'const t         = 6;\nt', cacheable: true } }, typed)), undefined, 'three different strings are all sent');

    const sources = new SourcePrep();
    after(() => sources.close());
    // Plain code (code, strip and input one string), typed code (code and strip one string), and
    // stateful mode (code made global: three strings); each again from the caches.
    const cases: [string, boolean, string][] = [
      ['const q = 6 * 7;\nq', false, 'const q = 6 * 7;\nq'],
      ['const r: number = 6;\nr', false, 'const r         = 6;\nr'],
      ['const u: number = 6;\nu', true, 'var   u         = 6;\nu'],
      ['let w = 6;\nw', true, 'var w = 6;\nw'],
    ];
    for (const [input, globalize, expected] of cases) {
      assert.equal((await sources.prepare(input, globalize)).code, expected);
      assert.equal((await sources.prepare(input, globalize)).code, expected, 'the same from the caches');
    }
    assert.equal((await sources.prepare('const r: number = 6;\nr', true)).code, 'var   r         = 6;\nr', "the strip kept was the typed code's strip");
    // Whether the code has the word await comes with the answer: the run does not scan it again.
    assert.deepEqual([(await sources.prepare('const a = 1;\na', false)).awaits, (await sources.prepare('async function f() { await 1 }\nf', false)).awaits], [false, true]);
  });

  test('inputs past the caches go to a lane of their own, whose worker closes when idle', async () => {
    const sources = new SourcePrep({ largeLaneIdleCloseMs: 50 });
    after(() => sources.close());
    const large = 'let n: number = 1;\n'.repeat(Math.ceil((strippedCacheInputCharsMax + 1) / 19)) + 'n';
    assert.ok(large.length > strippedCacheInputCharsMax);
    assert.equal(sources.largeLane.open, false, 'not started before a large input comes');
    const prepared = sources.prepare(large, false);
    assert.equal(sources.largeLane.open, true);
    assert.ok((await prepared).code.startsWith('let n         = 1;\n'));
    await sources.largeLane.exited;
    assert.equal(sources.largeLane.open, false, 'closed once idle, its memory freed');
    // The next large input starts it again.
    assert.ok((await sources.prepare(large + ' ', false)).code.endsWith('n '));
  });
});

after(collectBeforeExit);
