// @ts-check
// Sandbox code, part of the prelude (see console.js): WebAssembly and SharedArrayBuffer, wrapped
// on first use so that every module, memory and suspended call is counted.
/**
 * A private copy of a module's bytes (a buffer or a view of one), or null for anything else.
 * @param {unknown} source
 * @returns {Uint8Array | null}
 */
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

/**
 * An unsigned LEB128 from `bytes` at `at`, at most `bytesMax` long: [value as a BigInt, next], or null if malformed.
 * @param {Uint8Array} bytes
 * @param {number} at
 * @param {number} bytesMax
 * @returns {[bigint, number] | null}
 */
function readLeb(bytes, at, bytesMax) {
  let value = 0n;
  for (let index = 0; index < bytesMax && at < bytes.length; index++) {
    const byte = bytes[at++];
    value |= RealBigInt(byte & 0x7f) << RealBigInt(7 * index);
    if ((byte & 0x80) === 0) return [value, at];
  }
  return null;
}
/**
 * Writes `value` as an unsigned LEB128 into `out` at `at`; answers the next index.
 * @param {Uint8Array} out
 * @param {number} at
 * @param {bigint} value
 * @returns {number}
 */
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
 * `bytes` with its memory section (from `at` to `end`) replaced by section 5 holding the first
 * `length` bytes of `payload`.
 * @param {Uint8Array} bytes @param {number} at @param {number} end @param {Uint8Array} payload @param {number} length
 * @returns {Uint8Array}
 */
function withMemorySection(bytes, at, end, payload, length) {
  const rebuilt = new RealUint8Array(bytes.length - (end - at) + 1 + 5 + length);
  reflectApply(typedArraySet, rebuilt, [new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), 0, at), 0]);
  let next = at;
  rebuilt[next++] = 5;
  next = writeLeb(rebuilt, next, RealBigInt(length));
  reflectApply(typedArraySet, rebuilt, [new RealUint8Array(reflectApply(typedArrayView[0], payload, []), 0, length), next]);
  next += length;
  reflectApply(typedArraySet, rebuilt, [new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), end, bytes.length - end), next]);
  next += bytes.length - end;
  return new RealUint8Array(reflectApply(typedArrayView[0], rebuilt, []), 0, next);
}

/**
 * The module with the maximum of each memory it defines lowered to the memory limit (one that
 * declares none gets it), and what each instance of it reserves. A module this cannot read is left as it
 * is: V8 refuses it too. (WebAssembly byte offsets in stack traces move by the bytes added.)
 * @param {Uint8Array} bytes
 * @returns {BoundedBytes}
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
    result = { bytes: withMemorySection(bytes, at, end, payload, out), reserve: RealNumber(reservePages) * wasmPageBytes, largest: RealNumber(largestPages) * wasmPageBytes, memories };
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
  const original = (/** @type {string} */ name) => {
    const descriptor = getOwnPropertyDescriptor(globalThis, name);
    return descriptor === undefined ? null : descriptor.value;
  };
  const OriginalSharedArrayBuffer = original('SharedArrayBuffer');
  const wasm = original('WebAssembly');
  let sharedArrayBufferWrapped = OriginalSharedArrayBuffer === null;
  let wasmWrapped = wasm === null;
  /** @type {Record<string, () => unknown>} */
  const accessors = {};
  /**
   * @param {string} name
   * @param {unknown} value
   */
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
  /** @type {[string, () => void, boolean][]} */
  const lazyGlobals = [['SharedArrayBuffer', wrapSharedArrayBuffer, OriginalSharedArrayBuffer !== null], ['WebAssembly', wrapWebAssembly, wasm !== null]];
  for (const [name, wrap, present] of lazyGlobals) {
    if (!present) continue;
    accessors[name] = {
      [name]() {
        wrap();
        return /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis))[name];
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
  if (wasm !== null) contextWasm = { wasm, wrap: wrapWebAssembly };
}
/** This context's WebAssembly, as attach found it, and how to wrap it (installPerContext); null without WebAssembly. */
/** @type {{ wasm: any, wrap: () => void } | null} */
let contextWasm = null;

