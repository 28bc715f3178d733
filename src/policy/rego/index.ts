// The in-process Rego evaluator's entry points: compile modules once, then evaluate queries or
// a rule's value against an input document. Any error (parse, type, conflict, unsupported)
// is thrown as a RegoError; policy callers turn every error into a deny.
import type { Literal } from './ast.ts';
import { RegoError } from './errors.ts';
import { Compiled, Evaluator, type EvalOptions } from './evaluator.ts';
import { parseModule, parseQuery, parseTerm } from './parser.ts';
import { RObject, fromJSON, toJSON, type Value } from './values.ts';

export { RegoError } from './errors.ts';
export type { Value } from './values.ts';
export { fromJSON, toJSON } from './values.ts';

export interface ModuleSource {
  readonly file: string;
  readonly source: string;
}

export class RegoPolicy {
  private readonly compiled: Compiled;
  private readonly data: Value;

  /** Parses and compiles modules; throws RegoError naming the file and line of a problem. */
  constructor(modules: readonly ModuleSource[], data: unknown = {}) {
    this.compiled = new Compiled(modules.map((m) => parseModule(m.source, m.file)));
    this.data = fromJSON(data);
    if (!(this.data instanceof RObject)) throw new RegoError('rego_compile_error', 'data must be an object');
  }

  /** Evaluates a query; returns one row of bindings per solution. */
  query(query: string | readonly Literal[], input?: Value, options?: EvalOptions): Map<string, Value>[] {
    const body = typeof query === 'string' ? parseQuery(query) : query;
    return new Evaluator(this.compiled, this.data, input, options).query(body);
  }

  /** The value of `data.<path>` (e.g. ['mcp', 'fetch', 'allow']) for an input, or undefined. */
  evaluate(path: readonly string[], input: unknown, options?: EvalOptions): unknown {
    const v = new Evaluator(this.compiled, this.data, fromJSON(input), options).document(path);
    return v === undefined ? undefined : toJSON(v);
  }
}

/** Parses a Rego term written as text (the conformance cases' `input_term`). */
export function evalTermText(text: string): Value {
  const rows = new Evaluator(new Compiled([]), new RObject(), undefined).query([{ negated: false, expr: { e: 'unify', a: { t: 'var', name: 'x' }, b: parseTerm(text) }, withs: [], line: 1 }]);
  const v = rows[0]?.get('x');
  if (v === undefined) throw new RegoError('rego_parse_error', `input term ${text} has no value`);
  return v;
}
