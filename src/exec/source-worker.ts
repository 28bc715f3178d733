// The source worker: swc's stripping and rewrites, off the main thread. swc is WebAssembly and
// synchronous: 1,000,000 characters take ≈ 270 ms to strip and ≈ 1.75 s for the top-level await
// rewrite, and on the main thread every other execution waited that long. Here only the runs that
// need the worker wait for it, and they wait before they take a slot (engine.ts). Messages:
// {id, op, …} in; {id, ok: true, …} or {id, ok: false, sourceError, message} out (source-prep.ts
// is the other side).
import { Script } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { type ImportRequest, mayImport, rewriteMainImports } from './module-rewrite.ts';
import { globalizeDeclarations, hasTopLevelAwait, mayAwait, mayDeclareLexically, routesThroughWrapper, wrapIfEndsWithExpression, wrapTopLevelAwait } from './top-level-await.ts';
import { SourceError, stripUncached } from './typescript.ts';

/**
 * `prepare`: everything a run's code needs before it runs, in one message: the types stripped
 * (unless `stripped` says the main thread had them cached), stateful mode's declarations made
 * globals (`globalize`), and the top-level await rewrite when the code will need it. `wrap`: the
 * rewrite alone, for code whose need was not foreseen.
 */
export type SourceAsk =
  | { id: number; op: 'prepare'; code: string; stripped: boolean; globalize: boolean }
  | { id: number; op: 'wrap'; code: string };
/** A failure: a SourceError (the code's own fault, its text for the user) or ours. */
export interface SourceFailure { ok: false; sourceError: boolean; message: string }
export type WrapAnswer = { ok: true; value: string } | SourceFailure;
/**
 * `same`: which of `code` and `strip.value` are sent empty because they equal the ask's code
 * ('input') or, for the strip, the answer's `code` ('code'): the main thread has that string
 * already (see `lean`).
 */
export interface SameStrings { code: boolean; strip: 'input' | 'code' | null }
export type SourceAnswer =
  | { id: number; ok: true; code: string; strip: { value: string; cacheable: boolean } | null; wrap: WrapAnswer | null; imports: ImportRequest[]; awaits: boolean; same?: SameStrings }
  | { id: number; ok: true; wrapped: string }
  | ({ id: number } & SourceFailure);

function failure(error: unknown): SourceFailure {
  return { ok: false, sourceError: error instanceof SourceError, message: error instanceof Error ? error.message : String(error) };
}

/**
 * Whether the code needs the top-level await rewrite: V8 refuses it as a classic script, or it
 * has an `await` at its top level that V8 reads as a call (`await (f)()`): the engine then runs
 * the rewrite (run.ts, `compile`). Compiled here, in this thread's own isolate, and
 * never run; the V8 is the process's, so it answers as the run's isolate will. A guess that turns
 * out wrong costs only time: the engine asks for the rewrite when it needs one it was not given.
 */
function needsRewrite(code: string): boolean {
  if (!mayAwait.test(code)) return false;
  try {
    new Script(code, { filename: 'main.js' });
  } catch (error) {
    return error instanceof SyntaxError;
  }
  // V8 compiles `await (async () => 1)()` as a call of a function named await; swc's parse tells.
  try {
    return hasTopLevelAwait(code);
  } catch {
    return false;
  }
}

function prepare(ask: Extract<SourceAsk, { op: 'prepare' }>): SourceAnswer {
  let code = ask.code;
  let strip: { value: string; cacheable: boolean } | null = null;
  let imports: ImportRequest[] = [];
  try {
    if (!ask.stripped) {
      const { stripped, cacheable } = stripUncached(code);
      strip = { value: stripped, cacheable };
      code = stripped;
    }
    if (mayImport.test(code)) ({ code, imports } = rewriteMainImports(code));
    if (ask.globalize && mayDeclareLexically(code)) code = globalizeDeclarations(code);
  } catch (error) {
    return { id: ask.id, ...failure(error) };
  }
  let wrap: WrapAnswer | null = null;
  if (needsRewrite(code)) {
    try {
      wrap = { ok: true, value: wrapTopLevelAwait(code) };
    } catch (error) {
      wrap = failure(error);
    }
  } else if (routesThroughWrapper(code)) {
    try {
      const wrapped = wrapIfEndsWithExpression(code);
      if (wrapped !== null) wrap = { ok: true, value: wrapped };
    } catch {
      // Code swc cannot parse runs as written: V8 reports its error.
    }
  }
  // `awaits`: the word's scan done here, not again on the main thread by the run (run.ts).
  return { id: ask.id, ok: true, code, strip, wrap, imports, awaits: mayAwait.test(code) };
}

/**
 * Strings of the answer the main thread already has are sent empty (`same`): a legal
 * 1,000,000-character code of plain JavaScript came back twice (as `code` and as its strip), each
 * copied in on the main thread (≈ 1 ms with the page faults of a fresh 1 MB string) that every
 * other request waits for (issue 18). Compared here, off the main thread.
 */
export function lean(answer: SourceAnswer, input: string): SourceAnswer {
  if (!answer.ok || !('code' in answer)) return answer;
  const code = answer.code === input;
  const strip = answer.strip === null ? null : answer.strip.value === input ? 'input' : answer.strip.value === answer.code ? 'code' : null;
  if (!code && strip === null) return answer;
  return { ...answer, code: code ? '' : answer.code, strip: answer.strip === null || strip === null ? answer.strip : { ...answer.strip, value: '' }, same: { code, strip } };
}

function answer(ask: SourceAsk): SourceAnswer {
  if (ask.op === 'prepare') return lean(prepare(ask), ask.code);
  try {
    return { id: ask.id, ok: true, wrapped: wrapTopLevelAwait(ask.code) };
  } catch (error) {
    return { id: ask.id, ...failure(error) };
  }
}

parentPort?.on('message', (ask: SourceAsk) => parentPort!.postMessage(answer(ask)));
