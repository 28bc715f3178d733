// @ts-check
// Sandbox code, part of the prelude (see console.js): the calls to the host (fetch, fs), and the
// Fetch API's Request and Response (always: constructible web globals) and fetch() (only with a
// fetch policy: installed by attach). The host checks every call against its policy, performs it
// and, for a stateful run, records its answer, which a replay gets back instead of a second call
// (src/exec/effects.ts). Awaiting one never blocks the isolate's thread: the host answers later,
// as work V8 finishes outside microtasks (work.js), delivered at a turn the host records.
// Everything here is captured at start-up; user code may replace any built-in before it calls.
const anyGlobal = /** @type {any} */ (globalThis);
// web-api.js's classes are made on first use (lazy.js): Request, Response and fetch() take them,
// and their methods, when the first of them is constructed (`takeWebApi`), not at start-up.
const fetchWebApi = /** @type {NonNullable<typeof __mcpv8_webApi>} */ (anyGlobal.__mcpv8_webApi);
delete anyGlobal.__mcpv8_webApi;
/** @type {any} */ let FetchHeaders = null;
/** @type {any} */ let fetchHeadersAppend = null;
/** @type {any} */ let fetchHeadersHas = null;
/** @type {any} */ let fetchHeadersSet = null;
/** @type {(headers: unknown) => [string, string][] | null} */
let headerPairs = () => null;
const fetchFromCharCode = String.fromCharCode;
const fetchCharCodeAt = String.prototype.charCodeAt;
const FetchUint16Array = Uint16Array;
const FetchTypeError = TypeError;
const FetchError = Error;
const FetchRangeError = RangeError;
const FetchString = String;
const fetchJsonParse = JSON.parse;
const fetchJsonStringify = JSON.stringify;
const fetchObjectKeys = Object.keys;
const fetchIsArray = Array.isArray;
const fetchFreeze = Object.freeze;
const fetchStringToUpper = String.prototype.toUpperCase;
const stringSlice = String.prototype.slice;
const fetchRegExpExec = RegExp.prototype.exec;
const fetchSchemed = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const fetchMethodToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const fetchNormalizedMethods = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH'];
/** @type {any} */ let fetchUrlHref = null;
/** @type {any} */ let FetchURL = null;
/** @type {any} */ let FetchURLSearchParams = null;
/** @type {any} */ let fetchUrlSearchParamsToString = null;
/** @type {any} */ let FetchAbortSignal = null;
/** @type {any} */ let fetchAbortedGetter = null;
/** Takes web-api.js's classes (built then if no run's code has read one yet), once per context. */
function takeWebApi() {
  if (FetchHeaders !== null) return;
  const api = fetchWebApi();
  headerPairs = api.headerPairsOf;
  fetchHeadersAppend = api.Headers.prototype.append;
  fetchHeadersHas = api.Headers.prototype.has;
  fetchHeadersSet = api.Headers.prototype.set;
  fetchUrlHref = getterOf(api.URL.prototype, 'href');
  FetchURL = api.URL;
  FetchURLSearchParams = api.URLSearchParams;
  fetchUrlSearchParamsToString = api.URLSearchParams.prototype.toString;
  FetchAbortSignal = api.AbortSignal;
  fetchAbortedGetter = getterOf(api.AbortSignal.prototype, 'aborted');
  FetchHeaders = api.Headers;
}
const fetchBodies = new RealWeakMap();
const fetchTypedLength = getterOf(TypedArrayPrototype, 'length');
/** A typed array's length, by the getter captured here (a run may replace the prototype's). @param {ArrayBufferView} bytes @returns {number} */
const lengthOfBytes = (bytes) => reflectApply(fetchTypedLength, bytes, []);
/**
 * The string of the first `n` UTF-16 units in `buffer`. fromCharCode's apply reads the list's
 * `length`, which for a typed array is the prototype's getter a run can replace: the view gets its own.
 * @param {ArrayBuffer} buffer @param {number} n @returns {string}
 */
const stringOfUnits = (buffer, n) => {
  const view = new FetchUint16Array(buffer, 0, n);
  defineProperty(view, 'length', /** @type {PropertyDescriptor} */ ({ __proto__: null, value: n }));
  return reflectApply(fetchFromCharCode, null, /** @type {any} */ (view));
};

