// Rego built-in functions: operators, aggregates, strings, regex, glob, types, objects, JSON and
// URL helpers. A built-in throws BuiltinTypeError for bad operands; the evaluator turns that into
// an undefined result, or an error when strict built-in errors are on.
import { BlockList, isIP } from 'node:net';
import YAML from 'yaml';
import { BuiltinTypeError, unsupported } from './errors.ts';
import { compileGlob, type GlobMatcher } from './glob.ts';
import { RObject, RSet, compare, equal, formatValue, fromJSON, sortedValues, toJSON, typeName, type Value } from './values.ts';

export interface Builtin {
  readonly arity: number | undefined;
  readonly fn: (args: Value[]) => Value | undefined;
}

export const builtins = new Map<string, Builtin>();
const def = (name: string, arity: number, fn: (...args: Value[]) => Value | undefined): void => {
  builtins.set(name, { arity, fn: (args) => fn(...args) });
};

// ---- operand checks (messages as OPA words them) ----

function oneOf(v: Value, pos: number, types: string[]): void {
  if (!types.includes(typeName(v))) {
    const want = types.length === 1 ? types[0] : `one of {${types.join(', ')}}`;
    throw new BuiltinTypeError(`operand ${pos} must be ${want} but got ${typeName(v)}`);
  }
}
function str(v: Value, pos: number): string { oneOf(v, pos, ['string']); return v as string; }
function num(v: Value, pos: number): number { oneOf(v, pos, ['number']); return v as number; }
function arr(v: Value, pos: number): Value[] { oneOf(v, pos, ['array']); return v as Value[]; }
function obj(v: Value, pos: number): RObject { oneOf(v, pos, ['object']); return v as RObject; }
function set(v: Value, pos: number): RSet { oneOf(v, pos, ['set']); return v as RSet; }
function int(v: Value, pos: number): number {
  const n = num(v, pos);
  if (!Number.isInteger(n)) throw new BuiltinTypeError(`operand ${pos} must be integer number but got floating-point number`);
  return n;
}
/** Members of an array or set (for aggregates), checked. */
function items(v: Value, pos: number, types = ['array', 'set']): Value[] {
  oneOf(v, pos, types);
  return Array.isArray(v) ? v : v instanceof RSet ? sortedValues(v.values()) : [...(v as RObject).pairs()].map((p) => p[1]);
}
/** A string, or an array/set of strings (strings.any_prefix_match and friends). */
function strList(v: Value, pos: number): string[] {
  oneOf(v, pos, ['string', 'set', 'array']);
  if (typeof v === 'string') return [v];
  const list = items(v, pos);
  for (const x of list) if (typeof x !== 'string') throw new BuiltinTypeError(`operand ${pos} must be array of strings but got array containing ${typeName(x)}`);
  return list as string[];
}
const runes = (s: string): string[] => [...s];

// `print` is for policy authors' debugging; here it has nowhere to go and is always true.
builtins.set('print', { arity: undefined, fn: () => true });

// ---- comparison and arithmetic ----

