// Hostile code: nothing of the host is reachable, and every attack on resources stays inside its
// own execution and ends within its timeout while other runs still complete.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import ivm from 'isolated-vm';
import { ErrorTexts } from '../../src/exec/types.ts';
import { engineForFile } from './harness.ts';

const { engine, run, result } = await engineForFile(2);

/** The globals we add to V8's own (which include a silent `console` we replace); anything else would be a leak. */
// The three __mcpv8_ functions are what imports are rewritten to (docs/modules.md): non-writable, non-enumerable sandbox functions;
// __mcpv8_state answers only the host that attached the context (its secret; src/exec/run.ts, `runInOneCall`).
const sandboxGlobals = ['AbortController', 'AbortSignal', 'Blob', 'CustomEvent', 'Event', 'EventTarget', 'File', 'FormData', 'Headers', 'Request', 'Response', 'TextDecoder', 'TextEncoder', 'URL', 'URLSearchParams',
  'ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamDefaultController', 'WritableStream', 'WritableStreamDefaultWriter', 'WritableStreamDefaultController',
  'TransformStream', 'TransformStreamDefaultController', 'ByteLengthQueuingStrategy', 'CountQueuingStrategy', 'TextEncoderStream', 'TextDecoderStream', 'atob', 'btoa', 'clearInterval', 'clearTimeout', 'crypto', 'display', 'performance', 'queueMicrotask', 'setInterval', 'setTimeout', 'structuredClone', '__mcpv8_handled', '__mcpv8_imported', '__mcpv8_state', '__mcpv8_importer', '__mcpv8_register_imports'].sort();

describe('nothing of the host is reachable', () => {
  test('globalThis holds V8\'s built-ins plus exactly the documented sandbox globals', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    const context = await isolate.createContext();
    const builtIns = new Set(JSON.parse(await context.eval('JSON.stringify(Object.getOwnPropertyNames(globalThis))', { copy: true }) as string) as string[]);
    isolate.dispose();
    const names = JSON.parse((await result('JSON.stringify(Object.getOwnPropertyNames(globalThis))'))!) as string[];
    assert.deepEqual(names.filter((name) => !builtIns.has(name)).sort(), sandboxGlobals);
    assert.equal(await result('Object.getOwnPropertySymbols(globalThis).length'), '0');
  });

  test('caller chains end at strict sandbox code: arguments.callee.caller gives null', async () => {
    const code = `
      let fromTimer = 'unset'; let fromFormat = 'unset';
      setTimeout(function () { fromTimer = arguments.callee.caller; }, 1);
      console.log('%s', { toString: function () { fromFormat = arguments.callee.caller; return 'x'; } });
      await new Promise((resolve) => setTimeout(resolve, 5));
      [fromTimer, fromFormat].join()`;
    assert.equal(await result(code), ',');
  });

  test('Error.prepareStackTrace sees only sandbox frames, and their receivers are sandbox objects', async () => {
    const code = `
      let receivers = [];
      Error.prepareStackTrace = (error, frames) => { receivers = frames.map((frame) => { const self = frame.getThis(); return self === undefined || self === null || self instanceof Object; }); return 'custom'; };
      console.log('%s', { toString() { new Error().stack; return 'x'; } });
      setTimeout(() => new Error().stack, 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      receivers.length > 0 && receivers.every(Boolean)`;
    assert.equal(await result(code), 'true');
  });

  test('constructor chains from every sandbox function lead back to the sandbox\'s own Function', async () => {
    for (const path of ['console.log', 'setTimeout', 'crypto.getRandomValues', 'TextEncoder', 'Date.now', 'Math.random', 'performance.now', 'structuredClone']) {
      assert.equal(await result(`${path}.constructor('return [typeof process, typeof require, Object.getPrototypeOf(${path}) === Function.prototype].join()')()`), 'undefined,undefined,true', path);
    }
  });
});

