// Top-down Rego evaluation with backtracking. Every evaluation step is a generator: a literal
// yields once per way it can be satisfied, binding variables in the frame's environment while
// the consumer runs and unbinding them (in `finally`) when it resumes or stops early.
import type { Literal, Module, Rule, Term } from './ast.ts';
import { builtins } from './builtins.ts';
import { BuiltinTypeError, RegoError, unsupported } from './errors.ts';
import { RObject, RSet, equal, type Value } from './values.ts';

/** A node of the virtual document tree: packages and rules by path. */
export interface TreeNode {
  readonly children: Map<string, TreeNode>;
  readonly rules: Rule[];
  /** The module a rule here belongs to (for name resolution in its body). */
  scope: Scope | undefined;
}

export interface Scope {
  readonly pkg: readonly string[];
  readonly ruleNames: ReadonlySet<string>;
  readonly imports: ReadonlyMap<string, readonly string[]>;
  readonly file: string;
}

interface Frame {
  readonly env: Map<string, Value>;
  readonly locals: Set<string>;
  readonly scope: Scope | undefined;
}

interface Ctx {
  readonly input: Value | undefined;
  readonly data: Value;
  readonly cache: Map<TreeNode, { value: Value | undefined } | 'busy'>;
  readonly overrides: ReadonlyMap<string, { term: Term; frame: Frame }>;
  /** Data paths replaced by `with data.x as …`. */
  readonly dataOverrides: readonly { path: string[]; value: Value }[];
}

export interface EvalOptions {
  /** Built-in errors stop evaluation instead of making the call undefined. */
  readonly strictBuiltinErrors?: boolean;
  /** Bound on evaluation steps, so a hostile policy cannot spin forever. */
  readonly stepsMax?: number;
}

const NOT_CONSTANT = Symbol('not constant');
const NO_SCOPE_FRAME = (): Frame => ({ env: new Map(), locals: new Set(), scope: undefined });

export class Compiled {
  readonly root: TreeNode = { children: new Map(), rules: [], scope: undefined };
  /** Per call site: the function it names and that function's arity. */
  readonly calls = new WeakMap<Term, { key: string | undefined; arity: number | undefined }>();
  /** Constant composite terms' values (see Evaluator.constant). */
  readonly constants = new WeakMap<Term, Value | typeof NOT_CONSTANT>();

  constructor(modules: readonly Module[]) {
    for (const m of modules) {
      const ruleNames = new Set(m.rules.map((r) => r.path[m.pkg.length]!));
      const imports = new Map(m.imports.map((i) => [i.alias, i.path] as const));
      const scope: Scope = { pkg: m.pkg, ruleNames, imports, file: m.file };
      this.node(m.pkg).scope ??= scope;
      for (const r of m.rules) {
        const n = this.node(r.path);
        if (n.rules.length > 0 && n.rules[0]!.kind !== r.kind) {
          throw new RegoError('rego_type_error', `${r.file}:${r.line}: rego_type_error: conflicting rules ${r.path.join('.')} found`);
        }
        if (r.isDefault && n.rules.some((x) => x.isDefault && x.args?.length === r.args?.length)) {
          throw new RegoError('rego_type_error', `${r.file}:${r.line}: rego_type_error: multiple default rules ${r.path.join('.')} found`);
        }
        n.rules.push(r);
        n.scope = scope;
      }
    }
    for (const m of modules) for (const r of m.rules) forEachCall(r, (call) => this.checkCall(call, this.lookup(r.path)!.scope!));
  }

  /** Unknown functions fail when the policy loads, not when a request happens to reach them. */
  private checkCall(call: Extract<Term, { t: 'call' }>, scope: Scope): void {
    if (builtins.has(call.name)) return;
    const path = call.name.split('.');
    let full: readonly string[] | undefined;
    if (path[0] === 'data') full = path.slice(1);
    else if (scope.imports.has(path[0]!)) full = [...scope.imports.get(path[0]!)!.slice(1), ...path.slice(1)];
    else if (scope.ruleNames.has(path[0]!)) full = [...scope.pkg, ...path];
    if (full !== undefined) {
      const node = this.lookup(full);
      if (node !== undefined && isFunctionNode(node)) return;
      throw new RegoError('rego_type_error', `${scope.file}:${call.line}: rego_type_error: undefined function ${call.name}`);
    }
    throw new RegoError('unsupported', `unsupported: built-in function ${call.name} (${scope.file}:${call.line})`);
  }

  private node(path: readonly string[]): TreeNode {
    let n = this.root;
    for (const p of path) {
      let c = n.children.get(p);
      if (c === undefined) { c = { children: new Map(), rules: [], scope: undefined }; n.children.set(p, c); }
      n = c;
    }
    return n;
  }

  lookup(path: readonly string[]): TreeNode | undefined {
    let n: TreeNode | undefined = this.root;
    for (const p of path) { n = n.children.get(p); if (n === undefined) return undefined; }
    return n;
  }
}