def('equal', 2, (a, b) => equal(a, b));
def('neq', 2, (a, b) => !equal(a, b));
def('lt', 2, (a, b) => compare(a, b) < 0);
def('lte', 2, (a, b) => compare(a, b) <= 0);
def('gt', 2, (a, b) => compare(a, b) > 0);
def('gte', 2, (a, b) => compare(a, b) >= 0);
def('plus', 2, (a, b) => num(a, 1) + num(b, 2));
def('minus', 2, (a, b) => {
  if (a instanceof RSet && b instanceof RSet) return RSet.from(a.values().filter((x) => !b.has(x)));
  return num(a, 1) - num(b, 2);
});
def('mul', 2, (a, b) => num(a, 1) * num(b, 2));
def('div', 2, (a, b) => {
  const d = num(b, 2);
  num(a, 1);
  if (d === 0) throw new BuiltinTypeError('divide by zero', 'eval_builtin_error');
  return (a as number) / d;
});
def('rem', 2, (a, b) => {
  const x = num(a, 1);
  const y = num(b, 2);
  if (!Number.isInteger(x) || !Number.isInteger(y)) throw new BuiltinTypeError('modulo on floating-point number', 'eval_builtin_error');
  if (y === 0) throw new BuiltinTypeError('modulo by zero', 'eval_builtin_error');
  return x % y;
});
def('or', 2, (a, b) => RSet.from([...set(a, 1).values(), ...set(b, 2).values()]));
def('and', 2, (a, b) => { const s = set(b, 2); return RSet.from(set(a, 1).values().filter((x) => s.has(x))); });
def('abs', 1, (a) => Math.abs(num(a, 1)));
def('round', 1, (a) => { const n = num(a, 1); return Math.sign(n) * Math.round(Math.abs(n)); });
def('ceil', 1, (a) => Math.ceil(num(a, 1)));
def('floor', 1, (a) => Math.floor(num(a, 1)));
def('numbers.range', 2, (a, b) => {
  const x = int(a, 1);
  const y = int(b, 2);
  if (Math.abs(y - x) > 1_000_000) throw new BuiltinTypeError('numbers.range: range too large', 'eval_builtin_error');
  const out: number[] = [];
  for (let i = x; x <= y ? i <= y : i >= y; i += x <= y ? 1 : -1) out.push(i);
  return out;
});

// ---- membership ----

def('internal.member_2', 2, (x, coll) => {
  if (Array.isArray(coll)) return coll.some((v) => equal(v, x));
  if (coll instanceof RSet) return coll.has(x);
  if (coll instanceof RObject) return [...coll.pairs()].some(([, v]) => equal(v, x));
  return false;
});
def('internal.member_3', 3, (k, x, coll) => {
  if (Array.isArray(coll)) return typeof k === 'number' && coll[k] !== undefined && equal(coll[k]!, x);
  if (coll instanceof RObject) { const v = coll.get(k); return v !== undefined && equal(v, x); }
  if (coll instanceof RSet) return coll.has(x) && equal(k, x);
  return false;
});

// ---- aggregates ----

def('count', 1, (a) => {
  oneOf(a, 1, ['array', 'object', 'set', 'string']);
  if (typeof a === 'string') return runes(a).length;
  return Array.isArray(a) ? a.length : (a as RObject | RSet).size;
});
def('sum', 1, (a) => items(a, 1).reduce<number>((s, x) => s + num(x, 1), 0));
def('product', 1, (a) => items(a, 1).reduce<number>((s, x) => s * num(x, 1), 1));
def('max', 1, (a) => { const l = items(a, 1); return l.length === 0 ? undefined : sortedValues(l)[l.length - 1]; });
def('min', 1, (a) => { const l = items(a, 1); return l.length === 0 ? undefined : sortedValues(l)[0]; });
def('sort', 1, (a) => sortedValues(items(a, 1)));
def('any', 1, (a) => items(a, 1).some((x) => x === true));
def('all', 1, (a) => items(a, 1).every((x) => x === true));
def('union', 1, (a) => RSet.from(items(set(a, 1), 1).flatMap((s) => set(s, 1).values())));
def('intersection', 1, (a) => {
  const sets = items(set(a, 1), 1).map((s) => set(s, 1));
  if (sets.length === 0) return new RSet();
  return RSet.from(sets[0]!.values().filter((x) => sets.every((s) => s.has(x))));
});

// ---- arrays ----

def('array.concat', 2, (a, b) => [...arr(a, 1), ...arr(b, 2)]);
def('array.slice', 3, (a, s, e) => {
  const l = arr(a, 1);
  let start = int(s, 2);
  let end = int(e, 3);
  if (start < 0) start = 0;
  if (end > l.length) end = l.length;
  return start >= end ? [] : l.slice(start, end);
});
def('array.reverse', 1, (a) => [...arr(a, 1)].reverse());

// ---- strings ----

