// @ts-check
// Sandbox code, part of the prelude (see console.js): the built-ins captured before any user code,
// and the functions of ours that print as V8's own.
const reflectApply = Reflect.apply;
const reflectConstruct = Reflect.construct;
const defineProperty = Object.defineProperty;
/** Defines `name` on `target` as V8 defines its built-ins: writable, configurable, not enumerable. */
const defineBuiltin = (/** @type {object} */ target, /** @type {any} */ name, /** @type {unknown} */ value) => defineProperty(target, name, /** @type {PropertyDescriptor} */ ({ __proto__: null, value, writable: true, enumerable: false, configurable: true }));
// ---- functions the sandbox provides print as V8's own do ----
// `String(setTimeout)`, `String(Date)` or `String(ArrayBuffer)` would otherwise show the
// prelude's source, or `function () { [native code] }` for a proxy, and code that tells native
// functions from polyfills by their text (lodash's isNative, core-js) would take ours for
// polyfills. Function.prototype.toString answers `function <name>() { [native code] }` for the
// functions registered here and defers to V8's for every other.
const realFunctionToString = Function.prototype.toString;
// Registered until a context is attached in a flat list of function, name, function, name …, made
// into a WeakMap on the first lookup or on the first registration after attach: a WeakMap of ≈ 300
// functions in the snapshot was ≈ 9 KiB of every new context's heap, the list of its exact length
// half that, and most runs never print a function. (After attach user code may have run, and a
// write past a list's end would reach index setters on Array.prototype: only the map is used.)
const NativeNamesMap = WeakMap;
/** @type {WeakMap<Function, string> | null} */
let nativeNames = null;
/** @type {Array<Function | string>} */
let nativeNamesListed = [];
let nativeNamesAttached = false;
const nativeNamesGet = WeakMap.prototype.get;
const nativeNamesSet = WeakMap.prototype.set;
const arraySlice = Array.prototype.slice;
/** @returns {WeakMap<Function, string>} */
const nativeNamesMap = () => {
  if (nativeNames !== null) return nativeNames;
  const map = new NativeNamesMap();
  for (let index = 0; index < nativeNamesListed.length; index += 2) reflectApply(nativeNamesSet, map, [nativeNamesListed[index], nativeNamesListed[index + 1]]);
  nativeNamesListed = [];
  nativeNames = map;
  return map;
};
const presentAsNative = (/** @type {Function} */ fn, /** @type {string} */ name) => {
  if (nativeNamesAttached || nativeNames !== null) reflectApply(nativeNamesSet, nativeNamesMap(), [fn, name]);
  else { nativeNamesListed[nativeNamesListed.length] = fn; nativeNamesListed[nativeNamesListed.length] = name; }
};
/** The end of the prelude: the list at its exact length, as the snapshot keeps it. */
const listNativeNamesExactly = () => { nativeNamesListed = reflectApply(arraySlice, nativeNamesListed, []); };
const functionToString = {
  toString() {
    const name = reflectApply(nativeNamesGet, nativeNamesMap(), [this]);
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
/**
 * `ours`: every function in the tree is the sandbox's (a lazy group just built), so none needs the
 * test of its source text (the text of each class, ≈ 0.3 ms of a group's build; registering a
 * builtin would change nothing it prints anyway).
 * @param {unknown} value @param {PropertyKey} key @param {number} depth @param {string} [prefix] @param {boolean} [ours]
 */
function presentTreeAsNative(value, key, depth, prefix = '', ours = false) {
  if (typeof value === 'function' && (ours || !reflectApply(stringIncludes, reflectApply(realFunctionToString, value, []), ['[native code]']))) {
    if (value.name === '' && typeof key === 'string') defineProperty(value, 'name', /** @type {PropertyDescriptor} */ ({ __proto__: null, value: prefix + key, configurable: true }));
    presentAsNative(value, value.name);
  }
  if (depth === 0 || value === null || (typeof value !== 'object' && typeof value !== 'function')) return;
  // An index loop: lazy.js calls this after user code ran, which may have replaced the Array iterator.
  const ownKeys = reflectOwnKeys(value);
  for (let index = 0; index < ownKeys.length; index++) {
    const ownKey = ownKeys[index];
    const descriptor = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(value, ownKey));
    if (objectHasOwn(descriptor, 'value')) {
      if (descriptor.value !== value) presentTreeAsNative(descriptor.value, ownKey, depth - 1, '', ours);
    } else {
      if (descriptor.get !== undefined) presentTreeAsNative(descriptor.get, ownKey, 0, 'get ', ours);
      if (descriptor.set !== undefined) presentTreeAsNative(descriptor.set, ownKey, 0, 'set ', ours);
    }
  }
}

// Globals made on first use (lazy.js): a built group's functions print as V8's own too. Prelude
// parts define their own groups with `defineLazy` (and `lazyBuildWith`), captured here.
const sandboxLazy = /** @type {NonNullable<typeof __mcpv8_lazy>} */ (globalThis.__mcpv8_lazy);
delete globalThis.__mcpv8_lazy;
sandboxLazy.setPresenter((value, name, depth) => presentTreeAsNative(value, name, depth, '', true));
const defineLazy = sandboxLazy.defineLazy;
const lazyBuildWith = sandboxLazy.buildWith;

/** Puts `bounded`, a proxy of the constructor `Original`, where `Original` was: its prototype's `constructor`, and `holder[name]`. */
/** @param {any} Original @param {Function} bounded @param {object | null} holder @param {string} name @returns {Function} */
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
/** @type {(prototype: object, name: string) => (this: unknown) => any} */
const getterOf = (prototype, name) => /** @type {(this: unknown) => any} */ (/** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(prototype, name)).get);
const typedArrayView = [getterOf(TypedArrayPrototype, 'buffer'), getterOf(TypedArrayPrototype, 'byteOffset'), getterOf(TypedArrayPrototype, 'byteLength')];
const dataViewView = [getterOf(DataView.prototype, 'buffer'), getterOf(DataView.prototype, 'byteOffset'), getterOf(DataView.prototype, 'byteLength')];
const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
/** SharedArrayBuffer, like WebAssembly, does not exist while the snapshot is made: set by attach. @type {Function | null} */
let sharedArrayBufferByteLength = null;
const typedArraySet = TypedArrayPrototype.set;
const viewTypedArrayTag = getterOf(TypedArrayPrototype, /** @type {any} */ (Symbol.toStringTag));
/**
 * The bytes of a BufferSource (an ArrayBuffer, a typed array or a DataView), not copied; null for
 * anything else. Told apart by captured getters, not instanceof: ArrayBuffer is a proxy
 * (off-heap.js) whose handler and statics a run can reach, and [Symbol.hasInstance] is the run's.
 * @param {unknown} value @returns {Uint8Array | null}
 */
function bufferSourceView(value) {
  if (value === null || typeof value !== 'object') return null;
  if (arrayBufferIsView(value)) {
    const getters = reflectApply(viewTypedArrayTag, value, []) !== undefined ? typedArrayView : dataViewView;
    return new RealUint8Array(reflectApply(getters[0], value, []), reflectApply(getters[1], value, []), reflectApply(getters[2], value, []));
  }
  try { reflectApply(arrayBufferByteLength, value, []); } catch { return null; }
  return new RealUint8Array(/** @type {ArrayBuffer} */ (value));
}