export class Evaluator {
  private ctx: Ctx;
  private readonly strict: boolean;
  private steps = 0;
  private readonly stepsMax: number;

  private readonly compiled: Compiled;

  constructor(compiled: Compiled, data: Value, input: Value | undefined, options: EvalOptions = {}) {
    this.compiled = compiled;
    this.ctx = { input, data, cache: new Map(), overrides: new Map(), dataOverrides: [] };
    this.strict = options.strictBuiltinErrors ?? false;
    this.stepsMax = options.stepsMax ?? 1_000_000;
  }

  /** Every solution of a query, as bindings of its named variables. */
  query(body: readonly Literal[]): Map<string, Value>[] {
    const frame = NO_SCOPE_FRAME();
    const names = queryVars(body);
    const out: Map<string, Value>[] = [];
    for (const _ of this.evalBody(body, 0, frame)) {
      const row = new Map<string, Value>();
      for (const n of names) { const v = frame.env.get(n); if (v !== undefined) row.set(n, v); }
      out.push(row);
    }
    return out;
  }

  /** The value of the document at a data path (a rule, a package, base data), or undefined. */
  document(path: readonly string[]): Value | undefined {
    const frame = NO_SCOPE_FRAME();
    const term: Term = { t: 'ref', head: { t: 'var', name: 'data' }, path: path.map((p) => ({ t: 'scalar', v: p })) };
    for (const v of this.evalTerm(term, frame)) return v;
    return undefined;
  }

  private tick(): void {
    if (++this.steps > this.stepsMax) throw new RegoError('eval_limit_error', `eval_limit_error: policy evaluation exceeded ${this.stepsMax} steps`);
  }

  // ---- bodies and literals ----

  /**
   * Literals run in the order written while they can; one that needs a variable only a later
   * literal binds waits for it (OPA's compiler reorders the same way), so `x > 1; x = input.n`
   * works. If none can run, the first runs and reports its unsafe variable.
   */
  *evalBody(body: readonly Literal[], i: number, f: Frame): Generator<void> {
    if (i === body.length) { yield; return; }
    const lit = body[i]!;
    if (i + 1 < body.length && !this.ready(lit, f)) {
      const k = body.findIndex((l, j) => j > i && this.ready(l, f));
      if (k > i) {
        const reordered = [...body.slice(0, i), body[k]!, ...body.slice(i, k), ...body.slice(k + 1)];
        yield* this.evalBody(reordered, i, f);
        return;
      }
    }
    const gen = lit.withs.length > 0 ? this.evalWith(lit, f) : this.evalLiteral(lit, f);
    for (const _ of gen) yield* this.evalBody(body, i + 1, f);
  }

  /** Whether a literal can run with the current bindings (it would not hit an unsafe variable). */
  private ready(lit: Literal, f: Frame): boolean {
    if (lit.withs.some((w) => !this.evaluable(w.value, f))) return false;
    if (lit.negated) return this.allBound(lit, f);
    const e = lit.expr;
    switch (e.e) {
      case 'term': return this.evaluable(e.term, f);
      case 'unify': return this.unifiable(e.a, e.b, f);
      case 'assign': return this.evaluable(e.b, f);
      case 'some': return true;
      case 'somein': case 'every': return this.evaluable(e.coll, f);
    }
  }

  private unifiable(a: Term, b: Term, f: Frame): boolean {
    if (this.evaluable(a, f) || this.evaluable(b, f)) return true;
    if (a.t === 'array' && b.t === 'array') return a.items.length === b.items.length && a.items.every((x, i) => this.unifiable(x, b.items[i]!, f));
    return a.t === 'object' && b.t === 'object';
  }

  /** A negated literal cannot bind: every variable in it (but `_`) must be bound already. */
  private allBound(lit: Literal, f: Frame): boolean {
    const e = lit.expr;
    const terms = e.e === 'term' ? [e.term] : e.e === 'unify' || e.e === 'assign' ? [e.a, e.b] : [];
    const ok = (t: Term): boolean => {
      switch (t.t) {
        case 'var': return t.name === '_' || f.env.has(t.name) || (!f.locals.has(t.name) && this.resolvesGlobally(t.name, f));
        case 'ref': return ok(t.head) && t.path.every(ok);
        case 'array': case 'set': return t.items.every(ok);
        case 'object': return t.pairs.every(([k, v]) => ok(k) && ok(v));
        case 'call': return t.args.every(ok);
        default: return true;
      }
    };
    return terms.every(ok);
  }

  private *evalLiteral(lit: Literal, f: Frame): Generator<void> {
    this.tick();
    if (lit.negated) {
      for (const _ of this.evalPositive(lit, f)) return;
      yield;
      return;
    }
    yield* this.evalPositive(lit, f);
  }

