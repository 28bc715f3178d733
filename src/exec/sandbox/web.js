// @ts-check
// Sandbox code: the small web globals V8 lacks (TextEncoder/TextDecoder for UTF-8, atob/btoa,
// structuredClone, crypto.getRandomValues/randomUUID, performance.now). Randomness and time come
// from the determinism hooks (determinism.js), never from the host directly. The larger classes (URL, Headers, ...) are in web-api.js.
(function () {
  'use strict';
  const { next32, userNow } = /** @type {SandboxDeterminism} */ (globalThis.__mcpv8_determinism);
  const getRandomValuesBytesMax = 65536;

  /** @param {string} name @param {string} message @returns {Error} */
  function domError(name, message) {
    const error = new Error(message);
    error.name = name;
    return error;
  }

  // ---- UTF-8 ----
  /** @param {unknown} text @returns {Uint8Array} */
  function encodeUtf8(text) {
    const source = String(text).toWellFormed();
    const bytes = new Uint8Array(source.length * 3);
    let length = 0;
    for (const character of source) {
      const code = /** @type {number} */ (character.codePointAt(0));
      if (code < 0x80) bytes[length++] = code;
      else if (code < 0x800) { bytes[length++] = 0xc0 | (code >> 6); bytes[length++] = 0x80 | (code & 63); }
      else if (code < 0x10000) { bytes[length++] = 0xe0 | (code >> 12); bytes[length++] = 0x80 | ((code >> 6) & 63); bytes[length++] = 0x80 | (code & 63); }
      else { bytes[length++] = 0xf0 | (code >> 18); bytes[length++] = 0x80 | ((code >> 12) & 63); bytes[length++] = 0x80 | ((code >> 6) & 63); bytes[length++] = 0x80 | (code & 63); }
    }
    return bytes.slice(0, length);
  }

  /** WHATWG's UTF-8 decoder: a maximal invalid subpart becomes one U+FFFD, as in Node. */
  /** @param {Uint8Array} bytes @param {boolean} fatal @returns {string} */
  function decodeUtf8(bytes, fatal) {
    const parts = [];
    let codes = [];
    let needed = 0, seen = 0, code = 0, lower = 0x80, upper = 0xbf;
    const fail = () => {
      if (fatal) throw new TypeError('The encoded data was not valid for encoding utf-8');
      codes.push(0xfffd);
    };
    for (let index = 0; index < bytes.length; index++) {
      const byte = bytes[index];
      if (needed === 0) {
        if (byte <= 0x7f) codes.push(byte);
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
        if (++seen === needed) { codes.push(code); needed = seen = code = 0; }
      }
      if (codes.length >= 8192) { parts.push(String.fromCodePoint(...codes)); codes = []; }
    }
    if (needed !== 0) fail();
    parts.push(String.fromCodePoint(...codes));
    return parts.join('');
  }

  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') { return encodeUtf8(input); }
    /** @param {unknown} input @param {Uint8Array} target @returns {{ read: number, written: number }} */
    encodeInto(input, target) {
      const bytes = encodeUtf8(input);
      let read = 0;
      let written = 0;
      for (const character of String(input).toWellFormed()) {
        const size = encodeUtf8(character).length;
        if (written + size > target.length) break;
        target.set(bytes.subarray(written, written + size), written);
        written += size;
        read += character.length;
      }
      return { read, written };
    }
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    /** @param {unknown} [label] @param {{ fatal?: unknown, ignoreBOM?: unknown }} [options] */
    constructor(label = 'utf-8', options = {}) {
      if (!/^(utf-?8|unicode-1-1-utf-8)$/i.test(String(label).trim())) throw new RangeError(`The "${label}" encoding is not supported`);
      this.#fatal = Boolean(options.fatal);
      this.#ignoreBOM = Boolean(options.ignoreBOM);
    }
    get encoding() { return 'utf-8'; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    /** @param {ArrayBuffer | ArrayBufferView} [input] @returns {string} */
    decode(input) {
      if (input === undefined) return '';
      const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      const text = decodeUtf8(bytes, this.#fatal);
      return !this.#ignoreBOM && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    }
  }

  // ---- base64 ----
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  /** @param {unknown} data @returns {string} */
  function btoa(data) {
    const text = String(data);
    let output = '';
    for (let index = 0; index < text.length; index += 3) {
      const codes = [text.charCodeAt(index), text.charCodeAt(index + 1), text.charCodeAt(index + 2)];
      for (const code of codes) if (code > 255) throw domError('InvalidCharacterError', 'Invalid character');
      const [a, b, c] = codes;
      output += alphabet[a >> 2] + alphabet[((a & 3) << 4) | (b >> 4 || 0)];
      output += Number.isNaN(b) ? '==' : alphabet[((b & 15) << 2) | (c >> 6 || 0)] + (Number.isNaN(c) ? '=' : alphabet[c & 63]);
    }
    return output;
  }
  /** @param {unknown} data @returns {string} */
  function atob(data) {
    let text = String(data).replace(/[\t\n\f\r ]/g, '');
    if (text.length % 4 === 0) text = text.replace(/==?$/, '');
    if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) throw domError('InvalidCharacterError', 'The string to be decoded is not correctly encoded.');
    let output = '';
    let buffer = 0;
    let bits = 0;
    for (const character of text) {
      buffer = (buffer << 6) | alphabet.indexOf(character);
      bits += 6;
      if (bits >= 8) { bits -= 8; output += String.fromCharCode((buffer >> bits) & 255); }
    }
    return output;
  }

  // ---- structuredClone: the structured-clone types that plain sandbox code can make ----
  /** @param {any} value (user code's: any value) @param {Map<unknown, unknown>} seen @returns {unknown} */
  function cloneValue(value, seen) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
      if (typeof value === 'symbol') throw domError('DataCloneError', `${String(value)} could not be cloned.`);
      return value;
    }
    if (typeof value === 'function') throw domError('DataCloneError', `${value.name || 'function'} could not be cloned.`);
    if (seen.has(value)) return seen.get(value);
    let copy;
    if (value instanceof globalThis.Date) copy = new globalThis.Date(value.getTime());
    else if (value instanceof RegExp) copy = new RegExp(value.source, value.flags);
    else if (value instanceof ArrayBuffer) copy = value.slice(0);
    else if (ArrayBuffer.isView(value)) copy = new (/** @type {any} */ (value).constructor)(value);
    else if (value instanceof Map) { copy = new Map(); seen.set(value, copy); for (const [key, item] of value) copy.set(cloneValue(key, seen), cloneValue(item, seen)); return copy; }
    else if (value instanceof Set) { copy = new Set(); seen.set(value, copy); for (const item of value) copy.add(cloneValue(item, seen)); return copy; }
    else if (value instanceof Error) { copy = new Error(value.message); copy.name = value.name; copy.stack = value.stack; }
    else {
      copy = /** @type {Record<string, unknown>} */ (Array.isArray(value) ? new Array(value.length) : {});
      seen.set(value, copy);
      for (const key of Object.keys(value)) copy[key] = cloneValue(value[key], seen);
      return copy;
    }
    seen.set(value, copy);
    return copy;
  }

  // ---- crypto and performance, from the determinism hooks ----
  const crypto = {
    /** @param {unknown} array @returns {unknown} */
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
        throw domError('TypeMismatchError', 'The data argument must be an integer-type TypedArray');
      }
      if (array.byteLength > getRandomValuesBytesMax) throw domError('QuotaExceededError', `The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (${getRandomValuesBytesMax})`);
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let index = 0; index < bytes.length; index += 4) {
        let word = next32();
        for (let offset = 0; offset < 4 && index + offset < bytes.length; offset++) { bytes[index + offset] = word & 255; word >>>= 8; }
      }
      return array;
    },
    randomUUID() {
      const bytes = /** @type {Uint8Array} */ (crypto.getRandomValues(new Uint8Array(16)));
      bytes[6] = (bytes[6] & 0x0f) | 0x40;
      bytes[8] = (bytes[8] & 0x3f) | 0x80;
      const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };

  let timeOrigin = /** @type {number | null} */ (null);
  const performance = {
    now() { if (timeOrigin === null) timeOrigin = userNow(); return userNow() - timeOrigin; },
    get timeOrigin() { if (timeOrigin === null) timeOrigin = userNow(); return timeOrigin; },
  };

  const globals = { TextEncoder, TextDecoder, atob, btoa, crypto, performance, structuredClone: (/** @type {unknown} */ value) => cloneValue(value, new Map()) };
  for (const [name, value] of Object.entries(globals)) Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
})();
