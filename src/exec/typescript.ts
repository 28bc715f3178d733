// TypeScript type stripping on every input, with swc's WebAssembly builds: @swc/wasm-typescript
// strips types in place (blanks them out), so every line and column of the user's code keeps its
// position and stack traces point where the agent wrote the code; syntax that needs more than
// erasing (enum, namespace, parameter properties) falls back to swc's transform mode (which
// also only strips and lowers TypeScript-only syntax: no downlevelling of JavaScript).
import { createHash } from 'node:crypto';
import { SwcFault, swcTypescript } from './swc.ts';

/** Stripped sources kept by hash of the input (LRU); agents and load tests resend the same snippets. */
export const strippedCacheEntriesMax = 1_000;
/** Larger inputs are stripped every time: they are rare, and would crowd the cache. */
export const strippedCacheInputCharsMax = 64 * 1024;

/** Characters of output a cache keeps in all, at most (one-byte strings: ≈ 16 MiB). */
export const sourceCacheCharsMax = 16 * 1024 * 1024;

/**
 * What was made of a source, kept by a hash of it, least recently used out first; sources above
 * strippedCacheInputCharsMax are never kept. Bounded by entries and by the characters of what it
 * keeps (`charsOf` each value): 1,000 outputs of 64 Ki characters would be 64 MiB.
 */
export class SourceCache<Value> {
  private readonly entries = new Map<string, { value: Value; chars: number }>();
  private chars = 0;
  private readonly entriesMax: number;
  private readonly charsMax: number;
  private readonly charsOf: (value: Value) => number;

  constructor(entriesMax: number, charsOf: (value: Value) => number, charsMax = sourceCacheCharsMax) {
    this.entriesMax = entriesMax;
    this.charsOf = charsOf;
    this.charsMax = charsMax;
  }

  get size(): number {
    return this.entries.size;
  }

  has(code: string): boolean {
    return code.length <= strippedCacheInputCharsMax && this.entries.has(cacheKey(code));
  }

  /** The kept value, marked most recently used; undefined when none is kept. */
  get(code: string): Value | undefined {
    if (code.length > strippedCacheInputCharsMax) return undefined;
    const key = cacheKey(code);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    // Map keeps insertion order: re-inserting makes this the most recently used entry.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(code: string, value: Value): void {
    if (code.length > strippedCacheInputCharsMax) return;
    const key = cacheKey(code);
    this.drop(key);
    const chars = this.charsOf(value);
    this.entries.set(key, { value, chars });
    this.chars += chars;
    while (this.entries.size > this.entriesMax || this.chars > this.charsMax) this.drop(this.entries.keys().next().value!);
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.chars -= entry.chars;
  }
}

const strippedCache = new SourceCache<string>(strippedCacheEntriesMax, (stripped) => stripped.length);

export class SourceError extends Error {
  override name = 'SyntaxError';
}

/** Characters of the offending source line shown under a syntax error. */
const errorLineCharsMax = 200;

/**
 * What a user reads after `SyntaxError: `: swc's first meaningful line, and where it is, as V8
 * writes positions (`[main.js:line:column]`, 1-based), with the offending line and a caret.
 */
export function swcMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : typeof error === 'object' && error !== null && 'message' in error ? String((error as { message: unknown }).message) : String(error);
  // swc may report with ANSI colours and a code frame; keep the first meaningful line.
  const clean = raw.replace(/\x1b\[[0-9;]*m/g, '');
  const line = clean.split('\n').map((part) => part.trim()).find((part) => part.startsWith('x ') || part.startsWith('×'));
  const message = (line ?? clean.split('\n')[0] ?? 'invalid source').replace(/^(x|×)\s*/, '');
  return message + swcPosition(error);
}

/** swc's error object (@swc/wasm-typescript) carries startLine (1-based) and startColumn (0-based) and a snippet. */
function swcPosition(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const { startLine, startColumn, snippet } = error as { startLine?: unknown; startColumn?: unknown; snippet?: unknown };
  if (typeof startLine !== 'number' || typeof startColumn !== 'number' || !Number.isInteger(startLine) || !Number.isInteger(startColumn)) return '';
  const where = ` [main.js:${startLine}:${startColumn + 1}]`;
  if (typeof snippet !== 'string') return where;
  // The snippet is a few lines with a caret line under the offending one.
  const lines = snippet.split('\n');
  const caret = lines.findIndex((text) => /^\s*\^+\s*$/.test(text));
  if (caret < 1 || lines[caret - 1]!.length > errorLineCharsMax) return where;
  return `${where}\n${lines[caret - 1]}\n${lines[caret]}`;
}

function transform(code: string, mode: 'strip-only' | 'transform'): string {
  return swcTypescript.call(code.length, (swc) => swc.transformSync(code, { mode, sourceMap: false }).code);
}

function cacheKey(code: string): string {
  return createHash('sha256').update(code).digest('base64');
}

/** For tests and metrics: whether this input's stripped output is cached, and how many are. */
export function strippedCacheState(code: string): { cached: boolean; entries: number } {
  return { cached: strippedCache.has(code), entries: strippedCache.size };
}

/** The cached output for this input, marked most recently used; undefined when not cached. */
export function cachedStrip(code: string): string | undefined {
  return strippedCache.get(code);
}

/** Keeps a stripped output (inputs above strippedCacheInputCharsMax are not kept). */
export function rememberStrip(code: string, stripped: string): void {
  strippedCache.set(code, stripped);
}

/** Strips without the cache (the source worker's part): SourceError on a syntax error. */
export function stripUncached(code: string): { stripped: string; cacheable: boolean } {
  try {
    return { stripped: transform(code, 'strip-only'), cacheable: true };
  } catch (stripError) {
    // swc itself failed (code nested deeper than its stack allows): the code runs as written, and
    // V8, whose parser has limits of its own, runs it or says what is wrong with it.
    if (stripError instanceof SwcFault) return { stripped: code, cacheable: false };
    try {
      return { stripped: transform(code, 'transform'), cacheable: true };
    } catch (transformError) {
      if (transformError instanceof SwcFault) return { stripped: code, cacheable: false };
      throw new SourceError(`SyntaxError: ${swcMessage(stripError)}`);
    }
  }
}

/** Strips on this thread, through the cache (tests; the engine strips in its source worker). */
export function stripTypes(code: string): string {
  const cached = cachedStrip(code);
  if (cached !== undefined) return cached;
  const { stripped, cacheable } = stripUncached(code);
  if (cacheable) rememberStrip(code, stripped);
  return stripped;
}
