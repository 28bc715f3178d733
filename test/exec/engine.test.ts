// The engine as the issue names it: every status, completion values, TypeScript, timers,
// console formatting and streaming, limits, concurrency, and hostile code (more in the other
// files of this folder: WebAssembly, safety, limits, determinism, top-level await, web globals).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeThrown } from '../../src/exec/outcome.ts';
import { ErrorTexts } from '../../src/exec/types.ts';
import { engineForFile } from './harness.ts';

const { engine, run, result } = await engineForFile(2);

describe('completion values', () => {
  test('the value of the last expression, as a string', async () => {
    assert.equal(await result('var x = 1; x;'), '1');
    assert.equal(await result('1 + 1'), '2');
    assert.equal(await result("'hello'.repeat(3)"), 'hellohellohello');
    assert.equal(await result('undefined'), 'undefined');
    assert.equal(await result('var y = 2;'), 'undefined');
    assert.equal(await result('[1, 2]'), '[ 1, 2 ]');
    assert.equal(await result('({ a: 1 })'), '{ a: 1 }');
    assert.equal(await result('JSON.stringify({a: 1, b: 2})'), '{"a":1,"b":2}');
    assert.equal(await result('10n ** 20n'), '100000000000000000000n');
    assert.equal(await result('null'), 'null');
    assert.equal(await result("Symbol('s')"), 'Symbol(s)');
    assert.equal(await result('function named() {}; named'), '[Function: named]');
    assert.equal(await result('new Map([[1, 2]])'), 'Map(1) { 1 => 2 }');
  });

  test('a promise completion value is awaited; top-level await works', async () => {
    assert.equal(await result('Promise.resolve(7)'), '7');
    assert.equal(await result('await new Promise((resolve) => setTimeout(resolve, 10)); 42'), '42');
    assert.equal(await result("const r = await Promise.all([1, Promise.resolve(2)]);\nr.join('+')"), '1+2');
  });

  test('TypeScript types are stripped', async () => {
    assert.equal(await result('const x: number = 5; x'), '5');
    assert.equal(await result('interface P { n: number }\ntype T = P[];\nfunction sum<V extends P>(items: V[]): number { return items.reduce((a, b) => a + b.n, 0); }\nsum([{ n: 2 }, { n: 3 }] as T)'), '5');
    const bad = await run('let x: = 5');
    assert.equal(bad.status, 'failed');
    assert.match(bad.error!, /^SyntaxError/);
  });
});

