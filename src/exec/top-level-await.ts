// Code with top-level await cannot run as a classic script, and a module has no completion value.
// So such code runs as the body of an async arrow function (docs/exec.md, "Top-level await"):
//   - the last statement, when it is an expression, becomes `return (expression);`, so the run's
//     result is still the completion value of the code;
//   - top-level `var` declarations become assignments to globals declared in front of the wrapper,
//     and top-level function declarations are copied to globalThis when the body starts, so both
//     still become globals, as they would in a script;
//   - `let`, `const` and `class` stay local to the wrapper (in a script they would be global
//     lexical bindings, which nothing in a stateless run can observe).
// The wrapper's prefix is a line of its own, run with a line offset of -1 (`originOf`), and the
// rewrites keep the agent's code on its lines and columns, so stack traces point where the agent
// wrote, with two exceptions within a line: the last expression moves right by the `return (`
// put in front of it (an error at its start is still placed right: V8 gives the statement's
// position), and code after a top-level `var` statement on its line moves right by one (the `)`
// that closes it).
import { thrownKey, thrownOnUnchanged, thrownWrapperMarker } from './catch-thrown.ts';
import { SwcFault, swcParser } from './swc.ts';
import { SourceError, swcMessage } from './typescript.ts';

interface Span { start: number; end: number }
interface Pattern { type: string; value?: string; span?: Span; properties?: Pattern[]; elements?: Array<Pattern | null>; key?: Pattern; argument?: Pattern; left?: Pattern }
interface Statement {
  type: string;
  span: Span;
  kind?: string;
  declarations?: Array<{ id: Pattern; init: unknown; span: Span }>;
  identifier?: { value: string };
  expression?: { span: Span };
}
interface Edit { start: number; end: number; text: string }

/** The names a binding pattern declares: `{a, b: [c, ...d], e = 1}` declares a, c, d, e. */
export function boundNames(pattern: Pattern | null | undefined, names: string[] = []): string[] {
  if (pattern === null || pattern === undefined) return names;
  switch (pattern.type) {
    case 'Identifier': names.push(pattern.value!); break;
    case 'ObjectPattern': for (const property of pattern.properties ?? []) boundNames(property, names); break;
    case 'ArrayPattern': for (const element of pattern.elements ?? []) boundNames(element, names); break;
    case 'AssignmentPatternProperty': boundNames(pattern.key, names); break;
    case 'KeyValuePatternProperty': boundNames((pattern as { value?: unknown }).value as Pattern, names); break;
    case 'RestElement': boundNames(pattern.argument, names); break;
    case 'AssignmentPattern': boundNames(pattern.left, names); break;
    default: throw new SourceError(`SyntaxError: unsupported binding pattern ${pattern.type}`);
  }
  return names;
}

/**
 * A hashbang line (`#!…`) is allowed at the very start of a script only: inside the wrapper, and
 * behind the empty statement `parseStatements` puts first, it becomes a comment of the same width.
 */
function withoutHashbang(code: string): string {
  return code.startsWith('#!') ? `//${code.slice(2)}` : code;
}

function parseStatements(code: string): { body: Statement[]; base: number } {
  const source = withoutHashbang(code);
  // A leading empty statement pins the byte offset of the source in swc's global span space.
  let program: { body: Statement[] };
  try {
    program = swcParser.call(source.length + 1, (swc) => swc.parseSync(';' + source, { syntax: 'ecmascript', target: 'es2022' })) as unknown as { body: Statement[] };
  } catch (error) {
    if (error instanceof SwcFault) throw new SourceError(`SyntaxError: the top-level await rewrite could not parse this code (swc failed: ${error.message}; code nested thousands deep does this); nest less, or run it without top-level await`);
    // The code's own syntax error, which V8 did not reach: it stopped at the top-level await.
    throw new SourceError(`SyntaxError: ${swcMessage(error)}`);
  }
  const base = program.body[0]!.span.start;
  const body = program.body.slice(1);
  if (body.some((statement) => statement.type.startsWith('Import') || statement.type.startsWith('Export'))) {
    // Import statements were made script code before (module-rewrite.ts); what is left is an export.
    throw new SourceError('SyntaxError: export statements are not supported in the code of a run (it runs as a script; its last expression is the result); leave out export');
  }
  return { body, base: base + 1 };
}

