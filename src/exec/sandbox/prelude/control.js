// @ts-check
// Sandbox code, part of the prelude (see console.js): the run's state, the control function the
// host drives a run with, and attach(log, seed, memoryBytes), the prelude's only entry point.
// ---- the run's state, read by the host after every turn ----
let settled = false;
let outcome = /** @type {{ ok: true, value: string, type: string } | { ok: false, error: string } | null} */ (null);
let fatal = /** @type {string | null} */ (null);
/** Replay: whether the last 'deliver' found its work finished. */
let delivered = false;
/** The code given to `run` did not compile: none of it ran. */
let compileFailed = false;
/** The code given to `run` threw at its top level: the run ends (its state carries the record). */
let thrownAtTop = false;
/** What `__mcpv8_state` asks for (attach's `secret`): only the host that attached the context knows it. */
let stateSecret = /** @type {string | null} */ (null);

// The texts that leave the sandbox are bounded: a result or an error can be as large as the
// heap, and the host stores them with the execution record.
const resultCharsMax = 8 * 1024 * 1024;
const errorCharsMax = 64 * 1024;
/** @param {string} text @param {number} charsMax @returns {string} */
function bounded(text, charsMax) {
  return text.length <= charsMax ? text : `${consoleApply(consoleSlice, text, [0, charsMax])}… [truncated: ${text.length - charsMax} more characters]`;
}
// Captured (with console.js's): results and errors are described after the run's code ran.
const controlGetPrototypeOf = Object.getPrototypeOf;
const ControlErrorPrototype = Error.prototype;
/** `value instanceof Error`, without Error[Symbol.hasInstance] @param {unknown} value @returns {value is Error} */
function isError(value) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  for (let prototype = controlGetPrototypeOf(value); prototype !== null; prototype = controlGetPrototypeOf(prototype)) if (prototype === ControlErrorPrototype) return true;
  return false;
}
/** The lines of a stack that are not the prelude's @param {string} stack @returns {string} */
function userFrames(stack) {
  let text = '';
  let kept = 0;
  for (let from = 0; from <= stack.length;) {
    const newline = consoleApply(consoleIndexOf, stack, ['\n', from]);
    const end = newline === -1 ? stack.length : newline;
    const line = consoleApply(consoleSlice, stack, [from, end]);
    if (consoleApply(consoleIndexOf, line, ['mcp-v8:prelude']) === -1) text = kept++ === 0 ? line : text + '\n' + line;
    if (newline === -1) break;
    from = newline + 1;
  }
  return text;
}

/**
 * The format of result and error texts (docs/stateful.md, "Text format"): 1 inspected results to
 * depth 2 and printed a thrown primitive as String(e); 2 inspects results to depth 4 and a thrown
 * value that is not an Error as `Uncaught <inspected>`. A replay formats each run's texts as
 * the run did ('begin' names its format), since the record holds them to compare with.
 */
const textFormatCurrent = 2;
let textFormat = textFormatCurrent;

/**
 * @param {unknown} error
 * @returns {string}
 */
function describeError(error) {
  if (isError(error)) {
    if (error.stack === undefined) return bounded(ConsoleString(error), errorCharsMax);
    return bounded(userFrames(ConsoleString(error.stack)), errorCharsMax);
  }
  if (textFormat >= 2) return bounded(`Uncaught ${inspect(error, { depth: 4 })}`, errorCharsMax);
  // Format 1: String(e) as for a throw at the top level, but objects inspected (not [object Object]).
  const text = error !== null && typeof error === 'object' ? inspect(error) : ConsoleString(error);
  return bounded(text, errorCharsMax);
}

/**
 * @param {unknown} value
 * @returns {string}
 */
function describeResult(value) {
  return bounded(typeof value === 'string' ? value : inspect(value, { depth: textFormat >= 2 ? 4 : 2 }), resultCharsMax);
}

