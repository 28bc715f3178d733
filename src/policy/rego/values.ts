// Rego values: JSON scalars, arrays, and two keyed collections (objects with any key, sets) that
// compare by value. Keys are canonical strings so lookups are O(1) regardless of key type.

export type Value = null | boolean | number | string | Value[] | RObject | RSet;

export class RObject {
  readonly #map = new Map<string, [Value, Value]>();
  /** A JSON object not yet converted: values are converted when first looked up. */
  #json: Record<string, unknown> | undefined;

  /** Wraps a plain JSON object; a policy usually reads a few fields of a large input. */
  static lazy(json: Record<string, unknown>): RObject {
    const o = new RObject();
    o.#json = json;
    return o;
  }

  get entries(): Map<string, [Value, Value]> {
    const json = this.#json;
    if (json !== undefined) {
      this.#json = undefined;
      for (const k of Object.keys(json)) if (json[k] !== undefined && !this.#map.has(`"${k}`)) this.#map.set(`"${k}`, [k, fromJSON(json[k])]);
    }
    return this.#map;
  }

  get size(): number { return this.entries.size; }
  get(key: Value): Value | undefined {
    const json = this.#json;
    if (json !== undefined && typeof key === 'string') {
      const k = `"${key}`;
      const hit = this.#map.get(k);
      if (hit !== undefined) return hit[1];
      if (!Object.hasOwn(json, key) || json[key] === undefined) return undefined;
      const v = fromJSON(json[key]);
      this.#map.set(k, [key, v]);
      return v;
    }
    return this.entries.get(keyOf(key))?.[1];
  }
  set(key: Value, value: Value): void { this.entries.set(keyOf(key), [key, value]); }
  has(key: Value): boolean { return this.get(key) !== undefined; }
  keys(): Value[] { return [...this.entries.values()].map((e) => e[0]); }
  *pairs(): Generator<[Value, Value]> { yield* this.entries.values(); }
  static from(pairs: Iterable<[Value, Value]>): RObject {
    const o = new RObject();
    for (const [k, v] of pairs) o.set(k, v);
    return o;
  }
}

export class RSet {
  readonly items = new Map<string, Value>();
  get size(): number { return this.items.size; }
  add(v: Value): void { this.items.set(keyOf(v), v); }
  has(v: Value): boolean { return this.items.has(keyOf(v)); }
  values(): Value[] { return [...this.items.values()]; }
  static from(values: Iterable<Value>): RSet {
    const s = new RSet();
    for (const v of values) s.add(v);
    return s;
  }
}

/** A canonical text for a value: equal values (1 and 1.0 included) give equal keys. */
export function keyOf(v: Value): string {
  if (v === null) return 'n';
  switch (typeof v) {
    case 'boolean': return v ? 't' : 'f';
    case 'number': return `#${v}`;
    case 'string': return `"${v}`;
  }
  if (Array.isArray(v)) return `[${v.map(keyOf).join(',')}]`;
  if (v instanceof RObject) return `{${[...v.entries.keys()].sort().map((k) => `${k}:${keyOf(v.entries.get(k)![1])}`).join(',')}}`;
  return `<${[...(v as RSet).items.keys()].sort().join(',')}>`;
}

export function typeRank(v: Value): number {
  if (v === null) return 0;
  switch (typeof v) {
    case 'boolean': return 1;
    case 'number': return 2;
    case 'string': return 3;
  }
  if (Array.isArray(v)) return 4;
  return v instanceof RObject ? 5 : 6;
}

export function typeName(v: Value): string {
  return ['null', 'boolean', 'number', 'string', 'array', 'object', 'set'][typeRank(v)]!;
}

/** Rego's standard order: null < boolean < number < string < array < object < set. */
export function compare(a: Value, b: Value): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0: return 0;
    case 1: return Number(a) - Number(b);
    case 2: return (a as number) - (b as number);
    case 3: return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 4: return compareLists(a as Value[], b as Value[]);
    case 5: {
      const ka = sortedValues((a as RObject).keys());
      const kb = sortedValues((b as RObject).keys());
      for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
        const c = compare(ka[i]!, kb[i]!);
        if (c !== 0) return c;
        const cv = compare((a as RObject).get(ka[i]!)!, (b as RObject).get(kb[i]!)!);
        if (cv !== 0) return cv;
      }
      return ka.length - kb.length;
    }
    default: return compareLists(sortedValues((a as RSet).values()), sortedValues((b as RSet).values()));
  }
}

function compareLists(a: Value[], b: Value[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

export function sortedValues(values: Value[]): Value[] {
  return [...values].sort(compare);
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  const ta = typeof a;
  if (ta !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return keyOf(a) === keyOf(b);
}

/** JSON (as parsed by JSON.parse or yaml) to a Rego value. */
export function fromJSON(x: unknown): Value {
  if (x === null || x === undefined) return null;
  if (typeof x === 'boolean' || typeof x === 'number' || typeof x === 'string') return x;
  if (typeof x === 'bigint') return Number(x);
  if (Array.isArray(x)) return x.map(fromJSON);
  if (x instanceof RObject || x instanceof RSet) return x;
  if (x instanceof Uint8Array) throw new TypeError('binary data is not a JSON value');
  return RObject.lazy(x as Record<string, unknown>);
}

/** A Rego value to JSON: sets become sorted arrays, non-string keys their JSON text. */
export function toJSON(v: Value): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toJSON);
  if (v instanceof RSet) return sortedValues(v.values()).map(toJSON);
  const out: Record<string, unknown> = {};
  for (const [k, val] of v.pairs()) out[typeof k === 'string' ? k : JSON.stringify(toJSON(k))] = toJSON(val);
  return out;
}

/** Rego's text for a value (as in sprintf %v and error messages). */
export function formatValue(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (v instanceof RSet) return v.size === 0 ? 'set()' : `{${sortedValues(v.values()).map(formatValue).join(', ')}}`;
  return `{${sortedValues(v.keys()).map((k) => `${formatValue(k)}: ${formatValue(v.get(k)!)}`).join(', ')}}`;
}
