// @ts-check
// Sandbox code: the web API classes agents use daily that V8 lacks: URL, URLSearchParams,
// AbortController/AbortSignal, Headers, Blob and crypto.subtle.digest (SHA-1/256/384/512), in
// pure JavaScript (no host access, so deterministic for replay). Each context gets its own copy
// from the snapshot, so user code that replaces a builtin affects only its own run.
(function () {
  'use strict';
  const encoder = new TextEncoder();
  const decoder = new (/** @type {any} */ (globalThis).TextDecoder)();
  // Captured at start-up; the classes below are built on first use (lazy.js), after user code ran.
  const { bytesOf, inherits, put, typedArrayLength, typedArrayBuffer } = /** @type {NonNullable<typeof __mcpv8_webBytes>} */ (globalThis.__mcpv8_webBytes);
  delete globalThis.__mcpv8_webBytes;
  const captured = {
    __proto__: null,
    apply: Reflect.apply, isArray: Array.isArray, hasOwn: Object.hasOwn, keys: Object.keys, Map, String, Number, BigInt, Uint8Array, ArrayBuffer, DataView, BigUint64Array, Error, TypeError, Promise,
    Uint32Array, cbrt: Math.cbrt, dateNow: Date.now, trunc: Math.trunc, ceil: Math.ceil, floor: Math.floor, max: Math.max, min: Math.min,
    encode: TextEncoder.prototype.encode, decode: /** @type {any} */ (globalThis).TextDecoder.prototype.decode,
    typedArraySet: Uint8Array.prototype.set, toLowerCase: String.prototype.toLowerCase, toUpperCase: String.prototype.toUpperCase, sort: Array.prototype.sort, fromCharCode: String.fromCharCode, indexOf: String.prototype.indexOf, slice: String.prototype.slice,
    lastIndexOf: String.prototype.lastIndexOf, normalize: String.prototype.normalize, parseInt,
    mapGet: Map.prototype.get, mapSet: Map.prototype.set, mapHas: Map.prototype.has, mapDelete: Map.prototype.delete, mapForEach: Map.prototype.forEach, charCodeAt: String.prototype.charCodeAt,
    bigIntToString: BigInt.prototype.toString, promiseResolve: Promise.resolve, promiseReject: Promise.reject,
    dataViewByteLength: /** @type {(this: DataView) => number} */ (/** @type {PropertyDescriptor} */ (Object.getOwnPropertyDescriptor(DataView.prototype, 'byteLength')).get),
    getUint32: DataView.prototype.getUint32, setUint32: DataView.prototype.setUint32, getBigUint64: DataView.prototype.getBigUint64, setBigUint64: DataView.prototype.setBigUint64,
  };
  const call = captured.apply;
  const lazy = /** @type {NonNullable<typeof __mcpv8_lazy>} */ (globalThis.__mcpv8_lazy);
  const cryptoObject = /** @type {any} */ (globalThis).crypto;
  /** What the prelude adds to the classes when they are built (AbortSignal.timeout). @type {Array<(values: Record<string, any>) => void>} */
  const extensions = [];

  /**
   * The classes and their helpers, made in a context on the first read of one of its globals
   * (most runs use none): everything it calls while building is captured above, and `Symbol`
   * (the computed keys) is the start-up one, bound as a parameter. The file's module scope, run
   * later: its length counts as the IIFE's does (scripts/long-functions.ts).
   * @moduleScope
   * @param {SymbolConstructor} Symbol
   */
  function build(Symbol) {

  // ---- URLSearchParams (application/x-www-form-urlencoded) ----
  // Calls only builtins captured at start-up (`captured`, below: called later, never at start-up).
  const hexDigitsUpper = '0123456789ABCDEF';
  /** /[A-Za-z0-9*\-._]/ @param {number} byte @returns {boolean} */
  const isFormSafe = (byte) => (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte === 0x2a || byte === 0x2d || byte === 0x2e || byte === 0x5f;
  /** @param {number} code @returns {number} the value of a hex digit, -1 for none */
  const hexValue = (code) => (code >= 48 && code <= 57 ? code - 48 : code >= 65 && code <= 70 ? code - 55 : code >= 97 && code <= 102 ? code - 87 : -1);
  /** @param {unknown} text @returns {string} */
  function formEncode(text) {
    let output = '';
    const bytes = /** @type {Uint8Array} */ (call(captured.encode, encoder, [captured.String(text)]));
    const length = call(typedArrayLength, bytes, []);
    for (let index = 0; index < length; index++) {
      const byte = bytes[index];
      if (byte === 0x20) output += '+';
      else if (byte < 0x80 && isFormSafe(byte)) output += captured.fromCharCode(byte);
      else output += '%' + hexDigitsUpper[byte >> 4] + hexDigitsUpper[byte & 15];
    }
    return output;
  }
  /** Percent-decodes; in a form, a '+' is a space @param {string} text @param {boolean} [plusIsSpace] @returns {string} */
  function percentDecode(text, plusIsSpace = false) {
    const bytes = new captured.Uint8Array(text.length * 3);
    let length = 0;
    for (let index = 0; index < text.length; index++) {
      const code = call(captured.charCodeAt, text, [index]);
      const high = code === 0x25 && index + 2 < text.length ? hexValue(call(captured.charCodeAt, text, [index + 1])) : -1;
      const low = high === -1 ? -1 : hexValue(call(captured.charCodeAt, text, [index + 2]));
      if (low !== -1) { bytes[length++] = high * 16 + low; index += 2; }
      else if (code === 0x2b && plusIsSpace) bytes[length++] = 0x20;
      else {
        // Each UTF-16 unit on its own, as before (a lone surrogate becomes U+FFFD).
        const encoded = /** @type {Uint8Array} */ (call(captured.encode, encoder, [text[index]]));
        const count = call(typedArrayLength, encoded, []);
        for (let at = 0; at < count; at++) bytes[length++] = encoded[at];
      }
    }
    return call(captured.decode, decoder, [new captured.Uint8Array(call(typedArrayBuffer, bytes, []), 0, length)]);
  }
  /** @param {string} query @returns {string[][]} */
  function parseForm(query) {
    /** @type {string[][]} */
    const list = [];
    let start = 0;
    while (start <= query.length) {
      let end = call(captured.indexOf, query, ['&', start]);
      if (end === -1) end = query.length;
      if (end > start) {
        const part = call(captured.slice, query, [start, end]);
        const at = call(captured.indexOf, part, ['=']);
        const name = at === -1 ? part : call(captured.slice, part, [0, at]);
        const value = at === -1 ? '' : call(captured.slice, part, [at + 1]);
        put(list, list.length, [percentDecode(name, true), percentDecode(value, true)]);
      }
      start = end + 1;
    }
    return list;
  }

  /** @type {(url: any, query: string) => void} */
  let urlSetQuery = () => {};
  /** @type {(params: any, url: any, query: string) => void} */
  let bindParams = () => {};

  /** The pairs whose name is not `key` (or whose value is not `value`, if given) @param {string[][]} list @param {string} key @param {string | undefined} value @returns {string[][]} */
  function pairsWithout(list, key, value) {
    /** @type {string[][]} */
    const kept = [];
    for (let index = 0; index < list.length; index++) if (!(list[index][0] === key && (value === undefined || list[index][1] === value))) put(kept, kept.length, list[index]);
    return kept;
  }

  class URLSearchParams {
    /** @type {string[][]} */
    #list = [];
    /** @type {URL | null} */
    #url = null;
    /** @param {any} init */
    constructor(init = '') {
      if (typeof init === 'object' && init !== null) {
        if (typeof init[Symbol.iterator] === 'function') {
          const pairs = listOf(init);
          for (let index = 0; index < pairs.length; index++) {
            const entry = listOf(pairs[index]);
            if (entry.length !== 2) throw new captured.TypeError('Each query pair must be an iterable [name, value] tuple');
            put(this.#list, this.#list.length, [captured.String(entry[0]), captured.String(entry[1])]);
          }
        } else {
          const keys = captured.keys(init);
          for (let index = 0; index < keys.length; index++) put(this.#list, this.#list.length, [keys[index], captured.String(init[keys[index]])]);
        }
      } else {
        const text = captured.String(init);
        this.#list = parseForm(text[0] === '?' ? call(captured.slice, text, [1]) : text);
      }
    }
    static { bindParams = (params, url, query) => { params.#url = url; params.#list = parseForm(query); }; }
    #update() { if (this.#url) urlSetQuery(this.#url, this.#serialize()); }
    #serialize() {
      let text = '';
      for (let index = 0; index < this.#list.length; index++) text += (index === 0 ? '' : '&') + formEncode(this.#list[index][0]) + '=' + formEncode(this.#list[index][1]);
      return text;
    }
    get size() { return this.#list.length; }
    /** @param {unknown} name @param {unknown} value */
    append(name, value) { put(this.#list, this.#list.length, [captured.String(name), captured.String(value)]); this.#update(); }
    /** @param {unknown} name @param {unknown} [value] */
    delete(name, value) {
      this.#list = pairsWithout(this.#list, captured.String(name), value === undefined ? undefined : captured.String(value));
      this.#update();
    }
    /** @param {unknown} name */
    get(name) {
      const key = captured.String(name);
      for (let index = 0; index < this.#list.length; index++) if (this.#list[index][0] === key) return this.#list[index][1];
      return null;
    }
    /** @param {unknown} name */
    getAll(name) {
      const key = captured.String(name);
      /** @type {string[]} */
      const values = [];
      for (let index = 0; index < this.#list.length; index++) if (this.#list[index][0] === key) put(values, values.length, this.#list[index][1]);
      return values;
    }
    /** @param {unknown} name @param {unknown} [value] */
    has(name, value) {
      const key = captured.String(name);
      const wanted = value === undefined ? undefined : captured.String(value);
      for (let index = 0; index < this.#list.length; index++) if (this.#list[index][0] === key && (wanted === undefined || this.#list[index][1] === wanted)) return true;
      return false;
    }
    /** @param {unknown} name @param {unknown} value */
    set(name, value) {
      const key = captured.String(name);
      const entry = [key, captured.String(value)];
      /** @type {string[][]} */
      const list = [];
      let placed = false;
      for (let index = 0; index < this.#list.length; index++) {
        if (this.#list[index][0] !== key) put(list, list.length, this.#list[index]);
        else if (!placed) { put(list, list.length, entry); placed = true; }
      }
      if (!placed) put(list, list.length, entry);
      this.#list = list;
      this.#update();
    }
    sort() {
      /** @type {Array<[string[], number]>} */
      const indexed = [];
      for (let index = 0; index < this.#list.length; index++) put(indexed, index, [this.#list[index], index]);
      call(captured.sort, indexed, [(/** @type {[string[], number]} */ a, /** @type {[string[], number]} */ b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1])]);
      /** @type {string[][]} */
      const list = [];
      for (let index = 0; index < indexed.length; index++) put(list, index, indexed[index][0]);
      this.#list = list;
      this.#update();
    }
    /** @param {(value: string, name: string, params: URLSearchParams) => void} callback @param {unknown} [thisArg] */
    forEach(callback, thisArg) { const list = this.#list; for (let index = 0; index < list.length; index++) call(callback, thisArg, [list[index][1], list[index][0], this]); }
    *entries() { const list = this.#list; for (let index = 0; index < list.length; index++) yield [list[index][0], list[index][1]]; }
    *keys() { const list = this.#list; for (let index = 0; index < list.length; index++) yield list[index][0]; }
    *values() { const list = this.#list; for (let index = 0; index < list.length; index++) yield list[index][1]; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this.#serialize(); }
    get [Symbol.toStringTag]() { return 'URLSearchParams'; }
  }

  // ---- URL: WHATWG parsing for special schemes (http, https, ws, wss, ftp, file) and opaque ones ----
  // Calls only builtins captured at start-up (`captured`, below), by index loops and char scans (no regex calls).
  /** @type {Record<string, string>} */
  const specialPorts = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443', 'ftp:': '21', 'file:': '' };
  const isSpecial = (/** @type {string} */ protocol) => captured.hasOwn(specialPorts, protocol);
  /** @param {string} text @param {number} start @param {number} [end] @returns {string} */
  const sliceOf = (text, start, end) => call(captured.slice, text, end === undefined ? [start] : [start, end]);
  /** @param {string} text @returns {string} */
  const lowerOf = (text) => call(captured.toLowerCase, text, []);
  /** @param {string} text @param {string} search @returns {boolean} */
  const contains = (text, search) => call(captured.indexOf, text, [search]) !== -1;
  /** Whether text has a '/' (or, special, a '\') at index @param {string} text @param {number} index @param {boolean} special @returns {boolean} */
  const slashAt = (text, index, special) => text[index] === '/' || (special && text[index] === '\\');
  /** @param {number} code @returns {boolean} */
  const isDigit = (code) => code >= 48 && code <= 57;
  /** @param {number} code @returns {boolean} */
  const isAlpha = (code) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
  /** /^[0-9]*$/ from index on @param {string} text @param {number} from @returns {boolean} */
  function allDigits(text, from) {
    for (let index = from; index < text.length; index++) if (!isDigit(call(captured.charCodeAt, text, [index]))) return false;
    return true;
  }
  /** @param {string} text @returns {boolean} */
  function hasNonAscii(text) {
    for (let index = 0; index < text.length; index++) if (call(captured.charCodeAt, text, [index]) > 0x7f) return true;
    return false;
  }
  const forbiddenHostCharacters = '\0\t\n\r #%/:<>?@[\\]^|';
  /** @param {string} text @returns {boolean} */
  function hasForbiddenHostCharacter(text) {
    for (let index = 0; index < text.length; index++) if (contains(forbiddenHostCharacters, text[index])) return true;
    return false;
  }
  /** @param {string} text @param {string} separator one character @returns {string[]} */
  function splitOn(text, separator) {
    /** @type {string[]} */
    const parts = [];
    let start = 0;
    for (;;) {
      const end = call(captured.indexOf, text, [separator, start]);
      if (end === -1) { put(parts, parts.length, sliceOf(text, start)); return parts; }
      put(parts, parts.length, sliceOf(text, start, end));
      start = end + 1;
    }
  }
  /** @param {string[]} parts @param {string} separator @returns {string} */
  function joinWith(parts, separator) {
    let text = '';
    for (let index = 0; index < parts.length; index++) text += (index === 0 ? '' : separator) + parts[index];
    return text;
  }
  /** The code points of text (a lone surrogate as itself, as Array.from does) @param {string} text @returns {number[]} */
  function codePointsOf(text) {
    /** @type {number[]} */
    const points = [];
    for (let index = 0; index < text.length; index++) {
      const code = call(captured.charCodeAt, text, [index]);
      const next = index + 1 < text.length ? call(captured.charCodeAt, text, [index + 1]) : 0;
      if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) { put(points, points.length, (code - 0xd800) * 0x400 + next - 0xdc00 + 0x10000); index++; }
      else put(points, points.length, code);
    }
    return points;
  }
  /** @param {unknown} text @param {string} unsafe @param {boolean} [keepSpace] (an opaque path keeps its spaces) @returns {string} */
  function percentEncode(text, unsafe, keepSpace = false) {
    const string = captured.String(text);
    let output = '';
    for (let index = 0; index < string.length; index++) {
      const code = call(captured.charCodeAt, string, [index]);
      let character = string[index];
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = index + 1 < string.length ? call(captured.charCodeAt, string, [index + 1]) : 0;
        // A surrogate pair is one character; a lone surrogate becomes U+FFFD (toWellFormed).
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) { character = sliceOf(string, index, index + 2); index++; }
        else character = '\ufffd';
      }
      if ((code > 0x20 || (keepSpace && code === 0x20)) && code < 0x7f && !contains(unsafe, character)) output += character;
      else {
        const bytes = /** @type {Uint8Array} */ (call(captured.encode, encoder, [character]));
        const count = call(typedArrayLength, bytes, []);
        for (let at = 0; at < count; at++) output += '%' + hexDigitsUpper[bytes[at] >> 4] + hexDigitsUpper[bytes[at] & 15];
      }
    }
    return output;
  }
  const pathUnsafe = ' "#<>?`{}';
  const queryUnsafe = ' "#<>';
  const specialQueryUnsafe = ' "#<>\'';
  const fragmentUnsafe = ' "<>`';
  const userinfoUnsafe = ' "#<>?`{}/:;=@[\\]^|';
  /** @param {string} path @param {boolean} special @returns {string} */
  function normalizePath(path, special) {
    let slashed = path;
    if (special) { slashed = ''; for (let index = 0; index < path.length; index++) slashed += path[index] === '\\' ? '/' : path[index]; }
    const segments = splitOn(slashed, '/');
    /** @type {string[]} */
    const output = [];
    for (let index = 1; index < segments.length; index++) {
      const segment = segments[index];
      const lower = lowerOf(segment);
      const last = index === segments.length - 1;
      if (lower === '..' || lower === '.%2e' || lower === '%2e.' || lower === '%2e%2e') { if (output.length > 0) output.length--; if (last) put(output, output.length, ''); }
      else if (lower === '.' || lower === '%2e') { if (last) put(output, output.length, ''); }
      else put(output, output.length, percentEncode(segment, pathUnsafe));
    }
    return '/' + joinWith(output, '/');
  }
  // ---- IDNA (UTS #46, non-transitional, as WHATWG URL): a non-ASCII host becomes its punycode form ----
  const punycodeBase = 36;
  /** RFC 3492's bias adaptation. @param {number} delta @param {number} points @param {boolean} first @returns {number} */
  function adapt(delta, points, first) {
    delta = first ? captured.floor(delta / 700) : delta >> 1;
    delta += captured.floor(delta / points);
    let k = 0;
    for (; delta > 455; k += punycodeBase) delta = captured.floor(delta / 35);
    return k + captured.floor((36 * delta) / (delta + 38));
  }
  const punycodeDigit = (/** @type {number} */ digit) => captured.fromCharCode(digit + 22 + 75 * (digit < 26 ? 1 : 0));
  /**
   * RFC 3492's encoder, one label.
   * @param {string} label
   * @returns {string}
   */
  function punycode(label) {
    const points = codePointsOf(label);
    let output = '';
    for (let index = 0; index < points.length; index++) if (points[index] < 0x80) output += captured.fromCharCode(points[index]);
    const basic = output.length;
    let handled = basic;
    if (basic > 0) output += '-';
    let n = 0x80, delta = 0, bias = 72;
    while (handled < points.length) {
      let next = Infinity;
      for (let index = 0; index < points.length; index++) if (points[index] >= n && points[index] < next) next = points[index];
      delta += (next - n) * (handled + 1);
      n = next;
      for (let index = 0; index < points.length; index++) {
        const point = points[index];
        if (point < n) delta++;
        if (point !== n) continue;
        let q = delta;
        for (let k = punycodeBase; ; k += punycodeBase) {
          const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
          if (q < t) break;
          output += punycodeDigit(t + ((q - t) % (punycodeBase - t)));
          q = captured.floor((q - t) / (punycodeBase - t));
        }
        output += punycodeDigit(q);
        bias = adapt(delta, handled + 1, handled === basic);
        delta = 0;
        handled++;
      }
      delta++;
      n++;
    }
    return output;
  }
  /**
   * UTS #46's ToASCII as far as ECMAScript has it: its mapping approximated by NFKC and lower
   * case (the full mapping table is not here), ideographic full stops as dots, then each label
   * with non-ASCII characters as `xn--` and its punycode.
   * @param {string} host
   * @returns {string}
   */
  function domainToAscii(host) {
    let dotted = '';
    for (let index = 0; index < host.length; index++) dotted += contains('\u3002\uff0e\uff61', host[index]) ? '.' : host[index];
    const labels = splitOn(lowerOf(call(captured.normalize, dotted, ['NFKC'])), '.');
    for (let index = 0; index < labels.length; index++) if (hasNonAscii(labels[index])) labels[index] = 'xn--' + punycode(labels[index]);
    const ascii = joinWith(labels, '.');
    // WHATWG URL checks no DNS lengths (beStrict is false); a forbidden code point after mapping is an error.
    if (hasForbiddenHostCharacter(ascii)) throw new captured.TypeError('Invalid URL');
    return ascii;
  }
  /** One IPv4 part as WHATWG reads it (0x hex, 0 octal, decimal), NaN if none @param {string} part @returns {number} */
  function ipv4Number(part) {
    if (part[0] === '0' && part[1] === 'x') return captured.parseInt(sliceOf(part, 2) || '0', 16);
    if (part.length > 1 && part[0] === '0') {
      let octal = true;
      for (let index = 1; index < part.length; index++) { const code = call(captured.charCodeAt, part, [index]); if (code < 48 || code > 55) octal = false; }
      if (octal) return captured.parseInt(part, 8);
    }
    return part !== '' && allDigits(part, 0) ? captured.Number(part) : NaN;
  }
  /** /^(0x[0-9a-f]*|[0-9]+)$/ @param {string} part @returns {boolean} */
  function endsInNumber(part) {
    if (part[0] === '0' && part[1] === 'x') {
      for (let index = 2; index < part.length; index++) { const code = call(captured.charCodeAt, part, [index]); if (!isDigit(code) && !(code >= 97 && code <= 102)) return false; }
      return true;
    }
    return part !== '' && allDigits(part, 0);
  }

  /**
   * WHATWG's IPv6 parser: eight 16-bit pieces, `::` compression and a trailing IPv4 form.
   * @param {string} input the address without its brackets
   * @returns {number[]}
   */
  function parseIpv6(input) {
    const fail = () => { throw new captured.TypeError('Invalid URL'); };
    const at = (/** @type {number} */ index) => index < input.length ? call(captured.charCodeAt, input, [index]) : NaN;
    const address = [0, 0, 0, 0, 0, 0, 0, 0];
    let pieceIndex = 0;
    let compress = -1;
    let pointer = 0;
    if (at(0) === 0x3a) {
      if (at(1) !== 0x3a) fail();
      pointer = 2;
      compress = pieceIndex = 1;
    }
    while (pointer < input.length) {
      if (pieceIndex === 8) fail();
      if (at(pointer) === 0x3a) {
        if (compress !== -1) fail();
        pointer++;
        compress = ++pieceIndex;
        continue;
      }
      let value = 0;
      let length = 0;
      while (length < 4 && hexValue(at(pointer)) !== -1) { value = value * 16 + hexValue(at(pointer)); pointer++; length++; }
      if (at(pointer) === 0x2e) {
        if (length === 0 || pieceIndex > 6) fail();
        pointer -= length;
        pieceIndex = ipv4InIpv6(address, pieceIndex, input, pointer, at);
        pointer = input.length;
        break;
      }
      if (at(pointer) === 0x3a) { pointer++; if (pointer >= input.length) fail(); }
      else if (pointer < input.length) fail();
      address[pieceIndex++] = value;
    }
    if (compress !== -1) {
      let swaps = pieceIndex - compress;
      for (let index = 7; index !== 0 && swaps > 0; index--, swaps--) {
        const swapped = address[compress + swaps - 1];
        address[compress + swaps - 1] = address[index];
        address[index] = swapped;
      }
    } else if (pieceIndex !== 8) fail();
    return address;
  }
  /**
   * The dotted IPv4 end of an IPv6 address, into its last two pieces; the next piece index.
   * @param {number[]} address @param {number} pieceIndex @param {string} input @param {number} pointer
   * @param {(index: number) => number} at @returns {number}
   */
  function ipv4InIpv6(address, pieceIndex, input, pointer, at) {
    let numbersSeen = 0;
    while (pointer < input.length) {
      if (numbersSeen > 0) {
        if (at(pointer) !== 0x2e || numbersSeen >= 4) throw new captured.TypeError('Invalid URL');
        pointer++;
      }
      if (!isDigit(at(pointer))) throw new captured.TypeError('Invalid URL');
      let piece = -1;
      while (isDigit(at(pointer))) {
        const digit = at(pointer) - 48;
        if (piece === 0) throw new captured.TypeError('Invalid URL');
        piece = piece === -1 ? digit : piece * 10 + digit;
        if (piece > 255) throw new captured.TypeError('Invalid URL');
        pointer++;
      }
      address[pieceIndex] = address[pieceIndex] * 0x100 + piece;
      numbersSeen++;
      if (numbersSeen === 2 || numbersSeen === 4) pieceIndex++;
    }
    if (numbersSeen !== 4) throw new captured.TypeError('Invalid URL');
    return pieceIndex;
  }
  /** WHATWG's IPv6 serializer: lower-case hex, the first longest run of zero pieces as `::` @param {number[]} address @returns {string} */
  function serializeIpv6(address) {
    let compress = -1;
    let longest = 1;
    for (let index = 0; index < 8;) {
      let end = index;
      while (end < 8 && address[end] === 0) end++;
      if (end - index > longest) { compress = index; longest = end - index; }
      index = end === index ? index + 1 : end;
    }
    let output = '[';
    for (let index = 0; index < 8; index++) {
      if (index === compress) { output += index === 0 ? '::' : ':'; index += longest - 1; continue; }
      let hex = '';
      for (let piece = address[index]; hex === '' || piece > 0; piece = piece >> 4) hex = '0123456789abcdef'[piece & 15] + hex;
      output += hex + (index === 7 ? '' : ':');
    }
    return output + ']';
  }

  /** @param {string} host @param {boolean} special @returns {string} */
  function parseHost(host, special) {
    if (host[0] === '[') {
      if (host[host.length - 1] !== ']') throw new captured.TypeError('Invalid URL');
      return serializeIpv6(parseIpv6(sliceOf(host, 1, host.length - 1)));
    }
    if (!special) return percentEncode(host, ' #/<>?@[\\]^|');
    const decoded = lowerOf(percentDecode(host));
    if (decoded === '' || hasForbiddenHostCharacter(decoded)) throw new captured.TypeError('Invalid URL');
    const ascii = hasNonAscii(decoded) ? domainToAscii(decoded) : decoded;
    const parts = splitOn(ascii, '.');
    if (parts[parts.length - 1] === '' && parts.length > 1) parts.length--;
    if (endsInNumber(parts[parts.length - 1])) {
      if (parts.length > 4) throw new captured.TypeError('Invalid URL');
      /** @type {number[]} */
      const numbers = [];
      for (let index = 0; index < parts.length; index++) {
        const number = ipv4Number(parts[index]);
        if (number !== number) throw new captured.TypeError('Invalid URL');
        put(numbers, index, number);
      }
      let address = numbers[numbers.length - 1];
      if (address >= 256 ** (5 - numbers.length)) throw new captured.TypeError('Invalid URL');
      for (let index = 0; index < numbers.length - 1; index++) { if (numbers[index] > 255) throw new captured.TypeError('Invalid URL'); address += numbers[index] * 256 ** (3 - index); }
      return (address >>> 24) + '.' + ((address >>> 16) & 255) + '.' + ((address >>> 8) & 255) + '.' + (address & 255);
    }
    return ascii;
  }

  /** The length of /^[A-Za-z][A-Za-z0-9+\-.]*:/ at the start of text, 0 if none @param {string} text @returns {number} */
  function schemeLength(text) {
    if (text.length === 0 || !isAlpha(call(captured.charCodeAt, text, [0]))) return 0;
    for (let index = 1; index < text.length; index++) {
      const code = call(captured.charCodeAt, text, [index]);
      if (code === 0x3a) return index + 1;
      if (!isAlpha(code) && !isDigit(code) && code !== 0x2b && code !== 0x2d && code !== 0x2e) return 0;
    }
    return 0;
  }
  /** Trims C0 controls and spaces from both ends and drops tabs and newlines @param {string} input @returns {string} */
  function trimUrl(input) {
    let start = 0;
    let end = input.length;
    while (start < end && call(captured.charCodeAt, input, [start]) <= 0x20) start++;
    while (end > start && call(captured.charCodeAt, input, [end - 1]) <= 0x20) end--;
    let text = '';
    for (let index = start; index < end; index++) if (!contains('\t\n\r', input[index])) text += input[index];
    return text;
  }

  /** @typedef {{ protocol: string, username: string, password: string, hostname: string, port: string, pathname: string, query: string | null, fragment: string | null, opaque: boolean, hasHost: boolean }} UrlRecord */
  /** @param {unknown} input @param {UrlRecord} [base] @returns {UrlRecord} */
  function parseUrl(input, base) {
    let text = trimUrl(captured.String(input));
    const schemeEnd = schemeLength(text);
    const scheme = schemeEnd === 0 ? '' : lowerOf(sliceOf(text, 0, schemeEnd - 1));
    /** @type {UrlRecord} */
    const record = { protocol: '', username: '', password: '', hostname: '', port: '', pathname: '', query: null, fragment: null, opaque: false, hasHost: false };
    const hashAt = call(captured.indexOf, text, ['#']);
    if (hashAt !== -1) { record.fragment = percentEncode(sliceOf(text, hashAt + 1), fragmentUnsafe); text = sliceOf(text, 0, hashAt); }
    const splitQuery = (/** @type {string} */ rest, /** @type {boolean} */ special) => {
      const at = call(captured.indexOf, rest, ['?']);
      if (at === -1) return rest;
      record.query = percentEncode(sliceOf(rest, at + 1), special ? specialQueryUnsafe : queryUnsafe);
      return sliceOf(rest, 0, at);
    };
    if (schemeEnd === 0 || (base && isSpecial(base.protocol) && scheme + ':' === base.protocol && !slashAt(text, schemeEnd, true))) {
      if (!base) throw new captured.TypeError('Invalid URL');
      const rest = sliceOf(text, schemeEnd);
      const special = isSpecial(base.protocol);
      record.protocol = base.protocol;
      record.opaque = base.opaque;
      if (base.opaque) { if (rest !== '' || record.fragment === null) throw new captured.TypeError('Invalid URL'); return { ...base, fragment: record.fragment }; }
      if (slashAt(rest, 0, special) && slashAt(rest, 1, special)) return parseAfterScheme(record, rest, special, splitQuery);
      record.username = base.username;
      record.password = base.password;
      record.hostname = base.hostname;
      record.port = base.port;
      record.hasHost = base.hasHost;
      const path = splitQuery(rest, special);
      if (slashAt(path, 0, special)) record.pathname = normalizePath(path, special);
      else if (path === '') { record.pathname = base.pathname; if (record.query === null && !contains(rest, '?')) record.query = base.query; }
      else record.pathname = normalizePath(sliceOf(base.pathname, 0, call(captured.lastIndexOf, base.pathname, ['/']) + 1) + path, special);
      return record;
    }
    record.protocol = scheme + ':';
    const rest = sliceOf(text, schemeEnd);
    const special = isSpecial(record.protocol);
    if (record.protocol === 'file:') return parseAfterScheme(record, slashAt(rest, 0, true) && slashAt(rest, 1, true) ? rest : '//' + (slashAt(rest, 0, true) ? '/' + sliceOf(rest, 1) : rest), true, splitQuery);
    if (special) {
      let slashes = 0;
      while (slashAt(rest, slashes, true)) slashes++;
      return parseAfterScheme(record, '//' + sliceOf(rest, slashes), true, splitQuery);
    }
    if (rest[0] === '/' && rest[1] === '/') return parseAfterScheme(record, rest, false, splitQuery);
    const path = splitQuery(rest, false);
    if (path[0] === '/') record.pathname = normalizePath(path, false);
    else {
      // An opaque path keeps its spaces (the C0 control set), but one that ends it before a query
      // or fragment becomes %20, as in Node (`mailto:x y #f` → `mailto:x y%20#f`).
      record.opaque = true;
      const followed = record.query !== null || record.fragment !== null;
      const last = path.length - 1;
      record.pathname = followed && path[last] === ' ' ? percentEncode(sliceOf(path, 0, last), '', true) + '%20' : percentEncode(path, '', true);
    }
    return record;
  }
  /** @param {UrlRecord} record @param {string} rest @param {boolean} special @param {(rest: string, special: boolean) => string} splitQuery @returns {UrlRecord} */
  function parseAfterScheme(record, rest, special, splitQuery) {
    const afterSlashes = sliceOf(rest, 2);
    let end = 0;
    while (end < afterSlashes.length && !slashAt(afterSlashes, end, special) && afterSlashes[end] !== '?') end++;
    let authority = sliceOf(afterSlashes, 0, end);
    const path = splitQuery(sliceOf(afterSlashes, end), special);
    const at = call(captured.lastIndexOf, authority, ['@']);
    if (at !== -1) {
      const userinfo = sliceOf(authority, 0, at);
      const colon = call(captured.indexOf, userinfo, [':']);
      record.username = percentEncode(colon === -1 ? userinfo : sliceOf(userinfo, 0, colon), userinfoUnsafe);
      record.password = colon === -1 ? '' : percentEncode(sliceOf(userinfo, colon + 1), userinfoUnsafe);
      authority = sliceOf(authority, at + 1);
    }
    // /:([^\]:]*)$/: the last ':' with no ']' after it
    const portAt = call(captured.lastIndexOf, authority, [':']);
    if (portAt !== -1 && call(captured.indexOf, authority, [']', portAt]) === -1) {
      const port = sliceOf(authority, portAt + 1);
      authority = sliceOf(authority, 0, portAt);
      if (!allDigits(port, 0) || captured.Number(port) > 65535) throw new captured.TypeError('Invalid URL');
      record.port = port === '' ? '' : captured.String(captured.Number(port));
      if (isSpecial(record.protocol) && specialPorts[record.protocol] === record.port) record.port = '';
    }
    if (authority === '' && special && record.protocol !== 'file:') throw new captured.TypeError('Invalid URL');
    record.hostname = authority === '' ? '' : parseHost(authority, special);
    record.hasHost = true;
    record.pathname = path === '' ? (special ? '/' : '') : normalizePath(path, special);
    return record;
  }
  /** @param {UrlRecord} record @param {boolean} [withFragment] @returns {string} */
  function serialize(record, withFragment = true) {
    let output = record.protocol;
    if (record.hasHost) {
      output += '//';
      if (record.username || record.password) output += record.username + (record.password ? ':' + record.password : '') + '@';
      output += record.hostname + (record.port ? ':' + record.port : '');
    }
    output += record.pathname;
    if (record.query !== null) output += '?' + record.query;
    if (withFragment && record.fragment !== null) output += '#' + record.fragment;
    return output;
  }

  class URL {
    /** @type {UrlRecord} */
    #record;
    #searchParams;
    /** @param {unknown} url @param {unknown} [base] */
    constructor(url, base) {
      this.#record = parseUrl(url, base === undefined ? undefined : parseUrl(base));
      this.#searchParams = new URLSearchParams();
      bindParams(this.#searchParams, this, this.#record.query ?? '');
    }
    /** @param {unknown} url @param {unknown} [base] */
    static canParse(url, base) { try { new URL(url, base); return true; } catch { return false; } }
    /** @param {unknown} url @param {unknown} [base] */
    static parse(url, base) { try { return new URL(url, base); } catch { return null; } }
    static { urlSetQuery = (url, query) => { url.#record.query = query === '' ? null : query; }; }
    get href() { return serialize(this.#record); }
    set href(value) { this.#record = parseUrl(value); bindParams(this.#searchParams, this, this.#record.query ?? ''); }
    get origin() {
      const { protocol, hostname, port } = this.#record;
      return isSpecial(protocol) && protocol !== 'file:' ? `${protocol}//${hostname}${port ? ':' + port : ''}` : 'null';
    }
    get protocol() { return this.#record.protocol; }
    get username() { return this.#record.username; }
    set username(value) { if (this.#record.hasHost) this.#record.username = percentEncode(value, userinfoUnsafe); }
    get password() { return this.#record.password; }
    set password(value) { if (this.#record.hasHost) this.#record.password = percentEncode(value, userinfoUnsafe); }
    get host() { return this.#record.hostname + (this.#record.port ? ':' + this.#record.port : ''); }
    get hostname() { return this.#record.hostname; }
    set hostname(value) { if (!this.#record.opaque) this.#record.hostname = parseHost(captured.String(value), isSpecial(this.#record.protocol)); }
    get port() { return this.#record.port; }
    set port(value) {
      const text = captured.String(value);
      let length = 0;
      while (length < text.length && isDigit(call(captured.charCodeAt, text, [length]))) length++;
      const digits = sliceOf(text, 0, length);
      if (digits === '' && text !== '') return;
      if (captured.Number(digits) > 65535) return;
      const port = captured.String(captured.Number(digits));
      this.#record.port = digits === '' || (isSpecial(this.#record.protocol) && specialPorts[this.#record.protocol] === port) ? '' : port;
    }
    get pathname() { return this.#record.pathname; }
    set pathname(value) { if (!this.#record.opaque) { const text = captured.String(value); this.#record.pathname = normalizePath(text[0] === '/' ? text : '/' + text, isSpecial(this.#record.protocol)); } }
    get search() { return this.#record.query ? '?' + this.#record.query : ''; }
    set search(value) {
      const raw = captured.String(value);
      const text = raw[0] === '?' ? sliceOf(raw, 1) : raw;
      this.#record.query = text === '' ? null : percentEncode(text, isSpecial(this.#record.protocol) ? specialQueryUnsafe : queryUnsafe);
      bindParams(this.#searchParams, this, this.#record.query ?? '');
    }
    get searchParams() { return this.#searchParams; }
    get hash() { return this.#record.fragment ? '#' + this.#record.fragment : ''; }
    set hash(value) { const raw = captured.String(value); const text = raw[0] === '#' ? sliceOf(raw, 1) : raw; this.#record.fragment = text === '' ? null : percentEncode(text, fragmentUnsafe); }
    toString() { return this.href; }
    toJSON() { return this.href; }
    get [Symbol.toStringTag]() { return 'URL'; }
  }

  // ---- AbortController/AbortSignal, Headers, Blob, File, FormData and crypto.subtle.digest call
  // only builtins captured here, at start-up: a run may replace any prototype method, iterator or
  // static before it uses them (test/exec/web-api-vandal.test.ts). URLSearchParams and URL (above) use them too.
  /** @param {unknown} value @returns {Promise<any>} */
  const resolved = (value) => call(captured.promiseResolve, captured.Promise, [value]);
  /** @param {Uint8Array} bytes @returns {Uint8Array} a copy */
  function copyBytes(bytes) {
    const copy = new captured.Uint8Array(call(typedArrayLength, bytes, []));
    call(captured.typedArraySet, copy, [bytes]);
    return copy;
  }
  /** TypedArray.prototype.slice's index rule (ToIntegerOrInfinity, negative from the end, clamped) @param {unknown} value @param {number} length @returns {number} */
  function relativeIndex(value, length) {
    const number = +(/** @type {any} */ (value));
    const integer = number !== number ? 0 : captured.trunc(number);
    return integer < 0 ? captured.max(length + integer, 0) : captured.min(integer, length);
  }
  /** The parts of a Blob or the bits of a File: an array by index (the run may have replaced the Array iterator), anything else by its own iterator. */
  /** @param {any} parts @returns {unknown[]} */
  function listOf(parts) {
    if (captured.isArray(parts)) return parts;
    /** @type {unknown[]} */
    const list = [];
    for (const part of parts) put(list, list.length, part);
    return list;
  }

  // ---- AbortController / AbortSignal ----
  /** @param {string} name @param {string} message @returns {Error} */
  function abortError(name, message) { const error = new captured.Error(message); put(error, 'name', name); return error; }
  /** The listeners but the one given @param {Array<{ listener: any, once: boolean }>} listeners @param {unknown} listener @returns {Array<{ listener: any, once: boolean }>} */
  function without(listeners, listener) {
    /** @type {Array<{ listener: any, once: boolean }>} */
    const kept = [];
    for (let index = 0; index < listeners.length; index++) if (listeners[index].listener !== listener) put(kept, kept.length, listeners[index]);
    return kept;
  }
  /** @type {(signal: any, reason: any) => void} */
  let signalAbort = () => {};
  class AbortSignal {
    #aborted = false;
    #reason = undefined;
    /** @type {Array<{ listener: any, once: boolean }>} user code's listeners: functions or objects with handleEvent */
    #listeners = [];
    onabort = null;
    /** @param {unknown} key */
    constructor(key) { if (key !== privateKey) throw new captured.TypeError('Illegal constructor'); }
    static { signalAbort = (signal, reason) => {
      if (signal.#aborted) return;
      signal.#aborted = true;
      signal.#reason = reason === undefined ? abortError('AbortError', 'This operation was aborted') : reason;
      const event = { type: 'abort', target: signal, currentTarget: signal };
      if (typeof signal.onabort === 'function') call(signal.onabort, signal, [event]);
      // A copy (no listener is privateKey): one added while this dispatch runs is not called by it.
      const listeners = without(signal.#listeners, privateKey);
      for (let index = 0; index < listeners.length; index++) {
        const entry = listeners[index];
        if (entry.once) signal.#listeners = without(signal.#listeners, entry.listener);
        if (typeof entry.listener === 'function') call(entry.listener, signal, [event]); else entry.listener.handleEvent(event);
      }
    }; }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    /** @param {unknown} type @param {any} listener (user code's: a function or an object with handleEvent) @param {any} [options] */
    addEventListener(type, listener, options) {
      if (captured.String(type) !== 'abort' || listener === null || listener === undefined) return;
      for (let index = 0; index < this.#listeners.length; index++) if (this.#listeners[index].listener === listener) return;
      put(this.#listeners, this.#listeners.length, { listener, once: typeof options === 'object' && options !== null && !!options.once });
    }
    /** @param {unknown} type @param {unknown} listener */
    removeEventListener(type, listener) { if (captured.String(type) === 'abort') this.#listeners = without(this.#listeners, listener); }
    /** @param {unknown} [reason] */
    static abort(reason) { const signal = new AbortSignal(privateKey); signalAbort(signal, reason); return signal; }
    /** @param {Iterable<AbortSignal>} signals */
    static any(signals) {
      const signal = new AbortSignal(privateKey);
      const sources = listOf(signals);
      for (let index = 0; index < sources.length; index++) {
        const source = /** @type {any} */ (sources[index]);
        // Ours are read through their private state: AbortSignal.prototype is the run's to replace.
        const ours = source !== null && typeof source === 'object' && #aborted in source;
        if (ours ? source.#aborted : source.aborted) { signalAbort(signal, ours ? source.#reason : source.reason); return signal; }
        const listener = () => signalAbort(signal, ours ? source.#reason : source.reason);
        if (ours) put(source.#listeners, source.#listeners.length, { listener, once: true });
        else source.addEventListener('abort', listener, { once: true });
      }
      return signal;
    }
    get [Symbol.toStringTag]() { return 'AbortSignal'; }
  }
  const privateKey = Symbol('AbortSignal');
  class AbortController {
    #signal = new AbortSignal(privateKey);
    get signal() { return this.#signal; }
    /** @param {unknown} [reason] */
    abort(reason) { signalAbort(this.#signal, reason); }
    get [Symbol.toStringTag]() { return 'AbortController'; }
  }

  // ---- Headers ----
  /** An HTTP token's characters besides letters and digits (/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, scanned by hand). */
  const tokenMarks = "!#$%&'*+-.^_`|~";
  /** @param {unknown} name @returns {string} */
  function checkName(name) {
    const text = captured.String(name);
    let valid = text.length > 0;
    for (let index = 0; index < text.length && valid; index++) {
      const code = call(captured.charCodeAt, text, [index]);
      valid = (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code < 128 && call(captured.indexOf, tokenMarks, [text[index]]) !== -1);
    }
    if (!valid) throw new captured.TypeError(`Header name must be a valid HTTP token ["${text}"]`);
    return call(captured.toLowerCase, text, []);
  }
  /** @param {number} code @returns {boolean} */
  const isHttpSpace = (code) => code === 9 || code === 10 || code === 13 || code === 32;
  /** @param {unknown} value @returns {string} */
  function normalizeValue(value) {
    const given = captured.String(value);
    let start = 0;
    let end = given.length;
    while (start < end && isHttpSpace(call(captured.charCodeAt, given, [start]))) start++;
    while (end > start && isHttpSpace(call(captured.charCodeAt, given, [end - 1]))) end--;
    const text = start === 0 && end === given.length ? given : call(captured.slice, given, [start, end]);
    for (let index = 0; index < text.length; index++) {
      const code = call(captured.charCodeAt, text, [index]);
      if (code === 0 || code === 10 || code === 13) throw new captured.TypeError(`Invalid header value`);
    }
    return text;
  }
  /** @param {string[]} values @returns {string} */
  function joinValues(values) {
    let joined = '';
    for (let i = 0; i < values.length; i++) joined = i === 0 ? values[i] : joined + ', ' + values[i];
    return joined;
  }
  /**
   * The prelude's fetch() reads a Headers' pairs through this, not through methods user code can
   * replace (taken and deleted by prelude/fetch.js as __mcpv8_headerPairs).
   * @type {(headers: unknown) => [string, string][] | null}
   */
  let headerPairsOf = () => null;
  class Headers {
    /** @type {Map<string, string[]>} */
    #map = new captured.Map();
    static {
      headerPairsOf = (headers) => {
        if (headers === null || typeof headers !== 'object' || !(#map in headers)) return null;
        /** @type {[string, string][]} */
        const out = [];
        call(captured.mapForEach, /** @type {Headers} */ (headers).#map, [(/** @type {string[]} */ values, /** @type {string} */ name) => {
          put(out, out.length, [name, joinValues(values)]);
        }]);
        return out;
      };
    }
    /** @param {any} [init] (user code's: Headers, [name, value] pairs or a record) */
    constructor(init) {
      if (init === undefined || init === null) return;
      if (typeof init === 'object' && #map in init) {
        const pairs = init.#pairs();
        for (let index = 0; index < pairs.length; index++) this.#append(pairs[index][0], pairs[index][1]);
        return;
      }
      if (typeof init[Symbol.iterator] === 'function') {
        const pairs = listOf(init);
        for (let index = 0; index < pairs.length; index++) {
          const entry = listOf(pairs[index]);
          if (entry.length !== 2) throw new captured.TypeError('Header pairs must contain exactly two items');
          this.#append(entry[0], entry[1]);
        }
      } else {
        const keys = captured.keys(init);
        for (let index = 0; index < keys.length; index++) this.#append(keys[index], init[keys[index]]);
      }
    }
    /** @param {unknown} name @param {unknown} value */
    #append(name, value) {
      const key = checkName(name);
      const values = call(captured.mapGet, this.#map, [key]);
      if (values) put(values, values.length, normalizeValue(value)); else call(captured.mapSet, this.#map, [key, [normalizeValue(value)]]);
    }
    /** The pairs in order of name, each Set-Cookie on its own @returns {Array<[string, string]>} */
    #pairs() {
      /** @type {string[]} */
      const names = [];
      call(captured.mapForEach, this.#map, [(/** @type {string[]} */ values, /** @type {string} */ name) => { put(names, names.length, name); }]);
      call(captured.sort, names, []);
      /** @type {Array<[string, string]>} */
      const pairs = [];
      for (let index = 0; index < names.length; index++) {
        const name = names[index];
        const values = /** @type {string[]} */ (call(captured.mapGet, this.#map, [name]));
        if (name === 'set-cookie') for (let at = 0; at < values.length; at++) put(pairs, pairs.length, [name, values[at]]);
        else put(pairs, pairs.length, [name, joinValues(values)]);
      }
      return pairs;
    }
    /** @param {unknown} name @param {unknown} value */
    append(name, value) { this.#append(name, value); }
    /** @param {unknown} name @param {unknown} value */
    set(name, value) { call(captured.mapSet, this.#map, [checkName(name), [normalizeValue(value)]]); }
    /** @param {unknown} name */
    get(name) { const values = call(captured.mapGet, this.#map, [checkName(name)]); return values ? joinValues(values) : null; }
    getSetCookie() {
      const values = call(captured.mapGet, this.#map, ['set-cookie']);
      /** @type {string[]} */
      const copy = [];
      if (values) for (let index = 0; index < values.length; index++) put(copy, index, values[index]);
      return copy;
    }
    /** @param {unknown} name */
    has(name) { return call(captured.mapHas, this.#map, [checkName(name)]); }
    /** @param {unknown} name */
    delete(name) { call(captured.mapDelete, this.#map, [checkName(name)]); }
    *entries() { const pairs = this.#pairs(); for (let index = 0; index < pairs.length; index++) yield pairs[index]; }
    *keys() { const pairs = this.#pairs(); for (let index = 0; index < pairs.length; index++) yield pairs[index][0]; }
    *values() { const pairs = this.#pairs(); for (let index = 0; index < pairs.length; index++) yield pairs[index][1]; }
    /** @param {(value: string, name: string, headers: Headers) => void} callback @param {unknown} [thisArg] */
    forEach(callback, thisArg) { const pairs = this.#pairs(); for (let index = 0; index < pairs.length; index++) call(callback, thisArg, [pairs[index][1], pairs[index][0], this]); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'Headers'; }
  }

  // ---- Blob ----
  /** @type {(value: unknown) => value is Blob} */
  let isBlob = (value) => false;
  class Blob {
    #bytes;
    #type;
    /** @param {Iterable<unknown>} [parts] @param {{ type?: unknown }} [options] */
    constructor(parts = [], options = {}) {
      const list = listOf(parts);
      /** @type {Uint8Array[]} */
      const chunks = [];
      let size = 0;
      for (let index = 0; index < list.length; index++) {
        const part = list[index];
        let bytes;
        if (isBlob(part)) bytes = part.#bytes;
        else {
          const view = bytesOf(part);
          bytes = view !== null ? copyBytes(view) : /** @type {Uint8Array} */ (call(captured.encode, encoder, [captured.String(part)]));
        }
        put(chunks, chunks.length, bytes);
        size += call(typedArrayLength, bytes, []);
      }
      this.#bytes = new captured.Uint8Array(size);
      let offset = 0;
      for (let index = 0; index < chunks.length; index++) { call(captured.typedArraySet, this.#bytes, [chunks[index], offset]); offset += call(typedArrayLength, chunks[index], []); }
      const type = options?.type === undefined ? '' : captured.String(options.type);
      let printable = true;
      for (let index = 0; index < type.length && printable; index++) { const code = call(captured.charCodeAt, type, [index]); printable = code >= 0x20 && code <= 0x7e; }
      this.#type = printable ? call(captured.toLowerCase, type, []) : '';
    }
    static { isBlob = (value) => value !== null && typeof value === 'object' && #bytes in value; }
    get size() { return call(typedArrayLength, this.#bytes, []); }
    get type() { return this.#type; }
    text() { return resolved(call(captured.decode, decoder, [this.#bytes])); }
    arrayBuffer() { return resolved(call(typedArrayBuffer, copyBytes(this.#bytes), [])); }
    bytes() { return resolved(copyBytes(this.#bytes)); }
    slice(start = 0, end = call(typedArrayLength, this.#bytes, []), type = '') {
      const length = call(typedArrayLength, this.#bytes, []);
      const from = relativeIndex(start, length);
      const to = relativeIndex(end, length);
      const blob = new Blob([], { type });
      blob.#bytes = /** @type {Uint8Array<ArrayBuffer>} */ (copyBytes(new captured.Uint8Array(call(typedArrayBuffer, this.#bytes, []), from, captured.max(to - from, 0))));
      return blob;
    }
    get [Symbol.toStringTag]() { return 'Blob'; }
  }

  // ---- File: a Blob with a name and a time, as Node has it ----
  const dateNow = captured.dateNow;
  /** @type {(value: unknown) => value is File} */
  let isFile = (value) => false;
  class File extends Blob {
    #name;
    #lastModified;
    /**
     * @param {any[]} bits
     * @param {unknown} name
     * @param {{ type?: unknown, lastModified?: unknown }} [options]
     */
    constructor(bits, name, options = {}) {
      if (arguments.length < 2) throw new captured.TypeError('The "fileBits" and "fileName" arguments must be specified');
      super(bits, options);
      this.#name = captured.String(name);
      const time = options?.lastModified === undefined ? dateNow() : captured.Number(options.lastModified);
      this.#lastModified = time !== time ? 0 : time;
    }
    static { isFile = (value) => value !== null && typeof value === 'object' && #name in value; }
    get name() { return this.#name; }
    get lastModified() { return this.#lastModified; }
    get [Symbol.toStringTag]() { return 'File'; }
  }

  // ---- FormData: name/value pairs, a Blob value held as a File, as Node has it (no HTML form here) ----
  /**
   * @param {string} method
   * @param {number} given
   * @param {number} required
   */
  function requireArguments(method, given, required) {
    if (given < required) throw new captured.TypeError(`FormData.${method}: ${required} argument${required === 1 ? '' : 's'} required, but only ${given} found.`);
  }
  /**
   * The entry a value makes: a string, or a File (a Blob given a name, or a File renamed).
   * @param {unknown} name
   * @param {unknown} value
   * @param {unknown} filename
   * @param {boolean} named
   * @returns {[string, string | File]}
   */
  function formEntry(name, value, filename, named) {
    if (!isBlob(value)) return [captured.String(name), captured.String(value)];
    if (isFile(value) && !named) return [captured.String(name), value];
    const fileName = named ? captured.String(filename) : isFile(value) ? value.name : 'blob';
    const options = isFile(value) ? { type: value.type, lastModified: value.lastModified } : { type: value.type };
    return [captured.String(name), new File([value], fileName, options)];
  }
  class FormData {
    /** @type {Array<[string, string | File]>} */
    #entries = [];
    /** @param {unknown} [form] */
    constructor(form) {
      if (form !== undefined) throw new captured.TypeError('FormData constructor: Argument 1 could not be converted to: undefined.');
    }
    /** The entries whose name is not `key` @param {string} key @returns {Array<[string, string | File]>} */
    #without(key) {
      /** @type {Array<[string, string | File]>} */
      const kept = [];
      for (let index = 0; index < this.#entries.length; index++) if (this.#entries[index][0] !== key) put(kept, kept.length, this.#entries[index]);
      return kept;
    }
    /** @param {unknown} name @param {unknown} value @param {unknown} [filename] */
    append(name, value, filename) { requireArguments('append', arguments.length, 2); put(this.#entries, this.#entries.length, formEntry(name, value, filename, arguments.length > 2)); }
    /** @param {unknown} name */
    delete(name) { requireArguments('delete', arguments.length, 1); this.#entries = this.#without(captured.String(name)); }
    /** @param {unknown} name */
    get(name) {
      requireArguments('get', arguments.length, 1);
      const key = captured.String(name);
      for (let index = 0; index < this.#entries.length; index++) if (this.#entries[index][0] === key) return this.#entries[index][1];
      return null;
    }
    /** @param {unknown} name */
    getAll(name) {
      requireArguments('getAll', arguments.length, 1);
      const key = captured.String(name);
      /** @type {Array<string | File>} */
      const values = [];
      for (let index = 0; index < this.#entries.length; index++) if (this.#entries[index][0] === key) put(values, values.length, this.#entries[index][1]);
      return values;
    }
    /** @param {unknown} name */
    has(name) { requireArguments('has', arguments.length, 1); return this.get(captured.String(name)) !== null; }
    /** @param {unknown} name @param {unknown} value @param {unknown} [filename] */
    set(name, value, filename) {
      requireArguments('set', arguments.length, 2);
      const entry = formEntry(name, value, filename, arguments.length > 2);
      /** @type {Array<[string, string | File]>} */
      const entries = [];
      let placed = false;
      for (let index = 0; index < this.#entries.length; index++) {
        const current = this.#entries[index];
        if (current[0] !== entry[0]) put(entries, entries.length, current);
        else if (!placed) { put(entries, entries.length, entry); placed = true; }
      }
      if (!placed) put(entries, entries.length, entry);
      this.#entries = entries;
    }
    *keys() { const entries = this.#entries; for (let index = 0; index < entries.length; index++) yield entries[index][0]; }
    *values() { const entries = this.#entries; for (let index = 0; index < entries.length; index++) yield entries[index][1]; }
    *entries() { const entries = this.#entries; for (let index = 0; index < entries.length; index++) yield [entries[index][0], entries[index][1]]; }
    /** @param {(value: string | File, name: string, form: FormData) => void} callback @param {unknown} [thisArg] */
    forEach(callback, thisArg) { const entries = this.#entries; for (let index = 0; index < entries.length; index++) call(callback, thisArg, [entries[index][1], entries[index][0], this]); }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'FormData'; }
  }

  // ---- crypto.subtle.digest: SHA-1, SHA-256 (32-bit words), SHA-384, SHA-512 (BigInt words) ----
  /** @param {Uint8Array} bytes @param {number} blockBytes @param {number} lengthBytes @returns {DataView} */
  function pad(bytes, blockBytes, lengthBytes) {
    const length = call(typedArrayLength, bytes, []);
    const total = captured.ceil((length + 1 + lengthBytes) / blockBytes) * blockBytes;
    const padded = new captured.Uint8Array(total);
    call(captured.typedArraySet, padded, [bytes]);
    padded[length] = 0x80;
    const view = new captured.DataView(call(typedArrayBuffer, padded, []));
    call(captured.setUint32, view, [total - 4, (length * 8) >>> 0]);
    call(captured.setUint32, view, [total - 8, captured.floor(length / 0x20000000)]);
    return view;
  }
  /** @param {DataView} view @param {number} at @returns {number} */
  const word32At = (view, at) => call(captured.getUint32, view, [at]);
  const rotr = (/** @type {number} */ x, /** @type {number} */ n) => (x >>> n) | (x << (32 - n));
  /** SHA-256's round constants, made on a context's first SHA-256 digest, not when the classes are built (its prime search took ≈ 2 ms of every run that read a web class). */
  let k256 = /** @type {Uint32Array | null} */ (null);
  // A typed array, filled by index: no Array.from or prototype setter of user code takes part.
  function roundConstants256() {
    const constants = new captured.Uint32Array(64);
    for (let i = 0; i < 64; i++) {
      let n = 2, count = -1;
      for (;; n++) { let prime = true; for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; } if (prime && ++count === i) break; }
      constants[i] = (captured.cbrt(n) % 1) * 2 ** 32 >>> 0;
    }
    return constants;
  }
  /** @param {Uint8Array} bytes @returns {ArrayBuffer} */
  function sha256(bytes) {
    const k = (k256 ??= roundConstants256());
    const view = pad(bytes, 64, 8);
    const h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    const w = new Uint32Array(64);
    for (let block = 0, blocksEnd = call(captured.dataViewByteLength, view, []); block < blocksEnd; block += 64) {
      for (let i = 0; i < 16; i++) w[i] = word32At(view, block + i * 4);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
      }
      let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i]) >>> 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      const next = [a, b, c, d, e, f, g, hh];
      for (let i = 0; i < 8; i++) h[i] = (h[i] + next[i]) >>> 0;
    }
    return words32(h);
  }
  /** @param {Uint8Array} bytes @returns {ArrayBuffer} */
  function sha1(bytes) {
    const view = pad(bytes, 64, 8);
    const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    const w = new Uint32Array(80);
    for (let block = 0, blocksEnd = call(captured.dataViewByteLength, view, []); block < blocksEnd; block += 64) {
      for (let i = 0; i < 16; i++) w[i] = word32At(view, block + i * 4);
      for (let i = 16; i < 80; i++) w[i] = rotr(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 31);
      let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
      for (let i = 0; i < 80; i++) {
        const f = i < 20 ? (b & c) | (~b & d) : i < 40 ? b ^ c ^ d : i < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
        const k = i < 20 ? 0x5a827999 : i < 40 ? 0x6ed9eba1 : i < 60 ? 0x8f1bbcdc : 0xca62c1d6;
        const t = (rotr(a, 27) + f + e + k + w[i]) >>> 0;
        e = d; d = c; c = rotr(b, 2) >>> 0; b = a; a = t;
      }
      const next = [a, b, c, d, e];
      for (let i = 0; i < 5; i++) h[i] = (h[i] + next[i]) >>> 0;
    }
    return words32(h);
  }
  /** @param {number[]} words @returns {ArrayBuffer} */
  function words32(words) {
    const buffer = new captured.ArrayBuffer(words.length * 4);
    const out = new captured.DataView(buffer);
    for (let i = 0; i < words.length; i++) call(captured.setUint32, out, [i * 4, words[i]]);
    return buffer;
  }
  const mask64 = (1n << 64n) - 1n;
  const rotr64 = (/** @type {bigint} */ x, /** @type {bigint} */ n) => ((x >> n) | (x << (64n - n))) & mask64;
  /** The primes from the `from`-th (0-based) up to `count` of them @param {number} count @param {number} [from] @returns {BigUint64Array} */
  function primes(count, from = 0) {
    const list = new captured.BigUint64Array(count - from);
    let found = 0;
    for (let n = 2; found < count; n++) { let prime = true; for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; } if (prime) { if (found >= from) list[found - from] = captured.BigInt(n); found++; } }
    return list;
  }
  /** The first 64 bits of the fractional part of the root of n, exactly (integer square/cube roots of n·2^(64·k)). */
  /** @param {bigint} n @param {number} root @returns {bigint} */
  function fractionBits(n, root) {
    const shifted = n << (64n * captured.BigInt(root));
    const bigRoot = captured.BigInt(root);
    let x = 1n << captured.BigInt(captured.ceil(call(captured.bigIntToString, shifted, [2]).length / root) + 1);
    for (;;) { const y = ((bigRoot - 1n) * x + shifted / x ** captured.BigInt(root - 1)) / bigRoot; if (y >= x) break; x = y; }
    return x & mask64;
  }
  /** @param {BigUint64Array} values @param {number} root @returns {BigUint64Array} */
  function fractionsOf(values, root) {
    const count = call(typedArrayLength, values, []);
    const fractions = new captured.BigUint64Array(count);
    for (let i = 0; i < count; i++) fractions[i] = fractionBits(values[i], root);
    return fractions;
  }
  let k512 = /** @type {BigUint64Array | null} */ (null);
  /** @param {Uint8Array} bytes @param {BigUint64Array} initial @param {number} outputBytes @returns {ArrayBuffer} */
  function sha512(bytes, initial, outputBytes) {
    k512 ??= fractionsOf(primes(80), 3);
    const k = k512;
    const view = pad(bytes, 128, 16);
    const h = new captured.BigUint64Array(8);
    for (let i = 0; i < 8; i++) h[i] = initial[i];
    const w = new captured.BigUint64Array(80);
    for (let block = 0, blocksEnd = call(captured.dataViewByteLength, view, []); block < blocksEnd; block += 128) {
      for (let i = 0; i < 16; i++) w[i] = call(captured.getBigUint64, view, [block + i * 8]);
      for (let i = 16; i < 80; i++) {
        const s0 = rotr64(w[i - 15], 1n) ^ rotr64(w[i - 15], 8n) ^ (w[i - 15] >> 7n);
        const s1 = rotr64(w[i - 2], 19n) ^ rotr64(w[i - 2], 61n) ^ (w[i - 2] >> 6n);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & mask64;
      }
      let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (let i = 0; i < 80; i++) {
        const t1 = (hh + (rotr64(e, 14n) ^ rotr64(e, 18n) ^ rotr64(e, 41n)) + ((e & f) ^ (~e & mask64 & g)) + k[i] + w[i]) & mask64;
        const t2 = ((rotr64(a, 28n) ^ rotr64(a, 34n) ^ rotr64(a, 39n)) + ((a & b) ^ (a & c) ^ (b & c))) & mask64;
        hh = g; g = f; f = e; e = (d + t1) & mask64; d = c; c = b; b = a; a = (t1 + t2) & mask64;
      }
      const next = [a, b, c, d, e, f, g, hh];
      for (let i = 0; i < 8; i++) h[i] = (h[i] + next[i]) & mask64;
    }
    const buffer = new captured.ArrayBuffer(outputBytes);
    const out = new captured.DataView(buffer);
    for (let i = 0; i * 8 < outputBytes; i++) call(captured.setBigUint64, out, [i * 8, h[i]]);
    return buffer;
  }
  let iv512 = /** @type {BigUint64Array | null} */ (null);
  let iv384 = /** @type {BigUint64Array | null} */ (null);
  /** @type {Record<string, (bytes: Uint8Array) => ArrayBuffer>} */
  const digests = {
    'SHA-1': sha1,
    'SHA-256': sha256,
    'SHA-384': (/** @type {Uint8Array} */ bytes) => sha512(bytes, (iv384 ??= fractionsOf(primes(16, 8), 2)), 48),
    'SHA-512': (/** @type {Uint8Array} */ bytes) => sha512(bytes, (iv512 ??= fractionsOf(primes(8), 2)), 64),
  };
  /** @param {string} message @returns {Error} */
  function notSupported(message) {
    const error = new captured.Error(message);
    put(error, 'name', 'NotSupportedError');
    return error;
  }
  const subtle = {
    /** @param {any} algorithm (user code's: a name or { name }) @param {unknown} data @returns {Promise<ArrayBuffer>} */
    digest(algorithm, data) {
      try {
        const name = call(captured.toUpperCase, captured.String(typeof algorithm === 'object' && algorithm !== null ? algorithm.name : algorithm), []);
        const hash = captured.hasOwn(digests, name) ? digests[name] : null;
        if (!hash) throw notSupported(`Unrecognized algorithm name (only SHA-1, SHA-256, SHA-384 and SHA-512 exist in this sandbox)`);
        const bytes = bytesOf(data);
        if (!bytes) throw new captured.TypeError('The data argument must be an ArrayBuffer or an ArrayBufferView');
        return resolved(hash(bytes));
      } catch (error) { return call(captured.promiseReject, captured.Promise, [error]); }
    },
  };
  const values = { URL, URLSearchParams, AbortController, AbortSignal, Headers, Blob, File, FormData, subtle, headerPairsOf };
  for (let index = 0; index < extensions.length; index++) extensions[index](values);
  return values;
  }
  const webApi = lazy.defineLazy(globalThis, ['URL', 'URLSearchParams', 'AbortController', 'AbortSignal', 'Headers', 'Blob', 'File', 'FormData'], lazy.buildWith(build, [Symbol]), { group: 'web-api' });
  lazy.defineLazy(cryptoObject, ['subtle'], () => ({ subtle: webApi().subtle }), { enumerable: true, readOnly: true, depth: 1, group: 'crypto.subtle' });
  // The prelude's fetch (Request, Response) takes the classes from here when it first needs them.
  Object.defineProperty(globalThis, '__mcpv8_webApi', { value: webApi, configurable: true });
  Object.defineProperty(globalThis, '__mcpv8_webApiExtend', { value: (/** @type {(values: Record<string, any>) => void} */ extend) => { extensions[extensions.length] = extend; }, configurable: true });
})();
