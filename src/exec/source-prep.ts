// The main thread's side of the source workers (source-worker.ts). What is cached answers at once;
// anything else goes to a worker, in one message per run. Two lanes, each a worker with its own
// queue: inputs the caches keep (up to strippedCacheInputCharsMax characters) in one, larger ones
// in the other, so that a run of ordinary size never waits behind a megabyte being rewritten
// (≈ 2 s). The small lane's worker is started with the engine and unref'd while it has nothing to
// do; the large lane's starts on demand and is closed when idle, which frees the memory swc's
// WebAssembly grew to for its input (≈ 250 MiB for 1,000,000 characters; WebAssembly memory never
// shrinks). In each lane the smallest inputs go first (`Lane`). A worker that dies is replaced:
// what it had in hand fails, what still waited goes to the new one.
import { Worker } from 'node:worker_threads';
import { assert } from '../errors.ts';
import type { SourceAnswer, SourceAsk, SourceFailure, WrapAnswer } from './source-worker.ts';
import { type ImportRequest, mayImport } from './module-rewrite.ts';
import { mayAwait, mayDeclareLexically, mayRewrite } from './top-level-await.ts';
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
  /** What the code imports (module-rewrite.ts), loaded before it runs. */
  imports: ImportRequest[];
  /**
   * Whether `code` has the word `await` (top-level-await.ts, mayAwait), when the source worker
   * looked; absent: the run looks (`awaitsIn`). A scan of a 1,000,000-character code took the
   * main thread ≈ 0.6 ms.
   */
  awaits?: boolean;
}

/** Whether the prepared code has the word `await`: as the source worker found, else looked for now. */
export function awaitsIn(prepared: PreparedSource): boolean {
  return prepared.awaits ?? mayAwait.test(prepared.code);
}

/** How long the large lane's worker stays after its last input before it is closed. */
export const largeLaneIdleCloseMs = 5_000;

type Ask = SourceAsk extends infer A ? (A extends SourceAsk ? Omit<A, 'id'> : never) : never;

interface Waiting {
  id: number;
  message: Ask;
  resolve: (answer: SourceAnswer) => void;
  reject: (error: Error) => void;
}

/** Asks a worker holds at once: the one it works on and the next, so it never waits for a message. */
export const asksSentMax = 2;

/** Inputs of up to 1 Ki characters are class 0, up to 2 Ki class 1, and so on: the smaller, the sooner. */
function sizeClassOf(chars: number): number {
  return Math.max(0, Math.ceil(Math.log2(Math.max(1, chars))) - 10);
}

/**
 * One worker and the asks waiting for it. The worker gets at most `asksSentMax` at once; the
 * rest wait here, the smallest inputs first (first come, first served among inputs of a size
 * class). So a flood of large inputs, which a single submitter can send by the thousand within
 * the service's bounds on code in flight, delays a small input by at most the two it finds sent.
 */
class Lane {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly sent = new Map<number, Waiting>();
  private readonly held: Waiting[][] = [];
  private heldCount = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleCloseMs: number | null;
  private readonly workerUrl: URL;
  /** Settles when the latest worker has exited. */
  exited: Promise<void> = Promise.resolve();

  constructor(idleCloseMs: number | null, workerUrl: URL) {
    this.idleCloseMs = idleCloseMs;
    this.workerUrl = workerUrl;
  }

  get open(): boolean {
    return this.worker !== null;
  }