// ---- the host call ----
/** The host's function (an isolated-vm Reference) and its apply, set by attach; null: no capability. */
let hostEffects = /** @type {any} */ (null);
let hostEffectsApply = /** @type {any} */ (null);
/** What the host offers this context (src/exec/effects.ts, EffectFeatures). */
let effectFeatures = { __proto__: null, fetch: false, fs: false, fetchRequestBytesMax: 0, fsWriteBytesMax: 0 };
/**
 * Calls of the current run not answered yet: the run goes on until they are (as Node's event loop
 * waits for a pending request). Calls of an earlier run never complete (work.js, `generation`).
 */
let pendingHostCalls = 0;
let hostCallsGeneration = -1;
/** @returns {number} */
function hostCallsPending() {
  return hostCallsGeneration === generation ? pendingHostCalls : 0;
}
const hostCallOptions = fetchFreeze({ arguments: fetchFreeze({ copy: true }), result: fetchFreeze({ promise: true, copy: true }) });

/**
 * One call to the host: settles with its answer's value, or rejects with `makeError(text, code)`.
 * @param {'fetch' | 'fs'} kind
 * @param {object} request
 * @param {(message: string, code: string | undefined) => Error} makeError
 * @returns {Promise<any>}
 */
function callHost(kind, request, makeError) {
  if (hostCallsGeneration !== generation) { hostCallsGeneration = generation; pendingHostCalls = 0; }
  pendingHostCalls++;
  /** @param {() => void} settle */
  const answered = (settle) => { pendingHostCalls--; settle(); };
  return new RealPromise((resolve, reject) => {
    const reply = reflectApply(hostEffectsApply, hostEffects, [undefined, [kind, request], hostCallOptions]);
    const tracked = trackWork(reply);
    reflectApply(promiseThen, tracked, [
      (/** @type {any} */ answer) => answered(() => {
        if (answer !== null && typeof answer === 'object' && answer.ok === true) resolve(answer.value);
        else reject(makeError(answer !== null && typeof answer === 'object' && typeof answer.error === 'string' ? answer.error : `${kind}: no answer`, answer !== null && typeof answer === 'object' && typeof answer.code === 'string' ? answer.code : undefined));
      }),
      (/** @type {unknown} */ error) => answered(() => reject(makeError(`${kind}: ${error instanceof FetchError ? error.message : 'the host call failed'}`, undefined))),
    ]);
  });
}

/**
 * Called by attach, before any user code: keeps the host function and installs fetch and fs as configured.
 * @param {any} host
 * @param {any} features
 * @returns {void}
 */
function installEffects(host, features) {
  if (host === undefined || host === null) return;
  hostEffects = host;
  hostEffectsApply = host.apply;
  effectFeatures = { __proto__: null, fetch: features.fetch === true, fs: features.fs === true, fetchRequestBytesMax: features.fetchRequestBytesMax, fsWriteBytesMax: features.fsWriteBytesMax };
  if (effectFeatures.fetch) {
    defineBuiltin(globalThis, 'fetch', fetchFunction);
    presentTreeAsNative(fetchFunction, 'fetch', 0);
  }
  if (effectFeatures.fs) {
    const fs = makeFs();
    defineBuiltin(globalThis, 'fs', fs);
    presentTreeAsNative(fs, 'fs', 1);
  }
}

// ---- UTF-8, with captured built-ins only (web.js's TextEncoder/TextDecoder call through prototypes) ----
/**
 * UTF-8 of a string; a lone surrogate becomes U+FFFD, as TextEncoder does.
 * @param {string} text
 * @returns {Uint8Array}
 */
function utf8Encode(text) {
  const length = text.length;
  const out = new RealUint8Array(length * 3);
  let n = 0;
  for (let i = 0; i < length; i++) {
    let code = reflectApply(fetchCharCodeAt, text, [i]);
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < length ? reflectApply(fetchCharCodeAt, text, [i + 1]) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) { code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00); i++; } else code = 0xfffd;
    }
    if (code < 0x80) out[n++] = code;
    else if (code < 0x800) { out[n++] = 0xc0 | (code >> 6); out[n++] = 0x80 | (code & 63); }
    else if (code < 0x10000) { out[n++] = 0xe0 | (code >> 12); out[n++] = 0x80 | ((code >> 6) & 63); out[n++] = 0x80 | (code & 63); }
    else { out[n++] = 0xf0 | (code >> 18); out[n++] = 0x80 | ((code >> 12) & 63); out[n++] = 0x80 | ((code >> 6) & 63); out[n++] = 0x80 | (code & 63); }
  }
  const exact = new RealUint8Array(n);
  reflectApply(typedArraySet, exact, [new RealUint8Array(reflectApply(typedArrayView[0], out, []), 0, n)]);
  return exact;
}

