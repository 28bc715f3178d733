// glob.match patterns (OPA uses gobwas/glob): `*` any run of non-delimiters, `**` any run,
// `?` one non-delimiter, `[abc]`/`[a-z]`/`[!…]` classes, `{a,b}` alternatives, `\` escapes.
// Matching simulates all positions in the pattern at once (Thompson style), so it is linear in
// the subject: a regex translation would backtrack polynomially (`*/*/*/x` on a long URL), and
// the subject is sandbox input.
import { unsupported } from './errors.ts';

type Token =
  | { readonly k: 'char'; readonly test: (c: string) => boolean }
  | { readonly k: 'star'; readonly test: (c: string) => boolean };

const ALTERNATIVES_MAX = 256;

export type GlobMatcher = (subject: string) => boolean;

export function compileGlob(pattern: string, delimiters: readonly string[]): GlobMatcher {
  const delims = new Set(delimiters);
  const notDelim = (c: string): boolean => !delims.has(c);
  const any = (): boolean => true;
  const sequences = parseSequence(pattern, { i: 0 }, false, notDelim, any);
  return (subject) => sequences.some((tokens) => run(tokens, subject));
}

/** Parses until the end (or `,`/`}` inside alternatives); returns every expansion of `{…}`. */
function parseSequence(p: string, at: { i: number }, inAlt: boolean, notDelim: (c: string) => boolean, any: (c: string) => boolean): Token[][] {
  let out: Token[][] = [[]];
  const append = (t: Token): void => { for (const seq of out) seq.push(t); };
  while (at.i < p.length) {
    const c = [...p.slice(at.i, at.i + 2)][0]!;
    if (inAlt && (c === ',' || c === '}')) break;
    at.i += c.length;
    if (c === '\\' && at.i < p.length) {
      const lit = [...p.slice(at.i, at.i + 2)][0]!;
      at.i += lit.length;
      append({ k: 'char', test: (x) => x === lit });
    } else if (c === '*') {
      if (p[at.i] === '*') { at.i++; append({ k: 'star', test: any }); } else append({ k: 'star', test: notDelim });
    } else if (c === '?') append({ k: 'char', test: notDelim });
    else if (c === '[') append({ k: 'char', test: parseClass(p, at) });
    else if (c === '{') {
      const alts: Token[][] = [];
      for (;;) {
        alts.push(...parseSequence(p, at, true, notDelim, any));
        const d = p[at.i++];
        if (d === '}') break;
        if (d !== ',') throw new SyntaxError(`unclosed alternatives in glob ${JSON.stringify(p)}`);
      }
      const next: Token[][] = [];
      for (const seq of out) for (const alt of alts) next.push([...seq, ...alt]);
      if (next.length > ALTERNATIVES_MAX) throw unsupported(`glob patterns with more than ${ALTERNATIVES_MAX} alternative expansions`);
      out = next;
    } else append({ k: 'char', test: (x) => x === c });
  }
  return out;
}

function parseClass(p: string, at: { i: number }): (c: string) => boolean {
  const end = p.indexOf(']', at.i + 1);
  if (end < 0) throw new SyntaxError(`unexpected end of input in glob ${JSON.stringify(p)}`);
  let body = [...p.slice(at.i, end)];
  at.i = end + 1;
  const negate = body[0] === '!';
  if (negate) body = body.slice(1);
  const ranges: [string, string][] = [];
  for (let j = 0; j < body.length; j++) {
    if (body[j + 1] === '-' && j + 2 < body.length) { ranges.push([body[j]!, body[j + 2]!]); j += 2; } else ranges.push([body[j]!, body[j]!]);
  }
  return (c) => ranges.some(([lo, hi]) => c >= lo && c <= hi) !== negate;
}

/** Every pattern position the match can be at, advanced one subject character at a time. */
function run(tokens: readonly Token[], subject: string): boolean {
  let states = closure(tokens, new Set([0]));
  for (const c of subject) {
    const next = new Set<number>();
    for (const s of states) {
      const t = tokens[s];
      if (t === undefined || !t.test(c)) continue;
      next.add(t.k === 'star' ? s : s + 1);
    }
    if (next.size === 0) return false;
    states = closure(tokens, next);
  }
  return states.has(tokens.length);
}

/** A star may also match nothing: its position implies the next one. */
function closure(tokens: readonly Token[], states: Set<number>): Set<number> {
  for (const s of states) {
    let i = s;
    while (tokens[i]?.k === 'star') { i++; states.add(i); }
  }
  return states;
}