/** Set with the WebAssembly wrappers: a program may replace the global. */
/** @type {new (message: string) => Error} */
let WasmCompileError = Error;
// A compiled module's machine code and metadata: 15 K per small module (a run keeping distinct
// small modules under a 64 MiB limit could hold ≈ 5 GiB of them); a large one takes 7-16 bytes
// per byte as its functions get compiled on first call. 4 per byte bounds it and still loads the
// largest module code can carry at the limit it needed before (docs/exec.md, "Limits").
const moduleBallast = (/** @type {Uint8Array} */ bytes) => ballastFor(16 * 1024 + 4 * bytes.length, 'compiling a WebAssembly module', 'a compiled WebAssembly module');
// A suspended call's stack (JSPI): 5.9 K each; kept suspensions took the host to 1.4 GiB in 15 s
// under a 64 MiB limit. The promise of the call and the promise it waits on each carry one.
const stackBytes = 8 * 1024;
/** @typedef {{ bytes: Uint8Array, reserve: number, largest: number, memories: number }} BoundedBytes */
/** @typedef {{ Module: any, Instance: any }} BoundedConstructors */
/** The wrapped Module and Instance of this context once WebAssembly is wrapped (pre-loaded modules use these, never the globals). */
/** @type {BoundedConstructors | null} */
let boundedWasm = null;
/**
 * @param {object} module
 * @param {BoundedBytes} entry
 * @returns {object}
 */
function registerModule(module, entry) {
  reflectApply(weakMapSet, moduleMemory, [module, entry]);
  return module;
}
/** @param {unknown} module */
function reserveInstance(module) {
  const entry = reflectApply(weakMapGet, moduleMemory, [module]);
  // Memory an instance made stays counted even if instantiating fails later (a start function
  // that traps): it is only freed when V8 collects it.
  if (entry !== undefined) reserveOffHeap(entry.reserve, entry.largest, entry.memories, 'instantiating a WebAssembly module');
}

/** @param {any} wasm V8's WebAssembly namespace, captured before any user code. */
function installWebAssembly(wasm) {
  WasmCompileError = wasm.CompileError;
  const { Module, Instance, Memory } = wasm;
  const BoundedModule = new RealProxy(Module, {
    __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
    construct(target, args, newTarget) {
      const bytes = copyOfBytes(args[0]);
      if (bytes === null) return reflectConstruct(target, args, newTarget);
      const bounded = boundedModuleBytes(bytes);
      const ballast = moduleBallast(bounded.bytes);
      return carrying(ballast, registerModule(reflectConstruct(target, [bounded.bytes, args[1]], newTarget), bounded));
    },
  });
  const BoundedInstance = new RealProxy(Instance, {
    __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
    construct(target, args, newTarget) {
      reserveInstance(args[0]);
      return reflectConstruct(target, args, newTarget);
    },
  });
  boundedWasm = { Module: BoundedModule, Instance: BoundedInstance };
  replaceConstructor(Module, BoundedModule, wasm, 'Module');
  replaceConstructor(Instance, BoundedInstance, wasm, 'Instance');
  replaceConstructor(Memory, boundedMemoryConstructor(Memory), wasm, 'Memory');
  installAsyncWebAssembly(wasm);
  installSuspensions(wasm);
}

/**
 * @param {any} Memory V8's WebAssembly.Memory
 * @returns {any} the same, every memory's maximum lowered to the limit and counted
 */