// ---- stacks: a run evaluated by `run` reads as a script's (main.js) ----
// V8 names the top level and every anonymous function of eval code `eval` in a stack
// (`at eval (main.js:1:7)`, where a script has `at main.js:1:7`), and the frames of the eval and of
// the prelude that called it follow. Error.prepareStackTrace (a default the code may replace, as
// in Node) formats each frame as V8 does, with those names as a script's and those frames left out.
// It also notes an error whose stack starts in that eval itself: the code did not compile.
// V8's CallSite methods, taken from the first stack formatted, or at attach (a snapshot's
// creation records no stacks), before any user code: code can reach CallSite's prototype.
/** @type {{ text: Function, isEval: Function, functionName: Function, script: Function, line: Function, column: Function } | null} */
let site = null;
/** @param {unknown[]} sites */
function takeCallSite(sites) {
  if (site !== null || sites.length === 0) return;
  const prototype = controlGetPrototypeOf(sites[0]);
  site = { text: prototype.toString, isEval: prototype.isEval, functionName: prototype.getFunctionName, script: prototype.getScriptNameOrSourceURL, line: prototype.getLineNumber, column: prototype.getColumnNumber };
}
/** At attach: the methods, from a stack made for them. */
function takeCallSiteNow() {
  const ErrorConstructor = /** @type {any} */ (Error);
  const formatter = ErrorConstructor.prepareStackTrace;
  ErrorConstructor.prepareStackTrace = (/** @type {unknown} */ _, /** @type {unknown[]} */ sites) => { takeCallSite(sites); return ''; };
  void new Error().stack;
  ErrorConstructor.prepareStackTrace = formatter;
}
const stringReplace = String.prototype.replace;
/** The script name `run`'s source carries (src/exec/run.ts appends its sourceURL). */
const runScript = 'main.js';
/** The last error whose stack started in `run`'s own eval (nothing of the code ran). */
let notCompiledError = /** @type {unknown} */ (null);

/** `name: message` as V8 heads a stack @param {any} error @returns {string} */
function stackHeader(error) {
  try {
    const name = error.name === undefined ? 'Error' : ConsoleString(error.name);
    const message = error.message === undefined ? '' : ConsoleString(error.message);
    return name === '' ? message : message === '' ? name : name + ': ' + message;
  } catch {
    return '<error>';
  }
}
/** A frame as V8 writes it, a function of `run`'s code V8 calls `eval` as a script's @param {unknown} frame @returns {string} */
function frameText(frame) {
  if (site === null) return ConsoleString(frame);
  const text = reflectApply(site.text, frame, []);
  if (!reflectApply(site.isEval, frame, []) || reflectApply(site.script, frame, []) !== runScript || reflectApply(site.functionName, frame, []) !== 'eval') return text;
  const at = runScript + ':' + reflectApply(site.line, frame, []) + ':' + reflectApply(site.column, frame, []);
  if (text === 'eval (' + at + ')') return at;
  if (text === 'async eval (' + at + ')') return 'async ' + at;
  return reflectApply(stringReplace, reflectApply(stringReplace, text, ['.eval (', '.<anonymous> (']), ['new eval (', 'new <anonymous> (']);
}
/** The frame of `run`'s eval: V8's builtin, called by the prelude's `run` @param {unknown} frame @param {unknown} caller @returns {boolean} */
function isRunEval(frame, caller) {
  if (site === null) return false;
  return !reflectApply(site.isEval, frame, []) && reflectApply(site.functionName, frame, []) === 'eval' && reflectApply(site.script, frame, []) == null
    && reflectApply(site.functionName, caller, []) === 'run' && reflectApply(site.script, caller, []) === 'mcp-v8:prelude';
}
/** @param {unknown} error @param {unknown[]} sites @returns {string} */
function prepareStackTrace(error, sites) {
  // Before attach no user code ran: the methods are V8's own.
  if (hostLog === null) takeCallSite(sites);
  let end = sites.length;
  for (let index = 0; index + 1 < sites.length; index++) {
    if (isRunEval(sites[index], sites[index + 1])) {
      end = index;
      break;
    }
  }
  if (end === 0 && sites.length > 0) notCompiledError = error;
  let text = stackHeader(error);
  for (let index = 0; index < end; index++) text += '\n    at ' + frameText(sites[index]);
  return text;
}
/**
 * Whether what `run`'s eval threw came from V8's compiler: its stack starts in the eval. Read
 * through this file's own formatter only (code that replaced it has run).
 * @param {unknown} error @returns {boolean}
 */
function notCompiled(error) {
  if (!isError(error) || /** @type {any} */ (Error).prepareStackTrace !== prepareStackTrace) return false;
  notCompiledError = null;
  void error.stack;
  return notCompiledError === error;
}
Object.defineProperty(Error, 'prepareStackTrace', { value: prepareStackTrace, writable: true, configurable: true });

function state(final = false) {
  flushOutput();
  let refTimers = 0;
  timerQueue.forEach((timer) => { if (timer.ref) refTimers++; });
  const next = nextTimer();
  // The record travels once, with the state that ends the run.
  const pendingHostCalls = hostCallsPending();
  const ending = fatal !== null || thrownAtTop || (settled && refTimers === 0 && pendingHostCalls === 0) || (next === null && !settled && pendingWork === 0);
  return {
    final: final === true, settled, outcome, fatal, compileFailed, batchesSent, refTimers, timers: timerQueue.size, pendingWork, pendingHostCalls, delivered,
    offHeapBytes: offHeapBytes + ballastBytes,
    replayIssue: replayIssue(),
    nextDueInMs: next === null ? null : mathMax(0, next.timer.due - loopNow()),
    record: ending ? takeRecord() : null,
  };
}