  private *evalPositive(lit: Literal, f: Frame): Generator<void> {
    const e = lit.expr;
    switch (e.e) {
      case 'term':
        for (const v of this.evalTerm(e.term, f)) if (v !== false) yield;
        return;
      case 'unify':
        yield* this.unify(e.a, e.b, f);
        return;
      case 'assign': {
        for (const name of termVars(e.a)) f.locals.add(name);
        yield* this.unify(e.a, e.b, f);
        return;
      }
      case 'some':
        yield* this.declare(e.vars, f);
        return;
      case 'somein': {
        const names = [...termVars(e.value), ...(e.key ? termVars(e.key) : [])];
        for (const _ of this.declare(names, f)) {
          for (const coll of this.evalTerm(e.coll, f)) {
            for (const [k, v] of entriesOf(coll)) {
              const pairs: [Term, Value][] = e.key ? [[e.key, k], [e.value, v]] : [[e.value, v]];
              yield* this.unifyValues(pairs, 0, f);
            }
          }
        }
        return;
      }
      case 'every': {
        const names = [...termVars(e.value), ...(e.key ? termVars(e.key) : [])];
        for (const coll of this.evalTerm(e.coll, f)) {
          if (coll === null || typeof coll !== 'object') continue; // every over a non-collection is undefined
          let all = true;
          for (const _ of this.declare(names, f)) {
            for (const [k, v] of entriesOf(coll)) {
              const pairs: [Term, Value][] = e.key ? [[e.key, k], [e.value, v]] : [[e.value, v]];
              let ok = false;
              for (const _b of this.unifyValues(pairs, 0, f)) {
                for (const _c of this.evalBody(e.body, 0, f)) { ok = true; break; }
                if (ok) break;
              }
              if (!ok) { all = false; break; }
            }
          }
          if (all) yield;
        }
        return;
      }
    }
  }

  /** `some x`: x becomes a fresh local for the rest of the body, hiding an outer binding. */
  private *declare(names: readonly string[], f: Frame): Generator<void> {
    const saved: [string, Value][] = [];
    for (const n of names) {
      const v = f.env.get(n);
      if (v !== undefined) { saved.push([n, v]); f.env.delete(n); }
      f.locals.add(n);
    }
    try { yield; } finally { for (const [n, v] of saved) f.env.set(n, v); }
  }

  private *evalWith(lit: Literal, f: Frame): Generator<void> {
    let input = this.ctx.input;
    const overrides = new Map(this.ctx.overrides);
    const dataOverrides = [...this.ctx.dataOverrides];
    for (const w of lit.withs) {
      const target = refPath(w.target);
      if (target === undefined) throw new RegoError('rego_compile_error', `with target must be a reference to input, data or a function`);
      if (target[0] === 'input') {
        const value = this.first(w.value, f);
        if (value === undefined) return;
        input = target.length === 1 ? value : setPath(input, target.slice(1), value);
        continue;
      }
      const fnKey = this.functionKey(target, f);
      if (fnKey !== undefined) { overrides.set(fnKey, { term: w.value, frame: f }); continue; }
      if (target[0] === 'data') {
        const value = this.first(w.value, f);
        if (value === undefined) return;
        dataOverrides.push({ path: target.slice(1), value });
        continue;
      }
      throw new RegoError('rego_compile_error', `with target ${target.join('.')} must be input, data or a function`);
    }
    const ctx: Ctx = { input, data: this.ctx.data, cache: new Map(), overrides, dataOverrides };
    const gen = this.evalLiteral(lit, f);
    const outer = this.ctx;
    for (;;) {
      this.ctx = ctx;
      let r: IteratorResult<void>;
      try { r = gen.next(); } finally { this.ctx = outer; }
      if (r.done) return;
      yield;
    }
  }

  private first(t: Term, f: Frame): Value | undefined {
    for (const v of this.evalTerm(t, f)) return v;
    return undefined;
  }

  // ---- unification ----

  *unify(a: Term, b: Term, f: Frame): Generator<void> {
    if (a.t === 'array' && b.t === 'array') {
      if (a.items.length !== b.items.length) return;
      yield* this.unifyTerms(a.items.map((x, i) => [x, b.items[i]!] as const), 0, f);
      return;
    }
    if (this.evaluable(b, f)) {
      for (const v of this.evalTerm(b, f)) yield* this.unifyValue(a, v, f);
      return;
    }
    if (this.evaluable(a, f)) {
      for (const v of this.evalTerm(a, f)) yield* this.unifyValue(b, v, f);
      return;
    }
    if (a.t === 'object' && b.t === 'object') {
      if (a.pairs.length !== b.pairs.length) return;
      const pairs: (readonly [Term, Term])[] = [];
      for (const [ka, va] of a.pairs) {
        const kv = this.first(ka, f);
        const match = b.pairs.find(([kb]) => { const x = this.first(kb, f); return x !== undefined && kv !== undefined && equal(x, kv); });
        if (match === undefined) return;
        pairs.push([va, match[1]]);
      }
      yield* this.unifyTerms(pairs, 0, f);
      return;
    }
    throw this.unsafe(a, b, f);
  }

