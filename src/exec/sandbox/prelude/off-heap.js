// @ts-check
// Sandbox code, part of the prelude (see console.js): the budget of memory V8 keeps outside its
// heap (resizable buffers, WebAssembly memories) and the ballast that Intl objects carry.
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
const mebibyte = 1024 * 1024;
const wasmPageBytes = 64 * 1024;
const wasmMemoriesMax = 16;
const offHeapShare = 16;
/** Set by attach: the execution's memory limit. */
let memoryLimitBytes = 0;
let offHeapBytes = 0;
let wasmMemories = 0;
const shownMiB = (/** @type {number} */ bytes) => {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
  if (bytes < mebibyte / 10) return `${mathRound(bytes / 1024)} KiB`;
  return `${mathRound((bytes / mebibyte) * 10) / 10} MiB`;
};
const limitPages = () => mathFloor(memoryLimitBytes / wasmPageBytes);

/** `largest`: the largest single memory or buffer among `bytes`. */
/** @param {number} bytes @param {number} largest @param {number} memories @param {string} what */
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
/** @param {number} bytes @param {number} memories */
function releaseOffHeap(bytes, memories) {
  offHeapBytes -= bytes;
  wasmMemories -= memories;
}

/** The specification's ToIndex, done once here so that a getter or valueOf cannot tell V8 another value. */
/** @param {any} value (user code's: converted once) @param {string} what @returns {number} */
function toIndex(value, what) {
  const number = +value;
  const integer = number !== number ? 0 : mathTrunc(number);
  if (integer < 0 || integer > maxSafeInteger) throw new RealRangeError(`Invalid ${what}`);
  return integer + 0;
}

/** ArrayBuffer or SharedArrayBuffer whose maxByteLength counts against the budget. */
/** @param {any} Original ArrayBuffer or SharedArrayBuffer @returns {Function} */
function boundedBufferConstructor(Original) {
  const name = Original.name;
  const bounded = new RealProxy(Original, {
    __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
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
/** @param {number} bytes @param {string} what @param {string} why @returns {ArrayBuffer} */
function ballastFor(bytes, what, why) {
  try {
    const ballast = new RealArrayBuffer(bytes);
    ballastBytes += bytes;
    return ballast;
  } catch {
    throw new RealRangeError(`${what}: this execution's memory limit is reached (${why} counts ${shownMiB(bytes)} for the memory V8 keeps outside its heap); heap_memory_max_mb raises it (up to 64)`);
  }
}
/** @template T @param {ArrayBuffer} ballast @param {T} object @returns {T} */
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
// One handler for every Intl constructor, its ballast looked up by the proxy's target: a handler
// and two closures each were ≈ 0.4 KiB of every context's heap per constructor.
/** What each Intl constructor's objects carry: [bytes, what], by constructor. */
const intlBallasts = new RealWeakMap();
/** @param {Function} target @returns {[number, string]} */
const intlBallastOf = (target) => reflectApply(weakMapGet, intlBallasts, [target]);
const intlHandler = {
  __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
  /** @param {Function} target @param {unknown[]} args @param {Function} newTarget */
  construct(target, args, newTarget) {
    const ballastOf = intlBallastOf(target); // not destructured: the Array iterator may be the run's
    const ballast = ballastFor(ballastOf[0], ballastOf[1], intlWhy);
    return carrying(ballast, reflectConstruct(target, args, newTarget));
  },
  // Collator, DateTimeFormat and NumberFormat still make an object when called without new.
  /** @param {Function} target @param {unknown} receiver @param {unknown[]} args */
  apply(target, receiver, args) {
    const ballastOf = intlBallastOf(target); // not destructured: the Array iterator may be the run's
    const ballast = ballastFor(ballastOf[0], ballastOf[1], intlWhy);
    return carrying(ballast, reflectApply(target, receiver, args));
  },
};
for (const name of Object.getOwnPropertyNames(Intl)) {
  const Original = /** @type {any} */ (Intl)[name];
  // Constructors only: getCanonicalLocales and supportedValuesOf return arrays of strings.
  if (typeof Original !== 'function' || Original.prototype === undefined) continue;
  reflectApply(weakMapSet, intlBallasts, [Original, [(intlKiB[name] ?? intlDefaultKiB) * 1024, `Intl.${name}`]]);
  replaceConstructor(Original, new RealProxy(Original, /** @type {ProxyHandler<any>} */ (intlHandler)), Intl, name);
}
/** Methods that make Intl objects of their own: each result carries its ballast. */
/** @param {any} prototype @param {PropertyKey} key @param {string} what @param {(args: unknown[]) => number} bytesOf */
function carryingMethod(prototype, key, what, bytesOf) {
  const original = prototype[key];
  const method = {
    /** @this {unknown} @param {...unknown} args */
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
    /** @this {unknown} @param {unknown} string */
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

