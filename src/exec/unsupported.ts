// What V8 says when code uses something this server does not run yet, made to name the feature.
// V8's texts do not: dynamic import() in a script fails with "Error: Not supported". The
// execution record the agent reads gets the explanation; the engine's own outcome (what a
// stateful heap records, and what its replay must reproduce) stays V8's text.

interface Unsupported {
  /** The failure's first line as V8 writes it. */
  error: RegExp;
  /** Only when the code could have caused it (the same text from something else is left alone). */
  code: RegExp;
  explanation: string;
}

const modules = 'code runs as a classic script: modules (import, import(), npm:, jsr:, node: or URL specifiers) are not supported yet';

const unsupported: readonly Unsupported[] = [
  { error: /^Error: Not supported$/, code: /\bimport\s*\(/, explanation: `dynamic import() is not available; ${modules}` },
  { error: /^SyntaxError: Cannot use import statement outside a module/, code: /\bimport\b/, explanation: modules },
];

/** The failure text with what it means appended to its first line, or the text as it was. */
export function explainFailure(error: string | null, code: string): string | null {
  if (error === null) return null;
  const newline = error.indexOf('\n');
  const first = newline === -1 ? error : error.slice(0, newline);
  const known = unsupported.find((entry) => entry.error.test(first) && entry.code.test(code));
  if (known === undefined) return error;
  return `${first} (${known.explanation})${newline === -1 ? '' : error.slice(newline)}`;
}