describe('resource attacks stay inside their run', () => {
  test('a memory bomb fails with the OOM text while a parallel run completes', async () => {
    const bomb = run("const keep = []; while (true) keep.push('x'.repeat(1e5) + Math.random())", { memoryMb: 8, timeoutMs: 10_000 });
    assert.equal(await result('[1, 2, 3].length'), '3');
    const ran = await bomb;
    assert.equal(ran.status, 'failed');
    assert.equal(ran.error, ErrorTexts.outOfMemory(8));
    assert.equal(await result('"healthy"'), 'healthy');
  });

  test('a console flood in a loop that never ends is cut at the cap and times out; a parallel run completes', async () => {
    let received = 0;
    const flood = run("while (true) console.log('y'.repeat(1000))", { timeoutMs: 1_500, onLine: () => { received++; } });
    assert.equal(await result('6 * 7'), '42');
    const ran = await flood;
    assert.equal(ran.status, 'timed_out');
    assert.match(ran.lines.at(-1)!, /output truncated/);
    assert.ok(received <= Math.ceil((32 * 1024 * 1024) / 1001) + 1, `${received} lines: 32 MiB of 1000-character lines and the marker`);
  });

  test('infinite loops in sync code, a microtask, a timer, and a ReDoS each end at their timeout', async () => {
    const attacks = ['for (;;) {}', 'queueMicrotask(function spin() { queueMicrotask(spin) })', 'setInterval(() => { for (;;) {} }, 1)', "/(a+)+$/.test('a'.repeat(40) + 'b')"];
    const outcomes = await Promise.all(attacks.map((code) => run(code, { timeoutMs: 400 })));
    assert.deepEqual(outcomes.map((ran) => ran.status), attacks.map(() => 'timed_out'));
    assert.equal(await result('1 + 1'), '2');
  });

  test('a thrown value or rejection whose getters and traps never return ends at its timeout, and both slots serve on', async () => {
    // Once a run is stopped, isolated-vm still reads the message and stack of what the code threw
    // or left rejected; each read runs the code's getter or trap, and a loop there used to hold
    // the isolate's thread, and the run's slot, forever.
    const spin = '{ get message() { for (;;) {} }, get stack() { for (;;) {} } }';
    const trap = 'new Proxy({}, { get() { for (;;) {} } })';
    const attacks = [
      `throw ${spin}`,
      `throw ${trap}`,
      `Promise.reject(${trap}); 1`,
      `setTimeout(() => Promise.reject(${spin}), 1)`,
      `await null; throw ${trap}`,
    ];
    const outcomes = await Promise.all(attacks.map((code) => run(code, { timeoutMs: 300 })));
    // Thrown at the top level of code run in one call (src/exec/run.ts, `runInOneCall`), an object
    // that is not an Error is described in the sandbox, its getters not called: the run fails at once.
    assert.deepEqual(outcomes.map((ran) => ran.status), attacks.map((_, index) => (index === 0 ? 'failed' : 'timed_out')));
    assert.equal(outcomes[0]!.error, 'Uncaught { message: [Getter], stack: [Getter] }');
    assert.deepEqual(await Promise.all([result('1 + 1'), result('2 + 2')]), ['2', '4']);
    assert.equal(engine.stuckIsolates, 0, 'every stopped isolate answered');
  });

  test('Array builtins whose loops V8 never interrupts refuse a huge length at once; ranges and dense arrays work as before', async () => {
    // Without the bound (src/exec/sandbox/bounds.js) each of these ran on after its timeout,
    // keeping an isolate thread at 100 % until the process exited.
    const attacks: Array<[builtin: string, code: string]> = [
      ['Array.prototype.indexOf', 'Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1)'],
      ['Array.prototype.includes', 'Array.prototype.includes.call({ length: 2 ** 53 - 1 }, 1)'],
      ['Array.prototype.lastIndexOf', 'Array.prototype.lastIndexOf.call({ length: 2 ** 53 - 1 }, 1)'],
      ['Array.prototype.reverse', 'Array.prototype.reverse.call({ length: 2 ** 53 - 1 })'],
      ['Array.prototype.copyWithin', 'Array.prototype.copyWithin.call({ length: 2 ** 53 - 1 }, 1)'],
      ['Array.prototype.forEach', 'Array.prototype.forEach.call({ length: 2 ** 53 - 1 }, () => {})'],
      ['Array.prototype.slice', 'Array.prototype.slice.call({ length: 2 ** 53 - 1 }, 0, 1e9)'],
      ['Array.prototype.splice', 'Array.prototype.splice.call({ length: 2 ** 53 - 2 }, 0, 0, 1)'],
      ['Array.prototype.unshift', 'Array.prototype.unshift.call({ length: 2 ** 53 - 2 }, 1)'],
      ['Array.prototype.shift', 'Array.prototype.shift.call({ length: 2 ** 53 - 1 })'],
      ['Array.prototype.toLocaleString', 'Array.prototype.toLocaleString.call({ length: 2 ** 32 - 1 })'],
      ['Array.prototype.with', 'Array.prototype.with.call({ length: 2 ** 32 - 1 }, 0, 1)'],
      ['Array.prototype.indexOf', 'Array(2 ** 32 - 1).indexOf(1)'],
      ['Array.prototype.sort', 'Array(2 ** 32 - 1).sort()'],
      ['Array.prototype.toSorted', 'Array(2 ** 32 - 1).toSorted()'],
      ['Array.prototype.flat', 'Array(2 ** 32 - 1).flat()'],
      ['Array.from', 'Array.from({ length: 2 ** 32 - 1 })'],
      ['Array.prototype.concat', 'Array.prototype.concat.call(1, { length: 2 ** 32 - 2, [Symbol.isConcatSpreadable]: true })'],
    ];
    const outcomes = await Promise.all(attacks.map(([, code]) => run(code, { timeoutMs: 1_000 })));
    for (const [index, ran] of outcomes.entries()) {
      const [builtin, code] = attacks[index]!;
      assert.equal(ran.status, 'failed', code);
      assert.ok(ran.error!.startsWith(`RangeError: ${builtin}: `), `${code}: ${ran.error}`);
      assert.match(ran.error!, /indexes to visit \(length \d+\), more than this sandbox allows in one call \(16777216\): V8 cannot stop that loop at the execution timeout/, code);
    }
    assert.equal(engine.stuckIsolates, 0, 'no isolate thread was left running');
    // What visits few indexes of a huge array, and everything on arrays that fit in memory, runs.
    assert.equal(await result('[Array(2 ** 32 - 1).slice(0, 10).length, Array(2 ** 32 - 1).fill(0, 2 ** 32 - 2).at(-1), Array(2 ** 32 - 1).lastIndexOf(1, 5), Array(2 ** 32 - 1).indexOf(1, -5)].join()'), '10,0,-1,-1');
    assert.equal(await result('const a = Array.from({ length: 1e5 }, (_, i) => i); [a.indexOf(99_999), a.map((n) => n * 2).at(-1), a.toReversed()[0], Array.prototype.slice.call({ length: 2, 0: "x", 1: "y" }).join()].join()'), '99999,199998,99999,x,y');
    assert.equal(await result('[[1].concat([2], 3, [[4]]).length, Array.prototype.concat.call({ length: 2 ** 40 }, [1]).length].join()'), '4,2');
    assert.equal(await result('[Array.prototype.indexOf.name, Array.prototype.indexOf.length, Array.from.length, "prototype" in Array.prototype.map, Array.prototype.propertyIsEnumerable("map")].join()'), 'indexOf,1,1,false,false');
  });

  test('the bounded builtins keep V8\'s name, length, no prototype and no [[Construct]], and the arguments as given', async () => {
    // bounds.js gives each wrapper as many parameters as its builtin's length (no redefined length).
    const list = "[...['copyWithin', 'every', 'fill', 'filter', 'flat', 'flatMap', 'forEach', 'includes', 'indexOf', 'join', 'lastIndexOf', 'map', 'reduce', 'reduceRight', 'reverse', 'shift', 'slice', 'some', 'sort', 'splice', 'toLocaleString', 'toReversed', 'toSorted', 'toSpliced', 'unshift', 'with', 'concat'].map((n) => [Array.prototype, n]), [Array, 'from'], "
      + "...['split', 'replace', 'replaceAll', 'normalize', 'toUpperCase', 'toLowerCase', 'toLocaleUpperCase', 'toLocaleLowerCase', 'localeCompare', 'toWellFormed'].map((n) => [String.prototype, n]), [RegExp.prototype, Symbol.replace], [globalThis, 'encodeURI'], [globalThis, 'encodeURIComponent'], [JSON, 'stringify'], "
      + "...['keys', 'values', 'entries', 'getOwnPropertyNames', 'getOwnPropertyDescriptors'].map((n) => [Object, n]), [Reflect, 'ownKeys']]";
    const code = `${list}.map(([holder, key]) => { const f = holder[key]; let made = 'no [[Construct]]'; try { Reflect.construct(String, [], f); made = 'constructor'; } catch {} return [String(key), f.name, f.length, Object.hasOwn(f, 'prototype'), made].join(':'); }).join(' ')`
      + " + ' | ' + [[].concat().length, [].concat(undefined).length, 'a,b'.split(',', undefined).length, Array.from({ length: 2 }).length].join()";
    const expected = (0, eval)(code) as string;
    assert.match(expected, /^copyWithin:copyWithin:2:false:no \[\[Construct\]\] /);
    assert.equal(await result(code), expected);
  });

  test('splitting a huge string into more parts than V8 can hold is refused, not a crash of the server', async () => {
    // V8 counts the parts, then makes one array of that many: past its largest array it aborted
    // the whole process ("Fatal JavaScript invalid size error"), and this test file with it.
    const crash = await run("'ab'.repeat(2 ** 27).split('').length", { timeoutMs: 5_000 });
    assert.equal(crash.status, 'failed');
    assert.equal(crash.error, 'RangeError: String.prototype.split: over 16777216 parts from a string of 268435456 characters, more than this sandbox allows in one call (16777216): V8 cannot stop that loop at the execution timeout\n    at main.js:1:22');
    // A limit, a separator that is not there, no separator, and every conversion as before.
    assert.equal(await result("['ab'.repeat(2 ** 27).split().length, 'abc'.split('', 2).join('|')].join()"), '1,a|b');
    assert.equal(await result("['a,b,c'.split(',').join('|'), String.prototype.split.call(123454321, 4).join('|'), String.prototype.split.call({ toString: () => 'x-y' }, '-').join('|'), 'a-b'.split({ [Symbol.split]: (s, l) => 'custom ' + l }, 3), 'abc'.split.length].join()"), 'a|b|c,123|5|321,x|y,custom 3,2');
  });

  test('builtins that went on building a result from a huge rope string are refused; the same calls on strings that fit run as before', async () => {
    // Each ran past its timeout and memory limit until V8 had no memory left to give: a thread
    // parked for good with ≈ 1.2 GB (and, without onCatastrophicError, a crash of the server).
    const rope = "'ab'.repeat(2 ** 27)";
    const attacks: Array<[builtin: string, code: string]> = [
      ['String.prototype.replaceAll', `${rope}.replaceAll('a', 'bb')`],
      ['String.prototype.replace', `${rope}.replace(/a/g, 'bb')`],
      ['RegExp.prototype[Symbol.replace]', `/a/g[Symbol.replace](${rope}, '')`],
      ['encodeURIComponent', `encodeURIComponent(${rope})`],
      ['JSON.stringify', `JSON.stringify(${rope})`],
      ['Object.keys', `Object.keys(new String(${rope}))`],
      ['Object.values', `Object.values(${rope})`],
      ['Reflect.ownKeys', `Reflect.ownKeys(new String(${rope}))`],
    ];
    const outcomes = await Promise.all(attacks.map(([, code]) => run(code, { timeoutMs: 2_000 })));
    for (const [index, ran] of outcomes.entries()) {
      const [builtin, code] = attacks[index]!;
      assert.equal(ran.status, 'failed', code);
      assert.ok(ran.error!.startsWith(`RangeError: ${builtin}: a string of 268435456 characters`), `${code}: ${ran.error}`);
    }
    assert.equal(engine.stuckIsolates, 0);
    assert.equal(await result("[JSON.stringify({ a: [1, 'x'] }), 'a-b'.replace('-', '+'), 'aXbX'.replaceAll('X', (m) => m.toLowerCase()), encodeURIComponent('a b'), Object.keys('abc').join(), Reflect.ownKeys([1]).join(), RegExp.prototype[Symbol.replace].name, JSON.stringify.length].join(' | ')"), '{"a":[1,"x"]} | a+b | axbx | a%20b | 0,1,2 | 0,length | [Symbol.replace] | 3');
  });

  test('results and errors that leave the sandbox are bounded', async () => {
    const big = await run("'r'.repeat(9 * 1024 * 1024)", { memoryMb: 64 });
    assert.equal(big.result!.length < 8 * 1024 * 1024 + 100, true);
    assert.match(big.result!, /… \[truncated: 1048576 more characters\]$/);
    const huge = await run("throw new Error('e'.repeat(200_000))", { memoryMb: 64 });
    assert.equal(huge.status, 'failed');
    assert.ok(huge.error!.length < 64 * 1024 + 100);
    assert.match(huge.error!, /^Error: eee/);
  });

  test('a run that tampers with built-ins only breaks itself', async () => {
    const ran = await run("Map.prototype.values = null; Promise.prototype.then = null; Array.prototype.map = null; setTimeout(() => {}, 1); 'x'");
    assert.ok(['completed', 'failed'].includes(ran.status), ran.status);
    assert.equal(await result('[1, 2].map((n) => n * 2)'), '[ 2, 4 ]');
  });

  test('WebAssembly, wrapped on first use, uses none of the built-ins a program replaced before', async () => {
    const ran = await run(`
      const seen = [];
      const realApply = Reflect.apply;
      Reflect.apply = function (target, receiver, args) { seen.push(target.name); return realApply(target, receiver, args); };
      Object.getOwnPropertyDescriptor = () => ({ get: () => 0, value: 0 });
      Object.defineProperty = () => { throw new Error('replaced defineProperty'); };
      const module = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
      const memory = new WebAssembly.Memory({ initial: 1 });
      [seen.length, module instanceof WebAssembly.Module, memory.buffer.byteLength, String(WebAssembly.compile), String(SharedArrayBuffer)].join(' | ')`);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, '0 | true | 65536 | function compile() { [native code] } | function SharedArrayBuffer() { [native code] }');
  });
});