  private unsafe(a: Term, b: Term, f: Frame): RegoError {
    const names = [...termVars(a), ...termVars(b)].filter((n) => !f.env.has(n));
    return new RegoError('rego_unsafe_var_error', `rego_unsafe_var_error: var ${names[0] ?? '?'} is unsafe`);
  }

  private *unifyTerms(pairs: readonly (readonly [Term, Term])[], i: number, f: Frame): Generator<void> {
    if (i === pairs.length) { yield; return; }
    for (const _ of this.unify(pairs[i]![0], pairs[i]![1], f)) yield* this.unifyTerms(pairs, i + 1, f);
  }

  private *unifyValues(pairs: readonly [Term, Value][], i: number, f: Frame): Generator<void> {
    if (i === pairs.length) { yield; return; }
    for (const _ of this.unifyValue(pairs[i]![0], pairs[i]![1], f)) yield* this.unifyValues(pairs, i + 1, f);
  }

  *unifyValue(t: Term, v: Value, f: Frame): Generator<void> {
    switch (t.t) {
      case 'var': {
        if (t.name === '_') { yield; return; }
        const bound = f.env.get(t.name);
        if (bound !== undefined) { if (equal(bound, v)) yield; return; }
        if (!f.locals.has(t.name) && this.resolvesGlobally(t.name, f)) {
          for (const x of this.evalTerm(t, f)) if (equal(x, v)) yield;
          return;
        }
        f.env.set(t.name, v);
        try { yield; } finally { f.env.delete(t.name); }
        return;
      }
      case 'array':
        if (!Array.isArray(v) || v.length !== t.items.length) return;
        yield* this.unifyValues(t.items.map((x, i) => [x, v[i]!]), 0, f);
        return;
      case 'object': {
        if (!(v instanceof RObject) || v.size !== t.pairs.length) return;
        const pairs: [Term, Value][] = [];
        for (const [kt, vt] of t.pairs) {
          const k = this.first(kt, f);
          if (k === undefined) throw unsupported('object patterns with variable keys');
          const x = v.get(k);
          if (x === undefined) return;
          pairs.push([vt, x]);
        }
        yield* this.unifyValues(pairs, 0, f);
        return;
      }
      default:
        for (const x of this.evalTerm(t, f)) if (equal(x, v)) yield;
    }
  }

  private resolvesGlobally(name: string, f: Frame): boolean {
    return name === 'input' || name === 'data' || (f.scope !== undefined && (f.scope.ruleNames.has(name) || f.scope.imports.has(name)));
  }

  /** Whether a term can be evaluated now (variables in reference keys are generated). */
  private evaluable(t: Term, f: Frame): boolean {
    switch (t.t) {
      case 'scalar': case 'arraycomp': case 'setcomp': case 'objcomp': return true;
      case 'var': return t.name !== '_' && (f.env.has(t.name) || (!f.locals.has(t.name) && this.resolvesGlobally(t.name, f)));
      case 'ref': return this.evaluable(t.head, f);
      case 'array': case 'set': return t.items.every((x) => this.evaluable(x, f));
      case 'object': return t.pairs.every(([k, v]) => this.evaluable(k, f) && this.evaluable(v, f));
      case 'call': {
        // `f(x, out)`: the extra last argument is an output.
        const { arity } = this.callInfo(t, f);
        const inputs = arity !== undefined && t.args.length === arity + 1 ? t.args.slice(0, arity) : t.args;
        return inputs.every((x) => this.evaluable(x, f));
      }
    }
  }

  // ---- terms ----

  *evalTerm(t: Term, f: Frame): Generator<Value> {
    switch (t.t) {
      case 'scalar': yield t.v; return;
      case 'var': yield* this.evalVar(t.name, [], f); return;
      case 'ref':
        if (t.head.t === 'var') yield* this.evalVar(t.head.name, t.path, f);
        else for (const h of this.evalTerm(t.head, f)) yield* this.walkValue(h, t.path, 0, f);
        return;
      case 'array': {
        const constant = this.constant(t);
        if (constant !== undefined) { yield constant; return; }
        for (const items of this.evalList(t.items, 0, f)) yield items;
        return;
      }
      case 'set': {
        const constant = this.constant(t);
        if (constant !== undefined) { yield constant; return; }
        for (const items of this.evalList(t.items, 0, f)) yield RSet.from(items);
        return;
      }
      case 'object': {
        const constant = this.constant(t);
        if (constant !== undefined) { yield constant; return; }
        const flat = t.pairs.flatMap(([k, v]) => [k, v]);
        for (const items of this.evalList(flat, 0, f)) {
          const o = new RObject();
          for (let i = 0; i < items.length; i += 2) o.set(items[i]!, items[i + 1]!);
          yield o;
        }
        return;
      }
      case 'arraycomp': case 'setcomp': {
        const out: Value[] = [];
        const inner = this.innerFrame(f);
        for (const _ of this.evalBody(t.body, 0, inner)) for (const v of this.evalTerm(t.term, inner)) out.push(v);
        yield t.t === 'arraycomp' ? out : RSet.from(out);
        return;
      }
      case 'objcomp': {
        const o = new RObject();
        const inner = this.innerFrame(f);
        for (const _ of this.evalBody(t.body, 0, inner)) {
          for (const k of this.evalTerm(t.key, inner)) {
            for (const v of this.evalTerm(t.value, inner)) {
              const old = o.get(k);
              if (old !== undefined && !equal(old, v)) throw new RegoError('eval_conflict_error', `eval_conflict_error: object keys must be unique`);
              o.set(k, v);
            }
          }
        }
        yield o;
        return;
      }
      case 'call': yield* this.evalCall(t, f); return;
    }
  }

