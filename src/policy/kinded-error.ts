// Errors of the policy layer name their kind (denied, timeout, eval_type_error, …) so callers can
// tell a policy's refusal from a broken request or an I/O failure without parsing messages.
export class KindedError<K extends string> extends Error {
  readonly kind: K;
  constructor(name: string, kind: K, message: string) {
    super(message);
    this.name = name;
    this.kind = kind;
  }
}
