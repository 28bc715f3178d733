// Top-level await: the completion value survives the rewrite, `var` and function declarations
// still become globals, and line numbers in stacks stay where the agent wrote them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globalizeDeclarations, withoutAwaitWrapper, withoutWrapperFrame, wrapIfEndsWithExpression, wrapTopLevelAwait } from '../../src/exec/top-level-await.ts';
import { engineForFile } from './harness.ts';

const { run, result } = await engineForFile();

describe('top-level await', () => {
  test('the completion value is the last expression, awaited', async () => {
    assert.equal(await result('await new Promise(r => setTimeout(r, 10)); 42'), '42');
    assert.equal(await result('const v = await Promise.resolve({ a: [1] }); v'), '{ a: [ 1 ] }');
    assert.equal(await result('await 1; const unused = 2;'), 'undefined');
    assert.equal(await result('await 1\n;(async () => 9)()'), '9', 'a returned promise is awaited too');
  });

  test('top-level var and function declarations become globals, also with destructuring', async () => {
    const code = "var a = await Promise.resolve(1), { b, c: [d, ...e] } = { b: 2, c: [3, 4, 5] }, f;\nfunction g() { return 'g'; }\n[globalThis.a, globalThis.b, globalThis.d, globalThis.e.join('+'), 'f' in globalThis, globalThis.g()].join()";
    assert.equal(await result(code), '1,2,3,4+5,true,g');
    assert.equal(await result('console.log(1)\nvar x = await 5\nx'), '5', 'no semicolon before the var');
  });

  test('a throw after an await keeps its line number', async () => {
    const ran = await run("await null;\n\nthrow new Error('late')");
    assert.equal(ran.status, 'failed');
    assert.match(ran.error!, /^Error: late\n\s+at .*main\.js:3:7/);
  });

  test('the rewrite itself: a prefix line of its own, nothing of the code moved to another line', () => {
    assert.equal(wrapTopLevelAwait('var x = 1;\nawait x;\nx + 1'),
      '/* mcp-v8: top-level await */ var x; __mcpv8_handled((async () => {  /* mcp-v8 undo: [[0,3,"var"],[9,1,""],[21,8,""],[34,2,""]] */\n;(  x = 1);\nawait x;\nreturn (x + 1);\n})())');
    assert.equal(wrapTopLevelAwait('(await 1) + 1 // note'),
      '/* mcp-v8: top-level await */ __mcpv8_handled((async () => {  /* mcp-v8 undo: [[0,8,""],[21,2,""]] */\nreturn ((await 1) + 1); // note\n})())');
    // Without top-level await: `return void 0, (` ends the line before the last expression's, in a
    // plain function whose catch hands on what is not an Error, as catch-thrown.ts's does.
    const plainEnd = `} catch (thrown) { if ((typeof thrown !== 'object' && typeof thrown !== 'function') || thrown === null || 'message' in thrown || 'stack' in thrown) throw thrown; return { "mcp-v8: thrown at the top level": thrown }; } })())`;
    assert.equal(wrapIfEndsWithExpression('var p = 1 // c\nPromise.reject(p)'),
      '/* mcp-v8: top-level await */ var p; __mcpv8_handled((() => { try {  /* mcp-v8 undo: [[0,3,"var"],[9,1,""],[10,17,""],[50,2,""]] */\n;(  p = 1);return void 0, ( // c\nPromise.reject(p));\n' + plainEnd);
    assert.equal(wrapIfEndsWithExpression('f()'), '/* mcp-v8: top-level await */ __mcpv8_handled((() => { try { return void 0, ( /* mcp-v8 undo: [[3,2,""]] */\nf());\n' + plainEnd);
    assert.equal(wrapIfEndsWithExpression('f(); var x = 1'), null, 'the last statement is no expression');
    assert.throws(() => wrapTopLevelAwait('export const e = await 1'), /export statements are not supported in the code of a run/);
    // Stateful mode's declarations, behind a hashbang line (which stays: it starts the script).
    assert.equal(globalizeDeclarations('#!/usr/bin/env node\nconst a = 1'), '#!/usr/bin/env node\nvar   a = 1');
  });

  test('a top-level statement that drops a fresh promise is marked, lines and columns kept; nothing else is', async () => {
    const code = "async function main() { throw { at: new Error('x').stack.split('\\n')[1].trim() } }\nmain()\nvar n = 1\nnew Promise((_, reject) => reject({ n })).then(() => 0)\nkeep(); Promise.reject(n)\nn";
    const wrapped = wrapIfEndsWithExpression(code)!;
    assert.equal(wrapped.split('\n').slice(1, -1).join('\n'),
      "async function main() { throw { at: new Error('x').stack.split('\\n')[1].trim() } };__mcpv8_handled(\nmain(),1)\n;(  n = 1);__mcpv8_handled(\nnew Promise((_, reject) => reject({ n })).then(() => 0),1)\nkeep(); __mcpv8_handled(Promise.reject(n),1);return void 0, (\nn);");
    assert.equal(withoutAwaitWrapper(wrapped), code, 'describe_heap shows the code as written');
    assert.equal((await run(code.replace('keep', 'Date'))).error, "Uncaught { at: 'at main (main.js:1:37)' }", 'the first rejection, with its column as written');
    assert.match(wrapIfEndsWithExpression('Promise.reject({})\n1')!, /^[^\n]*try \{ __mcpv8_handled\( \/\*[^\n]*\nPromise\.reject\(\{\}\),1\);/, 'the first statement opens on the wrapper\'s line');
    for (const kept of ['keep()\n1', 'p.value\n1', 'Promise.reject({})', 'const f = () => Promise.reject({})\nf()\n1']) assert.doesNotMatch(wrapIfEndsWithExpression(kept)!, /,1\)/, kept);
    assert.match(wrapTopLevelAwait('const go = async () => { throw {} }\ngo()\nawait 0'), /;__mcpv8_handled\(\ngo\(\),1\)\n/, 'the top-level await form too');
  });

  test('a hashbang line is kept out of the way; a syntax error past the first await is reported as itself', async () => {
    assert.equal(await result('#!/usr/bin/env node\nawait 1;\n3'), '3');
    const thrown = await run("#!/usr/bin/env node\nawait 0;\nthrow new Error('after the hashbang')");
    assert.match(thrown.error!, /^Error: after the hashbang\n\s+at .*main\.js:3:7/);
    // V8 stops at the first `await` and says it needs an async function; the real error is later
    // (swc reports it, when it strips the types or when it parses for the rewrite).
    const broken = await run('await 1;\nlet x = ;');
    assert.equal(broken.status, 'failed');
    assert.match(broken.error!, /^SyntaxError: /);
    assert.doesNotMatch(broken.error!, /preparing the code failed|await is only valid/);
  });

  test('errors point at the line the agent wrote, and at its column outside the last expression', async () => {
    const cases: Array<[code: string, at: string]> = [
      ['await null; null.x; 1', 'main.js:1:18'],
      ['await null;\n  null.x;\n  1', 'main.js:2:8'],
      ['var v = await 1\nfunction f() { return null.y }\nf()', 'main.js:2:28'],
      ["await null; var w = (() => { throw new Error('in a var') })()", 'main.js:1:36'],
      // V8 places these at the start of their statement: the last expression's, where it was written.
      ['await 0\n  undefinedVar', 'main.js:2:3'],
    ];
    for (const [code, at] of cases) {
      const ran = await run(code);
      assert.equal(ran.status, 'failed', code);
      assert.ok(ran.error!.split('\n')[1]!.endsWith(`${at})`) || ran.error!.split('\n')[1]!.endsWith(at), `${code}: ${ran.error}`);
      const plain = await run(code.replaceAll('await ', '      '));
      assert.equal(plain.error!.split('\n')[1], ran.error!.split('\n')[1], 'the same code without await fails at the same place');
    }
  });

  test('an error before the first await reads as the same code run as a script: the wrapper frame is left out', async () => {
    const cases = [
      "null.x; await 1",
      "function g() { throw new Error('in g') }\ng()\nawait 1",
      "(function () { throw new Error('iife') })(); await 1",
      "var t = 1\r\nnull.y\u2028await t",
    ];
    for (const code of cases) {
      const ran = await run(code);
      const plain = await run(code.replaceAll('await ', '      '));
      assert.equal(plain.status, 'failed', code);
      assert.notEqual(ran.error, plain.error, 'the engine outcome keeps the wrapper frame (a replay reproduces it)');
      assert.equal(withoutWrapperFrame(ran.error, code), plain.error, code);
    }
    // Thrown after an await there is no wrapper frame; an outermost frame of the agent's own stays.
    const late = await run("await 0; throw new Error('late')");
    assert.equal(withoutWrapperFrame(late.error, "await 0; throw new Error('late')"), late.error);
    assert.equal(withoutWrapperFrame('Error: x\n    at main.js:2:3', 'null\nawait 1'), 'Error: x\n    at main.js:2:3');
  });

  test('the code as written comes back from every wrapped source', () => {
    const codes = [
      'var x = 1;\nawait x;\nx + 1', '#!/usr/bin/env node\nvar a = await 1, b\nfunction g() {}\na', 'await 0\nvar s = "*/ \u2028 é"; s /* end */;',
      'var p = 1 // c\nPromise.reject(p)', 'f()', 'async function f() { throw { x: 1 } }\nf()', "const t = 'ü'; Promise.resolve(t)\n",
    ];
    for (const code of codes) {
      const wrapped = wrapIfEndsWithExpression(code) ?? wrapTopLevelAwait(code);
      assert.notEqual(wrapped, code);
      assert.equal(withoutAwaitWrapper(wrapped), code, code);
    }
    assert.equal(withoutAwaitWrapper('1 + 1'), '1 + 1', 'other sources as they are');
  });

  test('a promise the code ends with, rejected with what is not an Error, reports the value; an Error keeps its stack', async () => {
    const cases: Array<[code: string, error: string]> = [
      ['Promise.reject({a:1})', 'Uncaught { a: 1 }'],
      ['(async () => { await 0; throw {code: 42} })()', 'Uncaught { code: 42 }'],
      ['Promise.reject(42)', 'Uncaught 42'],
      ["Promise.reject('x')", "Uncaught 'x'"],
      ['async function main() {\n  throw { reason: "no" }\n}\nmain()', "Uncaught { reason: 'no' }"],
      ["'use strict'; Promise.reject({a:1})", 'Uncaught { a: 1 }'],
      ["'use strict'\nconst p = Promise.resolve(1)\nundeclared = 1", 'ReferenceError: undeclared is not defined\n    at main.js:3:12\n    at main.js:4:221'],
    ];
    for (const [code, error] of cases) {
      const ran = await run(code);
      assert.equal(ran.status, 'failed', code);
      assert.equal(ran.error, error, code);
    }
    // Strict code stays strict in the wrapper; sloppy code stays sloppy.
    assert.equal(await result("'use strict'; Promise.resolve(); (function () { return typeof this })()"), 'undefined');
    assert.equal(await result('Promise.resolve(); (function () { return typeof this })()'), 'object');
    // An Error: its own line and column, plus the wrapper's outermost frame, which the reply leaves out.
    for (const [code, at] of [["Promise.reject(new Error('boom'))", '1:16'], ["const p = 1 // c\nPromise.reject(new Error('boom'))", '2:16'], ['Promise.resolve(1)\n  .then((v) => v.x.y)', '2:20']] as const) {
      const ran = await run(code);
      const lines = String(withoutWrapperFrame(ran.error, code)).split('\n');
      assert.equal(lines[1], `    at main.js:${at}`, code);
      assert.equal(lines.length, 2, `${code}: ${ran.error}`);
    }
  });

  test('a rejection or a throw of a value that is not an Error reports the value', async () => {
    const rejected = await run('await null; throw { code: 42 }');
    assert.equal(rejected.status, 'failed');
    assert.equal(rejected.error, 'Uncaught { code: 42 }');
    const thrown = await run('throw { code: 42 }');
    assert.equal(thrown.error, 'Uncaught { code: 42 }');
    const strict = await run("'use strict'; throw { code: 42 }");
    assert.equal(strict.error, 'Uncaught { code: 42 }');
    const inside = await run('function go() { Promise.reject({ code: 42 }) }\ngo()\n1');
    assert.match(String(inside.error), /^Uncaught: the code threw, or a promise it ended with rejected with, an object that is not an Error, which cannot be shown here/, 'a promise dropped inside a function is not marked: the generic text is left');
  });
});