describe('output before a hang', () => {
  test('lines printed just before a loop that never yields still reach the host', async () => {
    const ran = await run("console.log('a'); console.log('b'); console.warn('c'); for (;;) {}", { timeoutMs: 300 });
    assert.equal(ran.status, 'timed_out');
    assert.deepEqual(ran.lines, ['a', 'b', '[WARN] c']);
  });

  test('FinalizationRegistry never calls back (cleanup would run outside any run)', async () => {
    const code = `
      let calls = 0;
      const registry = new FinalizationRegistry(() => { calls++; });
      for (let i = 0; i < 2000; i++) registry.register({ payload: new Array(1000).fill(i) }, i);
      await new Promise((done) => setTimeout(done, 50));
      for (let i = 0; i < 200; i++) new Array(10000).fill(i);
      await new Promise((done) => setTimeout(done, 50));
      [calls, registry.unregister({}), String(registry)].join()`;
    assert.equal(await result(code), '0,false,[object FinalizationRegistry]');
  });

  test('Atomics.waitAsync: awaited, it fails at once; left behind with a loop, the loop never runs', async () => {
    // V8 settles a waitAsync promise by a task of its own, outside the sandbox's event loop:
    // nothing in a run can notify it, and its timeout must not run code after the run ended.
    const awaited = await run('const cell = new Int32Array(new SharedArrayBuffer(16)); await Atomics.waitAsync(cell, 0, 0, 50).value');
    assert.equal(awaited.status, 'failed');
    assert.match(awaited.error!, /awaits a promise that nothing can settle/);
    const leftBehind = await run("const cell = new Int32Array(new SharedArrayBuffer(16)); Atomics.waitAsync(cell, 0, 0, 20).value.then(() => { for (;;) {} }); 'left'");
    assert.equal(leftBehind.result, 'left');
    await new Promise((done) => setTimeout(done, 200)); // well past the 20 ms timeout
    const before = process.cpuUsage();
    await new Promise((done) => setTimeout(done, 500));
    const used = process.cpuUsage(before);
    const corePct = (100 * (used.user + used.system)) / 1e6 / 0.5;
    assert.ok(corePct < 50, `the process used ${corePct.toFixed(0)} % of a core while idle: a thread runs the loop`);
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map((n) => result(`${n} * 10`))), ['10', '20', '30', '40']);
    assert.equal(engine.stuckIsolates, 0);
  });
});