/** The edits that turn the top level into an async function body; names to declare as globals. */
function planEdits(body: Statement[], at: (position: number) => number, code: Buffer | null = null): { edits: Edit[]; varNames: string[]; functionNames: string[]; returnFirst: boolean } {
  const edits: Edit[] = [];
  const varNames: string[] = [];
  const functionNames: string[] = [];
  for (const statement of body) {
    if (statement.type === 'VariableDeclaration' && statement.kind === 'var') {
      const declarations = statement.declarations ?? [];
      for (const declaration of declarations) boundNames(declaration.id, varNames);
      const last = declarations[declarations.length - 1]!;
      // `var a = 1, {b} = o;` → `;(  a = 1, {b} = o);` (the `;` guards against a missing one
      // before; three characters for `var`'s three, so nothing after them moves).
      edits.push({ start: at(statement.span.start), end: at(statement.span.start) + 3, text: ';( ' });
      edits.push({ start: at(last.span.end), end: at(last.span.end), text: ')' });
    } else if (statement.type === 'FunctionDeclaration' && statement.identifier !== undefined) {
      functionNames.push(statement.identifier.value);
    }
  }
  const last = body[body.length - 1];
  if (code !== null && last?.type === 'ExpressionStatement' && last.expression !== undefined) {
    // Code without top-level await: `return void 0, (` ends the line before the expression's (the
    // previous statement's, or the wrapper's own line when it is the first), so V8 reports every
    // error in it on its own line and, but for a ReferenceError inside a member chain, column.
    const previous = body[body.length - 2];
    const between = previous === undefined ? null : code.subarray(at(previous.span.end), at(last.span.start)).toString('utf8');
    if (between === null || /[\n\r\u2028\u2029]/.test(between)) {
      if (previous !== undefined) edits.push({ start: at(previous.span.end), end: at(previous.span.end), text: ';return void 0, (' });
      edits.push({ start: at(last.expression.span.end), end: at(last.span.end), text: ');' });
      return { edits, varNames, functionNames, returnFirst: previous === undefined };
    }
  }
  if (last?.type === 'ExpressionStatement' && last.expression !== undefined) {
    // `return (` goes where the expression starts, not at the end of an earlier line (which would
    // keep the expression's own columns): V8 places some errors at the start of their statement
    // (a ReferenceError of the first name, a failed import()), and that must be the agent's line.
    edits.push({ start: at(last.span.start), end: at(last.expression.span.start), text: 'return (' });
    edits.push({ start: at(last.expression.span.end), end: at(last.span.end), text: ');' });
  }
  return { edits, varNames, functionNames, returnFirst: false };
}

/** Promise-making calls of `Promise` whose promise is a new one (`discardedEdits`). */
const freshStatics = new Set(['reject', 'resolve', 'all', 'allSettled', 'any', 'race', 'try']);
const freshMethods = new Set(['then', 'catch', 'finally']);
type Node = { type?: string; expression?: Node; callee?: Node; object?: Node; property?: Node; value?: unknown; async?: boolean; init?: Node; id?: Node; span?: Span };

function unparenthesized(node: Node | undefined): Node | undefined {
  while (node?.type === 'ParenthesisExpression') node = node.expression;
  return node;
}

function isAsyncFunction(node: Node | undefined): boolean {
  const inner = unparenthesized(node);
  return (inner?.type === 'ArrowFunctionExpression' || inner?.type === 'FunctionExpression') && inner.async === true;
}

/** The names of the top level's async functions: `async function f`, `const f = async () => …`. */
function asyncNames(body: Statement[]): Set<string> {
  const names = new Set<string>();
  for (const statement of body) {
    if (statement.type === 'FunctionDeclaration' && (statement as Node).async === true && statement.identifier !== undefined) names.add(statement.identifier.value);
    for (const declaration of statement.type === 'VariableDeclaration' ? statement.declarations ?? [] : []) {
      const id = declaration.id as Node;
      if (id.type === 'Identifier' && isAsyncFunction(declaration.init as Node)) names.add(String(id.value));
    }
  }
  return names;
}

/**
 * Whether an expression makes a promise that nothing else holds: `new Promise(…)`, `Promise.reject(…)`
 * and its kin, `p.then(…)`/`.catch`/`.finally`, the call of an async function written in place or
 * declared at the top level. (A call of any other function may return a promise kept elsewhere,
 * which Node does not report when that holder handles it.)
 */
function makesFreshPromise(expression: Node | undefined, names: Set<string>): boolean {
  const node = unparenthesized(expression);
  if (node?.type === 'NewExpression') return unparenthesized(node.callee)?.type === 'Identifier' && unparenthesized(node.callee)?.value === 'Promise';
  if (node?.type !== 'CallExpression') return false;
  const callee = unparenthesized(node.callee);
  if (callee?.type === 'Identifier') return names.has(String(callee.value));
  if (callee?.type !== 'MemberExpression' || callee.property?.type !== 'Identifier') return isAsyncFunction(callee);
  const method = String(callee.property.value);
  const object = unparenthesized(callee.object);
  return freshMethods.has(method) || (object?.type === 'Identifier' && object.value === 'Promise' && freshStatics.has(method));
}

