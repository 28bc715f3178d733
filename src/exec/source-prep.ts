// The main thread's side of the source worker (source-worker.ts): a cached strip answers at once,
// anything else goes to the worker. One worker, started with the engine, unref'd while it has
// nothing to do; a worker that dies is replaced, and what it had in hand fails.
import { Worker } from 'node:worker_threads';
import { assert } from '../errors.ts';
import type { SourceAnswer, SourceAsk, SourceOp } from './source-worker.ts';
import { mayDeclareLexically } from './top-level-await.ts';
import { SourceError, cachedStrip, rememberStrip } from './typescript.ts';

interface Waiting {
  code: string;
  op: SourceOp;
  resolve: (value: string) => void;
  reject: (error: Error) => void;
}

export class SourcePrep {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closed = false;

  private start(): Worker {
    // stdout: true keeps whatever the worker might print off the process's stdout (the stdio
    // transport's JSON-RPC stream); stderr goes where the server's logs go.
    // Beside this file: source-worker.ts when run from src, source-worker.js in the built package.
    const worker = new Worker(new URL(`./source-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), { stdout: true, stderr: false });
    worker.stdout.resume();
    worker.on('message', (answer: SourceAnswer) => this.settle(answer));
    worker.on('error', (error) => this.lost(worker, error));
    worker.on('exit', (code) => this.lost(worker, new Error(`the source worker exited with code ${code}`)));
    worker.unref();
    return worker;
  }

  private settle(answer: SourceAnswer): void {
    const waiting = this.waiting.get(answer.id);
    if (waiting === undefined) return;
    this.waiting.delete(answer.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (!answer.ok) {
      waiting.reject(answer.sourceError ? new SourceError(answer.message) : new Error(`preparing the code failed: ${answer.message}`));
      return;
    }
    if (waiting.op === 'strip' && answer.cacheable) rememberStrip(waiting.code, answer.value);
    waiting.resolve(answer.value);
  }

  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.rejectAll(`preparing the code failed: ${error.message}`);
  }

  private rejectAll(message: string): void {
    for (const waiting of this.waiting.values()) waiting.reject(new Error(message));
    this.waiting.clear();
  }

  private ask(op: SourceOp, code: string): Promise<string> {
    assert(!this.closed, 'the source worker is open');
    this.worker ??= this.start();
    const id = this.nextId++;
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { code, op, resolve, reject });
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, op, code } satisfies SourceAsk);
    });
  }

  /** Types stripped (SourceError on a syntax error): from the cache at once, else from the worker. */
  strip(code: string): string | Promise<string> {
    return cachedStrip(code) ?? this.ask('strip', code);
  }

  /** The top-level await rewrite (SourceError when it cannot be done). */
  wrap(code: string): Promise<string> {
    return this.ask('wrap', code);
  }

  /** Stateful mode's declarations made globals; code without let/const/class needs no worker. */
  globalize(code: string): string | Promise<string> {
    return mayDeclareLexically(code) ? this.ask('globalize', code) : code;
  }

  /** Starts the worker and loads swc in it, before the first run pays for it. */
  async warm(): Promise<void> {
    await this.ask('strip', 'const warm: number = 0');
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.rejectAll('the engine is closing');
    if (worker !== null) await worker.terminate();
  }
}