function boundedMemoryConstructor(Memory) {
  return new RealProxy(Memory, {
    __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
    construct(target, args, newTarget) {
      const descriptor = args[0];
      if (descriptor === null || (typeof descriptor !== 'object' && typeof descriptor !== 'function')) return reflectConstruct(target, args, newTarget);
      // Each member read once, made a primitive once: V8 is handed exactly what was counted.
      const primitive = (/** @type {unknown} */ value) => (value !== null && (typeof value === 'object' || typeof value === 'function') ? +(/** @type {any} */ (value)) : value);
      const address = descriptor.address === undefined ? undefined : `${descriptor.address}`;
      const index = descriptor.index === undefined ? undefined : `${descriptor.index}`;
      const initial = primitive(descriptor.initial);
      const maximum = primitive(descriptor.maximum);
      const shared = descriptor.shared;
      /** @type {Record<string, unknown>} */
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
}

/** WebAssembly.compile and instantiate: bounded like the constructors, tracked as work (work.js). @param {any} wasm */
function installAsyncWebAssembly(wasm) {
  const originalCompile = wasm.compile;
  const originalInstantiate = wasm.instantiate;
  /** @param {unknown} source */
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
    const done = bounded;
    return reflectApply(promiseThen, reflectApply(originalCompile, wasm, [bounded.bytes, arguments[1]]), [(/** @type {object} */ module) => carrying(ballast, registerModule(module, done))]);
  }
  /** @param {unknown} source */
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
      return reflectApply(promiseThen, made, [(/** @type {{ module: object }} */ result) => { carrying(ballast, registerModule(result.module, bounded)); return result; }]);
    } catch (error) {
      return reflectApply(promiseReject, RealPromise, [error]);
    }
  }
  /** @type {[string, Function][]} */
  const methods = [['compile', compile], ['instantiate', instantiate]];
  for (const [name, value] of methods) {
    defineProperty(value, 'name', { value: name });
    defineBuiltin(wasm, name, trackedWork(/** @type {any} */ (value)));
  }
}

