// A recursive-descent parser for Rego v1 modules, queries and terms. Precedence, lowest first:
// `in`, relations (== != < <= > >=), `|`, `&`, `+ -`, `* / %`. Line breaks end a body literal
// unless they fall inside brackets.
import type { Expr, Import, Literal, Module, Rule, RuleBranch, RuleKind, Term, With } from './ast.ts';
import { TRUE_TERM } from './ast.ts';
import { RegoError, unsupported } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';

const RELATIONS: Record<string, string> = { '==': 'equal', '!=': 'neq', '<': 'lt', '<=': 'lte', '>': 'gt', '>=': 'gte' };
const ADDITIVE: Record<string, string> = { '+': 'plus', '-': 'minus' };
const MULTIPLICATIVE: Record<string, string> = { '*': 'mul', '/': 'div', '%': 'rem' };
const KEYWORDS = new Set(['package', 'import', 'default', 'if', 'else', 'not', 'some', 'every', 'in', 'contains', 'with', 'as']);

export class Parser {
  private readonly toks: Token[];
  private pos = 0;
  /** Bracket nesting: line breaks inside brackets do not end a literal. */
  private depth = 0;
  /** False while parsing the first element of `[...]`/`{...}`, where `|` starts a comprehension. */
  private orAllowed = true;
  private readonly file: string;

  constructor(src: string, file: string) {
    this.file = file;
    this.toks = tokenize(src, file);
  }

  private get tok(): Token { return this.toks[this.pos]!; }
  private peek(n = 1): Token { return this.toks[Math.min(this.pos + n, this.toks.length - 1)]!; }
  private next(): Token { return this.toks[this.pos++]!; }
  private is(text: string): boolean { const t = this.tok; return (t.kind === 'op' || t.kind === 'ident') && t.text === text; }
  private fail(msg: string, tok: Token = this.tok): never {
    throw new RegoError('rego_parse_error', `${this.file}:${tok.line}: rego_parse_error: ${msg}`);
  }
  private expect(text: string): Token {
    if (!this.is(text)) this.fail(`expected ${text} but found ${this.tok.text || 'end of input'}`);
    return this.next();
  }
  /** True when the current token continues the expression on this line (or inside brackets). */
  private sameLine(): boolean { return this.depth > 0 || !this.tok.newlineBefore; }

  parseModule(): Module {
    this.expect('package');
    const pkg = this.parseDottedPath();
    const imports: Import[] = [];
    const rules: Rule[] = [];
    while (this.is('import')) {
      this.next();
      const path = this.parseDottedPath();
      let alias = path[path.length - 1]!;
      if (this.is('as')) { this.next(); alias = this.ident(); }
      if (path[0] === 'future' || path[0] === 'rego') continue;
      if (path[0] !== 'data' && path[0] !== 'input') this.fail(`invalid import ${path.join('.')}: must begin with input or data`);
      imports.push({ path, alias });
    }
    while (this.tok.kind !== 'eof') rules.push(...this.parseRule(pkg));
    return { file: this.file, pkg, imports, rules };
  }

  parseQuery(): Literal[] {
    const body = this.parseLiterals('eof');
    if (this.tok.kind !== 'eof') this.fail(`unexpected ${this.tok.text}`);
    return body;
  }

  parseStandaloneTerm(): Term {
    const term = this.parseExprTerm();
    if (this.tok.kind !== 'eof') this.fail(`unexpected ${this.tok.text}`);
    return term;
  }

  private ident(): string {
    if (this.tok.kind !== 'ident') this.fail(`expected a name but found ${this.tok.text || 'end of input'}`);
    return this.next().text;
  }

  private parseDottedPath(): string[] {
    const path = [this.ident()];
    while (this.is('.') || (this.is('[') && this.peek().kind === 'string')) {
      if (this.next().text === '.') path.push(this.ident());
      else { path.push(this.next().value!); this.expect(']'); }
    }
    return path;
  }

