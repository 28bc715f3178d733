// Errors of the Rego evaluator carry OPA's error codes (eval_type_error, eval_conflict_error, …)
// so callers and the conformance runner can tell them apart; `unsupported` marks a language
// feature or built-in this evaluator refuses rather than guesses at.

import { KindedError } from '../kinded-error.ts';

export type RegoErrorCode =
  | 'rego_parse_error'
  | 'rego_compile_error'
  | 'rego_unsafe_var_error'
  | 'rego_type_error'
  | 'rego_recursion_error'
  | 'eval_type_error'
  | 'eval_conflict_error'
  | 'eval_builtin_error'
  | 'eval_limit_error'
  | 'unsupported';

export class RegoError extends KindedError<RegoErrorCode> {
  constructor(code: RegoErrorCode, message: string) {
    super('RegoError', code, message);
  }

  /** OPA's name for the kind. */
  get code(): RegoErrorCode {
    return this.kind;
  }
}

export function unsupported(feature: string): RegoError {
  return new RegoError('unsupported', `unsupported: ${feature}`);
}

/** A built-in's complaint about its operands: an error in strict mode, undefined otherwise. */
export class BuiltinTypeError extends Error {
  readonly code: 'eval_type_error' | 'eval_builtin_error';
  constructor(message: string, code: 'eval_type_error' | 'eval_builtin_error' = 'eval_type_error') {
    super(message);
    this.code = code;
  }
}
