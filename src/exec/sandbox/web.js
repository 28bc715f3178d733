// @ts-check
// Sandbox code: the small web globals V8 lacks (TextEncoder/TextDecoder for UTF-8, atob/btoa,
// structuredClone, crypto.getRandomValues/randomUUID, performance.now). Randomness and time come
// from the determinism hooks (determinism.js), never from the host directly. The larger classes (URL, Headers, ...) are in web-api.js.
// Every builtin called below is captured here, at start-up: a run may replace any prototype
// method, iterator or static first, and these answer the same (test/exec/web-vandal.test.ts).
(function () {
  'use strict';
  const { next32, userNow } = /** @type {SandboxDeterminism} */ (globalThis.__mcpv8_determinism);
  const getRandomValuesBytesMax = 65536;
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const getPrototypeOf = Object.getPrototypeOf;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const objectKeys = Object.keys;
  const isArray = Array.isArray;
  const isView = ArrayBuffer.isView;
  const StringConstructor = String;
  const ErrorConstructor = Error;
  const TypeErrorConstructor = TypeError;
  const RangeErrorConstructor = RangeError;
  const ArrayConstructor = Array;
  const ArrayBufferConstructor = ArrayBuffer;
  const Uint8ArrayConstructor = Uint8Array;
  const MapConstructor = Map;
  const SetConstructor = Set;
  const DateConstructor = Date;
  const RegExpConstructor = RegExp;
  const fromCodePoint = String.fromCodePoint;
  const fromCharCode = String.fromCharCode;
  const stringToWellFormed = String.prototype.toWellFormed;
  const stringCodePointAt = String.prototype.codePointAt;
  const stringCharCodeAt = String.prototype.charCodeAt;
  const stringSlice = String.prototype.slice;
  const stringTrim = String.prototype.trim;
  const stringToLowerCase = String.prototype.toLowerCase;
  const arraySlice = Array.prototype.slice;
  const typedArraySet = Uint8Array.prototype.set;
  const dateGetTime = Date.prototype.getTime;
  const mapGet = Map.prototype.get;
  const mapSet = Map.prototype.set;
  const mapHas = Map.prototype.has;
  const mapEntries = Map.prototype.entries;
  const mapIteratorNext = getPrototypeOf(new Map().entries()).next;
  const setAdd = Set.prototype.add;
  const setValues = Set.prototype.values;
  const setIteratorNext = getPrototypeOf(new Set().values()).next;
  const typedArrayPrototype = getPrototypeOf(Uint8Array.prototype);
  /** @param {object} prototype @param {string | symbol} key @returns {(this: any) => any} */
  const getterOf = (prototype, key) => /** @type {(this: any) => any} */ (/** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(prototype, key)).get);
  const typedArrayTag = getterOf(typedArrayPrototype, Symbol.toStringTag);
  const typedArrayLength = getterOf(typedArrayPrototype, 'length');
  const typedArrayBuffer = getterOf(typedArrayPrototype, 'buffer');
  const typedArrayByteOffset = getterOf(typedArrayPrototype, 'byteOffset');
  const typedArrayByteLength = getterOf(typedArrayPrototype, 'byteLength');
  const dataViewBuffer = getterOf(DataView.prototype, 'buffer');
  const dataViewByteOffset = getterOf(DataView.prototype, 'byteOffset');
  const dataViewByteLength = getterOf(DataView.prototype, 'byteLength');
  const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
  const regExpSource = getterOf(RegExp.prototype, 'source');
  /** RegExp.prototype.flags reads these through the replaceable prototype: each getter captured, in its order. */
  const regExpFlagGetters = /** @type {Array<[string, (this: any) => any]>} */ ([]);
  for (const [flag, name] of [['d', 'hasIndices'], ['g', 'global'], ['i', 'ignoreCase'], ['m', 'multiline'], ['s', 'dotAll'], ['u', 'unicode'], ['v', 'unicodeSets'], ['y', 'sticky']]) {
    const descriptor = getOwnPropertyDescriptor(RegExp.prototype, name);
    if (descriptor !== undefined && descriptor.get !== undefined) regExpFlagGetters.push([flag, descriptor.get]);
  }
  /** The typed array constructors by their tag, so a clone is of the same kind whatever `constructor` says. */
  const typedArrays = /** @type {Record<string, new (source: ArrayLike<number>) => ArrayBufferView>} */ (/** @type {unknown} */ ({ __proto__: null }));
  for (const name of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
    const constructor = /** @type {any} */ (globalThis)[name];
    if (typeof constructor === 'function') typedArrays[name] = constructor;
  }
  const prototypes = { __proto__: null, Date: Date.prototype, RegExp: RegExp.prototype, ArrayBuffer: ArrayBuffer.prototype, Map: Map.prototype, Set: Set.prototype, Error: Error.prototype };
  /** Code points per String.fromCodePoint call while decoding (the template below: 8 KiB in a context that decodes). */
  const decodeChunk = 1024;
  /**
   * An array of `decodeChunk` own elements and an own `constructor` of undefined: its slices are
   * plain arrays (no species lookup through the replaceable Array.prototype.constructor) whose
   * elements are all own, so writing them meets no setter a run put on Array.prototype.
   */
  /** @type {number[] | null} */
  let chunkTemplate = null;
  const arrayFrom = Array.from;
  /**
   * The template, made on a context's first decode: a context that decodes nothing does not hold
   * it (every new context is a copy of the snapshot's). Array.from over a null-prototype
   * array-like makes its elements with CreateDataProperty (no setter a run put on Array.prototype
   * is met) and looks up no iterator; the descriptor has no prototype a run could add `get` to.
   * @returns {number[]}
   */
  function decodeTemplate() {
    if (chunkTemplate !== null) return chunkTemplate;
    const template = /** @type {number[]} */ (apply(arrayFrom, undefined, [{ __proto__: null, length: decodeChunk }]));
    defineProperty(template, 'constructor', /** @type {PropertyDescriptor} */ ({ __proto__: null, value: undefined }));
    chunkTemplate = template;
    return template;
  }

  /** `value instanceof C` for a builtin C, without C[Symbol.hasInstance] (which a run can define) @param {object} value @param {object} prototype @returns {boolean} */
  function inherits(value, prototype) {
    for (let current = getPrototypeOf(value); current !== null; current = getPrototypeOf(current)) if (current === prototype) return true;
    return false;
  }

  /** The bytes of an ArrayBuffer or a view (not copied), read through captured getters; null for anything else. */
  /** @param {unknown} input @returns {Uint8Array | null} */
  function bytesOf(input) {
    if (input === null || typeof input !== 'object') return null;
    if (inherits(input, prototypes.ArrayBuffer)) return new Uint8ArrayConstructor(/** @type {ArrayBuffer} */ (input));
    if (!isView(input)) return null;
    if (apply(typedArrayTag, input, []) !== undefined) return new Uint8ArrayConstructor(apply(typedArrayBuffer, input, []), apply(typedArrayByteOffset, input, []), apply(typedArrayByteLength, input, []));
    return new Uint8ArrayConstructor(apply(dataViewBuffer, input, []), apply(dataViewByteOffset, input, []), apply(dataViewByteLength, input, []));
  }

  /** An own data property as assignment makes it, without meeting a setter on a prototype. */
  /** @param {object} target @param {PropertyKey} key @param {unknown} value */
  function put(target, key, value) {
    defineProperty(target, key, /** @type {PropertyDescriptor} */ ({ __proto__: null, value, writable: true, enumerable: true, configurable: true }));
  }

  /** @param {string} name @param {string} message @returns {Error} */
  function domError(name, message) {
    const error = new ErrorConstructor(message);
    put(error, 'name', name);
    return error;
  }

  // ---- UTF-8 ----
  /** UTF-8 bytes of a code point @param {number} code @returns {number} */
  function utf8Size(code) {
    return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }

  /** @param {number} code @param {Uint8Array} bytes @param {number} length where it goes @returns {number} the length after it */
  function writeUtf8(code, bytes, length) {
    if (code < 0x80) bytes[length++] = code;
    else if (code < 0x800) { bytes[length++] = 0xc0 | (code >> 6); bytes[length++] = 0x80 | (code & 63); }
    else if (code < 0x10000) { bytes[length++] = 0xe0 | (code >> 12); bytes[length++] = 0x80 | ((code >> 6) & 63); bytes[length++] = 0x80 | (code & 63); }
    else { bytes[length++] = 0xf0 | (code >> 18); bytes[length++] = 0x80 | ((code >> 12) & 63); bytes[length++] = 0x80 | ((code >> 6) & 63); bytes[length++] = 0x80 | (code & 63); }
    return length;
  }

  /** @param {unknown} text @returns {string} */
  function wellFormed(text) {
    return apply(stringToWellFormed, StringConstructor(text), []);
  }

  /** @param {unknown} text @returns {Uint8Array} */
  function encodeUtf8(text) {
    const source = wellFormed(text);
    let size = 0;
    for (let index = 0; index < source.length; index++) {
      const code = /** @type {number} */ (apply(stringCodePointAt, source, [index]));
      size += utf8Size(code);
      if (code > 0xffff) index++;
    }
    const bytes = new Uint8ArrayConstructor(size);
    let length = 0;
    for (let index = 0; index < source.length; index++) {
      const code = /** @type {number} */ (apply(stringCodePointAt, source, [index]));
      length = writeUtf8(code, bytes, length);
      if (code > 0xffff) index++;
    }
    return bytes;
  }

  /** WHATWG's UTF-8 decoder: a maximal invalid subpart becomes one U+FFFD, as in Node. */
  /** @param {Uint8Array} bytes @param {number} byteCount @param {boolean} fatal @returns {string} */
  function decodeUtf8(bytes, byteCount, fatal) {
    let text = '';
    // At most one code point per byte: U+FFFD replaces at least one byte.
    const codes = /** @type {number[]} */ (apply(arraySlice, decodeTemplate(), [0, byteCount < decodeChunk ? byteCount : decodeChunk]));
    let count = 0;
    let needed = 0, seen = 0, code = 0, lower = 0x80, upper = 0xbf;
    const fail = () => {
      if (fatal) throw new TypeErrorConstructor('The encoded data was not valid for encoding utf-8');
      codes[count++] = 0xfffd;
    };
    for (let index = 0; index < byteCount; index++) {
      const byte = bytes[index];
      if (needed === 0) {
        if (byte <= 0x7f) codes[count++] = byte;
        else if (byte >= 0xc2 && byte <= 0xdf) { needed = 1; code = byte & 0x1f; }
        else if (byte >= 0xe0 && byte <= 0xef) { if (byte === 0xe0) lower = 0xa0; if (byte === 0xed) upper = 0x9f; needed = 2; code = byte & 0xf; }
        else if (byte >= 0xf0 && byte <= 0xf4) { if (byte === 0xf0) lower = 0x90; if (byte === 0xf4) upper = 0x8f; needed = 3; code = byte & 7; }
        else fail();
      } else if (byte < lower || byte > upper) {
        needed = seen = code = 0; lower = 0x80; upper = 0xbf;
        fail();
        index--;
      } else {
        lower = 0x80; upper = 0xbf;
        code = (code << 6) | (byte & 0x3f);
        if (++seen === needed) { codes[count++] = code; needed = seen = code = 0; }
      }
      if (count === decodeChunk) { text += apply(fromCodePoint, undefined, codes); count = 0; }
    }
    if (needed !== 0) fail();
    codes.length = count;
    return text + apply(fromCodePoint, undefined, codes);
  }

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') { return encodeUtf8(input); }
    /** @param {unknown} input @param {Uint8Array} target @returns {{ read: number, written: number }} */
    encodeInto(input, target) {
      const source = wellFormed(input);
      const room = apply(typedArrayLength, target, []);
      let read = 0;
      let written = 0;
      while (read < source.length) {
        const code = /** @type {number} */ (apply(stringCodePointAt, source, [read]));
        if (written + utf8Size(code) > room) break;
        written = writeUtf8(code, target, written);
        read += code > 0xffff ? 2 : 1;
      }
      return { read, written };
    }
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    /** @param {unknown} [label] @param {{ fatal?: unknown, ignoreBOM?: unknown }} [options] */
    constructor(label = 'utf-8', options = {}) {
      // /^(utf-?8|unicode-1-1-utf-8)$/i, compared by hand: RegExp.prototype is the run's to replace.
      const name = apply(stringToLowerCase, apply(stringTrim, StringConstructor(label), []), []);
      if (name !== 'utf-8' && name !== 'utf8' && name !== 'unicode-1-1-utf-8') throw new RangeErrorConstructor(`The "${label}" encoding is not supported`);
      this.#fatal = !!options.fatal;
      this.#ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() { return 'utf-8'; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    /** @param {ArrayBuffer | ArrayBufferView} [input] @returns {string} */
    decode(input) {
      if (input === undefined) return '';
      const bytes = bytesOf(input) ?? new Uint8ArrayConstructor(/** @type {any} */ (input).buffer, /** @type {any} */ (input).byteOffset, /** @type {any} */ (input).byteLength);
      const text = decodeUtf8(bytes, apply(typedArrayLength, bytes, []), this.#fatal);
      return !this.#ignoreBOM && apply(stringCharCodeAt, text, [0]) === 0xfeff ? apply(stringSlice, text, [1]) : text;
    }
  }

  // ---- base64 ----
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  /** The alphabet's value of each ASCII character code, -1 for none. */
  const alphabetValues = new Int8Array(128);
  for (let index = 0; index < 128; index++) alphabetValues[index] = -1;
  for (let index = 0; index < alphabet.length; index++) alphabetValues[alphabet.charCodeAt(index)] = index;
  /** @param {unknown} data @returns {string} */
  function btoa(data) {
    const text = StringConstructor(data);
    let output = '';
    for (let index = 0; index < text.length; index += 3) {
      const a = apply(stringCharCodeAt, text, [index]);
      const b = apply(stringCharCodeAt, text, [index + 1]);
      const c = apply(stringCharCodeAt, text, [index + 2]);
      if (a > 255 || b > 255 || c > 255) throw domError('InvalidCharacterError', 'Invalid character');
      output += alphabet[a >> 2] + alphabet[((a & 3) << 4) | (b >> 4 || 0)];
      output += b !== b ? '==' : alphabet[((b & 15) << 2) | (c >> 6 || 0)] + (c !== c ? '=' : alphabet[c & 63]);
    }
    return output;
  }
  /** @param {unknown} data @returns {string} */
  function atob(data) {
    const given = StringConstructor(data);
    // The characters of the alphabet, with ASCII white space removed and one or two final '=' when the length allows.
    let text = '';
    for (let index = 0; index < given.length; index++) {
      const code = apply(stringCharCodeAt, given, [index]);
      if (code !== 9 && code !== 10 && code !== 12 && code !== 13 && code !== 32) text += given[index];
    }
    if (text.length % 4 === 0 && text[text.length - 1] === '=') text = apply(stringSlice, text, [0, text[text.length - 2] === '=' ? -2 : -1]);
    let valid = text.length % 4 !== 1;
    for (let index = 0; index < text.length && valid; index++) {
      const code = apply(stringCharCodeAt, text, [index]);
      valid = code < 128 && alphabetValues[code] !== -1;
    }
    if (!valid) throw domError('InvalidCharacterError', 'The string to be decoded is not correctly encoded.');
    let output = '';
    let buffer = 0;
    let bits = 0;
    for (let index = 0; index < text.length; index++) {
      buffer = (buffer << 6) | alphabetValues[apply(stringCharCodeAt, text, [index])];
      bits += 6;
      if (bits >= 8) { bits -= 8; output += fromCharCode((buffer >> bits) & 255); }
    }
    return output;
  }

  // ---- structuredClone: the structured-clone types that plain sandbox code can make ----
  /** @param {RegExp} value @returns {string} */
  function regExpFlags(value) {
    let flags = '';
    for (let index = 0; index < regExpFlagGetters.length; index++) if (apply(regExpFlagGetters[index][1], value, [])) flags += regExpFlagGetters[index][0];
    return flags;
  }

  /** @param {any} value (user code's: any value) @param {Map<unknown, unknown>} seen @returns {unknown} */
  function cloneValue(value, seen) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
      if (typeof value === 'symbol') throw domError('DataCloneError', `${StringConstructor(value)} could not be cloned.`);
      return value;
    }
    if (typeof value === 'function') throw domError('DataCloneError', `${value.name || 'function'} could not be cloned.`);
    if (apply(mapHas, seen, [value])) return apply(mapGet, seen, [value]);
    let copy;
    if (inherits(value, prototypes.Date)) copy = new DateConstructor(apply(dateGetTime, value, []));
    else if (inherits(value, prototypes.RegExp)) copy = new RegExpConstructor(apply(regExpSource, value, []), regExpFlags(value));
    else if (inherits(value, prototypes.ArrayBuffer)) {
      copy = new ArrayBufferConstructor(apply(arrayBufferByteLength, value, []));
      apply(typedArraySet, new Uint8ArrayConstructor(copy), [new Uint8ArrayConstructor(value)]);
    } else if (isView(value)) {
      const tag = apply(typedArrayTag, value, []);
      copy = tag === undefined ? new (/** @type {any} */ (value).constructor)(value) : new typedArrays[tag](/** @type {any} */ (value));
    } else if (inherits(value, prototypes.Map)) {
      copy = new MapConstructor();
      apply(mapSet, seen, [value, copy]);
      const iterator = apply(mapEntries, value, []);
      for (let step = apply(mapIteratorNext, iterator, []); !step.done; step = apply(mapIteratorNext, iterator, [])) apply(mapSet, copy, [cloneValue(step.value[0], seen), cloneValue(step.value[1], seen)]);
      return copy;
    } else if (inherits(value, prototypes.Set)) {
      copy = new SetConstructor();
      apply(mapSet, seen, [value, copy]);
      const iterator = apply(setValues, value, []);
      for (let step = apply(setIteratorNext, iterator, []); !step.done; step = apply(setIteratorNext, iterator, [])) apply(setAdd, copy, [cloneValue(step.value, seen)]);
      return copy;
    } else if (inherits(value, prototypes.Error)) {
      copy = new ErrorConstructor(value.message);
      put(copy, 'name', value.name);
      copy.stack = value.stack;
    } else {
      copy = /** @type {Record<string, unknown>} */ (isArray(value) ? new ArrayConstructor(value.length) : {});
      apply(mapSet, seen, [value, copy]);
      const keys = objectKeys(value);
      for (let index = 0; index < keys.length; index++) put(copy, keys[index], cloneValue(value[keys[index]], seen));
      return copy;
    }
    apply(mapSet, seen, [value, copy]);
    return copy;
  }

  // ---- crypto and performance, from the determinism hooks ----
  /** @param {unknown} array @returns {unknown} */
  function getRandomValues(array) {
    const tag = isView(array) ? apply(typedArrayTag, array, []) : undefined;
    if (tag === undefined || tag === 'Float32Array' || tag === 'Float64Array') {
      throw domError('TypeMismatchError', 'The data argument must be an integer-type TypedArray');
    }
    const byteLength = apply(typedArrayByteLength, array, []);
    if (byteLength > getRandomValuesBytesMax) throw domError('QuotaExceededError', `The ArrayBufferView's byte length (${byteLength}) exceeds the number of bytes of entropy available via this API (${getRandomValuesBytesMax})`);
    const bytes = new Uint8ArrayConstructor(apply(typedArrayBuffer, array, []), apply(typedArrayByteOffset, array, []), byteLength);
    for (let index = 0; index < byteLength; index += 4) {
      let word = next32();
      for (let offset = 0; offset < 4 && index + offset < byteLength; offset++) { bytes[index + offset] = word & 255; word >>>= 8; }
    }
    return array;
  }
  const hexDigits = '0123456789abcdef';
  const crypto = {
    getRandomValues,
    randomUUID() {
      const bytes = new Uint8ArrayConstructor(16);
      getRandomValues(bytes);
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      let uuid = '';
      for (let index = 0; index < 16; index++) {
        if (index === 4 || index === 6 || index === 8 || index === 10) uuid += '-';
        uuid += hexDigits[bytes[index] >> 4] + hexDigits[bytes[index] & 15];
      }
      return uuid;
    },
  };

  let timeOrigin = /** @type {number | null} */ (null);
  const performance = {
    now() { if (timeOrigin === null) timeOrigin = userNow(); return userNow() - timeOrigin; },
    get timeOrigin() { if (timeOrigin === null) timeOrigin = userNow(); return timeOrigin; },
  };

  const globals = { TextEncoder, TextDecoder, atob, btoa, crypto, performance, structuredClone: (/** @type {unknown} */ value) => cloneValue(value, new MapConstructor()) };
  for (const [name, value] of Object.entries(globals)) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  // For web-api.js, which takes and deletes it.
  defineProperty(globalThis, '__mcpv8_webBytes', { value: { bytesOf, inherits, put, typedArrayLength, typedArrayBuffer }, configurable: true });
})();