  /** The value of a composite term made of scalars only (`["readdir", "stat"]`), computed once. */
  private constant(t: Term): Value | undefined {
    const cached = this.compiled.constants.get(t);
    if (cached !== undefined) return cached === NOT_CONSTANT ? undefined : cached;
    const ground = (x: Term): boolean => x.t === 'scalar' || ((x.t === 'array' || x.t === 'set') && x.items.every(ground)) || (x.t === 'object' && x.pairs.every(([k, v]) => ground(k) && ground(v)));
    const build = (x: Term): Value => {
      switch (x.t) {
        case 'scalar': return x.v;
        case 'array': return x.items.map(build);
        case 'set': return RSet.from(x.items.map(build));
        case 'object': return RObject.from(x.pairs.map(([k, v]) => [build(k), build(v)]));
        default: throw new Error('unreachable: not a constant term');
      }
    };
    const value = ground(t) ? build(t) : undefined;
    this.compiled.constants.set(t, value === undefined ? NOT_CONSTANT : value);
    return value;
  }

  /** A comprehension or `every` body sees the outer bindings; its own bindings stay inside. */
  private innerFrame(f: Frame): Frame {
    return { env: new Map(f.env), locals: new Set(f.locals), scope: f.scope };
  }

  private *evalList(items: readonly Term[], i: number, f: Frame): Generator<Value[]> {
    if (i === items.length) { yield []; return; }
    for (const v of this.evalTerm(items[i]!, f)) {
      for (const rest of this.evalList(items, i + 1, f)) yield [v, ...rest];
    }
  }

  private *evalVar(name: string, path: readonly Term[], f: Frame): Generator<Value> {
    const bound = f.env.get(name);
    if (bound !== undefined) { yield* this.walkValue(bound, path, 0, f); return; }
    if (name === '_' || f.locals.has(name)) throw new RegoError('rego_unsafe_var_error', `rego_unsafe_var_error: var ${name} is unsafe`);
    if (name === 'input') {
      if (this.ctx.input !== undefined) yield* this.walkValue(this.ctx.input, path, 0, f);
      return;
    }
    if (name === 'data') { yield* this.walkData(path, f); return; }
    const scope = f.scope;
    const imp = scope?.imports.get(name);
    if (imp !== undefined) {
      const full = [...imp.slice(1).map((p): Term => ({ t: 'scalar', v: p })), ...path];
      if (imp[0] === 'input') { if (this.ctx.input !== undefined) yield* this.walkValue(this.ctx.input, full, 0, f); }
      else yield* this.walkData(full, f);
      return;
    }
    if (scope !== undefined && scope.ruleNames.has(name)) {
      yield* this.walkData([...scope.pkg, name].map((p): Term => ({ t: 'scalar', v: p })).concat(path), f);
      return;
    }
    throw new RegoError('rego_unsafe_var_error', `rego_unsafe_var_error: var ${name} is unsafe`);
  }

  private *walkData(path: readonly Term[], f: Frame): Generator<Value> {
    if (this.ctx.dataOverrides.length > 0) {
      const ground: string[] = [];
      for (const p of path) { if (p.t === 'scalar' && typeof p.v === 'string') ground.push(p.v); else break; }
      for (let j = this.ctx.dataOverrides.length - 1; j >= 0; j--) {
        const o = this.ctx.dataOverrides[j]!;
        if (o.path.length <= ground.length && o.path.every((p, i) => p === ground[i])) {
          yield* this.walkValue(o.value, path, o.path.length, f);
          return;
        }
      }
    }
    yield* this.walkTree(this.compiled.root, this.ctx.data, path, 0, f);
  }