def('concat', 2, (d, a) => {
  const sep = str(d, 1);
  return items(a, 2).map((x) => { if (typeof x !== 'string') throw new BuiltinTypeError(`operand 2 must be array of strings but got array containing ${typeName(x)}`); return x; }).join(sep);
});
def('contains', 2, (a, b) => str(a, 1).includes(str(b, 2)));
def('startswith', 2, (a, b) => str(a, 1).startsWith(str(b, 2)));
def('endswith', 2, (a, b) => str(a, 1).endsWith(str(b, 2)));
def('lower', 1, (a) => str(a, 1).toLowerCase());
def('upper', 1, (a) => str(a, 1).toUpperCase());
def('split', 2, (a, b) => str(a, 1).split(str(b, 2)));
def('replace', 3, (a, b, c) => str(a, 1).split(str(b, 2)).join(str(c, 3)));
def('strings.replace_n', 2, (p, s) => {
  let out = str(s, 2);
  const pairs = [...obj(p, 1).pairs()];
  for (const [k, v] of pairs) out = out.split(str(k, 1)).join(str(v, 1));
  return out;
});
def('strings.reverse', 1, (a) => runes(str(a, 1)).reverse().join(''));
def('strings.any_prefix_match', 2, (a, b) => { const s = strList(a, 1); const p = strList(b, 2); return s.some((x) => p.some((y) => x.startsWith(y))); });
def('strings.any_suffix_match', 2, (a, b) => { const s = strList(a, 1); const p = strList(b, 2); return s.some((x) => p.some((y) => x.endsWith(y))); });
const trimSet = (s: string, cut: string, left: boolean, right: boolean): string => {
  const r = runes(s);
  const c = new Set(runes(cut));
  let i = 0;
  let j = r.length;
  while (left && i < j && c.has(r[i]!)) i++;
  while (right && j > i && c.has(r[j - 1]!)) j--;
  return r.slice(i, j).join('');
};
def('trim', 2, (a, b) => trimSet(str(a, 1), str(b, 2), true, true));
def('trim_left', 2, (a, b) => trimSet(str(a, 1), str(b, 2), true, false));
def('trim_right', 2, (a, b) => trimSet(str(a, 1), str(b, 2), false, true));
def('trim_prefix', 2, (a, b) => { const s = str(a, 1); const p = str(b, 2); return s.startsWith(p) ? s.slice(p.length) : s; });
def('trim_suffix', 2, (a, b) => { const s = str(a, 1); const p = str(b, 2); return p !== '' && s.endsWith(p) ? s.slice(0, s.length - p.length) : s; });
def('trim_space', 1, (a) => str(a, 1).trim());
def('substring', 3, (a, s, l) => {
  const r = runes(str(a, 1));
  const start = int(s, 2);
  const len = int(l, 3);
  if (start < 0) throw new BuiltinTypeError('negative offset', 'eval_builtin_error');
  if (start >= r.length) return '';
  return len < 0 ? r.slice(start).join('') : r.slice(start, start + len).join('');
});
def('indexof', 2, (a, b) => {
  const r = runes(str(a, 1));
  const n = runes(str(b, 2));
  for (let i = 0; i + n.length <= r.length; i++) if (n.every((c, j) => r[i + j] === c)) return i;
  return -1;
});
def('indexof_n', 2, (a, b) => {
  const r = runes(str(a, 1));
  const n = runes(str(b, 2));
  const out: number[] = [];
  for (let i = 0; i + n.length <= r.length; i++) if (n.every((c, j) => r[i + j] === c)) out.push(i);
  return out;
});
def('format_int', 2, (a, b) => {
  const n = num(a, 1);
  const base = num(b, 2);
  if (![2, 8, 10, 16].includes(base)) throw new BuiltinTypeError('operand 2 must be one of {2, 8, 10, 16}');
  return Math.trunc(n).toString(base);
});
def('sprintf', 2, (f, a) => sprintf(str(f, 1), arr(a, 2)));