/**
 * A string from UTF-8 bytes; an invalid byte becomes U+FFFD (one per byte: a truncated sequence
 * may give more replacement characters than TextDecoder's maximal-subpart rule).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
function utf8Decode(bytes) {
  const length = lengthOfBytes(bytes);
  const units = new FetchUint16Array(8194);
  const unitsBuffer = reflectApply(typedArrayView[0], units, []);
  let out = '';
  let n = 0;
  /** @param {number} at @returns {boolean} */
  const continuation = (at) => at < length && (bytes[at] & 0xc0) === 0x80;
  for (let i = 0; i < length;) {
    const b = bytes[i];
    let code = 0xfffd;
    let size = 1;
    if (b < 0x80) code = b;
    else if (b >= 0xc2 && b <= 0xdf && continuation(i + 1)) { code = ((b & 0x1f) << 6) | (bytes[i + 1] & 63); size = 2; }
    else if (b >= 0xe0 && b <= 0xef && continuation(i + 1) && continuation(i + 2)) {
      const c = ((b & 0xf) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63);
      if (c >= 0x800 && (c < 0xd800 || c > 0xdfff)) { code = c; size = 3; }
    } else if (b >= 0xf0 && b <= 0xf4 && continuation(i + 1) && continuation(i + 2) && continuation(i + 3)) {
      const c = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63);
      if (c >= 0x10000 && c <= 0x10ffff) { code = c; size = 4; }
    }
    i += size;
    if (code > 0xffff) { code -= 0x10000; units[n++] = 0xd800 + (code >> 10); units[n++] = 0xdc00 + (code & 0x3ff); } else units[n++] = code;
    if (n >= 8192) { out += stringOfUnits(unitsBuffer, n); n = 0; }
  }
  if (n > 0) out += stringOfUnits(unitsBuffer, n);
  // A byte order mark is dropped, as TextDecoder does by default.
  return out.length > 0 && reflectApply(fetchCharCodeAt, out, [0]) === 0xfeff ? reflectApply(stringSlice, out, [1]) : out;
}

// ---- bodies: bytes, copied in with captured built-ins only ----
/**
 * A copy of the bytes of an ArrayBuffer or a view of one, or null if `value` is neither.
 * @param {unknown} value
 * @returns {Uint8Array | null}
 */
function bytesOf(value) {
  const view = bufferSourceView(value);
  if (view === null) return null;
  const copy = new RealUint8Array(lengthOfBytes(view));
  reflectApply(typedArraySet, copy, [view]);
  return copy;
}

/**
 * A body as the Fetch standard extracts it: bytes (or null) and the content type it implies.
 * @param {unknown} body
 * @returns {{ bytes: Uint8Array | null, stream: any, type: string | null }}
 */
