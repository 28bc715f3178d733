// What V8 says when code uses something this server does not run yet, made to name the feature.
// V8's texts do not: dynamic import() in a script fails with "Error: Not supported", and
// `require('fs')` with "ReferenceError: require is not defined", which reads like a typo. The
// execution record the agent reads gets the explanation; the engine's own outcome (what a
// stateful heap records, and what its replay must reproduce) stays V8's text.

import { withoutWrapperFrame } from './top-level-await.ts';

interface Unsupported {
  /** The failure's first line as V8 writes it. */
  error: RegExp;
  /** Only when the code could have caused it (the same text from something else is left alone). */
  code: RegExp;
  explanation: string;
}

const modules = 'code runs as a classic script: ES modules are imported with import statements or import() of npm:, jsr: or https:// specifiers (when the server allows external modules), and Node\'s own modules (node:, require) do not exist here';

/** The globals the sandbox adds to V8's built-ins (docs/exec.md, "Isolation"). */
const present = 'the globals here are V8\'s built-ins plus console, the timer functions, queueMicrotask, TextEncoder, TextDecoder, atob, btoa, structuredClone, crypto (with subtle.digest), performance, URL, URLSearchParams, AbortController, AbortSignal, Headers, Request, Response, Blob, File, FormData, Event, CustomEvent, EventTarget, the WHATWG streams (ReadableStream, WritableStream, TransformStream, their readers, writers and controllers, the queuing strategies, TextEncoderStream, TextDecoderStream) and display (and fetch/fs with a policy)';

/** Host globals agents reach for, by what their absence means. */
const missing: ReadonlyArray<{ names: readonly string[]; explanation: (name: string) => string }> = [
  { names: ['require', 'module', 'exports', '__dirname', '__filename'], explanation: (name) => `${name} belongs to Node's module system, which this sandbox does not have; ${modules}` },
  { names: ['process', 'Buffer', 'global', 'setImmediate'], explanation: (name) => `${name} is a Node.js global, and this sandbox is not Node.js: use globalThis, Uint8Array with TextEncoder/TextDecoder, setTimeout; ${present}` },
  { names: ['fetch'], explanation: () => 'fetch() exists only when the server is started with a fetch policy (--opa-url, or a "fetch" entry in --policies-json); this one has none, so the sandbox has no network access' },
  { names: ['fs'], explanation: () => 'the fs global exists only when the server is started with a filesystem policy (a "filesystem" entry in --policies-json); this one has none' },
  { names: ['XMLHttpRequest', 'WebSocket'], explanation: (name) => `${name} is not available; the only network access is fetch(), and only with a fetch policy (--opa-url or --policies-json)` },
  { names: ['window', 'document', 'navigator', 'self', 'localStorage', 'sessionStorage'], explanation: (name) => `${name} is a browser global, and this sandbox is not a browser (no DOM); use globalThis` },
  { names: ['CompressionStream', 'DecompressionStream', 'DOMException', 'ReadableByteStreamController', 'ReadableStreamBYOBReader', 'ReadableStreamBYOBRequest'], explanation: (name) => `${name} is not available in this sandbox; ${present}` },
];

/** Syntax agents bring from elsewhere, by what swc or V8 says of it. */
const foreignSyntax: readonly Unsupported[] = [
  {
    error: /^SyntaxError: (Return statement is not allowed here|Illegal return statement)/,
    code: /\breturn\b/,
    explanation: 'the code runs as a script, not a function: end it with the expression whose value you want (its value becomes `result`) instead of `return`',
  },
  {
    error: /^SyntaxError: (Invalid or unexpected token|Unexpected token '@'|Unexpected character '@'|Decorators)/,
    code: /^\s*@[A-Za-z_$][\w$.]*/m,
    explanation: 'decorators (@name) are not supported here: apply the function to the class or method yourself, e.g. `Cls = sealed(Cls)`',
  },
  {
    error: /^SyntaxError: (Expression expected|Unexpected token '<'|Unterminated regexp literal|Expected '>', got|Unexpected token `<`)/,
    code: /<([A-Za-z][\w.]*)(\s[^<>]*)?\/?>/,
    explanation: 'JSX is not supported: there is no React or DOM here; build strings, objects or SVG markup (display() shows SVG) instead',
  },
];

const unsupported: readonly Unsupported[] = [
  ...foreignSyntax,
  { error: /^Error: Not supported$/, code: /\bimport\s*\(/, explanation: `dynamic import() is not available; ${modules}` },
  { error: /^SyntaxError: Cannot use import statement outside a module/, code: /\bimport\b/, explanation: modules },
  ...missing.flatMap(({ names, explanation }) => names.map((name) => ({
    error: new RegExp(`^ReferenceError: ${name} is not defined$`),
    code: new RegExp(`(?<![\\w$.])${name}\\b`),
    explanation: explanation(name),
  }))),
];

/**
 * The failure text with what it means appended to its first line, or the text as it was; without
 * the top-level await wrapper's own frame either way.
 */
export function explainFailure(thrown: string | null, code: string): string | null {
  const error = withoutWrapperFrame(thrown, code);
  if (error === null) return null;
  const newline = error.indexOf('\n');
  const first = newline === -1 ? error : error.slice(0, newline);
  const known = unsupported.find((entry) => entry.error.test(first) && entry.code.test(code));
  if (known === undefined) return error;
  return `${first} (${known.explanation})${newline === -1 ? '' : error.slice(newline)}`;
}