function sprintf(format: string, args: Value[]): string {
  let i = 0;
  return format.replace(/%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (_m, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (a === undefined) return `%!${verb}(MISSING)`;
    let s: string;
    switch (verb) {
      case 'v': case 's': s = typeof a === 'string' ? a : formatValue(a); break;
      case 'd': s = typeof a === 'number' && Number.isInteger(a) ? String(a) : `%!d(${typeName(a)}=${formatValue(a)})`; break;
      case 'f': s = typeof a === 'number' ? a.toFixed(prec === undefined ? 6 : Number(prec)) : `%!f(${formatValue(a)})`; break;
      case 'x': s = typeof a === 'number' ? a.toString(16) : Buffer.from(String(a)).toString('hex'); break;
      case 'X': s = typeof a === 'number' ? a.toString(16).toUpperCase() : Buffer.from(String(a)).toString('hex').toUpperCase(); break;
      case 'o': s = typeof a === 'number' ? a.toString(8) : formatValue(a); break;
      case 'b': s = typeof a === 'number' ? a.toString(2) : formatValue(a); break;
      case 'q': s = JSON.stringify(typeof a === 'string' ? a : formatValue(a)); break;
      case 't': s = String(a); break;
      case 'e': s = typeof a === 'number' ? a.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2') : formatValue(a); break;
      case 'g': s = typeof a === 'number' ? String(a) : formatValue(a); break;
      default: throw unsupported(`sprintf verb %${verb}`);
    }
    if (width !== undefined && s.length < Number(width)) s = flags.includes('-') ? s.padEnd(Number(width)) : s.padStart(Number(width), flags.includes('0') ? '0' : ' ');
    return s;
  });
}

// ---- regex and glob ----

const regexCache = new Map<string, RegExp>();
const REGEX_CACHE_MAX = 1000;
const REGEX_PATTERN_CHARS_MAX = 4096;

/**
 * OPA's regexes are RE2 (linear time); JavaScript's backtrack. The subject is often sandbox
 * input, so a pattern that could backtrack exponentially is refused: a quantified group that
 * itself contains a quantifier or an alternation (`(a+)+`, `(a|aa)*`), and backreferences and
 * lookarounds, which RE2 does not have either.
 */
export function checkRegexSafety(pattern: string): void {
  if (pattern.length > REGEX_PATTERN_CHARS_MAX) throw unsupported(`regex patterns longer than ${REGEX_PATTERN_CHARS_MAX} characters`);
  const groups: { risky: boolean }[] = [{ risky: false }];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      if (/[1-9k]/.test(pattern[i + 1] ?? '')) throw unsupported(`regex backreferences in ${JSON.stringify(pattern)}`);
      i++;
      continue;
    }
    if (c === '[') {
      // a character class: skip to its end (a leading ] is literal)
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j;
      continue;
    }
    if (c === '(') {
      if (/^\(\?<?[=!]/.test(pattern.slice(i, i + 4))) throw unsupported(`regex lookaround in ${JSON.stringify(pattern)}`);
      groups.push({ risky: false });
      continue;
    }
    const quantifier = c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i)));
    if (c === ')') {
      const g = groups.length > 1 ? groups.pop()! : { risky: false };
      const next = pattern[i + 1] ?? '';
      const repeated = next === '*' || next === '+' || (next === '{' && /^\{\d+,\d*\}/.test(pattern.slice(i + 1)));
      if (repeated && g.risky) throw unsupported(`regex with a repeated group that contains a quantifier or alternation (exponential backtracking) in ${JSON.stringify(pattern)}`);
      if (g.risky) groups[groups.length - 1]!.risky = true;
      continue;
    }
    if (quantifier || c === '|') groups[groups.length - 1]!.risky = true;
  }
}

function regex(pattern: string, flags = 'u'): RegExp {
  const key = `${flags}/${pattern}`;
  let re = regexCache.get(key);
  if (re === undefined) {
    checkRegexSafety(pattern);
    if (/\(\?[a-zA-Z]*[:)]/.test(pattern) && !/^\(\?i\)/.test(pattern)) throw unsupported(`regex inline flags in ${JSON.stringify(pattern)}`);
    let p = pattern;
    let f = flags;
    if (p.startsWith('(?i)')) { p = p.slice(4); f += 'i'; }
    try { re = new RegExp(p, f); } catch (err) { throw new BuiltinTypeError(`invalid regular expression: ${(err as Error).message}`, 'eval_builtin_error'); }
    if (regexCache.size >= REGEX_CACHE_MAX) regexCache.clear();
    regexCache.set(key, re);
  }
  return re;
}
def('regex.match', 2, (p, s) => regex(str(p, 1)).test(str(s, 2)));
def('re_match', 2, (p, s) => regex(str(p, 1)).test(str(s, 2)));
// Syntax only: a valid pattern this evaluator refuses to run (see checkRegexSafety) is still valid.
def('regex.is_valid', 1, (p) => { if (typeof p !== 'string') return false; try { new RegExp(p.replace(/^\(\?i\)/, ''), 'u'); return true; } catch { return false; } });
def('regex.split', 2, (p, s) => str(s, 2).split(regex(str(p, 1))));
def('regex.find_n', 3, (p, s, n) => {
  const all = [...str(s, 2).matchAll(regex(str(p, 1), 'gu'))].map((m) => m[0]);
  const k = int(n, 3);
  return k < 0 ? all : all.slice(0, k);
});
def('regex.replace', 3, (s, p, r) => str(s, 1).replace(regex(str(p, 2), 'gu'), str(r, 3).replace(/\$\{?(\d+)\}?/g, '$$$1')));