  private parseRule(pkg: readonly string[]): Rule[] {
    const start = this.tok;
    const isDefault = this.is('default');
    if (isDefault) this.next();
    const name = this.ident();
    if (KEYWORDS.has(name)) this.fail(`unexpected ${name} keyword`, start);
    const path: string[] = [...pkg, name];
    let key: Term | undefined;
    while (this.is('.') || this.is('[')) {
      if (this.next().text === '.') { path.push(this.ident()); continue; }
      this.depth++;
      const k = this.parseExprTerm();
      this.depth--;
      this.expect(']');
      if (k.t === 'scalar' && typeof k.v === 'string' && !(this.is('[') || this.is('.'))) {
        if (this.is(':=') || this.is('=') || this.is('if') || this.is('{') || this.is('contains')) { path.push(k.v); continue; }
      }
      if (key !== undefined) throw unsupported('rule heads with more than one variable key');
      key = k;
    }
    let args: Term[] | undefined;
    if (this.is('(') && !this.tok.newlineBefore) {
      this.next();
      this.depth++;
      args = [];
      while (!this.is(')')) {
        args.push(this.parseExprTerm());
        if (!this.is(')')) this.expect(',');
      }
      this.depth--;
      this.next();
    }
    let kind: RuleKind = args !== undefined ? 'func' : key !== undefined ? 'object' : 'complete';
    let value: Term = TRUE_TERM;
    if (this.is('contains')) {
      if (key !== undefined || args !== undefined) this.fail('contains cannot follow a key or arguments');
      this.next();
      key = this.parseExprTerm();
      kind = 'set';
    } else if ((this.is(':=') || this.is('=')) && this.sameLine()) {
      this.next();
      value = this.parseExprTerm();
    }
    if (isDefault) {
      if (this.is('if') || this.is('{')) this.fail('default rules must not have a body', start);
      return [{ kind, path, key, args, isDefault, branches: [{ value, body: [] }], file: this.file, line: start.line }];
    }
    const branches: RuleBranch[] = [{ value, body: this.parseRuleBody() }];
    while (this.is('else')) {
      this.next();
      let elseValue: Term = TRUE_TERM;
      if (this.is(':=') || this.is('=')) { this.next(); elseValue = this.parseExprTerm(); }
      branches.push({ value: elseValue, body: this.parseRuleBody() });
    }
    return [{ kind, path, key, args, isDefault, branches, file: this.file, line: start.line }];
  }

  /** `if { … }`, `if literal`, `{ … }`, or nothing (an always-true body). */
  private parseRuleBody(): Literal[] {
    if (this.is('if')) {
      this.next();
      if (this.is('{')) return this.parseBraceBody();
      const saved = this.depth;
      this.depth = 0;
      const lit = this.parseLiteral();
      this.depth = saved;
      return [lit];
    }
    if (this.is('{') && this.sameLine()) return this.parseBraceBody();
    return [];
  }

  private parseBraceBody(): Literal[] {
    this.expect('{');
    const body = this.parseLiterals('}');
    this.expect('}');
    return body;
  }

  private parseLiterals(end: string): Literal[] {
    const saved = { depth: this.depth, or: this.orAllowed };
    this.depth = 0;
    this.orAllowed = true;
    const out: Literal[] = [];
    while (!(end === 'eof' ? this.tok.kind === 'eof' : this.is(end))) {
      if (this.is(';')) { this.next(); continue; }
      if (out.length > 0 && !this.tok.newlineBefore && !this.toks[this.pos - 1]!.text.endsWith(';')) this.fail(`unexpected ${this.tok.text}`);
      out.push(this.parseLiteral());
    }
    this.depth = saved.depth;
    this.orAllowed = saved.or;
    if (out.length === 0 && end !== 'eof') this.fail('found empty body');
    return out;
  }

  private parseLiteral(): Literal {
    const line = this.tok.line;
    let negated = false;
    let expr: Expr;
    if (this.is('some')) expr = this.parseSome();
    else if (this.is('every')) expr = this.parseEvery();
    else {
      if (this.is('not')) { this.next(); negated = true; }
      expr = this.parseExpr();
    }
    const withs: With[] = [];
    while (this.is('with') && this.sameLine()) {
      this.next();
      const target = this.parseOperand('relation');
      this.expect('as');
      withs.push({ target, value: this.parseExprTerm() });
    }
    return { negated, expr, withs, line };
  }

  private parseSome(): Expr {
    this.next();
    const first = this.parseOperand('relation');
    if (this.is(',') || this.is('in')) {
      let key: Term | undefined;
      let value = first;
      if (this.is(',')) {
        this.next();
        const second = this.parseOperand('relation');
        if (!this.is('in')) {
          const vars = [first, second];
          while (this.is(',')) { this.next(); vars.push(this.parseOperand('relation')); }
          return { e: 'some', vars: vars.map((v) => this.varName(v)) };
        }
        key = first;
        value = second;
      }
      this.expect('in');
      return { e: 'somein', key, value, coll: this.parseOperand('relation') };
    }
    return { e: 'some', vars: [this.varName(first)] };
  }

  private varName(t: Term): string {
    if (t.t !== 'var') this.fail('expected a variable');
    return t.name;
  }

