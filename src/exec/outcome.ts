// How a run ends, as the user sees it: the sandbox's state after a turn, its texts checked (they
// come from code user code can subvert), the console output counted again on the host, and what
// isolated-vm throws turned into outcomes (failed, timed out, cancelled, out of memory).
import { inspect } from 'node:util';
import type ivm from 'isolated-vm';
import { assert } from '../errors.ts';
import { textFormatCurrent } from '../model.ts';
import { ErrorTexts, type DeterminismRecord, type RunOutcome } from './types.ts';

/** An error text longer than this is cut (the sandbox cuts results at 8 Mi characters). */
export const errorCharsMax = 64 * 1024;
/** The prelude's truncation marker (`… [truncated: N more characters]`) is shorter than this. */
const sandboxMarkerCharsMax = 64;
/** A result longer than this is cut, by the sandbox and again by the host. */
export const resultCharsMax = 8 * 1024 * 1024;

/**
 * A result or error text from the sandbox, checked: the prelude formats them with builtins user
 * code can replace, so what arrives may be no string, or longer than the prelude's own bound.
 */
export function sandboxText(value: unknown, charsMax: number): string {
  if (typeof value !== 'string') return '[the sandbox returned a value that is not text]';
  // The prelude's own cut adds its marker past charsMax: room for it, so that it stays.
  const allowed = charsMax + sandboxMarkerCharsMax;
  return value.length <= allowed ? value : `${value.slice(0, charsMax)}… [truncated: ${value.length - charsMax} more characters]`;
}

export interface SandboxState {
  settled: boolean;
  outcome: { ok: true; value: string; type?: unknown } | { ok: false; error: string } | null;
  fatal: string | null;
  batchesSent: number;
  refTimers: number;
  timers: number;
  nextDueInMs: number | null;
  /** Async work V8 finishes outside microtasks (WebAssembly.compile/instantiate) still pending. */
  pendingWork: number;
  /** fetch()/fs calls not answered yet (part of pendingWork): like a ref'd timer, they keep the run going. */
  pendingHostCalls: number;
  /** True when the call ran no user code, so no microtask can change this state. */
  final: boolean;
  /** The code given to the prelude's `run` did not compile (run.ts, `runInOneCall`): none of it ran. */
  compileFailed?: boolean;
  /** Sent once, with the state that ends the run. */
  record: DeterminismRecord | null;
  /** Replay: whether the last 'deliver' found its work finished. */
  delivered: boolean;
  /** Replay: how the run's use of the clock differed from the record, or null. */
  replayIssue: string | null;
  /**
   * Bytes the context reserved outside the V8 heap (WebAssembly memories, resizable buffers) and
   * the ballast its Intl objects carried, none of which the heap statistics see (sandbox/prelude/off-heap.js).
   */
  offHeapBytes: number;
}

/** Console output one execution may print, in UTF-8 bytes (one more per line), and in lines. */
export const consoleBytesMax = 32 * 1024 * 1024;
export const consoleLinesMax = 100_000;
/** The last line of an execution whose console output reached a bound (the sandbox writes the same). */
export const consoleTruncatedLine = `[output truncated: this execution reached the console limit of ${consoleLinesMax} lines or 32 MiB]`;
const consoleRefusedLine = '[output truncated: the sandbox sent console output that is not text]';

/**
 * The host's own count of one execution's console output. The sandbox bounds it too, but its
 * code runs beside user code, so nothing it sends is trusted: a batch that is not a string ends
 * the output, and the bounds are counted again here, in exact UTF-8 bytes.
 */
export class ConsoleBudget {
  private bytes = 0;
  private lines = 0;
  private ended = false;

  /** The lines of one batch that may be stored, the truncation line last if a bound is reached. */
  take(batch: unknown): string[] {
    if (this.ended) return [];
    if (typeof batch !== 'string') {
      this.ended = true;
      return [consoleRefusedLine];
    }
    const lines = batch.split('\n');
    const batchBytes = Buffer.byteLength(batch, 'utf8') + 1;
    if (this.bytes + batchBytes <= consoleBytesMax && this.lines + lines.length <= consoleLinesMax) {
      this.bytes += batchBytes;
      this.lines += lines.length;
      return lines;
    }
    const kept: string[] = [];
    for (const line of lines) {
      const lineBytes = Buffer.byteLength(line, 'utf8') + 1;
      if (line === consoleTruncatedLine || this.bytes + lineBytes > consoleBytesMax || this.lines + 1 > consoleLinesMax) {
        this.ended = true;
        kept.push(consoleTruncatedLine);
        break;
      }
      this.bytes += lineBytes;
      this.lines++;
      kept.push(line);
    }
    return kept;
  }
}

/** A replay that cannot rebuild the heap: the run fails with this text, the context is discarded. */
export class ReplayFailed extends Error {}

/** Why a run was ended from outside: its deadline, a cancel, or V8 out of memory in its isolate (`onCatastrophicError`). */
export type StopReason = 'timeout' | 'cancelled' | 'out-of-memory';

export class RunStopped extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(reason);
    this.reason = reason;
  }
}

/** What isolated-vm throws when the isolate passes its memory limit. */
export const ivmOutOfMemory = 'Isolate was disposed during execution due to memory limit';

/** What isolated-vm reports for a thrown object that is not an Error (the value itself is lost). */
const notAnErrorMessage = 'An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`.';
const notAnErrorText = 'Uncaught: the code threw an object that is not an Error (throw new Error(...) to get its message and stack)';
/**
 * Format 2: a top-level throw is shown (catch-thrown.ts), and so is the rejection of a promise the
 * code ends with (top-level-await.ts, `routesThroughWrapper`), of a promise it drops at its top
 * level (`discardedMark`) and strict code's throw (catch-thrown.ts); what is left is a promise
 * dropped elsewhere (inside a function), or code neither wrapper runs. (The text stays as heaps of
 * format 2 recorded it: their replays must end with the same text.)
 */
