// Rego tokens. Newlines matter (they separate body literals), so every token records whether a
// line break came before it.
import { RegoError, unsupported } from './errors.ts';

export type TokenKind = 'ident' | 'string' | 'number' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** For strings: the decoded value. */
  readonly value?: string;
  readonly line: number;
  readonly newlineBefore: boolean;
}

const OPS = [':=', '==', '!=', '<=', '>=', '{', '}', '[', ']', '(', ')', ',', '.', ';', ':', '=', '<', '>', '+', '-', '*', '/', '%', '|', '&'];

export function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let newline = true;
  const push = (kind: TokenKind, text: string, value?: string): void => {
    out.push({ kind, text, value, line, newlineBefore: newline });
    newline = false;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') { line++; newline = true; i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '#') { while (i < src.length && src[i] !== '\n') i++; continue; }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      push('ident', src.slice(i, j));
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
      if (!m[1] && !m[2] && !Number.isSafeInteger(Number(m[0]))) throw unsupported(`integers beyond 2^53 (${m[0]})`);
      if (!Number.isFinite(Number(m[0]))) throw unsupported(`numbers beyond 64-bit floating point (${m[0]})`);
      push('number', m[0]);
      i += m[0].length;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\') j++;
        if (src[j] === '\n') throw new RegoError('rego_parse_error', `${file}:${line}: rego_parse_error: non-terminated string`);
        j++;
      }
      if (j >= src.length) throw new RegoError('rego_parse_error', `${file}:${line}: rego_parse_error: non-terminated string`);
      const raw = src.slice(i, j + 1);
      let value: string;
      try { value = JSON.parse(raw) as string; } catch { throw new RegoError('rego_parse_error', `${file}:${line}: rego_parse_error: illegal string ${raw}`); }
      push('string', raw, value);
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new RegoError('rego_parse_error', `${file}:${line}: rego_parse_error: non-terminated raw string`);
      const value = src.slice(i + 1, j);
      push('string', src.slice(i, j + 1), value);
      for (const ch of value) if (ch === '\n') line++;
      i = j + 1;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op === undefined) throw new RegoError('rego_parse_error', `${file}:${line}: rego_parse_error: illegal token ${JSON.stringify(c)}`);
    push('op', op);
    i += op.length;
  }
  push('eof', '');
  return out;
}