  private parseEvery(): Expr {
    this.next();
    let value: Term = { t: 'var', name: this.ident() };
    let key: Term | undefined;
    if (this.is(',')) { this.next(); key = value; value = { t: 'var', name: this.ident() }; }
    this.expect('in');
    const coll = this.parseOperand('relation');
    return { e: 'every', key, value, coll, body: this.parseBraceBody() };
  }

  private parseExpr(): Expr {
    const a = this.parseExprTerm();
    if (this.is(',') && this.depth === 0) {
      // `k, v in coll` as a literal
      this.next();
      const v = this.parseOperand('relation');
      this.expect('in');
      const coll = this.parseOperand('relation');
      let term: Term = { t: 'call', name: 'internal.member_3', args: [a, v, coll], line: this.tok.line };
      while (this.is('in') && this.sameLine()) {
        const line = this.next().line;
        term = { t: 'call', name: 'internal.member_2', args: [term, this.parseOperand('relation')], line };
      }
      return { e: 'term', term };
    }
    if ((this.is('=') || this.is(':=')) && this.sameLine()) {
      const op = this.next().text;
      const b = this.parseExprTerm();
      return { e: op === '=' ? 'unify' : 'assign', a, b };
    }
    return { e: 'term', term: a };
  }

  /** A full expression term: the `in` level. */
  parseExprTerm(): Term {
    return this.parseOperand('in');
  }

  private parseOperand(level: 'in' | 'relation' | 'or' | 'and' | 'add' | 'mul' | 'unary'): Term {
    switch (level) {
      case 'in': {
        let lhs = this.parseOperand('relation');
        while (this.is('in') && this.sameLine()) {
          const line = this.next().line;
          lhs = { t: 'call', name: 'internal.member_2', args: [lhs, this.parseOperand('relation')], line };
        }
        return lhs;
      }
      case 'relation': return this.parseBinary('or', 'relation', RELATIONS, true);
      case 'or': return this.orAllowed ? this.parseBinary('and', 'or', { '|': 'or' }) : this.parseOperand('and');
      case 'and': return this.parseBinary('add', 'and', { '&': 'and' });
      case 'add': return this.parseBinary('mul', 'add', ADDITIVE);
      case 'mul': return this.parseBinary('unary', 'mul', MULTIPLICATIVE);
      default: return this.parseTerm();
    }
  }

  private parseBinary(lower: 'or' | 'and' | 'add' | 'mul' | 'unary', _self: string, ops: Record<string, string>, single = false): Term {
    let lhs = this.parseOperand(lower);
    while (this.tok.kind === 'op' && ops[this.tok.text] !== undefined && this.sameLine()) {
      const tok = this.next();
      lhs = { t: 'call', name: ops[tok.text]!, args: [lhs, this.parseOperand(lower)], line: tok.line };
      if (single && this.tok.kind === 'op' && ops[this.tok.text] !== undefined && this.sameLine()) {
        // a == b == c is left-associative in OPA as well
        continue;
      }
    }
    return lhs;
  }

  private parseTerm(): Term {
    const tok = this.tok;
    let term: Term;
    if (tok.kind === 'number') { this.next(); term = { t: 'scalar', v: Number(tok.text) }; }
    else if (tok.kind === 'string') { this.next(); term = { t: 'scalar', v: tok.value! }; }
    else if (this.is('-') && (this.peek().kind === 'number')) { this.next(); term = { t: 'scalar', v: -Number(this.next().text) }; }
    else if (this.is('-')) { const line = this.next().line; term = { t: 'call', name: 'minus', args: [{ t: 'scalar', v: 0 }, this.parseTerm()], line }; }
    else if (this.is('(')) {
      this.next();
      this.depth++;
      const saved = this.orAllowed;
      this.orAllowed = true;
      term = this.parseExprTerm();
      if (this.is(',')) {
        // `(k, v in coll)`: key-value membership
        this.next();
        const value = this.parseOperand('relation');
        const line = this.expect('in').line;
        term = { t: 'call', name: 'internal.member_3', args: [term, value, this.parseOperand('relation')], line };
      }
      this.orAllowed = saved;
      this.depth--;
      this.expect(')');
    } else if (this.is('[')) term = this.parseArray();
    else if (this.is('{')) term = this.parseBraced();
    else if (tok.kind === 'ident') term = this.parseNamed();
    else this.fail(`unexpected ${tok.text || 'end of input'}`);
    return this.parseRefTail(term);
  }

