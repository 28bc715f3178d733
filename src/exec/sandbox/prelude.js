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
  // User code runs in this context and may replace any built-in before it calls console.log:
  // what this path calls is captured here, and a batch goes to the host as one string (lines
  // joined by '\n'; a line never holds one), built with `+`, which nothing can replace. Before,
  // a replaced Array.prototype.push sent `null` lines that failed every other run's store write.
  // The host checks the type and the size of what arrives all the same (engine.ts, ConsoleBudget).
  const outputBytesMax = 32 * 1024 * 1024;
  /** Lines per execution at most: each costs the host a store write, so a flood of empty lines must end too. */
  const outputLinesMax = 100000;
  const linesPerFlushMax = 500;
  const flushCharsMax = 1024 * 1024;
  const flushIntervalMs = 10;
  const eagerFlushesPerIntervalMax = 20;
  const consoleApply = Reflect.apply;
  const consoleIndexOf = String.prototype.indexOf;
  const consoleSlice = String.prototype.slice;
  let outputBytes = 0;
  let outputLines = 0;
  let batchesSent = 0;
  let intervalStartMs = 0;
  let flushesInInterval = 0;
  let truncated = false;
  let pendingText = '';
  let pendingCount = 0;
  let groupIndent = '';

  function flushOutput() {
    if (pendingCount === 0) return;
    const text = pendingText;
    pendingText = '';
    pendingCount = 0;
    batchesSent++;
    flushesInInterval++;
    hostLog(text);
  }

  function queueLine(line) {
    pendingText = pendingCount === 0 ? line : pendingText + '\n' + line;
    pendingCount++;
  }

  function emit(prefix, text) {
    // A replay prints nothing: the lines went out when the run was live.
    if (truncated || replaying()) return;
    // `format` runs through built-ins user code may have replaced: only a string is printed.
    if (typeof text !== 'string') text = '[console: the arguments could not be formatted]';
    let from = 0;
    for (;;) {
      const newline = consoleApply(consoleIndexOf, text, ['\n', from]);
      const line = consoleApply(consoleSlice, text, newline === -1 ? [from] : [from, newline]);
      const shown = groupIndent + prefix + line;
      prefix = '';
      // Characters count up to 3 UTF-8 bytes each; the host counts the exact bytes.
      outputBytes += shown.length + 1;
      outputLines++;
      if (outputBytes > outputBytesMax || outputLines > outputLinesMax) {
        truncated = true;
        queueLine(`[output truncated: this execution reached the console limit of ${outputLinesMax} lines or 32 MiB]`);
        break;
      }
      queueLine(shown);
      if (newline === -1) break;
      from = newline + 1;
    }
    // The first lines of every 10 ms go out at once, so that what a program printed before it
    // hangs in a loop that never yields reaches the host; past that (a flood) lines go out in
    // batches, and a loop that never yields loses at most the last batch when it times out.
    const nowMs = loopNow();
    if (nowMs - intervalStartMs >= flushIntervalMs) { intervalStartMs = nowMs; flushesInInterval = 0; }
    if (truncated || pendingCount >= linesPerFlushMax || pendingText.length >= flushCharsMax || flushesInInterval < eagerFlushesPerIntervalMax) flushOutput();
  }

  // Maps of our own whose methods user code cannot replace: a prototype of their own (null-based)
  // with the original methods, iterated by forEach (a for-of would call the MapIterator
  // prototype's `next`, which user code can reach and replace).
  const SafeMapPrototype = Object.create(null);
  for (const key of Reflect.ownKeys(Map.prototype)) Object.defineProperty(SafeMapPrototype, key, Object.getOwnPropertyDescriptor(Map.prototype, key));
  const OriginalMap = Map;
  const setPrototypeOf = Object.setPrototypeOf;
  function safeMap() {
    return setPrototypeOf(new OriginalMap(), SafeMapPrototype);
  }

  const counts = safeMap();
  const timers = safeMap();
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
  const consoleGroup = consoleObject.group;
  consoleObject.groupCollapsed = { groupCollapsed: (...args) => consoleGroup(...args) }.groupCollapsed;
  Object.defineProperty(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });

  // ---- timers: a queue the host drives; one callback per host turn so microtasks run between ----
  const timerDelayMax = 2 ** 31 - 1;
  const timersPendingMax = 100000;
  /**
   * And at most this many per MiB of the memory limit: 60,000 timers at 8 or 16 MiB ran V8 out of
   * memory while it grew the timer table, beyond recovery (a parked isolate thread, issue 18);
   * 1,024 per MiB stay well inside the heap and fail with this RangeError instead.
   */
  const timersPerMiB = 1024;
  const timerQueue = safeMap();
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
    const timersMax = mathMin(timersPendingMax, timersPerMiB * mathFloor(memoryLimitBytes / (1024 * 1024)));
    if (timerQueue.size >= timersMax) throw new RangeError(`too many pending timers (at most ${timersMax} per execution at this heap_memory_max_mb, ${timersPerMiB} per MiB)`);
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
  globalThis.clearTimeout = { clearTimeout: (handle) => clearTimer(handle) }.clearTimeout;
  globalThis.clearInterval = { clearInterval: (handle) => clearTimer(handle) }.clearInterval;
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
  const finishedWork = safeMap();
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
      reflectApply(promiseThen, promise, [(value) => finish(true, value), (error) => finish(false, error)]);
    });
  }
  // Called once user code may have run (WebAssembly is wrapped on first use): only captured
  // built-ins (reflectApply and defineProperty are captured further down, before any user code).
  function trackedWork(original) {
    const tracked = function (...args) {
      return trackWork(reflectApply(original, this, args));
    };
    defineProperty(tracked, 'name', { value: original.name });
    defineProperty(tracked, 'length', { value: original.length });
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

  // ---- memory V8 keeps outside its heap: WebAssembly memories, resizable and growable buffers ----
  // V8 reserves these itself: neither isolated-vm's memory limit nor the heap statistics count
  // them, so a run with an 8 MiB limit could otherwise fill gigabytes of the host's memory. Each
  // one may be at most as large as the execution's memory limit, and together they may reserve at
  // most `offHeapShare` times it, counted by their maximum sizes for the life of the context (what
  // a program drops is not given back: that would depend on when V8 collects, and a replay must
  // decide the same). A WebAssembly memory's maximum, which a program cannot read, is lowered to
  // the limit (one that declares none gets it); a buffer's maxByteLength, which it can, is refused
  // when it does not fit. Every WebAssembly memory also takes 8 GiB of address space whatever its
  // size, so a context has at most `wasmMemoriesMax` of them.
  // Everything on this path is captured here, before any user code: a program that replaces a
  // built-in changes its own behaviour, never what is counted.
  const reflectApply = Reflect.apply;
  const reflectConstruct = Reflect.construct;
  const defineProperty = Object.defineProperty;
  /** Defines `name` on `target` as V8 defines its built-ins: writable, configurable, not enumerable. */
  const defineBuiltin = (target, name, value) => defineProperty(target, name, { value, writable: true, enumerable: false, configurable: true });
  // ---- functions the sandbox provides print as V8's own do ----
  // `String(setTimeout)`, `String(Date)` or `String(ArrayBuffer)` would otherwise show the
  // prelude's source, or `function () { [native code] }` for a proxy, and code that tells native
  // functions from polyfills by their text (lodash's isNative, core-js) would take ours for
  // polyfills. Function.prototype.toString answers `function <name>() { [native code] }` for the
  // functions registered here and defers to V8's for every other.
  const realFunctionToString = Function.prototype.toString;
  const nativeNames = new WeakMap();
  const nativeNamesGet = WeakMap.prototype.get;
  const nativeNamesSet = WeakMap.prototype.set;
  const presentAsNative = (fn, name) => { reflectApply(nativeNamesSet, nativeNames, [fn, name]); };
  const functionToString = {
    toString() {
      const name = reflectApply(nativeNamesGet, nativeNames, [this]);
      if (name !== undefined) return 'function ' + name + '() { [native code] }';
      return reflectApply(realFunctionToString, this, []);
    },
  }.toString;
  presentAsNative(functionToString, 'toString');
  defineBuiltin(Function.prototype, 'toString', functionToString);
  // Captured, like everything the prelude calls once user code may have run (WebAssembly and
  // SharedArrayBuffer are registered on first use).
  const stringIncludes = String.prototype.includes;
  const reflectOwnKeys = Reflect.ownKeys;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const objectHasOwn = Object.hasOwn;
  /**
   * Registers every function written in JavaScript reachable from `value` within `depth` property
   * steps (a global, its static members, its prototype's methods and accessors), and names the
   * anonymous ones after their key, as V8 names its own.
   */
  function presentTreeAsNative(value, key, depth, prefix = '') {
    if (typeof value === 'function' && !reflectApply(stringIncludes, reflectApply(realFunctionToString, value, []), ['[native code]'])) {
      if (value.name === '' && typeof key === 'string') defineProperty(value, 'name', { value: prefix + key, configurable: true });
      presentAsNative(value, value.name);
    }
    if (depth === 0 || value === null || (typeof value !== 'object' && typeof value !== 'function')) return;
    for (const ownKey of reflectOwnKeys(value)) {
      const descriptor = getOwnPropertyDescriptor(value, ownKey);
      if (objectHasOwn(descriptor, 'value')) {
        if (descriptor.value !== value) presentTreeAsNative(descriptor.value, ownKey, depth - 1);
      } else {
        if (descriptor.get !== undefined) presentTreeAsNative(descriptor.get, ownKey, 0, 'get ');
        if (descriptor.set !== undefined) presentTreeAsNative(descriptor.set, ownKey, 0, 'set ');
      }
    }
  }

  /** Puts `bounded`, a proxy of the constructor `Original`, where `Original` was: its prototype's `constructor`, and `holder[name]`. */
  function replaceConstructor(Original, bounded, holder, name) {
    presentAsNative(bounded, name);
    defineBuiltin(Original.prototype, 'constructor', bounded);
    if (holder !== null) defineBuiltin(holder, name, bounded);
    return bounded;
  }
  const RealProxy = Proxy;
  const RealArrayBuffer = ArrayBuffer;
  const RealUint8Array = Uint8Array;
  const RealNumber = Number;
  const RealBigInt = BigInt;
  const RealRangeError = RangeError;
  const RealWeakMap = WeakMap;
  const weakMapGet = WeakMap.prototype.get;
  const weakMapSet = WeakMap.prototype.set;
  const mathFloor = Math.floor;
  const mathMin = Math.min;
  const mathMax = Math.max;
  const mathTrunc = Math.trunc;
  const mathRound = Math.round;
  const maxSafeInteger = Number.MAX_SAFE_INTEGER;
  const promiseReject = Promise.reject;
  const arrayBufferIsView = ArrayBuffer.isView;
  const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
  const getterOf = (prototype, name) => getOwnPropertyDescriptor(prototype, name).get;
  const typedArrayView = [getterOf(TypedArrayPrototype, 'buffer'), getterOf(TypedArrayPrototype, 'byteOffset'), getterOf(TypedArrayPrototype, 'byteLength')];
  const dataViewView = [getterOf(DataView.prototype, 'buffer'), getterOf(DataView.prototype, 'byteOffset'), getterOf(DataView.prototype, 'byteLength')];
  const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
  /** SharedArrayBuffer, like WebAssembly, does not exist while the snapshot is made: set by attach. */
  let sharedArrayBufferByteLength = null;
  const typedArraySet = TypedArrayPrototype.set;

  const mebibyte = 1024 * 1024;
  const wasmPageBytes = 64 * 1024;
  const wasmMemoriesMax = 16;
  const offHeapShare = 16;
  /** Set by attach: the execution's memory limit. */
  let memoryLimitBytes = 0;
  let offHeapBytes = 0;
  let wasmMemories = 0;
  const shownMiB = (bytes) => {
    if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
    if (bytes < mebibyte / 10) return `${mathRound(bytes / 1024)} KiB`;
    return `${mathRound((bytes / mebibyte) * 10) / 10} MiB`;
  };
  const limitPages = () => mathFloor(memoryLimitBytes / wasmPageBytes);

  /** `largest`: the largest single memory or buffer among `bytes`. */
  function reserveOffHeap(bytes, largest, memories, what) {
    if (largest > memoryLimitBytes) {
      throw new RealRangeError(`${what} needs ${shownMiB(largest)}, more than this execution's memory limit of ${shownMiB(memoryLimitBytes)}; heap_memory_max_mb raises it (up to 64)`);
    }
    if (wasmMemories + memories > wasmMemoriesMax) {
      throw new RealRangeError(`${what}: an execution can have at most ${wasmMemoriesMax} WebAssembly memories`);
    }
    const left = offHeapShare * memoryLimitBytes - offHeapBytes;
    if (bytes > left) {
      throw new RealRangeError(`${what} needs ${shownMiB(bytes)}, more than the ${shownMiB(left)} left of what an execution may reserve for WebAssembly memories and resizable buffers (${offHeapShare} times its memory limit of ${shownMiB(memoryLimitBytes)}); heap_memory_max_mb raises it (up to 64)`);
    }
    offHeapBytes += bytes;
    wasmMemories += memories;
  }
  function releaseOffHeap(bytes, memories) {
    offHeapBytes -= bytes;
    wasmMemories -= memories;
  }

  /** The specification's ToIndex, done once here so that a getter or valueOf cannot tell V8 another value. */
  function toIndex(value, what) {
    const number = +value;
    const integer = number !== number ? 0 : mathTrunc(number);
    if (integer < 0 || integer > maxSafeInteger) throw new RealRangeError(`Invalid ${what}`);
    return integer + 0;
  }

  /** ArrayBuffer or SharedArrayBuffer whose maxByteLength counts against the budget. */
  function boundedBufferConstructor(Original) {
    const name = Original.name;
    const bounded = new RealProxy(Original, {
      construct(target, args, newTarget) {
        const options = args[1];
        if (options === null || (typeof options !== 'object' && typeof options !== 'function')) return reflectConstruct(target, args, newTarget);
        const maxByteLength = options.maxByteLength;
        if (maxByteLength === undefined) return reflectConstruct(target, [args[0]], newTarget);
        const bytes = toIndex(maxByteLength, `${name} maxByteLength`);
        reserveOffHeap(bytes, bytes, 0, `new ${name} with a maxByteLength of ${bytes}`);
        try {
          return reflectConstruct(target, [args[0], { maxByteLength: bytes }], newTarget);
        } catch (error) {
          // Refused before anything was allocated (a length past the maximum, no memory).
          releaseOffHeap(bytes, 0);
          throw error;
        }
      },
    });
    return replaceConstructor(Original, bounded, null, name);
  }
  defineBuiltin(globalThis, 'ArrayBuffer', boundedBufferConstructor(ArrayBuffer));

  // ---- ballast: memory V8 allocates outside its heap and counts nowhere ----
  // ICU state behind Intl objects, the machine code of a compiled WebAssembly module, the stack of
  // a suspended WebAssembly call (JSPI): each is many times the heap of the object that holds it,
  // and V8 counts none of it (not even as external memory, so it does not prompt a collection
  // either). So each such object made here carries a ballast ArrayBuffer of about that size, held
  // only by a WeakMap entry keyed by the object: isolated-vm counts the ballast against the memory
  // limit, and it goes when the object goes. Sizes are bytes of RSS per object kept, measured on
  // Node 24 and rounded up (docs/exec.md, "Limits").
  const ballasts = new RealWeakMap();
  /** Ballast made in this context, reported with the state: the host does not reuse an isolate with much garbage it cannot see. */
  let ballastBytes = 0;
  /** `why`: what the ballast stands for, in the error that says the limit is reached. */
  function ballastFor(bytes, what, why) {
    try {
      const ballast = new RealArrayBuffer(bytes);
      ballastBytes += bytes;
      return ballast;
    } catch {
      throw new RealRangeError(`${what}: this execution's memory limit is reached (${why} counts ${shownMiB(bytes)} for the memory V8 keeps outside its heap); heap_memory_max_mb raises it (up to 64)`);
    }
  }
  function carrying(ballast, object) {
    if (object !== null && (typeof object === 'object' || typeof object === 'function')) reflectApply(weakMapSet, ballasts, [object, ballast]);
    return object;
  }

  // Intl: DateTimeFormat 28.5 K, RelativeTimeFormat 9 K, Segmenter and v8BreakIterator 8 K, a
  // segment() result 3.3 K plus its string, the rest 1.6-3.5 K. (A run that kept DateTimeFormats
  // in an array filled 2.2 GiB of the host's memory in 15 s under a 64 MiB limit.)
  const intlKiB = Object.assign(Object.create(null), { DateTimeFormat: 32, RelativeTimeFormat: 12, Segmenter: 8, v8BreakIterator: 8 });
  const intlDefaultKiB = 4;
  const intlWhy = 'an Intl object';
  for (const name of Object.getOwnPropertyNames(Intl)) {
    const Original = Intl[name];
    // Constructors only: getCanonicalLocales and supportedValuesOf return arrays of strings.
    if (typeof Original !== 'function' || Original.prototype === undefined) continue;
    const bytes = (intlKiB[name] ?? intlDefaultKiB) * 1024;
    const what = `Intl.${name}`;
    const bounded = new RealProxy(Original, {
      construct(target, args, newTarget) {
        const ballast = ballastFor(bytes, what, intlWhy);
        return carrying(ballast, reflectConstruct(target, args, newTarget));
      },
      // Collator, DateTimeFormat and NumberFormat still make an object when called without new.
      apply(target, receiver, args) {
        const ballast = ballastFor(bytes, what, intlWhy);
        return carrying(ballast, reflectApply(target, receiver, args));
      },
    });
    replaceConstructor(Original, bounded, Intl, name);
  }
  /** Methods that make Intl objects of their own: each result carries its ballast. */
  function carryingMethod(prototype, key, what, bytesOf) {
    const original = prototype[key];
    const method = {
      [what](...args) {
        const ballast = ballastFor(bytesOf(args), what, intlWhy);
        return carrying(ballast, reflectApply(original, this, args));
      },
    }[what];
    defineProperty(method, 'name', { value: typeof key === 'symbol' ? '[Symbol.iterator]' : key });
    defineProperty(method, 'length', { value: original.length });
    defineBuiltin(prototype, key, method);
  }
  const segmentsPrototype = Object.getPrototypeOf(new Intl.Segmenter().segment(''));
  // A segment() result holds a copy of its string (UTF-16) and a break iterator; the string is
  // converted here once, so that V8 gets the same one.
  {
    const originalSegment = Intl.Segmenter.prototype.segment;
    const segment = {
      segment(string) {
        const text = `${string}`;
        const ballast = ballastFor(intlDefaultKiB * 1024 + 2 * text.length, 'Intl.Segmenter.prototype.segment', intlWhy);
        return carrying(ballast, reflectApply(originalSegment, this, [text]));
      },
    }.segment;
    defineBuiltin(Intl.Segmenter.prototype, 'segment', segment);
  }
  carryingMethod(segmentsPrototype, Symbol.iterator, 'Segments iterator', () => intlDefaultKiB * 1024);
  carryingMethod(Intl.Locale.prototype, 'maximize', 'Intl.Locale.prototype.maximize', () => intlDefaultKiB * 1024);
  carryingMethod(Intl.Locale.prototype, 'minimize', 'Intl.Locale.prototype.minimize', () => intlDefaultKiB * 1024);

  /** A private copy of a module's bytes (a buffer or a view of one), or null for anything else. */
  function copyOfBytes(source) {
    let buffer;
    let offset = 0;
    let length;
    if (reflectApply(arrayBufferIsView, undefined, [source])) {
      let getters = typedArrayView;
      try {
        buffer = reflectApply(getters[0], source, []);
      } catch {
        getters = dataViewView;
        buffer = reflectApply(getters[0], source, []);
      }
      offset = reflectApply(getters[1], source, []);
      length = reflectApply(getters[2], source, []);
    } else {
      try {
        length = reflectApply(arrayBufferByteLength, source, []);
      } catch {
        try {
          if (sharedArrayBufferByteLength === null) return null;
          length = reflectApply(sharedArrayBufferByteLength, source, []);
        } catch {
          return null;
        }
      }
      buffer = source;
    }
    const copy = new RealUint8Array(length);
    reflectApply(typedArraySet, copy, [new RealUint8Array(buffer, offset, length)]);
    return copy;
  }

  /** An unsigned LEB128 from `bytes` at `at`, at most `bytesMax` long: [value as a BigInt, next], or null if malformed. */
  function readLeb(bytes, at, bytesMax) {
    let value = 0n;
    for (let index = 0; index < bytesMax && at < bytes.length; index++) {
      const byte = bytes[at++];
      value |= RealBigInt(byte & 0x7f) << RealBigInt(7 * index);
      if ((byte & 0x80) === 0) return [value, at];
    }
    return null;
  }
  function writeLeb(out, at, value) {
    do {
      let byte = RealNumber(value & 0x7fn);
      value >>= 7n;
      if (value !== 0n) byte |= 0x80;
      out[at++] = byte;
    } while (value !== 0n);
    return at;
  }

  const moduleMemory = new RealWeakMap();
  /**
   * The module with the maximum of each memory it defines lowered to the memory limit (one that
   * declares none gets it), and what each instance of it reserves. A module this cannot read is left as it
   * is: V8 refuses it too. (WebAssembly byte offsets in stack traces move by the bytes added.)
   */
  function boundedModuleBytes(bytes) {
    const unchanged = { bytes, reserve: 0, largest: 0, memories: 0 };
    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    if (bytes.length < 8) return unchanged;
    for (let index = 0; index < 8; index++) if (bytes[index] !== header[index]) return unchanged;
    const budgetPages = RealBigInt(limitPages());
    let at = 8;
    let result = unchanged;
    while (at < bytes.length) {
      const id = bytes[at];
      const size = readLeb(bytes, at + 1, 5);
      if (size === null) return unchanged;
      const start = size[1];
      const end = start + RealNumber(size[0]);
      if (end > bytes.length) return unchanged;
      if (id !== 5) {
        at = end;
        continue;
      }
      const count = readLeb(bytes, start, 5);
      if (count === null) return unchanged;
      const memories = RealNumber(count[0]);
      // Each entry grows by at most a flag bit and a 10-byte maximum; the section size by 5 bytes.
      const payload = new RealUint8Array(end - start + 11 * memories + 5);
      let out = writeLeb(payload, 0, count[0]);
      let reservePages = 0n;
      let largestPages = 0n;
      let read = count[1];
      for (let memory = 0; memory < memories; memory++) {
        if (read >= end) return unchanged;
        const flags = bytes[read++];
        if (flags > 7) throw new WasmCompileError(`WebAssembly.Module(): memory limits flags 0x${flags.toString(16)} are not supported here`);
        const lebMax = (flags & 4) !== 0 ? 10 : 5;
        const minimum = readLeb(bytes, read, lebMax);
        if (minimum === null) return unchanged;
        read = minimum[1];
        let maximum = null;
        if ((flags & 1) !== 0) {
          const declared = readLeb(bytes, read, lebMax);
          if (declared === null) return unchanged;
          maximum = declared[0];
          read = declared[1];
        }
        // A shared memory must declare its maximum: one that does not stays invalid, as V8 says.
        const sharedWithoutMaximum = (flags & 2) !== 0 && maximum === null;
        const cap = minimum[0] > budgetPages ? minimum[0] : budgetPages;
        const lowered = sharedWithoutMaximum ? null : (maximum === null || maximum > cap ? cap : maximum);
        payload[out++] = sharedWithoutMaximum ? flags : flags | 1;
        out = writeLeb(payload, out, minimum[0]);
        if (lowered !== null) out = writeLeb(payload, out, lowered);
        const pages = lowered ?? minimum[0];
        reservePages += pages;
        if (pages > largestPages) largestPages = pages;
      }
      if (read !== end) return unchanged;
      const rebuilt = new RealUint8Array(bytes.length - (end - at) + 1 + 5 + out);
      reflectApply(typedArraySet, rebuilt, [new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), 0, at), 0]);
      let next = at;
      rebuilt[next++] = 5;
      next = writeLeb(rebuilt, next, RealBigInt(out));
      reflectApply(typedArraySet, rebuilt, [new RealUint8Array(reflectApply(typedArrayView[0], payload, []), 0, out), next]);
      next += out;
      reflectApply(typedArraySet, rebuilt, [new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), end, bytes.length - end), next]);
      next += bytes.length - end;
      const trimmed = new RealUint8Array(reflectApply(typedArrayView[0], rebuilt, []), 0, next);
      result = { bytes: trimmed, reserve: RealNumber(reservePages) * wasmPageBytes, largest: RealNumber(largestPages) * wasmPageBytes, memories };
      // A second memory section makes the module invalid: V8 refuses it.
      break;
    }
    return result;
  }

  /**
   * WebAssembly and SharedArrayBuffer do not exist while the snapshot is made, and wrapping them
   * in every context cost ≈ 0.15 ms of each run's CPU (most runs use neither): attach makes each
   * global an accessor that wraps on first use and turns back into the data property it was. Every
   * way to reach the originals goes through one of the two (a SharedArrayBuffer also comes from a
   * shared WebAssembly memory, so wrapping WebAssembly wraps it too). Every way to make a module
   * goes through `boundedModuleBytes`, every way to make a memory counts it; async compiles and
   * instantiations are tracked as work (`trackedWork`).
   */
  function installPerContext() {
    const original = (name) => {
      const descriptor = getOwnPropertyDescriptor(globalThis, name);
      return descriptor === undefined ? null : descriptor.value;
    };
    const OriginalSharedArrayBuffer = original('SharedArrayBuffer');
    const wasm = original('WebAssembly');
    let sharedArrayBufferWrapped = OriginalSharedArrayBuffer === null;
    let wasmWrapped = wasm === null;
    const accessors = {};
    function settle(name, value) {
      // Only while the accessor is still there: a program that deleted or replaced the global keeps that.
      const current = getOwnPropertyDescriptor(globalThis, name);
      if (current !== undefined && current.get === accessors[name]) defineBuiltin(globalThis, name, value);
      presentTreeAsNative(value, name, 3);
    }
    function wrapSharedArrayBuffer() {
      if (sharedArrayBufferWrapped) return;
      sharedArrayBufferWrapped = true;
      sharedArrayBufferByteLength = getterOf(OriginalSharedArrayBuffer.prototype, 'byteLength');
      settle('SharedArrayBuffer', boundedBufferConstructor(OriginalSharedArrayBuffer));
    }
    function wrapWebAssembly() {
      if (wasmWrapped) return;
      wasmWrapped = true;
      wrapSharedArrayBuffer();
      installWebAssembly(wasm);
      settle('WebAssembly', wasm);
    }
    for (const [name, wrap, present] of [['SharedArrayBuffer', wrapSharedArrayBuffer, OriginalSharedArrayBuffer !== null], ['WebAssembly', wrapWebAssembly, wasm !== null]]) {
      if (!present) continue;
      accessors[name] = {
        [name]() {
          wrap();
          return globalThis[name];
        },
      }[name];
      defineProperty(globalThis, name, {
        get: accessors[name],
        set(value) {
          wrap();
          defineBuiltin(globalThis, name, value);
        },
        enumerable: false,
        configurable: true,
      });
    }
  }

  /** Set with the WebAssembly wrappers: a program may replace the global. */
  let WasmCompileError = null;
  // A compiled module's machine code and metadata: 15 K per small module (a run keeping distinct
  // small modules under a 64 MiB limit could hold ≈ 5 GiB of them); a large one takes 7-16 bytes
  // per byte as its functions get compiled on first call. 4 per byte bounds it and still loads the
  // largest module code can carry at the limit it needed before (docs/exec.md, "Limits").
  const moduleBallast = (bytes) => ballastFor(16 * 1024 + 4 * bytes.length, 'compiling a WebAssembly module', 'a compiled WebAssembly module');
  // A suspended call's stack (JSPI): 5.9 K each; kept suspensions took the host to 1.4 GiB in 15 s
  // under a 64 MiB limit. The promise of the call and the promise it waits on each carry one.
  const stackBytes = 8 * 1024;
  function installWebAssembly(wasm) {
    const { Module, Instance, Memory } = wasm;
    WasmCompileError = wasm.CompileError;
    const originalCompile = wasm.compile;
    const originalInstantiate = wasm.instantiate;
    const register = (module, entry) => { reflectApply(weakMapSet, moduleMemory, [module, entry]); return module; };
    const reserveInstance = (module) => {
      const entry = reflectApply(weakMapGet, moduleMemory, [module]);
      // Memory an instance made stays counted even if instantiating fails later (a start function
      // that traps): it is only freed when V8 collects it.
      if (entry !== undefined) reserveOffHeap(entry.reserve, entry.largest, entry.memories, 'instantiating a WebAssembly module');
    };
    const BoundedModule = new RealProxy(Module, {
      construct(target, args, newTarget) {
        const bytes = copyOfBytes(args[0]);
        if (bytes === null) return reflectConstruct(target, args, newTarget);
        const bounded = boundedModuleBytes(bytes);
        const ballast = moduleBallast(bounded.bytes);
        return carrying(ballast, register(reflectConstruct(target, [bounded.bytes, args[1]], newTarget), bounded));
      },
    });
    const BoundedInstance = new RealProxy(Instance, {
      construct(target, args, newTarget) {
        reserveInstance(args[0]);
        return reflectConstruct(target, args, newTarget);
      },
    });
    const BoundedMemory = new RealProxy(Memory, {
      construct(target, args, newTarget) {
        const descriptor = args[0];
        if (descriptor === null || (typeof descriptor !== 'object' && typeof descriptor !== 'function')) return reflectConstruct(target, args, newTarget);
        // Each member read once, made a primitive once: V8 is handed exactly what was counted.
        const primitive = (value) => (value !== null && (typeof value === 'object' || typeof value === 'function') ? +value : value);
        const address = descriptor.address === undefined ? undefined : `${descriptor.address}`;
        const index = descriptor.index === undefined ? undefined : `${descriptor.index}`;
        const initial = primitive(descriptor.initial);
        const maximum = primitive(descriptor.maximum);
        const shared = descriptor.shared;
        const clean = { initial, maximum, shared };
        if (address !== undefined) clean.address = address;
        if (index !== undefined) clean.index = index;
        const initialPages = RealNumber(initial);
        // Invalid (V8 throws, allocating nothing) or a shared memory without a maximum (also invalid).
        if (initial === undefined || !(initialPages >= 0) || (shared && maximum === undefined)) return reflectConstruct(target, [clean], newTarget);
        const declared = maximum === undefined ? Infinity : RealNumber(maximum);
        const loweredPages = mathMin(declared, mathMax(initialPages, limitPages()));
        clean.maximum = typeof initial === 'bigint' ? RealBigInt(loweredPages) : loweredPages;
        const bytes = loweredPages * wasmPageBytes;
        reserveOffHeap(bytes, bytes, 1, `new WebAssembly.Memory of ${initialPages} pages`);
        try {
          return reflectConstruct(target, [clean], newTarget);
        } catch (error) {
          releaseOffHeap(bytes, 1);
          throw error;
        }
      },
    });
    function compile(source) {
      const bytes = copyOfBytes(source);
      if (bytes === null) return reflectApply(originalCompile, wasm, arguments);
      let bounded;
      let ballast;
      try {
        bounded = boundedModuleBytes(bytes);
        ballast = moduleBallast(bounded.bytes);
      } catch (error) {
        return reflectApply(promiseReject, RealPromise, [error]);
      }
      return reflectApply(promiseThen, reflectApply(originalCompile, wasm, [bounded.bytes, arguments[1]]), [(module) => carrying(ballast, register(module, bounded))]);
    }
    function instantiate(source) {
      const entry = reflectApply(weakMapGet, moduleMemory, [source]);
      try {
        if (entry !== undefined) {
          reserveInstance(source);
          return reflectApply(originalInstantiate, wasm, arguments);
        }
        const bytes = copyOfBytes(source);
        if (bytes === null) return reflectApply(originalInstantiate, wasm, arguments);
        const bounded = boundedModuleBytes(bytes);
        const ballast = moduleBallast(bounded.bytes);
        reserveOffHeap(bounded.reserve, bounded.largest, bounded.memories, 'instantiating a WebAssembly module');
        const made = reflectApply(originalInstantiate, wasm, [bounded.bytes, arguments[1], arguments[2]]);
        return reflectApply(promiseThen, made, [(result) => { carrying(ballast, register(result.module, bounded)); return result; }]);
      } catch (error) {
        return reflectApply(promiseReject, RealPromise, [error]);
      }
    }
    replaceConstructor(Module, BoundedModule, wasm, 'Module');
    replaceConstructor(Instance, BoundedInstance, wasm, 'Instance');
    replaceConstructor(Memory, BoundedMemory, wasm, 'Memory');
    for (const [name, value] of [['compile', compile], ['instantiate', instantiate]]) {
      defineProperty(value, 'name', { value: name });
      defineBuiltin(wasm, name, trackedWork(value));
    }
    const stackWhat = 'a suspended WebAssembly call';
    const carryingStack = (result) => carrying(ballastFor(stackBytes, 'calling a WebAssembly.promising function', stackWhat), result);
    if (typeof wasm.promising === 'function') {
      const bounded = new RealProxy(wasm.promising, {
        apply(target, receiver, args) {
          const exported = reflectApply(target, receiver, args);
          return new RealProxy(exported, { apply: (call, self, callArgs) => carryingStack(reflectApply(call, self, callArgs)) });
        },
      });
      defineBuiltin(wasm, 'promising', bounded);
    }
    if (typeof wasm.Suspending === 'function') {
      const Original = wasm.Suspending;
      const bounded = new RealProxy(Original, {
        construct(target, args, newTarget) {
          const callback = args[0];
          if (typeof callback !== 'function') return reflectConstruct(target, args, newTarget);
          const counted = new RealProxy(callback, {
            apply(call, self, callArgs) {
              const result = reflectApply(call, self, callArgs);
              return result !== null && typeof result === 'object' ? carrying(ballastFor(stackBytes, 'suspending a WebAssembly call', stackWhat), result) : result;
            },
          });
          return reflectConstruct(target, [counted, args[1]], newTarget);
        },
      });
      replaceConstructor(Original, bounded, wasm, 'Suspending');
    }
  }

  function nextTimer() {
    let next = null;
    timerQueue.forEach((timer, id) => {
      if (next === null || timer.due < next.timer.due || (timer.due === next.timer.due && timer.sequence < next.timer.sequence)) next = { id, timer };
    });
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
    timerQueue.forEach((timer) => { if (timer.ref) refTimers++; });
    const next = nextTimer();
    // The record travels once, with the state that ends the run.
    const ending = fatal !== null || (settled && refTimers === 0) || (next === null && !settled && pendingWork === 0);
    return {
      final: final === true, settled, outcome, fatal, batchesSent, refTimers, timers: timerQueue.size, pendingWork, delivered,
      offHeapBytes: offHeapBytes + ballastBytes,
      replayIssue: replayIssue(),
      nextDueInMs: next === null ? null : Math.max(0, next.timer.due - loopNow()),
      record: ending ? takeRecord() : null,
    };
  }

  const control = {
    settle(value) {
      if (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function') {
        Promise.resolve(value).then(
          (result) => { settled = true; outcome = { ok: true, value: describeResult(result), type: result === null ? 'null' : typeof result }; },
          (error) => { settled = true; outcome = { ok: false, error: describeError(error) }; },
        );
        return state();
      }
      settled = true;
      outcome = { ok: true, value: describeResult(value), type: value === null ? 'null' : typeof value };
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
          reflectApply(timer.callback, undefined, timer.args);
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
      outputBytes = 0; outputLines = 0; truncated = false;
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
  function attach(log, seed, memoryBytes) {
    if (hostLog !== null) throw new Error('the context is attached already');
    delete globalThis[attachName];
    hostLog = log;
    reseed(seed);
    memoryLimitBytes = memoryBytes;
    installPerContext();
    return (method, argument) => control[method](argument);
  }
  for (const key of reflectOwnKeys(globalThis)) {
    const descriptor = getOwnPropertyDescriptor(globalThis, key);
    if (objectHasOwn(descriptor, 'value') && descriptor.value !== globalThis) presentTreeAsNative(descriptor.value, key, 2);
  }
  const attachName = '__mcpv8_attach';
  Object.defineProperty(globalThis, attachName, { value: attach, configurable: true });
})();
