// A value that is not an Error, thrown at the top level of a script, reaches the host through
// isolated-vm only as its generic "not an instance of `Error`" text: the value is lost. So code
// that runs as a plain script runs inside a try statement whose catch hands such a value on as the
// script's completion value, marked, for the sandbox to describe (prelude/control.js, `settle`):
//
//   /* mcp-v8: thrown values */ try {
//   <the agent's code, on its own lines>
//   } catch (thrown) { if (<an Error, or a primitive>) throw thrown; ({ '<key>': thrown }) }
//
// - The completion value of a try statement is its block's: the run's result is unchanged.
// - Errors (anything with `message` or `stack`, which isolated-vm copies) and primitives (which it
//   copies too) are thrown on unchanged, so their texts and stacks are as before. The catch calls
//   nothing user code can replace (`typeof`, `in`, an object literal).
// - The first line is the wrapper's: the source runs with a line offset of -1 (`originOf`), so
//   stacks point where the agent wrote.
// - Code with a 'use strict' directive gets the directive in front of the try statement (inside
//   the block it would be no directive): `/* mcp-v8: thrown values */ 'use strict'; try {`. It is
//   not wrapped when it seems to declare a function at its top level (a line that starts with
//   `function` or `async function`, or has one after a `;` or `}`): in strict mode a function
//   declared in a block is the block's, not a global.
// - Not wrapped, and as before: code with no `throw` in it (nothing it runs can throw a value that
//   is not an Error: builtins throw Errors); code starting with a
//   hashbang; and code that seems to end with a function declaration: in a block, V8 makes a
//   sloppy-mode function declaration the completion value (`try { 1; function f() {} }` is f, the
//   script `1; function f() {}` is 1), so the result would change. "Seems": the last line that
//   starts at column 0 with a statement (not `}`, `)`, `]`, a comment or indentation) starts with
//   `function` or `async function`, or has one after a `;` or `}`. Code formatted otherwise
//   (a function declaration last, indented) gets the function as its result.
// - In a block, top-level `let`/`const`/`class` are the block's: a stateless run cannot observe
//   that, and stateful runs make them `var` globals first (globalizeDeclarations). A sloppy-mode
//   function declaration still becomes a global (Annex B), once the statement is reached.
// - Code that does not compile does not compile wrapped either: the run reports V8's error for
//   the code as written (run.ts compiles it alone then; no code ran).
// Forging the mark (code ending with such an object) fails the agent's own run, nothing else.

/** The wrapper's first line starts with this; `originOf` runs such a source one line up. */
export const thrownWrapperMarker = '/* mcp-v8: thrown values */';
/** The completion value's key that marks a thrown value (prelude/control.js has the same). */
export const thrownKey = 'mcp-v8: thrown at the top level';

/** The catch's test of what is thrown on unchanged (an Error, or a primitive); the await wrapper's plain form has it too. */
export const thrownOnUnchanged = "(typeof thrown !== 'object' && typeof thrown !== 'function') || thrown === null || 'message' in thrown || 'stack' in thrown";
const thrownSuffix = `\n} catch (thrown) { if (${thrownOnUnchanged}) throw thrown; ({ ${JSON.stringify(thrownKey)}: thrown }) }`;
const strictDirective = /^(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*(['"])use strict\1/;

const mayThrow = /\bthrow\b/;
const statementLine = /^[^\s})\]/*]/;
const functionFirst = /^(async\s+)?function\b/;
const functionAfter = /[;}]\s*(async\s+)?function\s*\*?\s*[\w$]/;

/** Whether the last statement looks like a function declaration (see above). */
export function seemsToEndWithFunction(code: string): boolean {
  let end = code.length;
  while (end > 0) {
    const start = code.lastIndexOf('\n', end - 1) + 1;
    const line = code.slice(start, end);
    end = start - 1;
    if (!statementLine.test(line)) continue;
    return functionFirst.test(line) || functionAfter.test(line);
  }
  return false;
}

/** A line of strict code that seems to declare a function (see above). */
const strictFunction = /(?:^|[;}])[ \t]*(?:async\s+)?function\b/m;
const sloppyPrefix = `${thrownWrapperMarker} try {\n`;
const strictPrefix = `${thrownWrapperMarker} 'use strict'; try {\n`;

/** The code inside the try statement, or as it is when it cannot be (see above). */
export function catchThrown(code: string): string {
  if (!mayThrow.test(code) || code.startsWith('#!') || seemsToEndWithFunction(code)) return code;
  if (!strictDirective.test(code)) return `${sloppyPrefix}${code}${thrownSuffix}`;
  return strictFunction.test(code) ? code : `${strictPrefix}${code}${thrownSuffix}`;
}

/** The agent's code of a source `catchThrown` made (describe_heap shows the code as written). */
export function withoutThrownWrapper(source: string): string {
  if (!source.endsWith(thrownSuffix)) return source;
  const prefix = source.startsWith(sloppyPrefix) ? sloppyPrefix : source.startsWith(strictPrefix) ? strictPrefix : null;
  return prefix === null ? source : source.slice(prefix.length, source.length - thrownSuffix.length);
}
