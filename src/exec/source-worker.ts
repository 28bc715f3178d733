// The source worker: swc's stripping and rewrites, off the main thread. swc is WebAssembly and
// synchronous: 1,000,000 characters take ≈ 270 ms to strip and ≈ 1.75 s for the top-level await
// rewrite, and on the main thread every other execution waited that long. Here only the runs that
// need the worker wait for it. Messages: {id, op, code} in; {id, ok: true, value, cacheable} or
// {id, ok: false, sourceError, message} out (source-prep.ts is the other side).
import { parentPort } from 'node:worker_threads';
import { globalizeDeclarations, wrapTopLevelAwait } from './top-level-await.ts';
import { SourceError, stripUncached } from './typescript.ts';

export type SourceOp = 'strip' | 'wrap' | 'globalize';
export interface SourceAsk { id: number; op: SourceOp; code: string }
export type SourceAnswer =
  | { id: number; ok: true; value: string; cacheable: boolean }
  | { id: number; ok: false; sourceError: boolean; message: string };

function answer(ask: SourceAsk): SourceAnswer {
  try {
    if (ask.op === 'strip') {
      const { stripped, cacheable } = stripUncached(ask.code);
      return { id: ask.id, ok: true, value: stripped, cacheable };
    }
    const value = ask.op === 'wrap' ? wrapTopLevelAwait(ask.code) : globalizeDeclarations(ask.code);
    return { id: ask.id, ok: true, value, cacheable: false };
  } catch (error) {
    return { id: ask.id, ok: false, sourceError: error instanceof SourceError, message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.on('message', (ask: SourceAsk) => parentPort!.postMessage(answer(ask)));
