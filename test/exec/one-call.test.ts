// A fresh stateless context's run in one call into its isolate (src/exec/run.ts, `runInOneCall`):
// attach, the code through the prelude's captured indirect eval, its settle and the state after
// its microtasks. What a user checks: the same results, console lines and error texts as a script
// run; the code never runs twice (a compile error falls back to the script path with nothing run);
// the state entry answers only the host; hostile code that replaced every builtin first changes
// nothing of what our code in the isolate reports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { run, result } = await engineForFile(1);

describe('one call per run', () => {
  test('results, console lines and microtasks as a script gives them', async () => {
    assert.equal(await result('1 + 1'), '2');
    assert.equal(await result('let a = 1; const b = 2; a + b'), '3');
    assert.equal(await result('({ x: 1, y: [1, 2] })'), '{ x: 1, y: [ 1, 2 ] }');
    assert.equal(await result('var v = 1; v'), '1');
    const micro = await run("Promise.resolve().then(() => console.log('a')).then(() => console.log('b')).then(() => console.log('c')); console.log('sync'); 5");
    assert.equal(micro.result, '5');
    assert.deepEqual(micro.lines, ['sync', 'a', 'b', 'c'], 'output of microtasks the code queued, after the call that ran it');
    const timer = await run("setTimeout(() => console.log('timer'), 1); 'now'");
    assert.deepEqual([timer.result, timer.lines], ['now', ['timer']]);
  });

  test('stacks read by the code and error texts name main.js as a script\'s do', async () => {
    assert.equal(await result("new Error('s').stack"), 'Error: s\n    at main.js:1:1');
    assert.equal((await run("function f() { null.boom }\nf()")).error, "TypeError: Cannot read properties of null (reading 'boom')\n    at f (main.js:1:21)\n    at main.js:2:1");
    assert.equal((await run("[1].map((x) => { throw new TypeError('in map') })")).error, 'TypeError: in map\n    at main.js:1:24\n    at Array.map (<anonymous>)\n    at main.js:1:5');
    assert.equal((await run("[function () { throw new Error('arr') }][0]()")).error, 'Error: arr\n    at Array.<anonymous> (main.js:1:22)\n    at main.js:1:44');
    assert.equal((await run("new (function () { throw new Error('c') })()")).error, 'Error: c\n    at new <anonymous> (main.js:1:26)\n    at main.js:1:1');
    assert.equal(await result("const e = {}; Error.captureStackTrace(e); e.stack"), 'Error\n    at main.js:1:21');
    // The code may replace the formatter; its frames below the code's are the prelude's (docs/exec.md).
    assert.equal(await result("Error.prepareStackTrace = (error, [frame]) => `${frame.getScriptNameOrSourceURL()}:${frame.getLineNumber()}`; new Error('x').stack"), 'main.js:1');
  });

  test('a top-level throw ends the run there, as a script\'s does, whatever timers it set', async () => {
    const thrown = await run("setTimeout(() => console.log('late'), 1); console.log('before'); throw new Error('top')");
    assert.deepEqual([thrown.status, thrown.error, thrown.lines], ['failed', 'Error: top\n    at main.js:1:72', ['before']]);
    assert.equal((await run("throw 'text'")).error, "Uncaught 'text'");
    assert.equal((await run('throw { a: 1 }')).error, 'Uncaught { a: 1 }');
  });

  test('code V8 does not compile runs not at all, and fails with V8\'s error and position', async () => {
    // swc parses this; V8's regular expression parser refuses it.
    const refused = await run("console.log('ran'); /(?<a>x)(?<a>y)/");
    assert.deepEqual([refused.status, refused.lines], ['failed', []]);
    assert.match(refused.error!, /^SyntaxError: Invalid regular expression: .*Duplicate capture group name \[main\.js:1:21\]/);
  });

  test('a SyntaxError the code throws while it runs is its failure, never a second run', async () => {
    const once = await run("console.log('once'); new Function('{')");
    assert.equal(once.status, 'failed');
    assert.deepEqual(once.lines, ['once']);
    assert.match(once.error!, /^SyntaxError: Unexpected token/);
    const thrown = await run("console.log('once'); throw new SyntaxError('mine')");
    assert.deepEqual([thrown.error, thrown.lines], ['SyntaxError: mine\n    at main.js:1:28', ['once']]);
  });

  test('the state entry answers only the host that attached the context', async () => {
    for (const code of ['__mcpv8_state()', "__mcpv8_state('')", "__mcpv8_state('00000000-0000-0000-0000-000000000000')"]) {
      const refused = await run(code);
      assert.equal(refused.status, 'failed', code);
      assert.match(refused.error!, /^Error: not the host of this context/, code);
    }
    // The frames below the code's (the prelude's run, attach's closure that holds the secret) are strict: no function, no receiver.
    assert.equal(await result("Error.prepareStackTrace = (error, frames) => frames.slice(1).map((frame) => `${frame.getFunctionName()}:${typeof frame.getFunction()}:${typeof frame.getThis()}`).join(); new Error().stack"), 'eval:undefined:undefined,run:undefined:undefined,null:undefined:undefined,null:undefined:undefined');
    assert.equal(await result("(function f() { return f.caller === null || typeof f.caller })()"), 'true');
    assert.equal(await result("[delete globalThis.__mcpv8_state, (() => { try { Object.defineProperty(globalThis, '__mcpv8_state', { value: 1 }); return 'redefined'; } catch (error) { return error.name; } })(), typeof __mcpv8_state].join()"), 'false,TypeError,function', 'no run can replace it');
  });
});

