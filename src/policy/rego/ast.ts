// The Rego syntax tree the parser builds and the evaluator walks.
import type { Value } from './values.ts';

export type Term =
  | { readonly t: 'scalar'; readonly v: Value }
  | { readonly t: 'var'; readonly name: string }
  | { readonly t: 'ref'; readonly head: Term; readonly path: readonly Term[] }
  | { readonly t: 'array'; readonly items: readonly Term[] }
  | { readonly t: 'set'; readonly items: readonly Term[] }
  | { readonly t: 'object'; readonly pairs: readonly (readonly [Term, Term])[] }
  | { readonly t: 'arraycomp' | 'setcomp'; readonly term: Term; readonly body: readonly Literal[] }
  | { readonly t: 'objcomp'; readonly key: Term; readonly value: Term; readonly body: readonly Literal[] }
  | { readonly t: 'call'; readonly name: string; readonly args: readonly Term[]; readonly line: number };

export type Expr =
  | { readonly e: 'term'; readonly term: Term }
  | { readonly e: 'unify' | 'assign'; readonly a: Term; readonly b: Term }
  | { readonly e: 'some'; readonly vars: readonly string[] }
  | { readonly e: 'somein'; readonly key: Term | undefined; readonly value: Term; readonly coll: Term }
  | { readonly e: 'every'; readonly key: Term | undefined; readonly value: Term; readonly coll: Term; readonly body: readonly Literal[] };

export interface With {
  readonly target: Term;
  readonly value: Term;
}

export interface Literal {
  readonly negated: boolean;
  readonly expr: Expr;
  readonly withs: readonly With[];
  readonly line: number;
}

export type RuleKind = 'complete' | 'set' | 'object' | 'func';

export interface RuleBranch {
  readonly value: Term;
  readonly body: readonly Literal[];
}

export interface Rule {
  readonly kind: RuleKind;
  /** Full path from data, package included. */
  readonly path: readonly string[];
  /** Partial set member or partial object key. */
  readonly key: Term | undefined;
  readonly args: readonly Term[] | undefined;
  readonly isDefault: boolean;
  /** The rule and its `else` chain, in order. */
  readonly branches: readonly RuleBranch[];
  readonly file: string;
  readonly line: number;
}

export interface Import {
  readonly path: readonly string[];
  readonly alias: string;
}

export interface Module {
  readonly file: string;
  readonly pkg: readonly string[];
  readonly imports: readonly Import[];
  readonly rules: readonly Rule[];
}

export const TRUE_TERM: Term = { t: 'scalar', v: true };