  private *walkTree(node: TreeNode | undefined, base: Value | undefined, path: readonly Term[], i: number, f: Frame): Generator<Value> {
    this.tick();
    if (node === undefined) { if (base !== undefined) yield* this.walkValue(base, path, i, f); return; }
    if (node.rules.length > 0) {
      if (node.rules[0]!.kind === 'func') throw new RegoError('rego_type_error', `rego_type_error: function ${node.rules[0]!.path.join('.')} called without arguments`);
      const v = this.ruleValue(node);
      if (v !== undefined) yield* this.walkValue(v, path, i, f);
      return;
    }
    if (i === path.length) { const doc = this.buildDoc(node, base); if (doc !== undefined) yield doc; return; }
    const p = path[i]!;
    if (this.evaluable(p, f)) {
      for (const key of this.evalTerm(p, f)) {
        const child = typeof key === 'string' ? node.children.get(key) : undefined;
        const childBase = base instanceof RObject ? base.get(key) : undefined;
        if (child !== undefined || childBase !== undefined) yield* this.walkTree(child, childBase, path, i + 1, f);
        else if (base !== undefined && !(base instanceof RObject)) yield* this.walkValue(base, path, i, f);
      }
      return;
    }
    const keys = new Set<string>(node.children.keys());
    if (base instanceof RObject) for (const k of base.keys()) if (typeof k === 'string') keys.add(k);
    for (const key of keys) {
      const child = node.children.get(key);
      if (child !== undefined && isFunctionNode(child)) continue;
      for (const _ of this.unifyValue(p, key, f)) {
        yield* this.walkTree(child, base instanceof RObject ? base.get(key) : undefined, path, i + 1, f);
      }
    }
  }