const globCache = new Map<string, GlobMatcher>();
def('glob.match', 3, (p, d, s) => {
  const pattern = str(p, 1);
  let delims: string[];
  if (d === null) delims = ['.'];
  else {
    oneOf(d, 2, ['array']);
    delims = (d as Value[]).map((x) => { if (typeof x !== 'string') throw new BuiltinTypeError(`operand 2 must be array of strings but got array containing ${typeName(x)}`); return x; });
  }
  const key = `${delims.join('\u0000')}\u0001${pattern}`;
  let match = globCache.get(key);
  if (match === undefined) {
    try { match = compileGlob(pattern, delims); } catch (err) {
      if (err instanceof SyntaxError) throw new BuiltinTypeError(err.message, 'eval_builtin_error');
      throw err;
    }
    if (globCache.size >= REGEX_CACHE_MAX) globCache.clear();
    globCache.set(key, match);
  }
  return match(str(s, 3));
});
def('glob.quote_meta', 1, (p) => str(p, 1).replace(/[*?\\[\]{}]/g, '\\$&'));

// ---- types ----

for (const t of ['string', 'number', 'boolean', 'array', 'object', 'set', 'null']) def(`is_${t}`, 1, (a) => typeName(a) === t);
def('type_name', 1, (a) => typeName(a));
def('to_number', 1, (a) => {
  if (a === null) return 0;
  if (typeof a === 'boolean') return a ? 1 : 0;
  if (typeof a === 'number') return a;
  if (typeof a === 'string') {
    if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(a)) throw new BuiltinTypeError(`strconv.ParseFloat: parsing ${JSON.stringify(a)}: invalid syntax`, 'eval_builtin_error');
    return Number(a);
  }
  oneOf(a, 1, ['null', 'boolean', 'number', 'string']);
  return undefined;
});

// ---- objects ----

def('object.get', 3, (o, k, dflt) => {
  oneOf(o, 1, ['object']);
  if (Array.isArray(k)) {
    let cur: Value = o as RObject;
    for (const p of k) {
      if (cur instanceof RObject) { const x: Value | undefined = cur.get(p); if (x === undefined) return dflt; cur = x; }
      else if (Array.isArray(cur) && typeof p === 'number') { const x: Value | undefined = cur[p]; if (x === undefined) return dflt; cur = x; }
      else if (cur instanceof RSet && cur.has(p)) cur = p;
      else return dflt;
    }
    return cur;
  }
  return (o as RObject).get(k) ?? dflt;
});
def('object.keys', 1, (o) => RSet.from(obj(o, 1).keys()));
def('object.remove', 2, (o, ks) => {
  const src = obj(o, 1);
  const drop = ks instanceof RObject ? RSet.from(ks.keys()) : RSet.from(items(ks, 2, ['array', 'set', 'object']));
  return RObject.from([...src.pairs()].filter(([k]) => !drop.has(k)));
});
def('object.filter', 2, (o, ks) => {
  const src = obj(o, 1);
  const keep = ks instanceof RObject ? RSet.from(ks.keys()) : RSet.from(items(ks, 2, ['array', 'set', 'object']));
  return RObject.from([...src.pairs()].filter(([k]) => keep.has(k)));
});
function mergeObjects(a: RObject, b: RObject): RObject {
  const out = RObject.from(a.pairs());
  for (const [k, v] of b.pairs()) {
    const old = out.get(k);
    out.set(k, old instanceof RObject && v instanceof RObject ? mergeObjects(old, v) : v);
  }
  return out;
}
def('object.union', 2, (a, b) => mergeObjects(obj(a, 1), obj(b, 2)));
def('object.union_n', 1, (a) => {
  const list = arr(a, 1);
  let out = new RObject();
  for (const x of list) {
    if (!(x instanceof RObject)) throw new BuiltinTypeError(`operand 1 must be array of objects but got array containing ${typeName(x)}`);
    out = mergeObjects(out, x);
  }
  return out;
});

