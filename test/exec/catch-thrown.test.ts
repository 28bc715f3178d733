// Values thrown at the top level, caught for the sandbox to show (src/exec/catch-thrown.ts), and
// the code that is left as it was because wrapping it would change its result or its meaning.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { catchThrown, seemsToEndWithFunction, withoutThrownWrapper } from '../../src/exec/catch-thrown.ts';
import { engineForFile } from './harness.ts';

const { run } = await engineForFile(1);

describe('values thrown at the top level', () => {
  test('the wrapper keeps the result of code as V8 runs it as a script', () => {
    for (const code of ['1; throw2 = 3', 'let a = 1; if (a > 2) throw { a }; a + 1', 'var v = 5; function f() { throw { v } }\nv * 2', "const o = { a: 1 }\nif (!o) throw 'x'\no"]) {
      assert.equal(JSON.stringify(runInNewContext(catchThrown(code))), JSON.stringify(runInNewContext(code)), code);
    }
  });

  test('code whose last statement seems a function declaration, strict code that declares a function, and code with no throw are left as they are', () => {
    for (const code of ['1\nfunction f() { throw {} }', 'run(); async function run() {\n  throw {}\n}', '1; function f() { throw {} }', "'use strict'; function f() { throw {} }\nf()", "'use strict'\nasync function f() { throw {} }\nf()", '#!/usr/bin/env node\nthrow {}', '({ a: 1 })']) {
      assert.equal(catchThrown(code), code, code);
    }
    assert.equal(seemsToEndWithFunction('function f() {\n  return 1\n}\nf()'), false);
    assert.equal(seemsToEndWithFunction('f()\nfunction f() {\n  return 1\n}\n// done\n'), true);
  });

  test('strict code runs strict, with its directive in front of the try statement, and keeps its result', async () => {
    for (const code of ["'use strict'; throw {}", '// a note\n"use strict"\nthrow {}', "'use strict'\nconst o = { a: 1 }\nif (!o) throw 'x'\no.a"]) {
      const wrapped = catchThrown(code);
      assert.notEqual(wrapped, code, code);
      assert.equal(withoutThrownWrapper(wrapped), code, code);
    }
    const strict = await run("'use strict'\nconst seen = (function () { return this })()\nif (seen !== undefined) throw { seen }\nif (seen === undefined) undeclared = 1");
    assert.match(String(strict.error), /^ReferenceError: undeclared is not defined\n {4}at main\.js:4:\d+$/, 'strict mode: an undeclared assignment fails, on the agent\'s line');
    const thrown = await run("'use strict'; throw { a: 1 }");
    assert.equal(thrown.error, 'Uncaught { a: 1 }');
  });

  test('describe_heap shows the code as written', () => {
    const code = 'throw { code: 42 }';
    assert.notEqual(catchThrown(code), code);
    assert.equal(withoutThrownWrapper(catchThrown(code)), code);
  });

  test('errors keep their stacks, lines stay where the agent wrote them, syntax errors are V8\'s for the code as written', async () => {
    const thrown = await run("const x = 1;\nif (x) throw new TypeError('bad ' + x)");
    assert.equal(thrown.error, 'TypeError: bad 1\n    at main.js:2:14');
    const object = await run("const x = 1;\nif (x) throw { x, at: new Error('here').stack.split('\\n')[1].trim() }");
    assert.equal(object.error, "Uncaught { x: 1, at: 'at main.js:2:23' }");
    const syntax = await run('throw {\n');
    assert.match(String(syntax.error), /^SyntaxError: /);
    assert.doesNotMatch(String(syntax.error), /catch|mcp-v8/, 'nothing of the wrapper shows');
    const parsed = await run("throw JSON.parse('{')");
    assert.match(String(parsed.error), /^SyntaxError: .*JSON.*\n {4}at JSON\.parse \(<anonymous>\)\n {4}at main\.js:1:12$/, 'a SyntaxError the code raised is reported, not compiled again');
    // Run in one call (run.ts, `runInOneCall`), the thrown value is described in the isolate as
    // it is (the wrapper's catch, whose `in` test met the trap, is for code run as a script).
    const proxied = await run("throw new Proxy({}, { has() { throw 'trap' } })");
    assert.equal(proxied.error, 'Uncaught {}', 'the proxy the code threw, its trap not called');
  });
});