/** JSPI: every suspended call carries the ballast of its stack. @param {any} wasm */
function installSuspensions(wasm) {
  const stackWhat = 'a suspended WebAssembly call';
  const carryingStack = (/** @type {unknown} */ result) => carrying(ballastFor(stackBytes, 'calling a WebAssembly.promising function', stackWhat), result);
  if (typeof wasm.promising === 'function') {
    const bounded = new RealProxy(wasm.promising, {
      __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
      apply(target, receiver, args) {
        const exported = reflectApply(target, receiver, args);
        return new RealProxy(exported, { __proto__: null, apply: (call, self, callArgs) => carryingStack(reflectApply(call, self, callArgs)) });
      },
    });
    defineBuiltin(wasm, 'promising', bounded);
  }
  if (typeof wasm.Suspending === 'function') {
    const Original = wasm.Suspending;
    const bounded = new RealProxy(Original, {
      __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
      construct(target, args, newTarget) {
        const callback = args[0];
        if (typeof callback !== 'function') return reflectConstruct(target, args, newTarget);
        const counted = new RealProxy(callback, {
          __proto__: null, // no trap a run puts on Object.prototype (a `get`) is looked up
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

// ---- pre-loaded modules (--wasm-module, --wasm-config; src/exec/wasm-modules.ts) ----
/** The indirect eval a wrapper runs with (global scope, as a script would), taken before any user code. */
const globalEval = globalThis.eval;
/** @typedef {{ name: string, sha256: string, instantiate: boolean, globals: string[] }} PreloadedName */
/** @typedef {{ copy(): unknown }} PreloadedPayload isolated-vm's handle of [bytes, wrapper source] per module */

/**
 * A global that makes its value on first read and then becomes a plain data property; a write
 * first replaces it, as a `var` would. What `make` throws (a memory limit) reaches the reader,
 * and the next read tries again.
 * @param {string} name
 * @param {() => unknown} make
 */
function lazyGlobal(name, make) {
  const getter = {
    [name]() {
      const value = make();
      const current = getOwnPropertyDescriptor(globalThis, name);
      if (current !== undefined && current.get === getter) defineBuiltin(globalThis, name, value);
      return value;
    },
  }[name];
  defineProperty(globalThis, name, {
    get: getter,
    set(/** @type {unknown} */ value) { defineBuiltin(globalThis, name, value); },
    enumerable: false,
    configurable: true,
  });
}

/** @typedef {{ module: object, reserve: number, largest: number, memories: number, wrapper: string | null }} PreloadedCompiled */

/**
 * The host, once per memory limit, in a context of its own (src/exec/wasm-modules.ts): each
 * pre-loaded module compiled through the bounded constructor (its memories' maxima lowered to
 * the limit), with what an instance reserves. The host keeps the answer as one copy that every
 * context of that limit receives: V8 shares a compiled module's code between isolates.
 * @param {PreloadedPayload} payload [bytes, wrapper source] per module
 * @returns {PreloadedCompiled[]}
 */
function compilePreloaded(payload) {
  const entries = /** @type {[ArrayBuffer, string | null][]} */ (payload.copy());
  /** @type {PreloadedCompiled[]} */
  const compiled = [];
  if (contextWasm === null) throw new Error('this context has no WebAssembly');
  contextWasm.wrap();
  const Bounded = /** @type {BoundedConstructors} */ (boundedWasm).Module;
  for (const [bytes, wrapper] of entries) {
    const module = reflectConstruct(Bounded, [bytes], Bounded);
    const { reserve, largest, memories } = reflectApply(weakMapGet, moduleMemory, [module]);
    compiled.push({ module, reserve, largest, memories, wrapper });
  }
  return compiled;
}

/**
 * Defines every pre-loaded module's globals (attach, before any user code): `__wasm_<name>`,
 * the compiled module (shared, bounded for this context's limit by `compilePreloaded`); `<name>`,
 * its instance's exports, for a module without imports; and its wrapper's globals. Nothing is
 * copied in until a run reads one, so a run that uses none pays for the accessors only.
 * @param {PreloadedName[]} names
 * @param {PreloadedPayload} payload isolated-vm's handle of `compilePreloaded`'s answer
 */
function installPreloaded(names, payload) {
  if (contextWasm === null) return;
  const { wasm, wrap } = contextWasm;
  const copyPayload = payload.copy;
  const instanceExports = getterOf(wasm.Instance.prototype, 'exports');
  /** @type {PreloadedCompiled[] | null} */
  let entries = null;
  const entryOf = (/** @type {number} */ index) => {
    if (entries === null) {
      wrap();
      entries = /** @type {PreloadedCompiled[]} */ (reflectApply(copyPayload, payload, []));
      for (let at = 0; at < entries.length; at++) {
        const { module, reserve, largest, memories } = entries[at];
        registerModule(module, { bytes: new RealUint8Array(0), reserve, largest, memories });
      }
    }
    return entries[index];
  };
  for (let index = 0; index < names.length; index++) {
    const { name, sha256, instantiate, globals } = names[index];
    const moduleIndex = index;
    const compiled = () => {
      const { module } = entryOf(moduleIndex);
      noteWasmModule(name, sha256);
      return module;
    };
    lazyGlobal(`__wasm_${name}`, compiled);
    if (instantiate) {
      lazyGlobal(name, () => {
        const module = compiled();
        const Bounded = /** @type {BoundedConstructors} */ (boundedWasm).Instance;
        return reflectApply(instanceExports, reflectConstruct(Bounded, [module], Bounded), []);
      });
    }
    for (let at = 0; at < globals.length; at++) {
      lazyGlobal(globals[at], () => runWrapper(name, globals, /** @type {string} */ (entryOf(moduleIndex).wrapper), globals[at]));
    }
  }
}

/**
 * Runs a module's wrapper (sandbox code, in global scope) the first time one of its globals is
 * read, and answers that global. The wrapper must define each of `globals` on globalThis.
 * @param {string} module
 * @param {string[]} globals
 * @param {string} source
 * @param {string} wanted
 * @returns {unknown}
 */
function runWrapper(module, globals, source, wanted) {
  const globalObject = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis));
  for (let at = 0; at < globals.length; at++) delete globalObject[globals[at]];
  globalEval(`${source}\n//# sourceURL=wasm-wrapper:${module}.js`);
  const defined = getOwnPropertyDescriptor(globalThis, wanted);
  if (defined === undefined) throw new ReferenceError(`the wrapper of the pre-loaded WebAssembly module ${module} did not define ${wanted} on globalThis`);
  return globalObject[wanted];
}

/**
 * The run's record names each pre-loaded module it compiled, with the file's hash: a stateful
 * heap that used one is only replayed where the same module is loaded (src/exec/replay.ts).
 * @param {string} name
 * @param {string} sha256
 */
function noteWasmModule(name, sha256) {
  const record = /** @type {{ wasmModules?: Record<string, string> }} */ (takeRecord());
  if (record.wasmModules === undefined) {
    // A literal, not Object.create: user code may have replaced that by now.
    const modules = /** @type {Record<string, string>} */ (/** @type {unknown} */ ({ __proto__: null }));
    record.wasmModules = modules;
  }
  record.wasmModules[name] = sha256;
}