// ---- JSON, YAML, URL ----

def('json.marshal', 1, (a) => JSON.stringify(toJSON(a)));
def('json.unmarshal', 1, (a) => {
  try { return fromJSON(JSON.parse(str(a, 1))); } catch (err) {
    if (err instanceof BuiltinTypeError) throw err;
    throw new BuiltinTypeError(`json: ${(err as Error).message}`, 'eval_builtin_error');
  }
});
def('json.is_valid', 1, (a) => { if (typeof a !== 'string') return false; try { JSON.parse(a); return true; } catch { return false; } });
def('yaml.is_valid', 1, (a) => {
  if (typeof a !== 'string') return false;
  const doc = YAML.parseDocument(a);
  return doc.errors.length === 0;
});
const queryEscape = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
def('urlquery.encode', 1, (a) => queryEscape(str(a, 1)));
def('urlquery.decode', 1, (a) => {
  try { return decodeURIComponent(str(a, 1).replace(/\+/g, ' ')); } catch { throw new BuiltinTypeError('invalid URL escape', 'eval_builtin_error'); }
});
def('urlquery.encode_object', 1, (a) => {
  const parts: string[] = [];
  for (const [k, v] of [...obj(a, 1).pairs()].sort((x, y) => compare(x[0], y[0]))) {
    const key = queryEscape(str(k, 1));
    if (typeof v === 'string') parts.push(`${key}=${queryEscape(v)}`);
    else for (const x of items(v, 1)) parts.push(`${key}=${queryEscape(str(x, 1))}`);
  }
  return parts.join('&');
});
def('urlquery.decode_object', 1, (a) => {
  const out = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(str(a, 1))) out.set(k, [...(out.get(k) ?? []), v]);
  return RObject.from([...out].map(([k, v]) => [k, v]));
});
def('base64.encode', 1, (a) => Buffer.from(str(a, 1)).toString('base64'));
def('base64.decode', 1, (a) => Buffer.from(str(a, 1), 'base64').toString());
def('base64url.encode', 1, (a) => Buffer.from(str(a, 1)).toString('base64url'));
def('base64url.decode', 1, (a) => Buffer.from(str(a, 1), 'base64url').toString());

// ---- networks (fetch policies keeping requests off private ranges) ----

function parseCidr(text: string, pos: number): { net: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [addr = '', bits] = text.split('/');
  const version = isIP(addr);
  if (version === 0) throw new BuiltinTypeError(`operand ${pos}: invalid CIDR or IP ${JSON.stringify(text)}`, 'eval_builtin_error');
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) throw new BuiltinTypeError(`operand ${pos}: invalid CIDR ${JSON.stringify(text)}`, 'eval_builtin_error');
  return { net: addr, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}
def('net.cidr_contains', 2, (a, b) => {
  const outer = parseCidr(str(a, 1), 1);
  const inner = parseCidr(str(b, 2), 2);
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  const list = new BlockList();
  list.addSubnet(outer.net, outer.prefix, outer.family);
  return list.check(inner.net, inner.family);
});
def('net.cidr_is_valid', 1, (a) => { if (typeof a !== 'string' || !a.includes('/')) return false; try { parseCidr(a, 1); return true; } catch { return false; } });
def('strings.count', 2, (a, b) => { const s = str(a, 1); const sub = str(b, 2); return sub === '' ? runes(s).length + 1 : s.split(sub).length - 1; });
