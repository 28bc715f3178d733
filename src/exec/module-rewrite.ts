// Module syntax made runnable here (docs/modules.md). isolated-vm compiles ES modules but has no
// hook for dynamic import(), and a run's own code is a classic script (its last expression is
// the result). So, with swc's parser (never regexes):
//   - in a run's code, `import … from "s"` becomes `var {…} = __mcpv8_imported("s", "")` in
//     place (padded with the newlines it spanned, so later lines keep their numbers), and
//     `import(x)` becomes `__mcpv8_importer("")(x)`;
//   - in a fetched module, static imports stay (isolated-vm links them) and `import(x)` becomes
//     `__mcpv8_importer("<the module's URL>")(x)`.
// Both globals are defined by module-link.ts; they answer from what the host loaded before the
// code ran: static imports and literal import("…") specifiers, found here.
import { SwcFault, swcParser } from './swc.ts';
import { walkAst } from './top-level-await.ts';
import { SourceError, swcMessage } from './typescript.ts';

/** Only code with this word can import anything. */
export const mayImport = /\bimport\b/;

/** What a run's code imports: `dynamic` for a literal import("…"), whose failure is the call's. */
export interface ImportRequest { specifier: string; dynamic: boolean }

interface Span { start: number; end: number }
interface Node { type?: string; span?: Span; [key: string]: unknown }
interface Edit { start: number; end: number; text: string }

export const importedGlobal = '__mcpv8_imported';
export const importerGlobal = '__mcpv8_importer';

function parse(code: string, what: string): { body: Node[]; at: (position: number) => number } {
  let program: { body: Node[] };
  try {
    program = swcParser.call(code.length + 1, (swc) => swc.parseSync(';' + code, { syntax: 'ecmascript', target: 'es2022', isModule: true } as never)) as unknown as { body: Node[] };
  } catch (error) {
    if (error instanceof SwcFault) throw new SourceError(`SyntaxError: ${what} could not be parsed (swc failed: ${error.message})`);
    throw new SourceError(what === 'the code' ? `SyntaxError: ${swcMessage(error)}` : `SyntaxError in ${what}: ${swcMessage(error).replace(/ \[main\.js:/, ' [line ')}`);
  }
  const base = program.body[0]!.span!.start + 1;
  return { body: program.body.slice(1), at: (position) => position - base };
}

function stringOf(node: unknown): string | null {
  const value = node as Node | null | undefined;
  if (value?.type === 'StringLiteral' && typeof value['value'] === 'string') return value['value'];
  if (value?.type === 'TemplateLiteral' && Array.isArray(value['expressions']) && value['expressions'].length === 0) {
    const quasis = value['quasis'] as Array<{ cooked?: string; raw?: string }>;
    const text = quasis[0]?.cooked ?? quasis[0]?.raw;
    return typeof text === 'string' ? text : null;
  }
  return null;
}

/**
 * Every `import(…)` call: its callee's span and its literal specifier, if any; `import.meta`s go
 * to `metas`.
 */
function dynamicImports(body: Node[], metas: Span[] = []): Array<{ callee: Span; specifier: string | null }> {
  const found: Array<{ callee: Span; specifier: string | null }> = [];
  walkAst(body, (value) => {
    const callee = value['callee'] as Node | undefined;
    if (value.type === 'CallExpression' && callee?.type === 'Import') {
      const args = value['arguments'] as Array<{ expression: unknown }>;
      found.push({ callee: callee.span!, specifier: stringOf(args[0]?.expression) });
    }
    if (value.type === 'MetaProperty' && value['kind'] === 'import.meta') metas.push((value as Node).span!);
    return true;
  });
  return found;
}

function applyEdits(source: Buffer, edits: Edit[]): string {
  const sorted = [...edits].sort((left, right) => left.start - right.start);
  const parts: string[] = [];
  let position = 0;
  for (const edit of sorted) {
    parts.push(source.subarray(position, edit.start).toString('utf8'), edit.text);
    position = edit.end;
  }
  parts.push(source.subarray(position).toString('utf8'));
  return parts.join('');
}