  private parseNamed(): Term {
    const tok = this.next();
    switch (tok.text) {
      case 'true': return { t: 'scalar', v: true };
      case 'false': return { t: 'scalar', v: false };
      case 'null': return { t: 'scalar', v: null };
    }
    if (tok.text === 'set' && this.is('(') && this.peek().text === ')') { this.next(); this.next(); return { t: 'set', items: [] }; }
    if (KEYWORDS.has(tok.text) && tok.text !== 'contains') this.fail(`unexpected ${tok.text} keyword`, tok);
    // Dotted names followed by `(` are calls: strings.any_prefix_match(…), data.pkg.f(…)
    let probe = this.pos;
    const parts = [tok.text];
    while (this.toks[probe]!.text === '.' && this.toks[probe + 1]!.kind === 'ident') { parts.push(this.toks[probe + 1]!.text); probe += 2; }
    if (this.toks[probe]!.text === '(' && this.toks[probe]!.kind === 'op' && !this.toks[probe]!.newlineBefore) {
      this.pos = probe + 1;
      this.depth++;
      const saved = this.orAllowed;
      this.orAllowed = true;
      const args: Term[] = [];
      while (!this.is(')')) {
        args.push(this.parseExprTerm());
        if (!this.is(')')) this.expect(',');
      }
      this.orAllowed = saved;
      this.depth--;
      this.next();
      return { t: 'call', name: parts.join('.'), args, line: tok.line };
    }
    return { t: 'var', name: tok.text };
  }

  private parseRefTail(head: Term): Term {
    const path: Term[] = [];
    for (;;) {
      if (this.is('.') && this.peek().kind === 'ident' && !this.tok.newlineBefore) {
        this.next();
        path.push({ t: 'scalar', v: this.next().text });
      } else if (this.is('[') && !this.tok.newlineBefore) {
        this.next();
        this.depth++;
        const saved = this.orAllowed;
        this.orAllowed = true;
        path.push(this.parseExprTerm());
        this.orAllowed = saved;
        this.depth--;
        this.expect(']');
      } else break;
    }
    if (path.length === 0) return head;
    if (head.t === 'ref') return { t: 'ref', head: head.head, path: [...head.path, ...path] };
    return { t: 'ref', head, path };
  }

  private parseArray(): Term {
    this.next();
    this.depth++;
    const saved = this.orAllowed;
    const items: Term[] = [];
    let result: Term | undefined;
    while (!this.is(']')) {
      this.orAllowed = items.length > 0;
      const item = this.parseExprTerm();
      this.orAllowed = true;
      if (items.length === 0 && this.is('|')) {
        this.next();
        const body = this.parseLiterals(']');
        result = { t: 'arraycomp', term: item, body };
        break;
      }
      items.push(item);
      if (!this.is(']')) this.expect(',');
    }
    this.orAllowed = saved;
    this.depth--;
    this.expect(']');
    return result ?? { t: 'array', items };
  }

  private parseBraced(): Term {
    this.next();
    this.depth++;
    const saved = this.orAllowed;
    let result: Term;
    if (this.is('}')) result = { t: 'object', pairs: [] };
    else {
      this.orAllowed = false;
      const first = this.parseExprTerm();
      this.orAllowed = true;
      if (this.is(':')) {
        this.next();
        this.orAllowed = false;
        const firstValue = this.parseExprTerm();
        this.orAllowed = true;
        if (this.is('|')) {
          this.next();
          result = { t: 'objcomp', key: first, value: firstValue, body: this.parseLiterals('}') };
        } else {
          const pairs: [Term, Term][] = [[first, firstValue]];
          while (this.is(',')) {
            this.next();
            if (this.is('}')) break;
            const k = this.parseExprTerm();
            this.expect(':');
            pairs.push([k, this.parseExprTerm()]);
          }
          result = { t: 'object', pairs };
        }
      } else if (this.is('|')) {
        this.next();
        result = { t: 'setcomp', term: first, body: this.parseLiterals('}') };
      } else {
        const items = [first];
        while (this.is(',')) {
          this.next();
          if (this.is('}')) break;
          items.push(this.parseExprTerm());
        }
        result = { t: 'set', items };
      }
    }
    this.orAllowed = saved;
    this.depth--;
    this.expect('}');
    return result;
  }
}

export function parseModule(src: string, file: string): Module {
  return new Parser(src, file).parseModule();
}

export function parseQuery(src: string): Literal[] {
  return new Parser(src, 'query').parseQuery();
}

export function parseTerm(src: string): Term {
  return new Parser(src, 'term').parseStandaloneTerm();
}