describe('one call per run, after the code replaced every builtin (vandal.ts)', () => {
  test('results and console lines as a clean run\'s', async () => {
    for (const scenario of ['({ a: [1, 2], b: "x" })', "console.log('line', 1); 7", "queueMicrotask(() => console.log('micro')); 'done'"]) {
      const clean = await run(scenario);
      const vandalised = await run(`${vandalSource}\n${scenario}`);
      assert.deepEqual([vandalised.status, vandalised.result, vandalised.error, vandalised.lines], [clean.status, clean.result, clean.error, clean.lines], scenario);
    }
  });

  test('a throw\'s text and a stack the code reads keep their frames', async () => {
    // The vandal's lines, then the scenario's.
    const lines = vandalSource.split('\n').length + 1;
    const thrown = await run(`${vandalSource}\nfunction f() { throw new Error('v') }\nf()`);
    assert.equal(thrown.error, `Error: v\n    at f (main.js:${lines}:22)\n    at main.js:${lines + 1}:1`);
    const stack = await run(`${vandalSource}\nconst s = new Error('w').stack; s`);
    assert.equal(stack.result, `Error: w\n    at main.js:${lines}:11`);
    const once = await run(`${vandalSource}\nconsole.log('once'); new Function('{')`);
    assert.deepEqual([once.status, once.lines], ['failed', ['once']]);
  });

  test('V8\'s CallSite methods replaced (reached through a formatter of the code\'s own) change no frame', async () => {
    const replaced = `const ours = Error.prepareStackTrace;
Error.prepareStackTrace = (error, frames) => frames;
const site = Object.getPrototypeOf(new Error().stack[0]);
for (const key of Object.getOwnPropertyNames(site)) if (key !== 'constructor') site[key] = () => { throw new Error('vandal: CallSite ' + key); };
Error.prepareStackTrace = ours;
`;
    const thrown = await run(`${replaced}function f() { throw new Error('c') }\nf()`);
    assert.equal(thrown.error, 'Error: c\n    at f (main.js:6:22)\n    at main.js:7:1');
    assert.match((await result(`${replaced}(() => new Error('d').stack)()`))!, /^Error: d\n {4}at main\.js:6:\d+\n {4}at main\.js:6:\d+$/);
    // A compile error still falls back: nothing ran.
    const refused = await run(`${replaced}/(?<a>x)(?<a>y)/`);
    assert.match(refused.error!, /^SyntaxError: Invalid regular expression/);
  });
});
