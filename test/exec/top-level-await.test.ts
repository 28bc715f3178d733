// Top-level await: the completion value survives the rewrite, `var` and function declarations
// still become globals, and line numbers in stacks stay where the agent wrote them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { wrapTopLevelAwait } from '../../src/exec/top-level-await.ts';
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

  test('the rewrite itself: a prefix line of its own, nothing of the code moved in its line or to another', () => {
    assert.equal(wrapTopLevelAwait('var x = 1;\nawait x;\nx + 1'),
      '/* mcp-v8: top-level await */ var x; ((run) => (run.catch(() => {}), run))((async () => { \n;(  x = 1);\nawait x;;return (\nx + 1);\n})())');
    assert.equal(wrapTopLevelAwait('(await 1) + 1'),
      '/* mcp-v8: top-level await */ ((run) => (run.catch(() => {}), run))((async () => { return (\n(await 1) + 1);\n})())', 'a first statement returns from the prefix line');
    assert.equal(wrapTopLevelAwait('f() // note\n\nawait x'),
      '/* mcp-v8: top-level await */ ((run) => (run.catch(() => {}), run))((async () => { \nf();return ( // note\n\nawait x);\n})())', 'past a comment, with the semicolon the statement lacked');
    assert.equal(wrapTopLevelAwait('await a; b'),
      '/* mcp-v8: top-level await */ ((run) => (run.catch(() => {}), run))((async () => { \nawait a; return (b);\n})())', 'the one case that moves: a last expression on the line of an earlier statement');
    assert.throws(() => wrapTopLevelAwait("import fs from 'fs'; await 1"), /import and export/);
  });

  test('errors point at the line and column the agent wrote', async () => {
    const cases: Array<[code: string, at: string]> = [
      ['(await null).x', 'main.js:1:14'],
      ['var a = await 1;\n  a.b.c', 'main.js:2:7'],
      ['await null;\n  null.x', 'main.js:2:8'],
      ["var v = await 1\nfunction f() { return null.y }\nf()", 'main.js:2:28'],
      ["await null; var w = (() => { throw new Error('in a var') })()", 'main.js:1:36'],
    ];
    for (const [code, at] of cases) {
      const ran = await run(code);
      assert.equal(ran.status, 'failed', code);
      assert.ok(ran.error!.includes(at), `${code}: ${ran.error}`);
      const plain = await run(code.replaceAll('await ', '      ').replace('(      null)', '(null      )'));
      assert.ok(plain.error!.includes(at), `the same code without await fails at the same place: ${plain.error}`);
    }
  });

  test('a rejection with a value that is not an Error reports the value; a thrown object says what happened', async () => {
    const rejected = await run('await null; throw { code: 42 }');
    assert.equal(rejected.status, 'failed');
    assert.equal(rejected.error, '{ code: 42 }');
    const thrown = await run('throw { code: 42 }');
    assert.equal(thrown.error, 'Uncaught: the code threw an object that is not an Error (throw new Error(...) to get its message and stack)');
  });
});