/**
 * Marks the top-level statements, but the last, that drop a fresh promise (`makesFreshPromise`):
 * `Promise.reject(v);` becomes `__mcpv8_handled(Promise.reject(v),1);` (prelude/control.js,
 * `discarded`), so that a rejection with a value that is not an Error shows the value. The call
 * opens at the end of the line before when the statement starts a line, so lines and columns stay
 * as written; `first` when that line is the wrapper's.
 */
function discardedEdits(body: Statement[], at: (position: number) => number, code: Buffer): { edits: Edit[]; first: boolean } {
  const edits: Edit[] = [];
  let first = false;
  const names = asyncNames(body);
  for (let index = 0; index < body.length - 1; index++) {
    const statement = body[index]!;
    if (statement.type !== 'ExpressionStatement' || !makesFreshPromise(statement.expression as Node, names)) continue;
    const previous = body[index - 1];
    const between = previous === undefined ? null : code.subarray(at(previous.span.end), at(statement.span.start)).toString('utf8');
    if (previous === undefined) first = true;
    else if (between !== null && /[\n\r\u2028\u2029]/.test(between)) edits.push({ start: at(previous.span.end), end: at(previous.span.end), text: ';__mcpv8_handled(' });
    else edits.push({ start: at(statement.span.start), end: at(statement.span.start), text: '__mcpv8_handled(' });
    edits.push({ start: at(statement.expression!.span.end), end: at(statement.expression!.span.end), text: ',1)' });
  }
  return { edits, first };
}

/** Edits in source order; at one position, what closes (`)`, `,1)`) before what opens. */
function byPosition(left: Edit, right: Edit): number {
  const closes = (edit: Edit) => (/^[),]/.test(edit.text) ? 0 : 1);
  return left.start - right.start || left.end - right.end || closes(left) - closes(right);
}

function applyEdits(source: Buffer, edits: Edit[]): string {
  const sorted = [...edits].sort(byPosition);
  const parts: string[] = [];
  let position = 0;
  for (const edit of sorted) {
    if (edit.start < position) throw new SourceError('SyntaxError: overlapping rewrite of the top level');
    parts.push(source.subarray(position, edit.start).toString('utf8'), edit.text);
    position = edit.end;
  }
  parts.push(source.subarray(position).toString('utf8'));
  return parts.join('');
}

/** The start of the wrapper's own line; `originOf` runs a source that starts with it one line up. */
export const wrapperLineMarker = '/* mcp-v8: top-level await */';

/**
 * How a source is compiled: with a line offset of -1 when its first line is the wrapper's, so the
 * agent's first line is line 1. Replays compile the recorded source the same way (a source
 * recorded before the wrapper had its own line has no marker, and runs as it did).
 */
export function originOf(source: string, filename: string): { filename: string; lineOffset: number } {
  return { filename, lineOffset: source.startsWith(wrapperLineMarker) || source.startsWith(thrownWrapperMarker) ? -1 : 0 };
}

export function wrapTopLevelAwait(code: string): string {
  return wrapStatements(code, parseStatements(code), false);
}

/**
 * The same rewrite for code without top-level await whose last statement is an expression, which
 * may be a promise (`routesThroughWrapper`); null for code that ends otherwise. As a script, a
 * completion value that is a promise rejected with an object that is not an Error reaches the host
 * only as isolated-vm's generic text: the wrapper's handler keeps the value for the settle. The
 * function is a plain one (no await needs it): it returns the completion value itself, whose
 * `then` nothing looks up (an async function's return would), and its catch hands a thrown value
 * that is not an Error on as catch-thrown.ts does.
 */
export function wrapIfEndsWithExpression(code: string): string | null {
  const parsed = parseStatements(code);
  return parsed.body[parsed.body.length - 1]?.type === 'ExpressionStatement' ? wrapStatements(code, parsed, true) : null;
}