const notAnErrorTextNow = 'Uncaught: the code threw, or a promise it ended with rejected with, an object that is not an Error, which cannot be shown here (code in strict mode, or a rejection before the first await or timer): reject or throw new Error(...), or await the promise, to see it';

/**
 * A frame of the host's own stack, which isolated-vm appends to errors it carries out: named
 * (`at f (file:///…)`) or anonymous (`at file:///…`, `at node:internal/…`).
 */
const hostFrame = /\((node|file):|^\s*at (node|file):|node_modules/;

/**
 * The message of the error a promise the code dropped is rejected with in the sandbox when its
 * value is not an Error (prelude/control.js, `discarded`): the value's text follows. Only sources
 * that mark dropped promises (top-level-await.ts, `discardedEdits`) make it.
 */
export const discardedMark = 'mcp-v8: a promise the code dropped rejected with: ';

/** The text of an error thrown at the top level: its stack inside the sandbox, host frames cut. */
export function describeThrown(error: Error, textFormat = 1): string {
  if (error.message === notAnErrorMessage) return textFormat >= 2 ? notAnErrorTextNow : notAnErrorText;
  if (error.message.startsWith(discardedMark)) return bounded(error.message.slice(discardedMark.length));
  const stack = error.stack ?? `${error.name}: ${error.message}`;
  return bounded(stack.split('\n').filter((line) => !line.includes('<isolated-vm boundary>') && !line.includes('mcp-v8:prelude') && !hostFrame.test(line)).join('\n'));
}

function bounded(text: string): string {
  return text.length <= errorCharsMax ? text : `${text.slice(0, errorCharsMax)}… [truncated: ${text.length - errorCharsMax} more characters]`;
}

/** Whether the code threw `error` (an Error, or a primitive isolated-vm copied out), not the host. */
export function thrownByCode(error: unknown): boolean {
  return error instanceof Error || error === null || (typeof error !== 'object' && typeof error !== 'function');
}

/**
 * The text of what the code threw at the top level in `textFormat`: an Error's stack; a primitive
 * (isolated-vm copies those out) inspected as the sandbox would (`Uncaught 'x'`), or in format 1
 * as String(e).
 */
export function describeThrownValue(error: unknown, textFormat: number): string {
  if (error instanceof Error) return describeThrown(error, textFormat);
  return bounded(textFormat >= 2 ? `Uncaught ${inspect(error, { maxStringLength: 10_000 })}` : String(error));
}

export function failed(error: string, record: DeterminismRecord | null = null): RunOutcome {
  return { status: 'failed', result: null, error, record };
}

/** The limits a run had, and whether a timer alone kept it going, for the texts that name them. */
export interface LimitsContext {
  timeoutMs: number;
  memoryMb: number;
  /** The code had settled and only ref'd timers were left when the run was stopped. */
  timerKeptAlive: boolean;
}

export const arrayBufferFailed = /^RangeError: Array buffer allocation failed$/m;

/** V8's "Array buffer allocation failed" names no limit: this adds the one that refused it. */
export function explainLimits(text: string, memoryMb: number): string {
  return text.replace(arrayBufferFailed, (line) => line + ErrorTexts.arrayBufferTooLarge(memoryMb));
}

/** Maps what isolated-vm throws to the outcome the user sees. */
export function outcomeOfError(error: unknown, stoppedBy: StopReason | null, isolate: ivm.Isolate, limits: LimitsContext): RunOutcome {
  const stopReason = error instanceof RunStopped ? error.reason : stoppedBy;
  if (stopReason === 'cancelled') return { status: 'cancelled', result: null, error: ErrorTexts.cancelled };
  const message = error instanceof Error ? error.message : String(error);
  if (message === ivmOutOfMemory || stopReason === 'out-of-memory' || (isolate.isDisposed && stopReason === null)) return failed(ErrorTexts.outOfMemory(limits.memoryMb));
  if (stopReason === 'timeout') return { status: 'timed_out', result: null, error: ErrorTexts.timeout(limits.timeoutMs / 1000, limits.timerKeptAlive) };
  return failed(explainLimits(error instanceof Error ? describeThrown(error, textFormatCurrent) : message, limits.memoryMb));
}

export const stuckError = 'Error: the code awaits a promise that nothing can settle (no timer or pending work is left)';

/** How a run ended, from the sandbox state after its last turn. */
/** typeof of the completion value (or 'null'), as the sandbox says; anything else is not believed. */
const resultTypes = new Set(['string', 'number', 'bigint', 'boolean', 'undefined', 'symbol', 'object', 'function', 'null']);

export function endOf(state: SandboxState): { status: 'completed' | 'failed'; result: string | null; error: string | null; resultType?: string } {
  if (state.fatal !== null) return { status: 'failed', result: null, error: sandboxText(state.fatal, errorCharsMax) };
  if (!state.settled) return { status: 'failed', result: null, error: stuckError };
  const outcome = state.outcome;
  assert(outcome !== null, 'a settled run has an outcome');
  if (!outcome.ok) return { status: 'failed', result: null, error: sandboxText(outcome.error, errorCharsMax) };
  const resultType = typeof outcome.type === 'string' && resultTypes.has(outcome.type) ? { resultType: outcome.type } : {};
  return { status: 'completed', result: sandboxText(outcome.value, resultCharsMax), error: null, ...resultType };
}

/** A promise's outcome, as a value. */
export type Settled<Value> = { ok: true; value: Value } | { ok: false; error: unknown };
