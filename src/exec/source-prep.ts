// The main thread's side of the source workers (source-worker.ts). What is cached answers at once;
// anything else goes to a worker, in one message per run. Two lanes, each a worker with its own
// queue: inputs the caches keep (up to strippedCacheInputCharsMax characters) in one, larger ones
// in the other, so that a run of ordinary size never waits behind a megabyte being rewritten
// (≈ 2 s). The small lane's worker is started with the engine and unref'd while it has nothing to
// do; the large lane's starts on demand and is closed when idle, which frees the memory swc's
// WebAssembly grew to for its input (≈ 250 MiB for 1,000,000 characters; WebAssembly memory never
// shrinks). A worker that dies is replaced, and what it had in hand fails.
import { Worker } from 'node:worker_threads';
import { assert } from '../errors.ts';
import type { SourceAnswer, SourceAsk, SourceFailure, WrapAnswer } from './source-worker.ts';
import { mayAwait, mayDeclareLexically } from './top-level-await.ts';
import { SourceCache, SourceError, cachedStrip, rememberStrip, strippedCacheEntriesMax, strippedCacheInputCharsMax } from './typescript.ts';

/** What a run's code becomes before it runs. */
export interface PreparedSource {
  /** The code to compile: types stripped, and in stateful mode its declarations made globals. */
  code: string;
  /**
   * The top-level await rewrite of `code`, made ahead because V8 will not compile `code` as a
   * classic script; null when that was not foreseen (the engine then asks for it, see `wrap`).
   * It rejects as the rewrite fails (a SourceError for the code's own fault), and only when awaited.
   */
  wrapped: Promise<string> | null;
}

/** How long the large lane's worker stays after its last input before it is closed. */
export const largeLaneIdleCloseMs = 5_000;

interface Waiting {
  resolve: (answer: SourceAnswer) => void;
  reject: (error: Error) => void;
}

type Ask = SourceAsk extends infer A ? (A extends SourceAsk ? Omit<A, 'id'> : never) : never;

/** One worker and its queue of asks. */
class Lane {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleCloseMs: number | null;
  /** Settles when the latest worker has exited. */
  exited: Promise<void> = Promise.resolve();

  constructor(idleCloseMs: number | null) {
    this.idleCloseMs = idleCloseMs;
  }

  get open(): boolean {
    return this.worker !== null;
  }

  private start(): Worker {
    // stdout: true keeps whatever the worker might print off the process's stdout (the stdio
    // transport's JSON-RPC stream); stderr goes where the server's logs go.
    // Beside this file: source-worker.ts when run from src, source-worker.js in the built package.
    const worker = new Worker(new URL(`./source-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), { stdout: true, stderr: false });
    worker.stdout.resume();
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
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
    if (this.waiting.size === 0) this.idle();
    waiting.resolve(answer);
  }

  private idle(): void {
    this.worker?.unref();
    if (this.idleCloseMs === null) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const worker = this.worker;
      this.worker = null;
      void worker?.terminate();
    }, this.idleCloseMs);
    this.idleTimer.unref();
  }

  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.rejectAll(`preparing the code failed: ${error.message}`);
  }

  rejectAll(message: string): void {
    for (const waiting of this.waiting.values()) waiting.reject(new Error(message));
    this.waiting.clear();
  }

  ask(message: Ask): Promise<SourceAnswer> {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.worker ??= this.start();
    const id = this.nextId++;
    const worker = this.worker;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, ...message } as SourceAsk);
    });
  }

  async close(): Promise<void> {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = this.worker;
    this.worker = null;
    this.rejectAll('the engine is closing');
    if (worker !== null) await worker.terminate();
  }
}

function errorOf(failure: SourceFailure): Error {
  return failure.sourceError ? new SourceError(failure.message) : new Error(`preparing the code failed: ${failure.message}`);
}

/** A settled rewrite as the promise the engine awaits; handled here, so it rejects only when awaited. */
function wrappedOf(answer: WrapAnswer): Promise<string> {
  const wrapped = answer.ok ? Promise.resolve(answer.value) : Promise.reject(errorOf(answer));
  wrapped.catch(() => undefined);
  return wrapped;
}

export class SourcePrep {
  private readonly small = new Lane(null);
  private readonly large: Lane;
  /** For code that may use top-level await, whether it needs the rewrite, and the rewrite: null when it does not. */
  private readonly rewrites = new SourceCache<WrapAnswer | null>(strippedCacheEntriesMax);
  private closed = false;

  constructor(options: { largeLaneIdleCloseMs?: number } = {}) {
    this.large = new Lane(options.largeLaneIdleCloseMs ?? largeLaneIdleCloseMs);
  }

  private laneOf(code: string): Lane {
    return code.length > strippedCacheInputCharsMax ? this.large : this.small;
  }

  /** Whether the large lane has a worker now, and when the last one it had exited (tests: it closes when idle). */
  get largeLane(): { open: boolean; exited: Promise<void> } {
    return { open: this.large.open, exited: this.large.exited };
  }

  /**
   * A run's code made ready (a SourceError when it does not parse): at once when the caches know
   * it, which is every repeated snippet of ordinary size, else from a worker.
   */
  prepare(code: string, globalize: boolean): PreparedSource | Promise<PreparedSource> {
    assert(!this.closed, 'the source workers are open');
    const stripped = cachedStrip(code);
    if (stripped !== undefined && !(globalize && mayDeclareLexically(stripped))) {
      if (!mayAwait.test(stripped)) return { code: stripped, wrapped: null };
      const rewrite = this.rewrites.get(stripped);
      if (rewrite !== undefined) return { code: stripped, wrapped: rewrite === null ? null : wrappedOf(rewrite) };
    }
    const input = stripped ?? code;
    return this.laneOf(input).ask({ op: 'prepare', code: input, stripped: stripped !== undefined, globalize }).then((answer) => {
      if (!answer.ok) throw errorOf(answer);
      assert('code' in answer, 'a prepare ask gets a prepare answer');
      if (answer.strip !== null && answer.strip.cacheable) rememberStrip(code, answer.strip.value);
      // A rewrite that failed for a reason of ours (not the code's) is not kept: it may not recur.
      const keep = answer.wrap === null || answer.wrap.ok || answer.wrap.sourceError;
      if (keep && mayAwait.test(answer.code)) this.rewrites.set(answer.code, answer.wrap);
      return { code: answer.code, wrapped: answer.wrap === null ? null : wrappedOf(answer.wrap) };
    });
  }

  /** The top-level await rewrite (SourceError when it cannot be done), for code `prepare` did not foresee needing it. */
  async wrap(code: string): Promise<string> {
    assert(!this.closed, 'the source workers are open');
    const answer = await this.laneOf(code).ask({ op: 'wrap', code });
    if (!answer.ok) throw errorOf(answer);
    assert('wrapped' in answer, 'a wrap ask gets a wrap answer');
    return answer.wrapped;
  }

  /** Starts the small lane's worker and loads swc's stripper in it, before the first run pays for it. */
  async warm(): Promise<void> {
    await this.small.ask({ op: 'prepare', code: 'const warm: number = 0', stripped: false, globalize: false });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.small.close(), this.large.close()]);
  }
}