function wrapStatements(code: string, { body, base }: { body: Statement[]; base: number }, plain: boolean): string {
  const source = Buffer.from(withoutHashbang(code), 'utf8');
  const at = (position: number) => position - base;
  const planned = planEdits(body, at, plain ? source : null);
  const { varNames, functionNames, returnFirst } = planned;
  const discarded = discardedEdits(body, at, source);
  const edits = [...discarded.edits, ...planned.edits];
  const declared = varNames.length === 0 ? '' : `var ${[...new Set(varNames)].join(', ')}; `;
  const exported = functionNames.map((name) => `globalThis[${JSON.stringify(name)}] = ${name}; `).join('');
  // The promise gets a handler at once: isolated-vm turns a rejection nobody handles by the end of
  // the call into its own generic error, losing a rejected value that is not an Error (the run's
  // settle reads it). The handler is the prelude's (control.js), which no run can replace.
  // Code in strict mode gets a strict function: its directive, inside the try block, is none.
  const opening = !plain ? 'async () => {' : strictDirective.test(code) ? "() => { 'use strict'; try {" : '() => { try {';
  const prefix = `${wrapperLineMarker} ${declared}__mcpv8_handled((${opening} ${exported}${returnFirst ? 'return void 0, (' : ''}${discarded.first ? '__mcpv8_handled(' : ''}`;
  const end = plain ? `} catch (thrown) { if (${thrownOnUnchanged}) throw thrown; return { ${JSON.stringify(thrownKey)}: thrown }; } })())` : '})())';
  return `${prefix}${undoComment(code, source, edits)}\n${applyEdits(source, edits)}\n${end}`;
}

const undoMarker = '/* mcp-v8 undo: ';

/**
 * How to get the agent's code back from the wrapped source (describe_heap shows the code as
 * written): each edit as [byte offset in the wrapped code, bytes inserted, the text it replaced],
 * a comment at the end of the wrapper's line. Escaped so that it ends no comment and no line.
 */
function undoComment(code: string, source: Buffer, edits: Edit[]): string {
  const undo: Array<[number, number, string]> = code.startsWith('#!') ? [[0, 2, '#!']] : [];
  let shift = 0;
  for (const edit of [...edits].sort(byPosition)) {
    const inserted = Buffer.byteLength(edit.text);
    undo.push([edit.start + shift, inserted, source.subarray(edit.start, edit.end).toString('utf8')]);
    shift += inserted - (edit.end - edit.start);
  }
  const json = JSON.stringify(undo).replaceAll('*/', '*\\/').replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029');
  return ` ${undoMarker}${json} */`;
}

/** The agent's code of a source `wrapTopLevelAwait` or `wrapIfEndsWithExpression` made; any other source as it is. */
export function withoutAwaitWrapper(source: string): string {
  const lineEnd = source.indexOf('\n');
  const undoAt = source.lastIndexOf(undoMarker, lineEnd);
  const lastLine = source.lastIndexOf('\n');
  if (!source.startsWith(wrapperLineMarker) || undoAt === -1 || lastLine === lineEnd || !source.endsWith('})())')) return source;
  let undo: Array<[number, number, string]>;
  try {
    undo = JSON.parse(source.slice(undoAt + undoMarker.length, lineEnd - ' */'.length)) as Array<[number, number, string]>;
  } catch {
    return source;
  }
  let code = Buffer.from(source.slice(lineEnd + 1, lastLine), 'utf8');
  for (let index = undo.length - 1; index >= 0; index--) {
    const [at, inserted, replaced] = undo[index]!;
    code = Buffer.concat([code.subarray(0, at), Buffer.from(replaced, 'utf8'), code.subarray(at + inserted)]);
  }
  return code.toString('utf8');
}

/**
 * An error thrown before the first `await` has one frame more than the same code run as a script:
 * the wrapper's call of its async function, on the line after the agent's code (`})())`, column
 * 3), always the outermost. The record the agent reads leaves it out (the engine's outcome, which
 * a stateful heap records and its replay reproduces, keeps it). Lines are counted as V8 counts
 * them; stripping types keeps them.
 */
export function withoutWrapperFrame(error: string | null, code: string): string | null {
  if (error === null || !(mayAwait.test(code) || mayMakePromise.test(code) || strictThrows(code))) return error;
  const wrapperLine = code.split(/\r\n|[\n\r\u2028\u2029]/).length + 1;
  // Column 3 for the async form's `})())`; the plain form calls its function after its catch.
  const frame = new RegExp(`\\n {4}at main\\.js:${wrapperLine}:\\d+$`).exec(error);
  return frame === null ? error : error.slice(0, frame.index);
}

/** Code without the word `await` cannot use top-level await: it never needs the rewrite. */
export const mayAwait = /\bawait\b/;

