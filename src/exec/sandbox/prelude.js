// Sandbox code (runs inside the isolate): console, timers and the small web globals V8 lacks,
// plus the control function the host drives the run with. The prelude runs once, when the pool
// builds its V8 startup snapshot; every context of a pool isolate starts from that snapshot with
// `attach(log, seed)` under a hidden global name. The host calls it once per context, before any
// user code, with its console callback and the context's seed; attach deletes its own name and
// returns the control function, which the host keeps. Neither is ever reachable from user code.
(function () {
  'use strict';
  let hostLog = null;
  const { inspect, format } = globalThis.__mcpv8_inspect;
  const { loopNow, noteEvent, reseed, begin, replaying, replayIssue, takeRecord } = globalThis.__mcpv8_determinism;
  delete globalThis.__mcpv8_inspect;
  delete globalThis.__mcpv8_determinism;

  // ---- console: one call, one entry (split on newlines); batched to the host ----
  const outputBytesMax = 32 * 1024 * 1024;
  const linesPerFlushMax = 500;
  const flushIntervalMs = 10;
  const eagerFlushesPerIntervalMax = 20;
  let outputBytes = 0;
  let batchesSent = 0;
  let intervalStartMs = 0;
  let flushesInInterval = 0;
  let truncated = false;
  let pendingLines = [];
  let groupIndent = '';

  function flushOutput() {
    if (pendingLines.length === 0) return;
    const lines = pendingLines;
    pendingLines = [];
    batchesSent++;
    flushesInInterval++;
    hostLog(lines);
  }

  function emit(prefix, text) {
    // A replay prints nothing: the lines went out when the run was live.
    if (truncated || replaying()) return;
    for (const line of text.split('\n')) {
      const shown = groupIndent + prefix + line;
      prefix = '';
      outputBytes += shown.length + 1;
      if (outputBytes > outputBytesMax) {
        truncated = true;
        pendingLines.push('[output truncated: this execution reached the console limit of 32 MiB]');
        break;
      }
      pendingLines.push(shown);
    }
    // The first lines of every 10 ms go out at once, so that what a program printed before it
    // hangs in a loop that never yields reaches the host; past that (a flood) lines go out in
    // batches, and a loop that never yields loses at most the last batch when it times out.
    const nowMs = loopNow();
    if (nowMs - intervalStartMs >= flushIntervalMs) { intervalStartMs = nowMs; flushesInInterval = 0; }
    if (truncated || pendingLines.length >= linesPerFlushMax || flushesInInterval < eagerFlushesPerIntervalMax) flushOutput();
  }

  const counts = new Map();
  const timers = new Map();
  function table(data) {
    if (data === null || typeof data !== 'object') return format(data);
    const rows = Object.keys(data);
    const columns = [];
    for (const row of rows) {
      const item = data[row];
      if (item !== null && typeof item === 'object') for (const key of Object.keys(item)) if (!columns.includes(key)) columns.push(key);
    }
    const hasValues = rows.some((row) => data[row] === null || typeof data[row] !== 'object');
    const header = ['(index)', ...columns, ...(hasValues ? ['Values'] : [])];
    const cell = (value) => (value === undefined ? '' : inspect(value, { depth: 0 }));
    const body = rows.map((row) => {
      const item = data[row];
      const isObject = item !== null && typeof item === 'object';
      return [row, ...columns.map((key) => (isObject ? cell(item[key]) : '')), ...(hasValues ? [isObject ? '' : cell(item)] : [])];
    });
    const widths = header.map((title, index) => Math.max(title.length, ...body.map((line) => line[index].length)) + 2);
    const line = (left, middle, right) => left + widths.map((width) => '─'.repeat(width)).join(middle) + right;
    const render = (cells) => '│' + cells.map((text, index) => {
      const space = widths[index] - text.length;
      return ' '.repeat(Math.floor(space / 2)) + text + ' '.repeat(Math.ceil(space / 2));
    }).join('│') + '│';
    return [line('┌', '┬', '┐'), render(header), line('├', '┼', '┤'), ...body.map(render), line('└', '┴', '┘')].join('\n');
  }

  const consoleObject = {
    log: (...args) => emit('', format(...args)),
    info: (...args) => emit('[INFO] ', format(...args)),
    warn: (...args) => emit('[WARN] ', format(...args)),
    error: (...args) => emit('[ERROR] ', format(...args)),
    debug: (...args) => emit('', format(...args)),
    trace: (...args) => {
      const stack = String(new Error().stack).split('\n').slice(2).join('\n');
      emit('', `Trace${args.length > 0 ? ': ' + format(...args) : ''}\n${stack}`);
    },
    dir: (value, options) => emit('', inspect(value, options)),
    table: (data) => emit('', table(data)),
    assert: (condition, ...args) => { if (!condition) emit('[ERROR] ', `Assertion failed${args.length > 0 ? ': ' + format(...args) : ''}`); },
    count: (label = 'default') => { const count = (counts.get(label) ?? 0) + 1; counts.set(label, count); emit('', `${label}: ${count}`); },
    countReset: (label = 'default') => { counts.delete(label); },
    time: (label = 'default') => { timers.set(label, performance.now()); },
    timeEnd: (label = 'default') => { if (timers.has(label)) { emit('', `${label}: ${(performance.now() - timers.get(label)).toFixed(3)}ms`); timers.delete(label); } },
    timeLog: (label = 'default', ...args) => { if (timers.has(label)) emit('', `${label}: ${(performance.now() - timers.get(label)).toFixed(3)}ms${args.length > 0 ? ' ' + format(...args) : ''}`); },
    group: (...args) => { if (args.length > 0) emit('', format(...args)); groupIndent += '  '; },
    groupEnd: () => { groupIndent = groupIndent.slice(2); },
  };
  consoleObject.groupCollapsed = consoleObject.group;
  Object.defineProperty(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });

  // ---- timers: a queue the host drives; one callback per host turn so microtasks run between ----
  const timerDelayMax = 2 ** 31 - 1;
  const timersPendingMax = 100000;
  const timerQueue = new Map();
  let timerSequence = 0;
  let idSequence = 0;
  const idSymbol = Symbol('timerId');

  class Timeout {
    constructor(id) { this[idSymbol] = id; }
    ref() { const timer = timerQueue.get(this[idSymbol]); if (timer) timer.ref = true; return this; }
    unref() { const timer = timerQueue.get(this[idSymbol]); if (timer) timer.ref = false; return this; }
    hasRef() { const timer = timerQueue.get(this[idSymbol]); return timer ? timer.ref : false; }
    refresh() {
      const timer = timerQueue.get(this[idSymbol]);
      if (timer) { timer.due = loopNow() + timer.delay; timer.sequence = ++timerSequence; }
      return this;
    }
    close() { timerQueue.delete(this[idSymbol]); return this; }
    [Symbol.toPrimitive]() { return this[idSymbol]; }
  }

  function addTimer(callback, delay, args, repeat) {
    if (typeof callback !== 'function') throw new TypeError(`The "callback" argument must be of type function. Received ${inspect(callback, { depth: 0 })}`);
    if (timerQueue.size >= timersPendingMax) throw new RangeError(`too many pending timers (at most ${timersPendingMax} per execution)`);
    let delayMs = Number(delay);
    if (!(delayMs >= 1 && delayMs <= timerDelayMax)) delayMs = 1;
    const id = ++idSequence;
    timerQueue.set(id, { callback, args, delay: delayMs, due: loopNow() + delayMs, repeat, ref: true, sequence: ++timerSequence });
    return new Timeout(id);
  }

  function clearTimer(handle) {
    if (handle === null || handle === undefined) return;
    const id = typeof handle === 'object' ? handle[idSymbol] : Number(handle);
    timerQueue.delete(id);
  }

  globalThis.setTimeout = (callback, delay, ...args) => addTimer(callback, delay, args, false);
  globalThis.setInterval = (callback, delay, ...args) => addTimer(callback, delay, args, true);
  globalThis.clearTimeout = clearTimer;
  globalThis.clearInterval = clearTimer;
  globalThis.queueMicrotask = (callback) => {
    if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
    Promise.resolve().then(callback);
  };

  // ---- work V8 finishes outside microtasks: async WebAssembly compiles on a background thread ----
  // The host cannot see those tasks, so the sandbox counts them; while one is pending, a run
  // that awaits it is not stuck, and the host polls instead of failing it.
  // Their results reach user code in an order the host records (a 'work' event), and a replay
  // delivers them in that same order (control 'deliver'), whenever V8 actually finishes them.
  const promiseThen = Promise.prototype.then;
  const RealPromise = Promise;
  let pendingWork = 0;
  let workSequence = 0;
  /**
   * Runs started in this context: work still pending when its run ended never completes (its
   * promise stays pending), so it can neither reach user code during a later run (or during
   * another execution on the same isolate) nor make a live resume differ from a replay.
   */
  let generation = 0;
  /** Replay: finished work waiting for its recorded turn, by work id. */
  const finishedWork = new Map();
  /** A promise that settles with `promise`, at a turn the host records (or, replaying, replays). */
  function trackWork(promise) {
    const workId = ++workSequence;
    const born = generation;
    pendingWork++;
    return new RealPromise((resolve, reject) => {
      const finish = (ok, value) => {
        if (born !== generation) return;
        pendingWork--;
        const settle = () => (ok ? resolve(value) : reject(value));
        if (replaying()) finishedWork.set(workId, settle);
        else { noteEvent({ kind: 'work', workId }); settle(); }
      };
      Reflect.apply(promiseThen, promise, [(value) => finish(true, value), (error) => finish(false, error)]);
    });
  }
  function trackedWork(original) {
    const tracked = function (...args) {
      return trackWork(Reflect.apply(original, this, args));
    };
    Object.defineProperty(tracked, 'name', { value: original.name });
    Object.defineProperty(tracked, 'length', { value: original.length });
    return tracked;
  }
  // FinalizationRegistry callbacks would run whenever V8 collects, outside any run: during a
  // later run of a stateful context (which a replay could not reproduce) or during another
  // execution on the same isolate. The specification allows cleanup never to be called; here it
  // never is.
  class FinalizationRegistry {
    #cleanup;
    constructor(cleanup) {
      if (typeof cleanup !== 'function') throw new TypeError('FinalizationRegistry: cleanup must be callable');
      this.#cleanup = cleanup;
    }
    register(target, heldValue, unregisterToken) {
      if (target === null || (typeof target !== 'object' && typeof target !== 'function')) throw new TypeError('FinalizationRegistry.prototype.register: invalid target');
      if (target === heldValue) throw new TypeError('FinalizationRegistry.prototype.register: target and holdings must not be same');
      void unregisterToken;
    }
    unregister(unregisterToken) {
      if (unregisterToken === null || (typeof unregisterToken !== 'object' && typeof unregisterToken !== 'function')) throw new TypeError('Invalid unregisterToken');
      return false;
    }
    get [Symbol.toStringTag]() { return 'FinalizationRegistry'; }
  }
  Object.defineProperty(globalThis, 'FinalizationRegistry', { value: FinalizationRegistry, writable: true, configurable: true });

  // WebAssembly does not exist while the snapshot is made: its tracking is installed by attach.
  function trackWebAssembly() {
    for (const name of ['compile', 'instantiate']) {
      Object.defineProperty(WebAssembly, name, { value: trackedWork(WebAssembly[name]), writable: true, configurable: true });
    }
  }

  function nextTimer() {
    let next = null;
    for (const [id, timer] of timerQueue) {
      if (next === null || timer.due < next.timer.due || (timer.due === next.timer.due && timer.sequence < next.timer.sequence)) next = { id, timer };
    }
    return next;
  }

  // ---- the run's state, read by the host after every turn ----
  let settled = false;
  let outcome = null;
  let fatal = null;
  /** Replay: whether the last 'deliver' found its work finished. */
  let delivered = false;

  // The texts that leave the sandbox are bounded: a result or an error can be as large as the
  // heap, and the host stores them with the execution record.
  const resultCharsMax = 8 * 1024 * 1024;
  const errorCharsMax = 64 * 1024;
  function bounded(text, charsMax) {
    return text.length <= charsMax ? text : `${text.slice(0, charsMax)}… [truncated: ${text.length - charsMax} more characters]`;
  }

  function describeError(error) {
    if (error instanceof Error) {
      if (error.stack === undefined) return bounded(String(error), errorCharsMax);
      return bounded(String(error.stack).split('\n').filter((line) => !line.includes('mcp-v8:prelude')).join('\n'), errorCharsMax);
    }
    // Not an Error: String(e) as for a throw at the top level, but objects inspected (not [object Object]).
    const text = error !== null && typeof error === 'object' ? inspect(error) : String(error);
    return bounded(text, errorCharsMax);
  }

  function describeResult(value) {
    return bounded(typeof value === 'string' ? value : inspect(value), resultCharsMax);
  }

  function state(final = false) {
    flushOutput();
    let refTimers = 0;
    for (const timer of timerQueue.values()) if (timer.ref) refTimers++;
    const next = nextTimer();
    // The record travels once, with the state that ends the run.
    const ending = fatal !== null || (settled && refTimers === 0) || (next === null && !settled && pendingWork === 0);
    return {
      final: final === true, settled, outcome, fatal, batchesSent, refTimers, timers: timerQueue.size, pendingWork, delivered,
      replayIssue: replayIssue(),
      nextDueInMs: next === null ? null : Math.max(0, next.timer.due - loopNow()),
      record: ending ? takeRecord() : null,
    };
  }

  const control = {
    settle(value) {
      if (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function') {
        Promise.resolve(value).then(
          (result) => { settled = true; outcome = { ok: true, value: describeResult(result) }; },
          (error) => { settled = true; outcome = { ok: false, error: describeError(error) }; },
        );
        return state();
      }
      settled = true;
      outcome = { ok: true, value: describeResult(value) };
      // A primitive is formatted without running user code; objects may have getters or proxies.
      return state(value === null || (typeof value !== 'object' && typeof value !== 'function'));
    },
    fire(replayed) {
      // Replay: the recorded timer, at its recorded time, whatever the virtual clock says is due.
      const next = replayed === undefined ? nextTimer() : (timerQueue.has(replayed.timerId) ? { id: replayed.timerId, timer: timerQueue.get(replayed.timerId) } : null);
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
          timer.callback(...timer.args);
        } catch (error) {
          fatal = describeError(error);
        }
      }
      return state();
    },
    /** Replay: hands finished work to user code at its recorded turn (delivered: false if V8 is not done yet). */
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
    begin(options) {
      flushOutput();
      settled = false; outcome = null; fatal = null; delivered = false;
      outputBytes = 0; truncated = false;
      timerQueue.clear();
      finishedWork.clear();
      generation++;
      pendingWork = 0;
      begin(options.seed, options.clockReadingsMs ?? null);
      return state(true);
    },
    state: () => state(),
    record: () => takeRecord(),
  };
  function attach(log, seed) {
    if (hostLog !== null) throw new Error('the context is attached already');
    delete globalThis[attachName];
    hostLog = log;
    reseed(seed);
    trackWebAssembly();
    return (method, argument) => control[method](argument);
  }
  const attachName = '__mcpv8_attach';
  Object.defineProperty(globalThis, attachName, { value: attach, configurable: true });
})();
