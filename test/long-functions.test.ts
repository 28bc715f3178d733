// No function in src/ over the style's bound (docs/DEVELOPING.md): scripts/long-functions.ts
// lists them with the TypeScript compiler's parser; here the list must be empty, and the way it
// counts is checked on made-up sources.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { functionLinesMax, longFunctions, longFunctionsOf } from '../scripts/long-functions.ts';

const body = (lines: number): string => Array.from({ length: lines }, (_, index) => `  const v${index} = ${index};`).join('\n');
/** A function of exactly `lines` lines, first and last included. */
const functionOf = (name: string, lines: number): string => `function ${name}() {\n${body(lines - 2)}\n}`;

describe('function length', () => {
  test(`no function in src/ is over ${functionLinesMax} lines (node scripts/long-functions.ts lists them)`, () => {
    assert.deepEqual(longFunctions(), []);
  });

  test('a function over the bound is named with its file, line and length; one at the bound is not', () => {
    const source = `${functionOf('atBound', functionLinesMax)}\n${functionOf('over', functionLinesMax + 1)}\n`;
    assert.deepEqual(longFunctionsOf('src/x.ts', source).map(({ name, line, lines }) => ({ name, line, lines })), [
      { name: 'over', line: functionLinesMax + 1, lines: functionLinesMax + 1 },
    ]);
  });

  test('nested functions count for themselves, not for the function around them; a script\'s top-level IIFE is no function', () => {
    const outer = `const outer = () => {\n${functionOf('inner', 60)}\n${body(20)}\n};`;
    assert.deepEqual(longFunctionsOf('src/x.ts', outer), [], 'outer: 82 lines, 22 of its own');
    const iife = `(function () {\n${body(100)}\n})();`;
    assert.deepEqual(longFunctionsOf('src/x.js', iife), []);
    const deferred = `(function () {\n  /** @moduleScope */\n  function build() {\n${body(100)}\n  }\n})();`;
    assert.deepEqual(longFunctionsOf('src/x.js', deferred), [], 'a module scope built on first use (sandbox/lazy.js)');
    const untagged = `(function () {\n  function build() {\n${body(100)}\n  }\n})();`;
    assert.deepEqual(longFunctionsOf('src/x.js', untagged).map(({ name }) => name), ['build']);
    const methods = `class K {\n  method() {\n${body(80)}\n  }\n}`;
    assert.deepEqual(longFunctionsOf('src/x.ts', methods).map(({ name, lines }) => ({ name, lines })), [{ name: 'method', lines: 82 }]);
  });
});
