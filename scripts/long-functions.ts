// Lists the functions in src/ longer than the style's bound (docs/DEVELOPING.md, "functions ≤ ~70
// lines"), with the TypeScript compiler's parser: `node scripts/long-functions.ts` prints them,
// test/long-functions.test.ts fails on any. A function's own lines count: those of functions
// nested in it count for them, not for it, and a script's top-level IIFE (the sandbox files'
// module scope) is no function of its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

/** The bound: lines from a function's first to its last, less those of the functions nested in it. */
export const functionLinesMax = 70;
/** Left out while their owners rework them (tsconfig.sandbox.json says why for wasm.js). */
export const exempt: string[] = [];

const root = resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

export interface LongFunction { file: string; line: number; name: string; lines: number }

type FunctionNode = ts.FunctionLikeDeclaration;

const lineOf = (source: ts.SourceFile, position: number): number => source.getLineAndCharacterOfPosition(position).line;

/** A function expression called at the top level of a script: `(function () { … })();`. */
function isTopLevelIife(node: ts.Node): boolean {
  let call: ts.Node = node.parent;
  while (ts.isParenthesizedExpression(call)) call = call.parent;
  return ts.isCallExpression(call) && ts.isExpressionStatement(call.parent) && ts.isSourceFile(call.parent.parent);
}

/**
 * A function that is a script's module scope run later (src/exec/sandbox/lazy.js: a group of
 * globals built on first use): declared at the top level of a top-level IIFE, with the JSDoc tag
 * `@moduleScope`. It counts as that IIFE does, as no function.
 */
function isDeferredModuleScope(node: ts.Node): boolean {
  if (!ts.isFunctionDeclaration(node) || !ts.isBlock(node.parent)) return false;
  const outer = node.parent.parent;
  return ts.isFunctionLike(outer) && isTopLevelIife(outer) && ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'moduleScope');
}

function nameOf(node: FunctionNode, source: ts.SourceFile): string {
  if (node.name !== undefined) return node.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return `(anonymous, line ${lineOf(source, node.getStart(source)) + 1})`;
}

/** The functions of one file longer than the bound. */
export function longFunctionsOf(path: string, text: string, linesMax = functionLinesMax): LongFunction[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: LongFunction[] = [];
  /** Returns the lines `node`'s functions span, so that the function around them can leave them out. */
  const visit = (node: ts.Node): number => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const nested = childLines(node);
      if (isTopLevelIife(node) || isDeferredModuleScope(node)) return 0;
      const span = lineOf(source, node.getEnd()) - lineOf(source, node.getStart(source)) + 1;
      const own = span - nested;
      if (own > linesMax) found.push({ file: relative(root, path), line: lineOf(source, node.getStart(source)) + 1, name: nameOf(node, source), lines: own });
      return span;
    }
    return childLines(node);
  };
  const childLines = (node: ts.Node): number => {
    let lines = 0;
    node.forEachChild((child) => { lines += visit(child); });
    return lines;
  };
  childLines(source);
  return found;
}

export function longFunctions(linesMax = functionLinesMax): LongFunction[] {
  return sourceFiles(join(root, 'src'))
    .filter((path) => !exempt.includes(relative(root, path)))
    .flatMap((path) => longFunctionsOf(path, readFileSync(path, 'utf8'), linesMax));
}

if (import.meta.main) {
  const found = longFunctions();
  for (const { file, line, name, lines } of found) console.log(`${file}:${line} ${name}: ${lines} lines`);
  console.log(`${found.length} function${found.length === 1 ? '' : 's'} over ${functionLinesMax} lines`);
}