/** The `var` that takes an import declaration's bindings from the loaded namespace. */
function bindingsOf(declaration: Node, namespace: string): string {
  const specifiers = (declaration['specifiers'] as Node[] | undefined) ?? [];
  if (specifiers.length === 0) return `${namespace};`;
  const star = specifiers.find((specifier) => specifier.type === 'ImportNamespaceSpecifier');
  const named: string[] = [];
  for (const specifier of specifiers) {
    const local = (specifier['local'] as { value: string }).value;
    if (specifier.type === 'ImportDefaultSpecifier') named.push(`default: ${local}`);
    else if (specifier.type === 'ImportSpecifier') {
      const imported = specifier['imported'] as Node | null;
      const name = imported === null || imported === undefined ? local : (imported['value'] as string);
      named.push(`${JSON.stringify(name)}: ${local}`);
    }
  }
  const starName = star === undefined ? null : (star['local'] as { value: string }).value;
  if (starName !== null && named.length === 0) return `var ${starName} = ${namespace};`;
  if (starName !== null) return `var ${starName} = ${namespace}, {${named.join(', ')}} = ${starName};`;
  return `var {${named.join(', ')}} = ${namespace};`;
}

/**
 * A run's code with its imports made script code, and what it imports. Code that does not parse
 * is left for V8 to report (the result has no imports).
 */
export function rewriteMainImports(code: string): { code: string; imports: ImportRequest[] } {
  if (!mayImport.test(code)) return { code, imports: [] };
  let parsed: { body: Node[]; at: (position: number) => number };
  try {
    parsed = parse(code, 'the code');
  } catch {
    return { code, imports: [] };
  }
  const { body, at } = parsed;
  const source = Buffer.from(code, 'utf8');
  const edits: Edit[] = [];
  const imports: ImportRequest[] = [];
  for (const statement of body) {
    if (statement.type?.startsWith('Export') === true) {
      throw new SourceError('SyntaxError: export statements are not supported in the code of a run (it runs as a script; its last expression is the result); leave out export');
    }
    if (statement.type !== 'ImportDeclaration') continue;
    if (statement['typeOnly'] === true) continue;
    if (statement['with'] !== null && statement['with'] !== undefined) {
      throw new SourceError('SyntaxError: import attributes (with { type: … }) are not supported here');
    }
    const specifier = stringOf(statement['source'])!;
    imports.push({ specifier, dynamic: false });
    const start = at(statement.span!.start);
    const end = at(statement.span!.end);
    const newlines = source.subarray(start, end).toString('utf8').split('\n').length - 1;
    edits.push({ start, end, text: bindingsOf(statement, `${importedGlobal}(${JSON.stringify(specifier)}, "")`) + '\n'.repeat(newlines) });
  }
  for (const call of dynamicImports(body)) {
    edits.push({ start: at(call.callee.start), end: at(call.callee.end), text: `${importerGlobal}("")` });
    if (call.specifier !== null) imports.push({ specifier: call.specifier, dynamic: true });
  }
  return { code: edits.length === 0 ? code : applyEdits(source, edits), imports };
}

/** A fetched module's source, ready to compile: its import() calls rewritten, its specifiers. */
export interface AnalysedModule {
  code: string;
  /** Specifiers of `import … from`, `export … from`, `import "…"`: linked by isolated-vm. */
  staticSpecifiers: string[];
  /** Literal `import("…")` specifiers: loaded ahead, failing only when called. */
  dynamicSpecifiers: string[];
}

/** Analyses a fetched module (SourceError naming `url` when it does not parse). */
export function analyseModule(source: string, url: string): AnalysedModule {
  const { body, at } = parse(source, `module ${url}`);
  const staticSpecifiers: string[] = [];
  for (const statement of body) {
    const from = statement['source'];
    if (from === null || from === undefined) continue;
    if (statement.type === 'ImportDeclaration' && statement['typeOnly'] === true) continue;
    const specifier = stringOf(from);
    if (specifier !== null && !staticSpecifiers.includes(specifier)) staticSpecifiers.push(specifier);
  }
  const metas: Span[] = [];
  const calls = dynamicImports(body, metas);
  const dynamicSpecifiers = [...new Set(calls.flatMap((call) => call.specifier === null ? [] : [call.specifier]))];
  const text = `${importerGlobal}(${JSON.stringify(url)})`;
  // isolated-vm's import.meta hook must be a function of the isolate; the module's URL is all it would give.
  const meta = `({ url: ${JSON.stringify(url)} })`;
  const edits = [
    ...calls.map((call) => ({ start: at(call.callee.start), end: at(call.callee.end), text })),
    ...metas.map((span) => ({ start: at(span.start), end: at(span.end), text: meta })),
  ];
  const code = edits.length === 0 ? source : applyEdits(Buffer.from(source, 'utf8'), edits);
  return { code, staticSpecifiers, dynamicSpecifiers };
}