  private buildDoc(node: TreeNode, base: Value | undefined): Value | undefined {
    if (node.rules.length > 0) return node.rules[0]!.kind === 'func' ? undefined : this.ruleValue(node);
    const out = new RObject();
    if (base instanceof RObject) for (const [k, v] of base.pairs()) out.set(k, v);
    else if (base !== undefined && node.children.size === 0) return base;
    for (const [k, child] of node.children) {
      const v = this.buildDoc(child, base instanceof RObject ? base.get(k) : undefined);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  *walkValue(v: Value, path: readonly Term[], i: number, f: Frame): Generator<Value> {
    // Constant keys (`input.url_parsed.host`) need no generator per step.
    while (i < path.length) {
      const p = path[i]!;
      if (p.t !== 'scalar') break;
      const x = member(v, p.v);
      if (x === undefined) return;
      v = x;
      i++;
    }
    if (i === path.length) { yield v; return; }
    const p = path[i]!;
    if (this.evaluable(p, f)) {
      for (const key of this.evalTerm(p, f)) {
        const x = member(v, key);
        if (x !== undefined) yield* this.walkValue(x, path, i + 1, f);
      }
      return;
    }
    for (const [k, x] of entriesOf(v)) {
      for (const _ of this.unifyValue(p, k, f)) yield* this.walkValue(x, path, i + 1, f);
    }
  }

  // ---- rules ----

  private ruleValue(node: TreeNode): Value | undefined {
    const cached = this.ctx.cache.get(node);
    if (cached === 'busy') throw new RegoError('rego_recursion_error', `rego_recursion_error: rule ${node.rules[0]!.path.join('.')} is recursive`);
    if (cached !== undefined) return cached.value;
    this.ctx.cache.set(node, 'busy');
    try {
      const value = this.computeRule(node);
      this.ctx.cache.set(node, { value });
      return value;
    } catch (err) {
      this.ctx.cache.delete(node);
      throw err;
    }
  }

  private computeRule(node: TreeNode): Value | undefined {
    const kind = node.rules[0]!.kind;
    if (kind === 'set') {
      const out = new RSet();
      for (const r of node.rules) {
        if (r.isDefault) continue;
        const f = this.ruleFrame(node);
        for (const _ of this.evalBody(r.branches[0]!.body, 0, f)) for (const v of this.evalTerm(r.key!, f)) out.add(v);
      }
      return out;
    }
    if (kind === 'object') {
      const out = new RObject();
      for (const r of node.rules) {
        if (r.isDefault) continue;
        const f = this.ruleFrame(node);
        for (const _ of this.evalBody(r.branches[0]!.body, 0, f)) {
          for (const k of this.evalTerm(r.key!, f)) {
            for (const v of this.evalTerm(r.branches[0]!.value, f)) {
              const old = out.get(k);
              if (old !== undefined && !equal(old, v)) throw new RegoError('eval_conflict_error', `${r.file}:${r.line}: eval_conflict_error: object keys must be unique`);
              out.set(k, v);
            }
          }
        }
      }
      return out;
    }
    return this.completeValue(node.rules, (r) => ({ f: this.ruleFrame(node), ok: true }), 'complete rules must not produce multiple outputs');
  }

  private ruleFrame(node: TreeNode): Frame {
    return { env: new Map(), locals: new Set(), scope: node.scope };
  }

  /** Complete rules and functions: one value from every rule that holds, else the default. */
  private completeValue(rules: readonly Rule[], frameFor: (r: Rule) => { f: Frame; ok: boolean } | undefined, conflict: string): Value | undefined {
    let result: Value | undefined;
    let fallback: Value | undefined;
    for (const r of rules) {
      const fr = frameFor(r);
      if (fr === undefined) continue;
      if (r.isDefault) {
        for (const v of this.evalTerm(r.branches[0]!.value, fr.f)) fallback = v;
        continue;
      }
      for (const _ of this.headArgs(r, fr.f)) {
        for (const branch of r.branches) {
          let matched = false;
          for (const _b of this.evalBody(branch.body, 0, fr.f)) {
            for (const v of this.evalTerm(branch.value, fr.f)) {
              matched = true;
              if (result !== undefined && !equal(result, v)) throw new RegoError('eval_conflict_error', `${r.file}:${r.line}: eval_conflict_error: ${conflict}`);
              result = v;
            }
          }
          if (matched) break;
        }
      }
    }
    return result !== undefined ? result : fallback;
  }

  private pendingArgs: Value[] = [];

  /** Binds a function's parameters to the pending call's arguments. */
  private *headArgs(r: Rule, f: Frame): Generator<void> {
    if (r.args === undefined) { yield; return; }
    const args = this.pendingArgs;
    for (const a of r.args) for (const n of termVars(a)) f.locals.add(n);
    yield* this.unifyValues(r.args.map((t, i) => [t, args[i]!]), 0, f);
  }

  private callUser(node: TreeNode, args: Value[]): Value | undefined {
    const rules = node.rules.filter((r) => r.args?.length === args.length);
    if (rules.length === 0) throw new RegoError('rego_type_error', `rego_type_error: ${node.rules[0]!.path.join('.')}: arity mismatch`);
    const saved = this.pendingArgs;
    this.pendingArgs = args;
    try {
      return this.completeValue(rules, (r) => {
        const f = this.ruleFrame(node);
        if (r.isDefault) {
          let ok = false;
          for (const _ of this.headArgs(r, f)) { ok = true; break; }
          if (!ok) return undefined;
        }
        return { f, ok: true };
      }, 'functions must not produce multiple outputs for same inputs');
    } finally {
      this.pendingArgs = saved;
    }
  }

  // ---- calls ----

  /** The key under which a function is known: a built-in's name or a user function's data path. */
  private functionKey(path: readonly string[], f: Frame): string | undefined {
    const node = this.userFunction(path, f);
    if (node !== undefined) return `data.${node.rules[0]!.path.join('.')}`;
    const name = path.join('.');
    return builtins.has(name) ? name : undefined;
  }

  private userFunction(path: readonly string[], f: Frame): TreeNode | undefined {
    let full: readonly string[] | undefined;
    if (path[0] === 'data') full = path.slice(1);
    else if (f.scope?.imports.has(path[0]!)) full = [...f.scope.imports.get(path[0]!)!.slice(1), ...path.slice(1)];
    else if (f.scope?.ruleNames.has(path[0]!)) full = [...f.scope.pkg, ...path];
    if (full === undefined) return undefined;
    const node = this.compiled.lookup(full);
    return node !== undefined && isFunctionNode(node) ? node : undefined;
  }

  /** A call's function key and arity: fixed per call site (its module's scope), so cached. */
  private callInfo(t: Extract<Term, { t: 'call' }>, f: Frame): { key: string | undefined; arity: number | undefined } {
    let info = this.compiled.calls.get(t);
    if (info === undefined) {
      const key = this.functionKey(t.name.split('.'), f);
      info = { key, arity: key === undefined ? undefined : this.arityOf(key) };
      this.compiled.calls.set(t, info);
    }
    return info;
  }

  private *evalCall(t: Extract<Term, { t: 'call' }>, f: Frame): Generator<Value> {
    const { key, arity } = this.callInfo(t, f);
    if (key === undefined) {
      const head = t.name.split('.')[0]!;
      if (f.scope?.ruleNames.has(head) || head === 'data') throw new RegoError('rego_type_error', `rego_type_error: undefined function ${t.name}`);
      throw unsupported(`built-in function ${t.name}`);
    }
    // `f(x, out)`: one argument more than the function takes is unified with its result.
    if (arity !== undefined && t.args.length === arity + 1) {
      for (const args of this.evalList(t.args.slice(0, arity), 0, f)) {
        const v = this.callKey(key, args, t, f);
        if (v !== undefined) for (const _ of this.unifyValue(t.args[arity]!, v, f)) yield true;
      }
      return;
    }
    for (const args of this.evalList(t.args, 0, f)) {
      const v = this.callKey(key, args, t, f);
      if (v !== undefined) yield v;
    }
  }

  private arityOf(key: string): number | undefined {
    if (!key.startsWith('data.')) return builtins.get(key)?.arity;
    return this.compiled.lookup(key.split('.').slice(1))?.rules[0]?.args?.length;
  }

  private callKey(key: string, args: Value[], t: Extract<Term, { t: 'call' }>, f: Frame): Value | undefined {
    const o = this.ctx.overrides.get(key);
    if (o !== undefined) {
      const target = refPath(o.term);
      const replacement = target === undefined ? undefined : this.functionKey(target, o.frame);
      if (replacement === undefined) { const v = this.first(o.term, o.frame); return v; }
      if (replacement !== key) {
        // Inside the replacement, the replaced function is the original again (OPA's scoping).
        const overrides = new Map(this.ctx.overrides);
        overrides.delete(key);
        const outer = this.ctx;
        this.ctx = { ...outer, cache: new Map(), overrides };
        try { return this.callKey(replacement, args, t, o.frame); } finally { this.ctx = outer; }
      }
    }
    if (key.startsWith('data.')) return this.callUser(this.compiled.lookup(key.split('.').slice(1))!, args);
    const b = builtins.get(key)!;
    if (b.arity !== undefined && b.arity !== args.length) throw new RegoError('rego_type_error', `rego_type_error: ${key}: arity mismatch: expected ${b.arity} arguments, got ${args.length}`);
    try {
      return b.fn(args);
    } catch (err) {
      if (err instanceof BuiltinTypeError) {
        if (!this.strict) return undefined;
        const file = f.scope?.file ?? 'query';
        throw new RegoError(err.code, `${file}:${t.line}: ${err.code}: ${key}: ${err.message}`);
      }
      throw err;
    }
  }
}

/** Calls anywhere in a rule: heads, bodies, comprehensions, `with` values. */
function forEachCall(r: Rule, visit: (call: Extract<Term, { t: 'call' }>) => void): void {
  const term = (t: Term): void => {
    switch (t.t) {
      case 'call': visit(t); t.args.forEach(term); break;
      case 'ref': term(t.head); t.path.forEach(term); break;
      case 'array': case 'set': t.items.forEach(term); break;
      case 'object': t.pairs.forEach(([k, v]) => { term(k); term(v); }); break;
      case 'arraycomp': case 'setcomp': term(t.term); body(t.body); break;
      case 'objcomp': term(t.key); term(t.value); body(t.body); break;
      default: break;
    }
  };
  const body = (lits: readonly Literal[]): void => {
    for (const lit of lits) {
      const e = lit.expr;
      if (e.e === 'term') term(e.term);
      else if (e.e === 'unify' || e.e === 'assign') { term(e.a); term(e.b); }
      else if (e.e === 'somein') { if (e.key) term(e.key); term(e.value); term(e.coll); }
      else if (e.e === 'every') { term(e.coll); body(e.body); }
      for (const w of lit.withs) term(w.value);
    }
  };
  if (r.key) term(r.key);
  r.args?.forEach(term);
  for (const b of r.branches) { term(b.value); body(b.body); }
}

function isFunctionNode(n: TreeNode): boolean {
  return n.rules.length > 0 && n.rules[0]!.kind === 'func';
}

/** Keys and values of a collection: array indexes, object keys, set members (as both). */
export function entriesOf(v: Value): [Value, Value][] {
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (v instanceof RObject) return [...v.pairs()];
  if (v instanceof RSet) return v.values().map((x) => [x, x]);
  return [];
}

export function member(v: Value, key: Value): Value | undefined {
  if (Array.isArray(v)) return typeof key === 'number' && Number.isInteger(key) ? v[key] : undefined;
  if (v instanceof RObject) return v.get(key);
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

function refPath(t: Term): string[] | undefined {
  if (t.t === 'var') return [t.name];
  if (t.t !== 'ref' || t.head.t !== 'var') return undefined;
  const out = [t.head.name];
  for (const p of t.path) { if (p.t !== 'scalar' || typeof p.v !== 'string') return undefined; out.push(p.v); }
  return out;
}

function setPath(base: Value | undefined, path: readonly string[], value: Value): Value {
  if (path.length === 0) return value;
  const out = new RObject();
  if (base instanceof RObject) for (const [k, v] of base.pairs()) out.set(k, v);
  out.set(path[0]!, setPath(base instanceof RObject ? base.get(path[0]!) : undefined, path.slice(1), value));
  return out;
}

/** Variables in a term that a pattern could bind (not those inside refs' heads or calls). */
export function termVars(t: Term): string[] {
  switch (t.t) {
    case 'var': return t.name === '_' ? [] : [t.name];
    case 'array': case 'set': return t.items.flatMap(termVars);
    case 'object': return t.pairs.flatMap(([, v]) => termVars(v));
    default: return [];
  }
}

/** Named variables of a query, in order of appearance, for the result rows. */
function queryVars(body: readonly Literal[]): string[] {
  const out: string[] = [];
  const add = (n: string): void => { if (n !== '_' && n !== 'input' && n !== 'data' && !n.startsWith('__') && !out.includes(n)) out.push(n); };
  const walk = (t: Term): void => {
    switch (t.t) {
      case 'var': add(t.name); break;
      case 'ref': walk(t.head); t.path.forEach(walk); break;
      case 'array': case 'set': t.items.forEach(walk); break;
      case 'object': t.pairs.forEach(([k, v]) => { walk(k); walk(v); }); break;
      case 'call': t.args.forEach(walk); break;
      default: break;
    }
  };
  for (const lit of body) {
    const e = lit.expr;
    if (lit.negated) continue;
    if (e.e === 'term') walk(e.term);
    else if (e.e === 'unify' || e.e === 'assign') { walk(e.a); walk(e.b); }
    else if (e.e === 'some') e.vars.forEach(add);
    else if (e.e === 'somein') { if (e.key) walk(e.key); walk(e.value); }
  }
  return out;
}
