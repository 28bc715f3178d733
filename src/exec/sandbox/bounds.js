// @ts-check
// Sandbox code: a bound on the loops of V8's own Array builtins. Termination (the execution
// timeout, a cancel) only takes effect where V8 checks for it, and the loops of these builtins
// never do: over a sparse array or an array-like, they visit every index up to `length`, whatever
// the object holds. `Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1)` ran on after its
// run had timed out, keeping the isolate's thread at 100 % until the process exited.
//
// Each such builtin is wrapped: when the indexes it would visit are more than `indexesMax`, it
// throws a RangeError that says so, before V8 starts the loop. No dense array reaches the bound:
// at the largest memory limit (64 MiB) an array holds at most 8 Mi elements (8 bytes each), and
// V8 visits 2 ** 24 indexes of an empty array-like in well under a second. Below the bound the
// native builtin runs as before, on the same arguments; the wrapper reads `length` once more.
// `String.prototype.split` is bounded the same way, for a worse reason: past V8's largest array
// it aborted the whole process (below). docs/exec.md, "Limits".
(function () {
  'use strict';
  const indexesMax = 2 ** 24;
  // Captured now: a run's code may replace any of them before it calls a wrapped builtin.
  const { apply } = Reflect;
  const { bind, call } = Function.prototype;
  const SandboxFunction = Function;
  const { defineProperty, keys } = Object;
  const { floor, min, max } = Math;
  const { isArray } = Array;
  const iteratorSymbol = Symbol.iterator;
  const splitSymbol = Symbol.split;
  const isConcatSpreadableSymbol = Symbol.isConcatSpreadable;
  const stringIndexOf = String.prototype.indexOf;
  const stringValueOf = String.prototype.valueOf;
  const SandboxString = String;
  const replaceSymbol = Symbol.replace;
  const SandboxRangeError = RangeError;

  /** ECMAScript ToLength, without its ToPrimitive hooks twice: `+` calls valueOf once, as V8 will again. */
  /** @param {any} value (user code's: converted once, as V8 will) @returns {number} */
  function toLength(value) {
    const number = +value;
    if (!(number > 0)) return 0;
    return min(floor(number), 2 ** 53 - 1);
  }

  /** ECMAScript's relative index of the start/end arguments, clamped to [0, length]. */
  /** @param {any} value (user code's) @param {number} length @param {number} otherwise @returns {number} */
  function relative(value, length, otherwise) {
    if (value === undefined) return otherwise;
    const number = +value;
    if (number !== number) return 0;
    const integer = number < 0 ? -floor(-number) : floor(number);
    return integer < 0 ? max(length + integer, 0) : min(integer, length);
  }

  // How many indexes each builtin visits, from the receiver's length and its arguments. Those that
  // work on a range (slice, fill, copyWithin, a search from an index) are bounded by the range,
  // so `Array(2 ** 32 - 1).slice(0, 10)` stays allowed.
  /** @typedef {(length: number, args: any[]) => number} IndexesVisited */
  const wholeLength = (/** @type {number} */ length) => length;
  /** @type {Record<string, IndexesVisited>} */
  const indexesVisited = {
    copyWithin: (length, args) => {
      const target = relative(args[0], length, 0);
      const start = relative(args[1], length, 0);
      const end = relative(args[2], length, length);
      return max(min(end - start, length - target), 0);
    },
    every: wholeLength,
    fill: (length, args) => max(relative(args[2], length, length) - relative(args[1], length, 0), 0),
    filter: wholeLength,
    flat: wholeLength,
    flatMap: wholeLength,
    forEach: wholeLength,
    includes: (length, args) => length - relative(args[1], length, 0),
    indexOf: (length, args) => length - relative(args[1], length, 0),
    join: wholeLength,
    lastIndexOf: (length, args) => (args.length > 1 ? relative(args[1], length, 0) + 1 : length),
    map: wholeLength,
    reduce: wholeLength,
    reduceRight: wholeLength,
    reverse: wholeLength,
    shift: wholeLength,
    slice: (length, args) => max(relative(args[1], length, length) - relative(args[0], length, 0), 0),
    some: wholeLength,
    sort: wholeLength,
    splice: (length, args) => length - relative(args[0], length, 0),
    toLocaleString: wholeLength,
    toReversed: wholeLength,
    toSorted: wholeLength,
    toSpliced: wholeLength,
    unshift: wholeLength,
    with: wholeLength,
  };

  /** @param {string} what @param {number} indexes @param {number} length @returns {RangeError} */
  function refuse(what, indexes, length) {
    return refusal(what, `${indexes} indexes to visit (length ${length})`, indexesMax);
  }

  /** @param {string} what @param {string} count @param {number} bound @returns {RangeError} */
  function refusal(what, count, bound) {
    return new SandboxRangeError(`${what}: ${count}, more than this sandbox allows in one call (${bound}): V8 cannot stop that loop at the execution timeout`);
  }

  /**
   * Replaces `holder[name]` with a function of the same name and length that checks first.
   * `check(receiver, args)` throws, or returns what the builtin is called with: nothing for the
   * receiver and arguments as given, or `[receiver, args]` of values it has already converted
   * (so that no valueOf or toString of the caller's runs twice).
   */
  /** @param {any} holder @param {string} name @param {(receiver: any, args: any[]) => [unknown, unknown[]] | undefined} check */
  function wrap(holder, name, check) {
    const native = holder[name];
    /** @param {unknown} receiver @param {any} args (the call's arguments object) */
    const checked = (receiver, args) => {
      const converted = check(receiver, args);
      return converted === undefined ? apply(native, receiver, args) : apply(native, converted[0], converted[1]);
    };
    // A method, so that like the builtin it is no constructor and has no prototype; with as many
    // parameters as the builtin's length, so that its own `length` is right (redefined, it made
    // each function a dictionary of its own in every context's heap).
    const wrapped = native.length === 1
      ? {
        /** @this {unknown} @param {unknown} first */
        [name](first) { return checked(this, arguments); },
      }[name]
      : {
        /** @this {unknown} @param {unknown} first @param {unknown} second */
        [name](first, second) { return checked(this, arguments); },
      }[name];
    if (wrapped.length !== native.length) throw new SandboxRangeError(`bounds.js: no wrapper of ${native.length} parameters for ${name}`);
    defineProperty(holder, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
  }

  // Wrappers for builtins called in hot loops are compiled from generated source, all of them in
  // one Function: a function literal each, so that each has its own type feedback (closures of
  // one literal share theirs, and a call site reaching 33 builtins is one TurboFan inlines none
  // of), in one script, so that every context made from the snapshot carries one script, not 33.
  // Each calls its builtin with the call's own arguments, by arity, through its bound `call`:
  // TurboFan then still inlines the builtin at the caller's call site, as unwrapped.
  /** @type {Array<{ holder: any, key: PropertyKey, kind: 'array' | 'hot', check: Function, native: Function }>} */
  const pending = [];
  /**
   * Wraps `holder[key]` when `compilePending` runs. `kind` 'array': `check` is the method's
   * IndexesVisited, and `checkArray(key, check, length, given, first, second, third)` runs when
   * `this.length` is no number or above the bound (one function for all of them: a closure per
   * method was 29 more functions and scopes in every context's heap); 'hot': `check(this, first)`
   * runs on every call. A loop of Object.keys, replace and JSON.stringify took 1.4x as
   * long through `wrap` as unwrapped, and 1.05x through this (plain Node 24, medians of four A/B
   * rounds).
   */
  /** @param {any} holder @param {PropertyKey} key @param {'array' | 'hot'} kind @param {(...args: any[]) => void} check */
  function compileLater(holder, key, kind, check) {
    pending.push({ holder, key, kind, check, native: holder[key] });
  }
  function compilePending() {
    const params = [];
    const values = [];
    const literals = [];
    for (let index = 0; index < pending.length; index++) {
      const { key, kind, check, native } = pending[index];
      params.push(`key${index}`, `native${index}`, `callNative${index}`, `check${index}`);
      values.push(key, native, apply(bind, call, [native]), check);
      // For an Array method, a check of \`this\` against null on the way made the hot path 3x
      // slower, so the read of length finds out: on null or undefined the builtin throws its own.
      const head = kind === 'hot' ? `check${index}(this, first);` : `let length;
        try { length = this.length; } catch (error) { if (this === null || this === undefined) return apply(native${index}, this, arguments); throw error; }
        if (!(typeof length === 'number' && length <= ${indexesMax})) checkArray(key${index}, check${index}, length, arguments.length, first, second, third);`;
      // As many plain parameters as the builtin's length, the rest defaulted: the wrapper's own
      // \`length\` is then the builtin's (redefining it made each wrapper a dictionary of its own,
      // ≈ 270 bytes of every context's heap apiece, 12 KiB in all).
      const parameterList = ['first', 'second', 'third'].map((param, at) => (at < native.length ? param : `${param} = undefined`)).join(', ');
      literals.push(`{ [key${index}](${parameterList}) {
        ${head}
        switch (arguments.length) {
          case 0: return callNative${index}(this);
          case 1: return callNative${index}(this, first);
          case 2: return callNative${index}(this, first, second);
          case 3: return callNative${index}(this, first, second, third);
          default: return apply(native${index}, this, arguments);
        }
      } }[key${index}]`);
    }
    params.push('apply', 'checkArray', `'use strict'; return [${literals.join(',\n')}];`);
    values.push(apply, checkArray);
    const wrappers = apply(apply(SandboxFunction, undefined, params), undefined, values);
    for (let index = 0; index < pending.length; index++) {
      const { holder, key, native } = pending[index];
      if (wrappers[index].length !== native.length) throw new SandboxRangeError(`bounds.js: the wrapper of ${String(key)} has length ${wrappers[index].length}, not ${native.length}`);
      defineProperty(holder, key, { value: wrappers[index], writable: true, enumerable: false, configurable: true });
    }
    // Kept by the closures of this scope otherwise, in every context made from the snapshot.
    pending.length = 0;
  }

  /** @param {string} name @param {IndexesVisited} visited @param {unknown} length @param {number} given @param {unknown} first @param {unknown} second @param {unknown} third */
  function checkArray(name, visited, length, given, first, second, third) {
    checkIndexes(name, visited, length, given === 0 ? [] : given === 1 ? [first] : given === 2 ? [first, second] : [first, second, third]);
  }
  /** The slow path of an Array method: a length that is no number, or above the bound. */
  /** @param {string} name @param {IndexesVisited} visited @param {unknown} length @param {unknown[]} args */
  function checkIndexes(name, visited, length, args) {
    const converted = toLength(length);
    if (converted <= indexesMax) return;
    const indexes = visited(converted, args);
    if (indexes > indexesMax) throw refuse(`Array.prototype.${name}`, indexes, converted);
  }

  // The Array methods are called in hot loops: the check on the way costs one read of `length`
  // and a comparison. Measured in plain Node 24, medians of six A/B rounds: a hot loop of five
  // wrapped methods took 1.15x as long as unwrapped (1.4x with one literal for all wrappers);
  // `indexOf` and `map` alone, the same as unwrapped.
  for (const name of keys(indexesVisited)) {
    const visited = indexesVisited[name];
    compileLater(Array.prototype, name, 'array', visited);
  }

  // concat visits every index of each array or spreadable array-like it joins.
  wrap(Array.prototype, 'concat', (receiver, args) => {
    if (receiver === null || receiver === undefined) return undefined;
    let total = 0;
    for (let index = -1; index < args.length; index++) {
      const item = index < 0 ? receiver : args[index];
      if (item === null || typeof item !== 'object' && typeof item !== 'function') continue;
      const spreadable = item[isConcatSpreadableSymbol];
      if (spreadable === undefined ? !isArray(item) : !spreadable) continue;
      total += toLength(item.length);
    }
    if (total > indexesMax) throw refuse('Array.prototype.concat', total, total);
    return undefined;
  });

  // Array.from over an array-like (not an iterable) visits every index up to its length.
  wrap(Array, 'from', (receiver, args) => {
    const items = args[0];
    if (items === null || items === undefined) return undefined;
    const iterator = items[iteratorSymbol];
    if (iterator !== undefined && iterator !== null) return undefined;
    const length = toLength(items.length);
    if (length > indexesMax) throw refuse('Array.from', length, length);
    return undefined;
  });

  // split with a string separator: V8 counts the parts, then makes one array of that many. Past
  // the largest array V8 can make it aborts the whole process ("Fatal JavaScript invalid size
  // error", crbug.com/1201626), and a string of 2 ** 28 characters costs nothing to make
  // (`'ab'.repeat(2 ** 27).split('')`). On a string longer than the bound the parts are counted
  // here first, by a loop that the timeout can stop.
  wrap(String.prototype, 'split', (receiver, args) => {
    if (receiver === null || receiver === undefined) return undefined;
    const separator = args[0];
    if (separator !== undefined && separator !== null) {
      const splitter = separator[splitSymbol];
      if (splitter !== undefined && splitter !== null) return undefined; // a RegExp's own split
    }
    // ToString of the receiver, then ToUint32 of the limit, then ToString of the separator, in
    // the order of the specification, each once: the builtin gets what they gave.
    const string = typeof receiver === 'string' ? receiver : `${receiver}`;
    if (string.length <= indexesMax) return typeof receiver === 'string' ? undefined : [string, args];
    const limit = args[1] === undefined ? 2 ** 32 - 1 : args[1] >>> 0;
    if (separator === undefined) return [string, [separator, limit]];
    const part = `${separator}`;
    let parts = 1;
    if (part === '') parts = min(string.length, limit);
    else {
      for (let from = 0; parts <= indexesMax && parts < limit; parts++) {
        const at = apply(stringIndexOf, string, [part, from]);
        if (at === -1) break;
        from = at + part.length;
      }
    }
    if (parts > indexesMax) throw refusal('String.prototype.split', `over ${indexesMax} parts from a string of ${string.length} characters`, indexesMax);
    return [string, [part, limit]];
  });

  // Strings longer than the largest heap can hold flat (2 ** 26 one-byte characters fill 64 MiB)
  // cost nothing as ropes (`'ab'.repeat(2 ** 27)`), and these builtins, given one, went on
  // building their result past the run's memory limit and its deadline until V8 had no memory
  // left to give: out of memory beyond recovery, a parked thread holding ≈ 1.2 GB until the
  // process restarts. No string they could finish on passes the bound: the result alone would
  // not fit.
  const charsMax = 2 ** 26;
  const refuseString = (/** @type {string} */ what, /** @type {unknown} */ string) => {
    if (typeof string === 'string' && string.length > charsMax) throw refusal(what, `a string of ${string.length} characters`, charsMax);
  };
  for (const name of ['replace', 'replaceAll']) {
    compileLater(String.prototype, name, 'hot', (receiver) => refuseString(`String.prototype.${name}`, receiver));
  }
  compileLater(RegExp.prototype, replaceSymbol, 'hot', (receiver, string) => refuseString('RegExp.prototype[Symbol.replace]', string));
  for (const name of ['encodeURI', 'encodeURIComponent']) {
    compileLater(globalThis, name, 'hot', (receiver, string) => refuseString(name, string));
  }
  compileLater(JSON, 'stringify', 'hot', (receiver, value) => refuseString('JSON.stringify', value));
  // The keys of a string are its indexes: one string made per character.
  const keyed = (/** @type {object} */ holder, /** @type {string} */ name, /** @type {string} */ what) => compileLater(holder, name, 'hot', (receiver, target) => {
    const string = target instanceof SandboxString ? apply(stringValueOf, target, []) : target;
    if (typeof string === 'string' && string.length > indexesMax) throw refusal(what, `a string of ${string.length} characters, one key each`, indexesMax);
  });
  for (const name of ['keys', 'values', 'entries', 'getOwnPropertyNames', 'getOwnPropertyDescriptors']) keyed(Object, name, `Object.${name}`);
  keyed(Reflect, 'ownKeys', 'Reflect.ownKeys');

  // String builtins that run in ICU or over the whole string in C++, called from a loop: the
  // loop's optimized code checks for termination only in the functions it calls, and these do
  // not, so a timeout that came during one was never seen (`for (…) s.normalize('NFKD')` over
  // 2,000,000 characters ran on after its deadline, its isolate thread lost; issue 18 item 5).
  // A JavaScript wrapper checks on entry, like any function: the next call after the deadline
  // ends the run. The check itself does nothing.
  const noCheck = () => undefined;
  for (const name of ['normalize', 'toUpperCase', 'toLowerCase', 'toLocaleUpperCase', 'toLocaleLowerCase', 'localeCompare', 'toWellFormed']) {
    compileLater(String.prototype, name, 'hot', noCheck);
  }

  compilePending();
})();
