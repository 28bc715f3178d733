// glob.match patterns (OPA uses gobwas/glob): `*` any run of non-delimiters, `**` any run,
// `?` one non-delimiter, `[abc]`/`[a-z]`/`[!…]` classes, `{a,b}` alternatives, `\` escapes.

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

export function globToRegExp(pattern: string, delimiters: readonly string[]): RegExp {
  const notDelim = delimiters.length === 0 ? '[^]' : `[^${delimiters.map(escapeRe).join('')}]`;
  let i = 0;
  const parse = (inAlt: boolean): string => {
    let out = '';
    while (i < pattern.length) {
      const c = pattern[i]!;
      if (inAlt && (c === ',' || c === '}')) return out;
      i++;
      if (c === '\\' && i < pattern.length) { out += escapeRe(pattern[i++]!); continue; }
      if (c === '*') {
        if (pattern[i] === '*') { i++; out += '[^]*'; } else out += `${notDelim}*`;
        continue;
      }
      if (c === '?') { out += notDelim; continue; }
      if (c === '[') {
        const end = pattern.indexOf(']', i);
        if (end < 0) throw new SyntaxError(`unexpected end of input in glob ${JSON.stringify(pattern)}`);
        let body = pattern.slice(i, end);
        i = end + 1;
        const negate = body.startsWith('!');
        if (negate) body = body.slice(1);
        const cls = body.replace(/[\]\\^]/g, '\\$&');
        out += negate ? `[^${cls}]` : `[${cls}]`;
        continue;
      }
      if (c === '{') {
        const alts: string[] = [];
        for (;;) {
          alts.push(parse(true));
          const d = pattern[i++];
          if (d === '}') break;
          if (d !== ',') throw new SyntaxError(`unclosed alternatives in glob ${JSON.stringify(pattern)}`);
        }
        out += `(?:${alts.join('|')})`;
        continue;
      }
      out += escapeRe(c);
    }
    return out;
  };
  const body = parse(false);
  return new RegExp(`^${body}$`, 'u');
}