describe('statuses and error texts', () => {
  test('a throw fails with the error and its stack in the sandbox; output before it is kept', async () => {
    const thrown = await run("console.log('before'); throw new Error('boom')");
    assert.equal(thrown.status, 'failed');
    assert.match(thrown.error!, /^Error: boom\n\s+at main\.js:1:30/, 'the line and column of the code as written');
    assert.deepEqual(thrown.lines, ['before']);
    assert.match((await run("Promise.reject(new TypeError('bad'))")).error!, /^TypeError: bad/);
    assert.equal((await run("throw 'plain'")).error, "Uncaught 'plain'", 'what is not an Error, inspected: a string is told from a number');
    assert.equal((await run("setTimeout(() => { throw 'in timer' }, 1)")).error, "Uncaught 'in timer'");
    assert.equal((await run('setTimeout(() => { throw { code: 7 } }, 1)')).error, 'Uncaught { code: 7 }');
    // The third is isolated-vm's own timeout text: the engine sets no isolated-vm timeout, so it can only be the code's.
    for (const message of ['the request timed out', 'memory limit reached', 'Script execution timed out.']) {
      const ran = await run(`throw new Error(${JSON.stringify(message)})`);
      assert.equal(ran.status, 'failed', 'an error of the code that reads like a limit is still the code\'s error');
      assert.match(ran.error!, new RegExp(`^Error: ${message.replace('.', '\\.')}`));
    }
  });

  test('a throw inside a timer fails the run, as an uncaught exception would end Node', async () => {
    const ran = await run("setTimeout(() => { throw new RangeError('in timer') }, 1); 'x'");
    assert.equal(ran.status, 'failed');
    assert.match(ran.error!, /^RangeError: in timer/);
    assert.ok(!ran.error!.includes('prelude'), 'no frames of our own code');
  });

  test('timeouts: sync loop, microtask loop, loop in a timer, ReDoS, a timer that never ends', async () => {
    for (const code of ['while (true) {}', '(function f() { Promise.resolve().then(f) })()', 'setTimeout(() => { while (true) {} }, 1)', "/(a+)+$/.test('a'.repeat(40) + 'b')", 'setInterval(() => {}, 10)']) {
      const ran = await run(code, { timeoutMs: 300 });
      assert.equal(ran.status, 'timed_out', `${code}: ${ran.error}`);
      assert.equal(ran.error, ErrorTexts.timeout(0.3, code.startsWith('set')));
    }
  });

  test('a timeout names execution_timeout_secs and its value, and says when a pending timer kept the run alive', async () => {
    const looping = await run('while (true) {}', { timeoutMs: 300 });
    assert.equal(looping.error, 'Execution timed out: it ran past execution_timeout_secs (0.3 s).');
    const kept = await run("setInterval(() => {}, 10); 'done'", { timeoutMs: 300 });
    assert.match(kept.error!, /^Execution timed out: it ran past execution_timeout_secs \(0\.3 s\)\. The code itself had finished, but its timers kept the run going \(a setInterval never cleared/);
  });

  test('out of memory at the largest heap limit does not advise raising it; an ArrayBuffer over the limit names heap_memory_max_mb', async () => {
    assert.match(ErrorTexts.outOfMemory(64), /^Out of memory: V8 heap limit exceeded \(heap_memory_max_mb: 64 MiB\), which is its maximum: use less memory/);
    assert.ok(!ErrorTexts.outOfMemory(64).includes('Try increasing'));
    assert.match(ErrorTexts.outOfMemory(8), /Try increasing heap_memory_max_mb \(at most 64\)/);
    const ran = await run('new ArrayBuffer(512 * 1024 * 1024).byteLength', { memoryMb: 8 });
    assert.equal(ran.status, 'failed');
    assert.match(ran.error!, /^RangeError: Array buffer allocation failed \(an ArrayBuffer or typed array larger than the run's memory allows: heap_memory_max_mb is 8 MiB; raise heap_memory_max_mb \(at most 64\)\)/);
    const caught = await run('try { new Uint8Array(512 * 1024 * 1024) } catch (e) { String(e) }', { memoryMb: 8 });
    assert.equal(caught.result, 'RangeError: Array buffer allocation failed', 'a caught error is the program\'s own: unchanged');
  });

  test('the timeout is wall clock, including time spent awaiting', async () => {
    const ran = await run('await new Promise((resolve) => setTimeout(resolve, 10_000))', { timeoutMs: 200 });
    assert.equal(ran.status, 'timed_out');
  });

  test('out of memory fails with the documented text, and the engine stays healthy', async () => {
    const ran = await run('const a = []; while (true) a.push(new Array(1e5).fill(1))', { memoryMb: 8 });
    assert.equal(ran.status, 'failed');
    assert.equal(ran.error, ErrorTexts.outOfMemory(8));
    assert.equal(await result('2 * 21'), '42');
  });

  test('cancel ends a running execution with Cancelled by user', async () => {
    const controller = new AbortController();
    const running = run("console.log('started'); while (true) {}", { signal: controller.signal, timeoutMs: 30_000, onLine: () => controller.abort() });
    const ran = await running;
    assert.equal(ran.status, 'cancelled');
    assert.equal(ran.error, ErrorTexts.cancelled);
  });

  test('a promise nothing can settle fails at once instead of hanging until the timeout', async () => {
    // Failed, not timed out: it did not wait for its 20 s.
    const ran = await run('await new Promise(() => {})', { timeoutMs: 20_000 });
    assert.equal(ran.status, 'failed');
    assert.match(ran.error!, /nothing can settle/);
  });
});

describe('timers', () => {
  test('order, intervals, clearing by handle or id, microtasks between callbacks', async () => {
    const code = `
      const order = [];
      setTimeout(() => { order.push('a'); Promise.resolve().then(() => order.push('micro')); }, 0);
      setTimeout(() => order.push('b'), 0);
      const cleared = setTimeout(() => order.push('never'), 1);
      clearTimeout(+cleared);
      let n = 0;
      queueMicrotask(() => order.push('queued'));
      // Ends when the interval clears itself, however late a loaded machine fires it.
      await new Promise((resolve) => { const h = setInterval(() => { n++; if (n === 3) { clearInterval(h); setTimeout(resolve, 5); } }, 2); });
      order.join(',') + ' n=' + n`;
    assert.equal(await result(code), 'queued,a,micro,b n=3');
  });

  test('the run waits for ref\'d timers after the code ends, not for unref\'d ones', async () => {
    assert.equal((await run("setTimeout(() => console.log('late'), 20); 'done'")).lines.join(), 'late');
    const unref = await run("setTimeout(() => console.log('never'), 10_000).unref(); 'quick'");
    assert.equal(unref.result, 'quick');
    assert.deepEqual(unref.lines, []);
    assert.equal(await result('const t = setTimeout(() => {}, 5); [typeof t.ref, t.hasRef(), typeof +t, t.unref().hasRef()].join()'), 'function,true,number,false');
  });
});

describe('console', () => {
  test('formats like Node and prefixes info, warn and error', async () => {
    const ran = await run(`
      console.log('a', { a: 1 }, [1, 2, 3]);
      console.info('%s is %d years', 'Bob', 42);
      console.warn('w'); console.error(new Map([['k', { v: [1] }]]));
      console.debug('%o|%j|%i|%f|%%|%c', 'x', { j: 1 }, '42.9', '1.5', 'css');
      const cyclic = { name: 'c' }; cyclic.self = cyclic; console.log(cyclic);
      console.log(new Set([1]), Symbol('s'), null, undefined, -0, 1n, () => 1, class K {});
      console.log({ deep: { er: { than: { two: 1 } } } }, [, 1], 'multi\\nline');
      console.dir('quoted');
      console.table([{ a: 1, b: 'x' }, { a: 2 }]);`);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.deepEqual(ran.lines, [
      'a { a: 1 } [ 1, 2, 3 ]',
      '[INFO] Bob is 42 years',
      '[WARN] w',
      "[ERROR] Map(1) { 'k' => { v: [ 1 ] } }",
      "'x'|{\"j\":1}|42|1.5|%|",
      "<ref *1> { name: 'c', self: [Circular *1] }",
      'Set(1) { 1 } Symbol(s) null undefined -0 1n [Function (anonymous)] [class K]',
      '{ deep: { er: { than: [Object] } } } [ <1 empty item>, 1 ] multi',
      'line',
      "'quoted'",
      '┌─────────┬───┬─────┐',
      '│ (index) │ a │  b  │',
      '├─────────┼───┼─────┤',
      "│    0    │ 1 │ 'x' │",
      '│    1    │ 2 │     │',
      '└─────────┴───┴─────┘',
    ]);
  });

  test('lines stream to the host while the code still runs', async () => {
    // The code waits until it is cancelled, and it is cancelled by its first line's arrival:
    // a line delivered only at the end would leave it running to its timeout.
    const controller = new AbortController();
    const lines: string[] = [];
    const ran = await run("console.log('early'); await new Promise((resolve) => setTimeout(resolve, 60_000)); 'end'", {
      signal: controller.signal, timeoutMs: 120_000, onLine: (line) => { lines.push(line); controller.abort(); },
    });
    assert.equal(ran.status, 'cancelled');
    assert.deepEqual(lines, ['early']);
  });

  test('a flood of lines is delivered whole and in order, and a giant one is cut at the limit', async () => {
    const flood = await run("for (let i = 0; i < 50_000; i++) console.log(i); 'ok'");
    assert.equal(flood.lines.length, 50_000);
    assert.equal(flood.lines[49_999], '49999');
    assert.ok(flood.lines.every((line, index) => line === String(index)));
    const giant = await run("const chunk = 'x'.repeat(1024 * 1024); for (let i = 0; i < 40; i++) console.log(chunk); 'survived'", { memoryMb: 64, timeoutMs: 20_000 });
    assert.equal(giant.result, 'survived');
    assert.equal(giant.lines.length, 32);
    assert.match(giant.lines.at(-1)!, /output truncated/);
  });
});

describe('isolation from the host', () => {
  test('no process, require, module, host references or constructor-chain escapes', async () => {
    assert.equal(await result('[typeof process, typeof require, typeof module, typeof global, typeof Deno, typeof __mcpv8_log, typeof __mcpv8_control, typeof __mcpv8_inspect].join()'), 'undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined');
    assert.equal(await result("this.constructor.constructor('return typeof process')()"), 'undefined');
    assert.equal(await result("console.log.constructor('return this')() === globalThis"), 'true');
    assert.equal(await result("setTimeout.constructor('return typeof process')()"), 'undefined');
    // The import globals (sandbox/prelude/modules.js) and the await wrapper's handler (control.js)
    // are sandbox functions the rewritten code calls, nothing of the host.
    assert.equal(await result("Object.getOwnPropertyNames(globalThis).filter((name) => /mcpv8|ivm/i.test(name)).join()"), '__mcpv8_imported,__mcpv8_importer,__mcpv8_register_imports,__mcpv8_handled,__mcpv8_state');
    assert.equal(await result("[__mcpv8_imported, __mcpv8_importer, __mcpv8_register_imports, __mcpv8_handled, __mcpv8_state].every((f) => /^function \\w+\\(\\) \\{ \\[native code\\] \\}$/.test(String(f)))"), 'true', 'they print as V8\'s own, not their source');
    const framesCode = "Error.prepareStackTrace = (error, frames) => frames.map((frame) => { const fn = frame.getFunction?.(); return fn === undefined || fn instanceof Function; }); let seen; setTimeout(() => { seen = new Error().stack; }, 1); await new Promise((resolve) => setTimeout(resolve, 5)); seen.every(Boolean)";
    assert.equal(await result(framesCode), 'true', 'every frame user code can reach holds sandbox functions only');
  });

  test('a top-level error shows the sandbox\'s frames only, none of the host\'s that isolated-vm appends', async () => {
    const thrown = await run("function f() { null.boom } f()");
    assert.equal(thrown.status, 'failed');
    assert.doesNotMatch(thrown.error!, /file:|node:|node_modules|isolated-vm/);
    assert.match(thrown.error!, /^TypeError: Cannot read properties of null \(reading 'boom'\)\n {4}at f \(main\.js:1:21\)/);
    // Host frames come named or anonymous, from our files or from Node's.
    const carried = new Error('x');
    carried.stack = 'Error: x\n    at main.js:1:7\n    at file:///srv/mcp-v8/src/exec/engine.ts:226:12\n    at Run.execute (file:///srv/mcp-v8/src/exec/engine.ts:40:1)\n    at node:internal/process/task_queues:105:5\n    at (<isolated-vm boundary>)';
    assert.equal(describeThrown(carried), 'Error: x\n    at main.js:1:7');
  });

  test('state never leaks from one run to the next', async () => {
    await result('globalThis.leak = 1; Object.prototype.polluted = true; Array.prototype.push = null; 0');
    assert.equal(await result('[typeof leak, typeof ({}).polluted, typeof [].push].join()'), 'undefined,undefined,function');
  });

  test('a hostile run does not starve the others: two slots, a loop in one, quick runs still finish', async () => {
    // The hog loops until it is cancelled, after the quick runs: they finished while it ran.
    const stopHog = new AbortController();
    let spinning!: () => void;
    const hogStarted = new Promise<void>((resolve) => { spinning = resolve; });
    const hog = run("console.log('spinning'); while (true) {}", { timeoutMs: 120_000, signal: stopHog.signal, onLine: () => spinning() });
    await hogStarted;
    for (let i = 0; i < 5; i++) assert.equal(await result(`${i} + 1`), String(i + 1));
    assert.equal(engine.runningCount, 1, 'the hog still runs');
    stopHog.abort();
    assert.equal((await hog).status, 'cancelled');
  });

  test('more runs than slots queue in order and all complete', async () => {
    const runs = Array.from({ length: 20 }, (_, i) => run(`await new Promise((resolve) => setTimeout(resolve, 5)); ${i}`));
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((ran) => ran.result), Array.from({ length: 20 }, (_, i) => String(i)));
    assert.equal(engine.queuedCount, 0);
    assert.equal(engine.runningCount, 0);
  });
});