/** The words of code that can make a promise without `await` (dynamic `import()` and `fetch` too). */
const mayMakePromise = /\b(?:Promise|async|then|fetch|import)\b/;
/** A 'use strict' directive first: inside the wrapper's try block it would be no directive. */
const strictDirective = /^(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*(['"])use strict\1/;

/**
 * Strict code with a `throw` in it: routed too, so that a value that is not an Error, thrown by
 * strict code that declares functions (which catch-thrown.ts leaves unwrapped: in a strict block
 * they would not be global), is handed on by the plain form's catch.
 */
function strictThrows(code: string): boolean {
  return strictDirective.test(code) && /\bthrow\b/.test(code);
}

/**
 * Code up to this long is routed (`routesThroughWrapper`): the parse costs about 5 times the
 * type strip (≈ 1.75 s for 1,000,000 characters, ≈ 16 ms for 9,000 on a quiet machine), paid once
 * per new code in the source worker; longer code runs as a script, as before.
 */
export const routedCodeCharsMax = 100_000;

/**
 * Code that may end with a promise (the completion value of a plain script): when it has no
 * top-level await, the source worker routes it through the wrapper if its last statement is an
 * expression (`wrapIfEndsWithExpression`; strict code gets a strict function).
 */
export function routesThroughWrapper(code: string): boolean {
  return code.length <= routedCodeCharsMax && (mayMakePromise.test(code) || strictThrows(code));
}

/** Whether the code may run in the wrapper: top-level await, or `routesThroughWrapper`. */
export function mayRewrite(code: string): boolean {
  return mayAwait.test(code) || routesThroughWrapper(code);
}

/** Only code with one of these words can declare a top-level lexical binding. */
const lexicalWord = /\b(?:let|const|class)\b/;

/** Whether globalizeDeclarations could change this code (a cheap test, no parse). */
export function mayDeclareLexically(code: string): boolean {
  return lexicalWord.test(code);
}

/**
 * Stateful mode (docs/stateful.md, "Top-level declarations"): top-level `let`, `const` and
 * `class` declarations become `var` globals, so that what a run declares is there in the next
 * run and a later run may declare the same name again, as in the Node REPL (a script-scope
 * `let` declared twice in one context is a SyntaxError). Keywords are replaced in place
 * (`const` by `var` plus two spaces), so lines and columns stay as written; `class C {}` gains a
 * `var C = ` in front. Code that does not parse is left alone for V8 to report.
 */
export function globalizeDeclarations(code: string): string {
  if (!lexicalWord.test(code)) return code;
  let parsed: { body: Statement[]; base: number };
  try {
    parsed = parseStatements(code);
  } catch {
    return code;
  }
  const at = (position: number) => position - parsed.base;
  const edits: Edit[] = [];
  for (const statement of parsed.body) {
    const start = at(statement.span.start);
    if (statement.type === 'VariableDeclaration' && (statement.kind === 'let' || statement.kind === 'const')) {
      edits.push({ start, end: start + statement.kind.length, text: statement.kind === 'let' ? 'var' : 'var  ' });
    } else if (statement.type === 'ClassDeclaration' && statement.identifier !== undefined) {
      edits.push({ start, end: start, text: `var ${statement.identifier.value} = ` });
      // A class expression statement needs its end: the next line may start with `(` or `[`.
      edits.push({ start: at(statement.span.end), end: at(statement.span.end), text: ';' });
    }
  }
  return edits.length === 0 ? code : applyEdits(Buffer.from(code, 'utf8'), edits);
}

/** Nodes whose bodies are a scope of their own: an `await` inside is not the top level's. */
const functionScopes = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'ClassDeclaration', 'ClassExpression', 'MethodProperty', 'GetterProperty', 'SetterProperty']);

/**
 * Whether the code awaits at its top level (an `await` outside every function, or `for await`).
 * V8 compiles `await (async () => 1)()` in a script as a call of a function named `await`, and
 * fails when it runs: such code needs the rewrite too. Iterative: deep nesting must not overflow.
 */
export function hasTopLevelAwait(code: string): boolean {
  let found = false;
  walkAst(parseStatements(code).body, (node) => {
    const type = node.type;
    if (type === 'AwaitExpression' || (type === 'ForOfStatement' && Boolean(node['await']))) found = true;
    return !found && !(typeof type === 'string' && functionScopes.has(type));
  });
  return found;
}

/**
 * Visits every node of an swc AST, depth first; `visit` answers whether to go into the node.
 * Iterative: code nested thousands deep must not overflow the walk.
 */
export function walkAst(roots: readonly unknown[], visit: (node: { type?: unknown; [key: string]: unknown }) => boolean): void {
  const stack: unknown[] = [...roots];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    const value = node as { type?: unknown; [key: string]: unknown };
    if (!visit(value)) continue;
    for (const key in value) if (key !== 'span') stack.push(value[key]);
  }
}