  private start(): Worker {
    // stdout: true keeps whatever the worker might print off the process's stdout (the stdio
    // transport's JSON-RPC stream); stderr goes where the server's logs go.
    const worker = new Worker(this.workerUrl, { stdout: true, stderr: false });
    worker.stdout.resume();
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (answer: SourceAnswer) => this.settle(answer));
    worker.on('error', (error) => this.lost(worker, error));
    worker.on('exit', (code) => this.lost(worker, new Error(`the source worker exited with code ${code}`)));
    worker.unref();
    return worker;
  }

  /** Sends held asks, the smallest first, while the worker holds fewer than asksSentMax. */
  private send(): void {
    while (this.sent.size < asksSentMax && this.heldCount > 0) {
      const waiting = this.held.find((queue) => queue !== undefined && queue.length > 0)!.shift()!;
      this.heldCount--;
      this.worker ??= this.start();
      if (this.sent.size === 0) this.worker.ref();
      this.sent.set(waiting.id, waiting);
      this.worker.postMessage({ id: waiting.id, ...waiting.message } as SourceAsk);
    }
  }

  private settle(answer: SourceAnswer): void {
    const waiting = this.sent.get(answer.id);
    if (waiting === undefined) return;
    this.sent.delete(answer.id);
    this.send();
    if (this.sent.size === 0) this.idle();
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

  /** The worker died: what it had in hand fails; what waited here goes to a new one. */
  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const waiting of this.sent.values()) waiting.reject(new Error(`preparing the code failed: ${error.message}`));
    this.sent.clear();
    this.send();
  }

  ask(message: Ask): Promise<SourceAnswer> {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return new Promise((resolve, reject) => {
      const sizeClass = sizeClassOf(message.code.length);
      (this.held[sizeClass] ??= []).push({ id: this.nextId++, message, resolve, reject });
      this.heldCount++;
      this.send();
    });
  }

  async close(): Promise<void> {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = this.worker;
    this.worker = null;
    const closing = new Error('the engine is closing');
    for (const waiting of [...this.sent.values(), ...this.held.flat()]) waiting.reject(closing);
    this.sent.clear();
    this.held.length = 0;
    this.heldCount = 0;
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

type PrepareAnswer = Extract<SourceAnswer, { code: string }>;

/** The answer with the strings the worker left out because this thread has them (source-worker.ts, `lean`). */
function withSameStrings(answer: PrepareAnswer, input: string): PrepareAnswer {
  const same = answer.same;
  if (same === undefined) return answer;
  const code = same.code ? input : answer.code;
  const strip = answer.strip === null || same.strip === null ? answer.strip : { ...answer.strip, value: same.strip === 'input' ? input : code };
  return { ...answer, code, strip };
}

/** Beside this file: source-worker.ts when run from src, source-worker.js in the built package. */
const sourceWorkerUrl = new URL(`./source-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export class SourcePrep {
  private readonly small: Lane;
  private readonly large: Lane;
  /** For code that may use top-level await, whether it needs the rewrite, and the rewrite: null when it does not. */
  private readonly rewrites = new SourceCache<WrapAnswer | null>(strippedCacheEntriesMax, (answer) => answer === null ? 0 : answer.ok ? answer.value.length : answer.message.length);
  /** Code with the word `import`, prepared (its imports rewritten, made global in stateful mode, wrapped): by mode and stripped code. */
  private readonly importing = new SourceCache<{ code: string; wrap: WrapAnswer | null; imports: ImportRequest[] }>(strippedCacheEntriesMax, (entry) => entry.code.length);
  private closed = false;

  /** `workerUrl`: the worker's module (tests start one that can be made to die). */
  constructor(options: { largeLaneIdleCloseMs?: number; workerUrl?: URL } = {}) {
    const workerUrl = options.workerUrl ?? sourceWorkerUrl;
    this.small = new Lane(null, workerUrl);
    this.large = new Lane(options.largeLaneIdleCloseMs ?? largeLaneIdleCloseMs, workerUrl);
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
    if (stripped !== undefined && !(globalize && mayDeclareLexically(stripped)) && !mayImport.test(stripped)) {
      if (!mayRewrite(stripped)) return { code: stripped, wrapped: null, imports: [] };
      const rewrite = this.rewrites.get(stripped);
      if (rewrite !== undefined) return { code: stripped, wrapped: rewrite === null ? null : wrappedOf(rewrite), imports: [] };
    }
    const importKey = stripped !== undefined && mayImport.test(stripped) ? `${globalize ? 'g' : 's'}${stripped}` : null;
    const known = importKey === null ? undefined : this.importing.get(importKey);
    if (known !== undefined) return { code: known.code, wrapped: known.wrap === null ? null : wrappedOf(known.wrap), imports: known.imports };
    const input = stripped ?? code;
    return this.laneOf(input).ask({ op: 'prepare', code: input, stripped: stripped !== undefined, globalize }).then((leanAnswer) => {
      if (!leanAnswer.ok) throw errorOf(leanAnswer);
      assert('code' in leanAnswer, 'a prepare ask gets a prepare answer');
      const answer = withSameStrings(leanAnswer, input);
      if (answer.strip !== null && answer.strip.cacheable) rememberStrip(code, answer.strip.value);
      // A rewrite that failed for a reason of ours (not the code's) is not kept: it may not recur.
      const keep = answer.wrap === null || answer.wrap.ok || answer.wrap.sourceError;
      // The caches keep no code past strippedCacheInputCharsMax: the regular expressions are not
      // run over it (≈ 0.6 ms each for 1,000,000 characters, on the thread every request waits for).
      if (keep && answer.code.length <= strippedCacheInputCharsMax && mayRewrite(answer.code)) this.rewrites.set(answer.code, answer.wrap);
      const strippedNow = answer.strip?.value ?? stripped;
      if (keep && strippedNow !== undefined && strippedNow.length < strippedCacheInputCharsMax && mayImport.test(strippedNow) && (answer.strip === null || answer.strip.cacheable)) {
        this.importing.set(`${globalize ? 'g' : 's'}${strippedNow}`, { code: answer.code, wrap: answer.wrap, imports: answer.imports });
      }
      return { code: answer.code, wrapped: answer.wrap === null ? null : wrappedOf(answer.wrap), imports: answer.imports, awaits: answer.awaits };
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