/** Marks a value thrown at the top level, handed on as the completion value (src/exec/catch-thrown.ts). */
const thrownKey = 'mcp-v8: thrown at the top level';
/** Starts the message of a dropped promise's rejection with a value that is not an Error (outcome.ts has the same). */
const discardedMark = 'mcp-v8: a promise the code dropped rejected with: ';

/**
 * A promised result, awaited: `await` reaches a promise's settlement without looking up `then`,
 * which the run may have replaced on Promise.prototype (Promise.resolve(value).then did).
 * @param {unknown} value
 */
async function settleLater(value) {
  let result;
  try {
    result = await value;
  } catch (error) {
    settled = true;
    outcome = { ok: false, error: describeError(error) };
    return;
  }
  settled = true;
  outcome = { ok: true, value: describeResult(result), type: result === null ? 'null' : typeof result };
}

/**
 * Settles the run with user code's completion value; answers whether no user code ran (a primitive).
 * @param {any} value
 * @returns {boolean}
 */
function settleCompletion(value) {
  if (value !== null && typeof value === 'object' && objectHasOwn(value, thrownKey)) {
    settled = true;
    outcome = { ok: false, error: describeError(value[thrownKey]) };
    return false;
  }
  if (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function') {
    void settleLater(value);
    return false;
  }
  settled = true;
  outcome = { ok: true, value: describeResult(value), type: value === null ? 'null' : typeof value };
  // A primitive is formatted without running user code; objects may have getters or proxies.
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

const control = /** @type {Record<string, (argument?: any) => unknown>} */ (/** @type {Record<string, ((argument?: any) => unknown) | null>} */ ({
  __proto__: null,
  /** @param {any} value (user code's completion value) */
  settle(value) {
    return state(settleCompletion(value));
  },
  /**
   * A fresh context's whole run in the call that attaches it (src/exec/run.ts, `runInOneCall`):
   * the code evaluated by the indirect eval captured at start-up (global scope, as a script), its
   * completion value settled, a throw at its top level the run's end. Code V8 does not compile
   * ran not at all: the host then runs it as a script (`compileFailed`).
   * @param {string} source
   */
  run(source) {
    let completion;
    try {
      completion = reflectApply(globalEval, undefined, [source]);
    } catch (error) {
      if (notCompiled(error)) {
        compileFailed = true;
        return undefined;
      }
      // As a script's throw: the run ends here, whatever timers its code set. An Error goes on
      // to the host, which describes it as a script's (isolated-vm copies it, with no more of
      // this heap than a script's throw took: a throw at the memory limit stays one); any
      // other value is described here (isolated-vm would lose it).
      thrownAtTop = true;
      if (isError(error)) throw error;
      fatal = describeError(error);
      return undefined;
    }
    settleCompletion(completion);
    return undefined;
  },
  /** @param {{ timerId: number, atMs: number }} [replayed] */
  fire(replayed) {
    // Replay: the recorded timer, at its recorded time, whatever the virtual clock says is due.
    const next = replayed === undefined ? nextTimer() : (timerQueue.has(replayed.timerId) ? { id: replayed.timerId, timer: /** @type {Timer} */ (timerQueue.get(replayed.timerId)) } : null);
    if (replayed !== undefined && next === null) {
      fatal = `Replay diverged: timer ${replayed.timerId} was not pending when the recorded run fired it`;
      return state(true);
    }
    const nowMs = replayed === undefined ? loopNow() : replayed.atMs;
    // Nothing due: no user code runs, so this state is final (the host was polling).
    if (next === null || (replayed === undefined && next.timer.due > nowMs + 1)) return state(true);
    {
      const { id, timer } = next;
      noteEvent({ kind: 'timer', timerId: id, atMs: nowMs });
      if (timer.repeat) { timer.due = nowMs + timer.delay; timer.sequence = ++timerSequence; } else timerQueue.delete(id);
      try {
        reflectApply(timer.callback, undefined, timer.args);
      } catch (error) {
        fatal = describeError(error);
      }
    }
    return state();
  },
  /** Replay: hands finished work to user code at its recorded turn (delivered: false if V8 is not done yet). */
  /** @param {number} workId */
  deliver(workId) {
    const settle = finishedWork.get(workId);
    delivered = settle !== undefined;
    if (!delivered) return state(true);
    finishedWork.delete(workId);
    settle();
    return state();
  },
  /**
   * Starts another run in this context (stateful mode): a fresh run state, no timers left from
   * the last run, and the seed, live or replaying the recorded clock readings.
   */
  /** @param {{ seed: number, clockReadingsMs?: number[] | null, textFormat?: number }} options */
  begin(options) {
    flushOutput();
    settled = false; outcome = null; fatal = null; delivered = false;
    outputBytes = 0; outputLines = 0; truncated = false;
    timerQueue.clear();
    finishedWork.clear();
    generation++;
    pendingWork = 0;
    textFormat = typeof options.textFormat === 'number' ? options.textFormat : textFormatCurrent;
    begin(options.seed, options.clockReadingsMs ?? null);
    return state(true);
  },
  state: () => state(),
  record: () => takeRecord(),
  /** The host, in a context of its own, never one that runs user code (src/exec/wasm-modules.ts). */
  compilePreloaded: (payload) => compilePreloaded(payload),
  checkpoint: () => takeCheckpoint(),
  restore: (text) => { restoreCheckpoint(text); return null; },
  /** The host, once per process, in a context of its own (isolate-pool.ts). */
  builtinDelta: () => builtinDelta(),
}));
/**
 * @param {(text: string) => void} log @param {number} seed @param {number} memoryBytes
 * @param {any} host (the host's effect Reference) @param {any} features (which of fetch/fs exist)
 * @param {PreloadedName[]} [preloadedNames] pre-loaded WebAssembly modules (wasm.js), with
 * @param {PreloadedPayload} [preloadedPayload]
 * @param {string} [stateful] in a stateful context, what attach changed in the built-ins of the snapshot (checkpoint.js, `builtinDelta`), recorded with them
 * @param {string} [secret] what the host names to read the state through `__mcpv8_state` before it holds the control function
 * @returns {(method: string, argument?: unknown) => unknown}
 */
function attach(log, seed, memoryBytes, host, features, preloadedNames, preloadedPayload, stateful, secret) {
  if (hostLog !== null) throw new Error('the context is attached already');
  delete globalThis[attachName];
  hostLog = log;
  reseed(seed);
  memoryLimitBytes = memoryBytes;
  takeCallSiteNow();
  installPerContext();
  installEffects(host, features);
  if (preloadedNames !== undefined && preloadedPayload !== undefined) installPreloaded(preloadedNames, preloadedPayload);
  if (typeof stateful === 'string') captureBuiltins(stateful);
  nativeNamesAttached = true;
  if (typeof secret === 'string') stateSecret = secret;
  return (/** @type {string} */ method, /** @type {unknown} */ argument) => control[method](argument);
}
// The await wrapper's handler (top-level-await.ts): the promise a wrapped run ends with gets one in
// the run's own call, with the `then` captured here, so isolated-vm does not report its rejection
// (which loses a value that is not an Error) before the settle reads it. Neither writable nor
// configurable: no run can replace it.
{
  const handledThen = Promise.prototype.then;
  const handledApply = Reflect.apply;
  const ignore = () => {};
  /**
   * A promise the code made and dropped (a top-level statement such as `Promise.reject(v);` or
   * `main();`, marked by the wrapper with `, 1`) is nobody else's: when it rejects, Node reports an
   * unhandled rejection, and so does isolated-vm, but with its generic text for a value that is
   * not an Error. The handler hands such a value on described, as an object isolated-vm copies as
   * an Error with that message (outcome.ts, `discardedMark`); Errors and primitives, which
   * isolated-vm copies, are rethrown as they are. Either way the rejection stays unhandled.
   * @param {unknown} reason @returns {never}
   */
  const discarded = (reason) => {
    if ((typeof reason !== 'object' && typeof reason !== 'function') || reason === null || 'message' in reason || 'stack' in reason) throw reason;
    throw { message: discardedMark + describeError(reason) };
  };
  /** @param {unknown} completion @param {unknown} [dropped] @returns {unknown} */
  const handled = (completion, dropped) => {
    try {
      handledApply(handledThen, completion, [undefined, dropped === 1 ? discarded : ignore]);
    } catch {
      // Not a promise (then's own check): nothing to handle.
    }
    return completion;
  };
  Object.defineProperty(globalThis, '__mcpv8_handled', { value: handled });
}
// The run's state for the host that attached the context in the same call as its run (run.ts,
// `runInOneCall`), asked right behind it, after the microtasks its code queued: by the secret
// attach was given, which no code in the context can know. Neither writable nor configurable.
{
  const stateOf = (/** @type {unknown} */ secret) => {
    if (stateSecret === null || secret !== stateSecret) throw new Error('not the host of this context');
    return state();
  };
  Object.defineProperty(globalThis, '__mcpv8_state', { value: stateOf });
}
for (const key of reflectOwnKeys(globalThis)) {
  const descriptor = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(globalThis, key));
  if (objectHasOwn(descriptor, 'value') && descriptor.value !== globalThis) presentTreeAsNative(descriptor.value, key, 2);
}
const attachName = '__mcpv8_attach';
Object.defineProperty(globalThis, attachName, { value: attach, configurable: true });
listNativeNamesExactly();
// Last: the built-ins as the snapshot will hold them (checkpoint.js).
captureSnapshotBuiltins();