function extractBody(body) {
  if (body === undefined || body === null) return { bytes: null, stream: null, type: null };
  if (streamsApi.isReadableStream(body)) {
    if (streamsApi.isUnusable(body)) throw new FetchTypeError('The body is a ReadableStream that is locked or was read from already');
    return { bytes: null, stream: body, type: null };
  }
  const bytes = bytesOf(body);
  if (bytes !== null) return { bytes, stream: null, type: null };
  if (body instanceof FetchURLSearchParams) return { bytes: utf8Encode(reflectApply(fetchUrlSearchParamsToString, body, [])), stream: null, type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  const text = FetchString(body);
  return { bytes: utf8Encode(text), stream: null, type: 'text/plain;charset=UTF-8' };
}

/**
 * Header pairs from a HeadersInit: a Headers, an array of pairs, or a record.
 * @param {unknown} init
 * @returns {[string, string][]}
 */
function headerPairsFrom(init) {
  if (init === undefined || init === null) return [];
  const fromHeaders = headerPairs(init);
  if (fromHeaders !== null) return fromHeaders;
  if (typeof init !== 'object' && typeof init !== 'function') throw new FetchTypeError('headers must be a Headers, an array of [name, value] pairs or an object');
  /** @type {[string, string][]} */
  const out = [];
  if (fetchIsArray(init)) {
    for (let i = 0; i < init.length; i++) {
      const pair = init[i];
      if (!fetchIsArray(pair) || pair.length !== 2) throw new FetchTypeError('Header pairs must contain exactly two items');
      consoleAppend(out, /** @type {[string, string]} */ ([FetchString(pair[0]), FetchString(pair[1])]));
    }
    return out;
  }
  const keys = fetchObjectKeys(init);
  for (let i = 0; i < keys.length; i++) consoleAppend(out, /** @type {[string, string]} */ ([keys[i], FetchString(/** @type {any} */ (init)[keys[i]])]));
  return out;
}

/**
 * A Headers holding `pairs` (each checked by Headers itself).
 * @param {[string, string][]} pairs
 * @returns {any}
 */
function headersOf(pairs) {
  const headers = reflectConstruct(FetchHeaders, []);
  for (let i = 0; i < pairs.length; i++) reflectApply(fetchHeadersAppend, headers, pairs[i]);
  return headers;
}

/**
 * A body is `bytes` until its `body` stream is asked for (or it was made from a ReadableStream):
 * then `stream` (a ReadableStream of Uint8Array chunks, prelude/streams.js) is the body.
 * @typedef {{ kind: 'request' | 'response', bytes: Uint8Array | null, stream: any, used: boolean, headers: any, url: string,
 *   method: string, status: number, statusText: string, redirected: boolean, type: string, signal: any }} BodyState
 */
/**
 * The state of a Request or Response (an Illegal invocation TypeError for anything else).
 * @param {unknown} self
 * @param {'request' | 'response'} kind
 * @returns {BodyState}
 */
function stateOf(self, kind) {
  const state = self !== null && typeof self === 'object' ? reflectApply(weakMapGet, fetchBodies, [self]) : undefined;
  if (state === undefined || state.kind !== kind) throw new FetchTypeError('Illegal invocation');
  return state;
}

/**
 * The body's bytes, once: a second read is a TypeError, as in the Fetch standard.
 * @param {BodyState} state
 * @returns {Uint8Array}
 */
function takeBody(state) {
  if (state.used) throw new FetchTypeError('Body is unusable: Body has already been read');
  if (state.bytes !== null) state.used = true;
  return state.bytes ?? new RealUint8Array(0);
}

/**
 * A clone's state: its own copy of the body and of the headers.
 * @param {BodyState} s
 * @returns {BodyState}
 */
function copyState(s) {
  /** @type {any[]} */
  const branches = s.stream === null ? [null, null] : streamsApi.tee(s.stream);
  s.stream = branches[0];
  return { ...s, bytes: s.bytes === null ? null : bytesOf(s.bytes), stream: branches[1], headers: headersOf(headerPairs(s.headers) ?? []), used: false };
}

/**
 * The body as a ReadableStream (made from the bytes on first use), or null for no body.
 * @param {BodyState} state
 * @returns {any}
 */
function bodyStream(state) {
  if (state.stream === null && state.bytes !== null) {
    state.stream = streamsApi.streamOf(state.used ? new RealUint8Array(0) : state.bytes);
    if (state.used) streamsApi.readAll(state.stream);
  }
  return state.stream;
}

/** @param {BodyState} state @returns {boolean} */
const bodyUsed = (state) => state.used || (state.stream !== null && streamsApi.isDisturbed(state.stream));

/**
 * Puts the body-reading methods (text, json, arrayBuffer, bytes) on Request's or Response's prototype.
 * @param {Function} Class
 * @param {'request' | 'response'} kind
 * @returns {void}
 */
function installBodyMethods(Class, kind) {
  /**
   * @param {(bytes: Uint8Array) => unknown} convert
   * @returns {(this: unknown) => Promise<any>}
   */
  const reader = (convert) => function () {
    try {
      const state = stateOf(this, kind);
      if (state.stream !== null) {
        if (streamsApi.isUnusable(state.stream)) throw new FetchTypeError('Body is unusable: Body has already been read');
        state.used = true;
        return reflectApply(promiseThen, streamsApi.readAll(state.stream), [(/** @type {{ bytes: Uint8Array }} */ box) => convert(box.bytes)]);
      }
      const value = convert(takeBody(state));
      return new RealPromise((resolve) => resolve(value));
    } catch (error) {
      return reflectApply(promiseReject, RealPromise, [error]);
    }
  };
  defineBuiltin(Class.prototype, 'text', reader((bytes) => utf8Decode(bytes)));
  defineBuiltin(Class.prototype, 'json', reader((bytes) => fetchJsonParse(utf8Decode(bytes))));
  defineBuiltin(Class.prototype, 'arrayBuffer', reader((bytes) => reflectApply(typedArrayView[0], bytes, [])));
  defineBuiltin(Class.prototype, 'bytes', reader((bytes) => bytes));
}

// ---- Response ----
/** @param {number} status @returns {boolean} */
const isNullBodyStatus = (status) => status === 101 || status === 103 || status === 204 || status === 205 || status === 304;

// Request and Response are made on first use (lazy.js, `defineLazy`): built in every context they
// were ≈ 11 KiB of its heap, and most runs never touch them. The build runs after user code: it
// reads no global but the `Symbol` bound at start-up (SymbolOf). Not indented, to keep the diff small.
/**
 * @param {SymbolConstructor} SymbolOf
 * @returns {{ Request: any, Response: any, makeResponse: (state: BodyState) => any }}
 */
function buildFetchClasses(SymbolOf) {
class Response {
  /**
   * @param {unknown} [body]
   * @param {any} [init]
   */
  constructor(body = null, init = undefined) {
    takeWebApi();
    const options = init === undefined || init === null ? {} : init;
    const statusOption = options.status;
    const status = statusOption === undefined ? 200 : RealNumber(statusOption);
    if (!(status >= 200 && status <= 599) || mathTrunc(status) !== status) throw new FetchRangeError(`Failed to construct 'Response': The status provided (${FetchString(statusOption)}) is outside the range [200, 599].`);
    const statusText = options.statusText === undefined ? '' : FetchString(options.statusText);
    const headers = headersOf(headerPairsFrom(options.headers));
    const extracted = extractBody(body);
    if ((extracted.bytes !== null || extracted.stream !== null) && isNullBodyStatus(status)) throw new FetchTypeError(`Failed to construct 'Response': Response with null body status cannot have body`);
    if (extracted.type !== null && reflectApply(fetchHeadersHas, headers, ['content-type']) === false) reflectApply(fetchHeadersAppend, headers, ['content-type', extracted.type]);
    reflectApply(weakMapSet, fetchBodies, [this, { kind: 'response', bytes: extracted.bytes, stream: extracted.stream, used: false, headers, url: '', method: '', status, statusText, redirected: false, type: 'default', signal: null }]);
  }
  get ok() { const s = stateOf(this, 'response'); return s.status >= 200 && s.status <= 299; }
  get status() { return stateOf(this, 'response').status; }
  get statusText() { return stateOf(this, 'response').statusText; }
  get headers() { return stateOf(this, 'response').headers; }
  get url() { return stateOf(this, 'response').url; }
  get redirected() { return stateOf(this, 'response').redirected; }
  get type() { return stateOf(this, 'response').type; }
  get bodyUsed() { return bodyUsed(stateOf(this, 'response')); }
  get body() { return bodyStream(stateOf(this, 'response')); }
  clone() {
    const s = stateOf(this, 'response');
    if (bodyUsed(s) || (s.stream !== null && streamsApi.isUnusable(s.stream))) throw new FetchTypeError("Failed to execute 'clone' on 'Response': Response body is already used");
    return makeResponse(copyState(s));
  }
  /**
   * @param {unknown} data
   * @param {any} [init]
   * @returns {Response}
   */
  static json(data, init = undefined) {
    const text = fetchJsonStringify(data);
    if (text === undefined) throw new FetchTypeError("Failed to execute 'json' on 'Response': The data is not JSON serializable");
    const response = new Response(text, init);
    reflectApply(fetchHeadersSet, stateOf(response, 'response').headers, ['content-type', 'application/json']);
    return response;
  }
  /** @returns {Response} */
  static error() {
    takeWebApi();
    const response = makeResponse({ kind: 'response', bytes: null, stream: null, used: false, headers: headersOf([]), url: '', method: '', status: 0, statusText: '', redirected: false, type: 'error', signal: null });
    return response;
  }
  /**
   * @param {unknown} url
   * @param {number} [status]
   * @returns {Response}
   */
  static redirect(url, status = 302) {
    takeWebApi();
    if (status !== 301 && status !== 302 && status !== 303 && status !== 307 && status !== 308) throw new FetchRangeError(`Failed to execute 'redirect' on 'Response': Invalid status code`);
    const href = reflectApply(fetchUrlHref, new FetchURL(FetchString(url)), []);
    return makeResponse({ kind: 'response', bytes: null, stream: null, used: false, headers: headersOf([['location', href]]), url: '', method: '', status, statusText: '', redirected: false, type: 'default', signal: null });
  }
  get [SymbolOf.toStringTag]() { return 'Response'; }
}

/**
 * A Response with the given state (fetch's answer, clone, the static constructors).
 * @param {BodyState} state
 * @returns {Response}
 */
function makeResponse(state) {
  const response = reflectConstruct(Response, []);
  reflectApply(weakMapSet, fetchBodies, [response, state]);
  return response;
}

// ---- Request ----

class Request {
  /**
   * @param {unknown} input
   * @param {any} [init]
   */
  constructor(input, init = undefined) {
    takeWebApi();
    const options = init === undefined || init === null ? {} : init;
    const from = input !== null && typeof input === 'object' ? reflectApply(weakMapGet, fetchBodies, [input]) : undefined;
    const base = from !== undefined && from.kind === 'request' ? from : null;
    const url = base !== null ? base.url : urlOf(input);
    const methodOption = options.method;
    const method = methodOption === undefined ? (base !== null ? base.method : 'GET') : normalizeMethod(methodOption);
    const headersOption = options.headers;
    const headers = headersOf(headersOption !== undefined ? headerPairsFrom(headersOption) : base !== null ? (headerPairs(base.headers) ?? []) : []);
    const bodyOption = options.body;
    let bytes = null;
    let stream = null;
    if (bodyOption !== undefined && bodyOption !== null) {
      if (method === 'GET' || method === 'HEAD') throw new FetchTypeError(`Failed to construct 'Request': Request with ${method} method cannot have body.`);
      const extracted = extractBody(bodyOption);
      bytes = extracted.bytes;
      stream = extracted.stream;
      if (stream !== null && options.duplex !== 'half') throw new FetchTypeError("Failed to construct 'Request': a ReadableStream body needs the duplex: 'half' option");
      if (extracted.type !== null && reflectApply(fetchHeadersHas, headers, ['content-type']) === false) reflectApply(fetchHeadersAppend, headers, ['content-type', extracted.type]);
    } else if (base !== null && (base.bytes !== null || base.stream !== null)) {
      if (bodyUsed(base)) throw new FetchTypeError("Failed to construct 'Request': Cannot construct a Request with a Request object that has already been used.");
      bytes = base.bytes === null ? null : bytesOf(base.bytes);
      // A stream body moves to the new Request, as the Fetch standard says; the old one is used.
      stream = base.stream;
      if (stream !== null) base.used = true;
    }
    const signal = options.signal !== undefined ? options.signal : base !== null ? base.signal : null;
    if (signal !== null && signal !== undefined && !(signal instanceof FetchAbortSignal)) throw new FetchTypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
    reflectApply(weakMapSet, fetchBodies, [this, { kind: 'request', bytes, stream, used: false, headers, url, method, status: 0, statusText: '', redirected: false, type: '', signal: signal ?? null }]);
  }
  get url() { return stateOf(this, 'request').url; }
  get method() { return stateOf(this, 'request').method; }
  get headers() { return stateOf(this, 'request').headers; }
  get bodyUsed() { return bodyUsed(stateOf(this, 'request')); }
  get body() { return bodyStream(stateOf(this, 'request')); }
  get redirect() { stateOf(this, 'request'); return 'follow'; }
  get signal() { return stateOf(this, 'request').signal; }
  clone() {
    const s = stateOf(this, 'request');
    if (bodyUsed(s)) throw new FetchTypeError("Failed to execute 'clone' on 'Request': Request body is already used");
    const copy = reflectConstruct(Request, [s.url]);
    reflectApply(weakMapSet, fetchBodies, [copy, copyState(s)]);
    return copy;
  }
  get [SymbolOf.toStringTag]() { return 'Request'; }
}
installBodyMethods(Response, 'response');
installBodyMethods(Request, 'request');
return { Request, Response, makeResponse };
}
const fetchClasses = defineLazy(globalThis, ['Request', 'Response'], lazyBuildWith(buildFetchClasses, [Symbol]));
/** @returns {{ Request: any, Response: any, makeResponse: (state: BodyState) => any }} */
const fetchClassesBuilt = () => /** @type {any} */ (fetchClasses());

/**
 * An absolute URL's text (this sandbox has no base URL to resolve a relative one against).
 * @param {unknown} input
 * @returns {string}
 */
function urlOf(input) {
  const text = input instanceof FetchURL ? reflectApply(fetchUrlHref, input, []) : FetchString(input);
  try {
    return reflectApply(fetchUrlHref, new FetchURL(text), []);
  } catch {
    // The URL class runs on built-ins user code can replace: a text with a scheme goes on as
    // written, and the host's own URL parser decides (an invalid one rejects there).
    if (reflectApply(fetchRegExpExec, fetchSchemed, [text]) !== null) return text;
    throw new FetchTypeError(`Failed to parse URL from ${text}`);
  }
}

/**
 * @param {unknown} method
 * @returns {string}
 */
function normalizeMethod(method) {
  const text = FetchString(method);
  if (reflectApply(fetchRegExpExec, fetchMethodToken, [text]) === null) throw new FetchTypeError(`'${text}' is not a valid HTTP method.`);
  const upper = reflectApply(fetchStringToUpper, text, []);
  for (let i = 0; i < fetchNormalizedMethods.length; i++) if (fetchNormalizedMethods[i] === upper) return upper;
  return text;
}

// ---- fetch() ----
/**
 * @param {string} message
 * @returns {Error}
 */
const fetchFailure = (message) => new FetchTypeError(message);

/**
 * The Fetch API's fetch(), through the host's policy gate.
 * @param {unknown} input
 * @param {any} [init]
 * @returns {Promise<any>} a Response
 */
function fetchFunction(input, init = undefined) {
  let request;
  try {
    request = reflectConstruct(fetchClassesBuilt().Request, [input, init]);
  } catch (error) {
    return reflectApply(promiseReject, RealPromise, [error]);
  }
  const s = stateOf(request, 'request');
  if (s.signal !== null && reflectApply(fetchAbortedGetter, s.signal, []) === true) {
    const aborted = new FetchError('This operation was aborted');
    defineProperty(aborted, 'name', /** @type {PropertyDescriptor} */ ({ __proto__: null, value: 'AbortError' }));
    return reflectApply(promiseReject, RealPromise, [aborted]);
  }
  const stream = s.stream;
  if (stream === null) return sendFetch(s);
  // A stream body is read whole in the isolate first: the host takes a request's body as bytes.
  if (streamsApi.isUnusable(stream)) return reflectApply(promiseReject, RealPromise, [new FetchTypeError('fetch: the request body is a ReadableStream that is locked or was read from already')]);
  return new RealPromise((resolve, reject) => {
    reflectApply(promiseThen, streamsApi.readAll(stream), [(/** @type {{ bytes: Uint8Array }} */ box) => {
      s.stream = null;
      s.bytes = box.bytes;
      reflectApply(promiseThen, sendFetch(s), [resolve, reject]);
    }, reject]);
  });
}

/**
 * fetch()'s call to the host, for a request whose body is bytes.
 * @param {BodyState} s
 * @returns {Promise<any>} a Response
 */
function sendFetch(s) {
  if (s.bytes !== null && lengthOfBytes(s.bytes) > effectFeatures.fetchRequestBytesMax) {
    return reflectApply(promiseReject, RealPromise, [fetchFailure(`fetch ${s.url}: request body larger than ${effectFeatures.fetchRequestBytesMax} bytes`)]);
  }
  const hostRequest = { url: s.url, method: s.method, headers: headerPairs(s.headers) ?? [], ...(s.bytes === null ? {} : { body: s.bytes }) };
  const answered = callHost('fetch', hostRequest, fetchFailure);
  return new RealPromise((resolve, reject) => {
    reflectApply(promiseThen, answered, [(/** @type {any} */ value) => {
      try {
        const pairs = fetchIsArray(value.headers) ? value.headers : [];
        const status = RealNumber(value.status);
        resolve(fetchClassesBuilt().makeResponse({
          kind: 'response', bytes: s.method === 'HEAD' || isNullBodyStatus(status) ? null : value.body, stream: null, used: false, headers: headersOf(pairs),
          url: FetchString(value.url), method: '', status, statusText: FetchString(value.statusText), redirected: value.redirected === true, type: 'basic', signal: null,
        }));
      } catch (error) {
        reject(error);
      }
    }, reject]);
  });
}
defineProperty(fetchFunction, 'name', { value: 'fetch' });
