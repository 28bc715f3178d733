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
// - Not wrapped, and as before: code with no `throw` in it (nothing it runs can throw a value that
//   is not an Error: builtins throw Errors); code with a 'use strict' directive (in a block it would
//   be no directive, and strict functions in a block are not global); code starting with a
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

/** The code inside the try statement, or as it is when it cannot be (see above). */
export function catchThrown(code: string): string {
  if (!mayThrow.test(code) || code.startsWith('#!') || strictDirective.test(code) || seemsToEndWithFunction(code)) return code;
  return `${thrownWrapperMarker} try {\n${code}${thrownSuffix}`;
}

/** The agent's code of a source `catchThrown` made (describe_heap shows the code as written). */
export function withoutThrownWrapper(source: string): string {
  const prefix = `${thrownWrapperMarker} try {\n`;
  return source.startsWith(prefix) && source.endsWith(thrownSuffix) ? source.slice(prefix.length, source.length - thrownSuffix.length) : source;
}
