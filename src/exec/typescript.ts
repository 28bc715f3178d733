// TypeScript type stripping on every input, with swc's WebAssembly builds: @swc/wasm-typescript
// strips types in place (blanks them out), so every line and column of the user's code keeps its
// position and stack traces point where the agent wrote the code; syntax that needs more than
// erasing (enum, namespace, parameter properties) falls back to swc's transform mode. @swc/wasm
// parses the code when top-level await needs a rewrite.
import { parseSync } from '@swc/wasm';
import swcTypescript from '@swc/wasm-typescript';

/** Stripped sources kept by exact input; agents and load tests resend the same snippets. */
export const strippedCacheEntriesMax = 1_000;
const strippedCache = new Map<string, string>();

export class SourceError extends Error {
  override name = 'SyntaxError';
}

function swcMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : typeof error === 'object' && error !== null && 'message' in error ? String((error as { message: unknown }).message) : String(error);
  // swc may report with ANSI colours and a code frame; keep the first meaningful line.
  const clean = raw.replace(/\x1b\[[0-9;]*m/g, '');
  const line = clean.split('\n').map((part) => part.trim()).find((part) => part.startsWith('x ') || part.startsWith('×'));
  return (line ?? clean.split('\n')[0] ?? 'invalid source').replace(/^(x|×)\s*/, '');
}

function transform(code: string, mode: 'strip-only' | 'transform'): string {
  return swcTypescript.transformSync(code, { mode, sourceMap: false }).code;
}

export function stripTypes(code: string): string {
  const cached = strippedCache.get(code);
  if (cached !== undefined) return cached;
  let stripped: string;
  try {
    stripped = transform(code, 'strip-only');
  } catch (stripError) {
    try {
      stripped = transform(code, 'transform');
    } catch {
      throw new SourceError(`SyntaxError: ${swcMessage(stripError)}`);
    }
  }
  if (strippedCache.size >= strippedCacheEntriesMax) strippedCache.delete(strippedCache.keys().next().value!);
  strippedCache.set(code, stripped);
  return stripped;
}

/**
 * Code with top-level await cannot run as a script. It runs as the body of an async function
 * whose returned value is the completion value: the last statement, when it is an expression,
 * becomes `return (expression);`. Top-level declarations are then local to that function.
 */
export function wrapTopLevelAwait(code: string): string {
  // A leading empty statement pins the byte offset of the source in swc's global span space.
  const source = Buffer.from(';' + code, 'utf8');
  const program = parseSync(';' + code, { syntax: 'ecmascript', target: 'es2022' }) as unknown as {
    body: Array<{ type: string; span: { start: number; end: number }; expression?: { span: { start: number; end: number } } }>;
  };
  const base = program.body[0]!.span.start;
  const last = program.body[program.body.length - 1]!;
  if (program.body.some((statement) => statement.type.startsWith('Import') || statement.type.startsWith('Export'))) {
    throw new SourceError('SyntaxError: import and export statements are not supported yet (npm:, jsr: and URL imports come in a later release)');
  }
  let body = code;
  if (last.type === 'ExpressionStatement' && last.expression !== undefined) {
    const at = (position: number) => position - base;
    const before = source.subarray(1, at(last.span.start)).toString('utf8');
    const expression = source.subarray(at(last.expression.span.start), at(last.expression.span.end)).toString('utf8');
    const after = source.subarray(at(last.span.end)).toString('utf8');
    body = `${before}return (${expression});${after}`;
  }
  return `(async () => {\n${body}\n})()`;
}
