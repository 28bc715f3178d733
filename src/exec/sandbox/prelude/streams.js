// @ts-check
// Sandbox code, part of the prelude (see console.js): WHATWG streams (ReadableStream with its
// default reader and controller, WritableStream, TransformStream, the queuing strategies,
// TextEncoderStream and TextDecoderStream), after the Streams Standard's algorithms, whose
// names the functions below keep. Byte streams (type: 'bytes', BYOB readers) are not built: they
// are refused with a TypeError that says so (docs/agents.md).
// Hostile-run: everything called here is captured at start-up. Internal records have a null
// prototype (a run's setters on Object.prototype never meet them), queues are linked lists of
// such records (no Array.prototype method, no index write), promises are made and chained with
// the captured Promise and Promise.prototype.then. A stream's queue is memory of the isolate
// only (its heap limit bounds it); nothing here reaches the host.
// fetch.js uses `streamsApi` for Response/Request bodies; Blob.prototype.stream is set here.
/**
 * What fetch.js uses of the streams, set below.
 * @type {{ isReadableStream: (value: unknown) => boolean, isUnusable: (value: unknown) => boolean, isDisturbed: (value: unknown) => boolean,
 *   streamOf: (bytes: Uint8Array) => any, readAll: (value: unknown) => Promise<{ bytes: Uint8Array }>, tee: (value: unknown) => any[] }}
 */
let streamsApi = /** @type {any} */ (null);
(function () {
  const StreamTypeError = TypeError;
  const StreamRangeError = RangeError;
  const StreamString = String;
  const streamPromiseResolve = Promise.resolve;
  const objectCreate = Object.create;
  const getPrototypeOf = Object.getPrototypeOf;
  const asyncIteratorSymbol = Symbol.asyncIterator;
  const iteratorSymbol = Symbol.iterator;
  const toStringTagSymbol = Symbol.toStringTag;
  const AsyncIteratorPrototype = getPrototypeOf(getPrototypeOf((async function* () {}).prototype));
  const anyGlobal = /** @type {any} */ (globalThis);
  // AbortSignal and AbortController are web-api.js's, built on a context's first read (lazy.js):
  // their methods are taken when that build runs (the extension below), which ensureBuilt forces.
  /** @type {any} */ let signalAborted = null;
  /** @type {any} */ let signalReason = null;
  /** @type {any} */ let signalAddListener = null;
  /** @type {any} */ let signalRemoveListener = null;
  /** @type {any} */ let StreamAbortController = null;
  /** @type {any} */ let abortControllerSignal = null;
  /** @type {any} */ let abortControllerAbort = null;
  const StreamTextEncoder = anyGlobal.TextEncoder;
  const textEncode = StreamTextEncoder.prototype.encode;
  const StreamTextDecoder = anyGlobal.TextDecoder;
  const textDecode = StreamTextDecoder.prototype.decode;
  const textDecoderFatal = getterOf(StreamTextDecoder.prototype, 'fatal');
  const textDecoderIgnoreBOM = getterOf(StreamTextDecoder.prototype, 'ignoreBOM');
  const textDecoderEncoding = getterOf(StreamTextDecoder.prototype, 'encoding');
  const stringCharCodeAt = String.prototype.charCodeAt;
  const stringSliceOf = String.prototype.slice;
  /** Blob.prototype.bytes as web-api.js built it (its classes are made on first use: see the extension below). @type {any} */
  let blobBytes = null;
  const typedArrayTag = getterOf(TypedArrayPrototype, /** @type {any} */ (toStringTagSymbol));
  const typedArrayLength = getterOf(TypedArrayPrototype, 'length');
  /** Chunks Blob.stream() and a body's stream hand out, at most (as Node's Blob.stream does). */
  const blobChunkBytesMax = 65536;
  /** The internal record of every stream object of ours, by the object user code holds. */
  const slots = new RealWeakMap();
  const noop = () => {};
  const objectSetPrototypeOf = Object.setPrototypeOf;
  const streamFromCharCode = String.fromCharCode;
  /** The twelve globals, made on first use (ensureBuilt): a context that never touches a stream does not pay for them. */
  const streamNames = ['ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamDefaultController', 'WritableStream', 'WritableStreamDefaultWriter', 'WritableStreamDefaultController',
    'TransformStream', 'TransformStreamDefaultController', 'ByteLengthQueuingStrategy', 'CountQueuingStrategy', 'TextEncoderStream', 'TextDecoderStream'];

  function buildStreams() {
    /* ---- promises, with the captured Promise only ---- */ /** @typedef {{ promise: Promise<any>, resolve: (value?: any) => void, reject: (reason: any) => void, state: string }} Deferred */ /** @returns {Deferred} */ function deferred() {
      const record = /** @type {Deferred} */ (/** @type {unknown} */ ({ __proto__: null, promise: null, resolve: null, reject: null, state: 'pending' }));
      record.promise = new RealPromise((resolve, reject) => {
        record.resolve = (value) => {
          if (record.state !== 'pending') return;
          record.state = 'fulfilled';
          // One of this realm's promises is adopted through the captured then, not through its (replaceable) `then`.
          if (!adoptPromise(value, resolve, reject)) resolve(value);
        };
        record.reject = (reason) => { if (record.state === 'pending') { record.state = 'rejected'; reject(reason); } };
      });
      return record;
    }
    /** @param {unknown} value @returns {Deferred} */ function resolvedDeferred(value) { const d = deferred(); d.resolve(value); return d; }
    /** @param {unknown} reason @returns {Deferred} */ function rejectedDeferred(reason) { const d = deferred(); d.reject(reason); markHandled(d.promise); return d; }
    /** A promise for `value` (the value itself when it is one of this realm's promises, as Node does) @param {unknown} value @returns {Promise<any>} */ const resolvedWith = (value) => reflectApply(streamPromiseResolve, RealPromise, [value]);
    /** @param {unknown} reason @returns {Promise<any>} */ const rejectedWith = (reason) => reflectApply(promiseReject, RealPromise, [reason]);
    /** @param {Promise<any>} promise @param {((value: any) => any) | undefined} onFulfilled @param {((reason: any) => any) | undefined} [onRejected] @returns {Promise<any>} */ const then = (promise, onFulfilled, onRejected) => reflectApply(promiseThen, promise, [onFulfilled, onRejected]);
    const PromisePrototype = RealPromise.prototype;
    /**  Settles with `value` through the captured then if it is a promise of this realm (no lookup of its `then`, no side effect otherwise); false if it is not one. @param {unknown} value @param {(value: any) => void} resolve @param {(reason: any) => void} reject @returns {boolean} */ function adoptPromise(value, resolve, reject) {
      if (value === null || typeof value !== 'object') return false;
      try {
        if (getPrototypeOf(value) !== PromisePrototype) return false;
        then(/** @type {Promise<any>} */ (value), resolve, reject);
        return true;
      } catch {
        return false;
      }
    }
    /**  `then` for handlers that may return a promise of ours: it is adopted through the captured then (a derived promise would call the returned promise's own, replaceable, `then`). @param {Promise<any>} promise @param {(value: any) => any} onFulfilled @param {(reason: any) => any} [onRejected] @returns {Promise<any>} */ function chain(promise, onFulfilled, onRejected) {
      const d = deferred();
      /** @param {(argument: any) => any} handler @returns {(argument: any) => void} */ const adopt = (handler) => (argument) => { try { d.resolve(handler(argument)); } catch (error) { d.reject(error); } };
      then(promise, adopt(onFulfilled), onRejected === undefined ? d.reject : adopt(onRejected));
      return d.promise;
    }
    /** @param {Promise<any>} promise */ const markHandled = (promise) => { then(promise, undefined, noop); };
    /** Calls a user function, its throw as a rejection @param {Function} fn @param {unknown} self @param {unknown[]} args @returns {Promise<any>} */ function promiseCall(fn, self, args) {
      try { return resolvedWith(reflectApply(fn, self, args)); } catch (error) { return rejectedWith(error); }
    }
    const resolvedUndefined = () => resolvedWith(undefined);
    /* ---- queues: linked lists of null-prototype records ---- */ /** @typedef {{ head: any, tail: any, length: number }} Queue */ /** @returns {Queue} */ const newQueue = () => /** @type {Queue} */ (/** @type {unknown} */ ({ __proto__: null, head: null, tail: null, length: 0 }));
    /** @param {Queue} queue @param {unknown} value */ function queuePush(queue, value) {
      const node = { __proto__: null, value, next: null };
      if (queue.tail === null) queue.head = node; else queue.tail.next = node;
      queue.tail = node;
      queue.length++;
    }
    /** @param {Queue} queue @returns {any} */ function queueShift(queue) {
      const node = queue.head;
      queue.head = node.next;
      if (queue.head === null) queue.tail = null;
      queue.length--;
      return node.value;
    }
    /** @param {any} controller @param {unknown} value @param {unknown} size */ function enqueueValueWithSize(controller, value, size) {
      if (typeof size !== 'number' || size !== size || size < 0 || size === Infinity) throw new StreamRangeError('The return value of a queuing strategy\'s size function must be a finite, non-negative number');
      queuePush(controller.queue, { __proto__: null, value, size });
      controller.queueTotalSize += size;
    }
    /** @param {any} controller @returns {unknown} */ function dequeueValue(controller) {
      const pair = queueShift(controller.queue);
      controller.queueTotalSize -= pair.size;
      if (controller.queueTotalSize < 0) controller.queueTotalSize = 0;
      return pair.value;
    }
    /** @param {any} controller */ function resetQueue(controller) { controller.queue = newQueue(); controller.queueTotalSize = 0; }
    /* ---- brand checks and strategies ---- */ /** @param {unknown} value @param {string} kind @returns {any} the record, or null */ function recordOf(value, kind) {
      if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return null;
      const record = reflectApply(weakMapGet, slots, [value]);
      return record !== undefined && record.kind === kind ? record : null;
    }
    /** @param {unknown} value @param {string} kind @returns {any} */ function slotOf(value, kind) {
      const record = recordOf(value, kind);
      if (record === null) throw new StreamTypeError(`Illegal invocation: not a ${kind}`);
      return record;
    }
    /** @param {string} kind @param {object} publicObject @param {any} record @returns {any} */ function bind(kind, publicObject, record) {
      record.kind = kind;
      record.public = publicObject;
      reflectApply(weakMapSet, slots, [publicObject, record]);
      return record;
    }
    /** @param {string} kind @param {Function} Class @param {any} record @returns {any} a public object made without its (illegal) constructor */ function made(kind, Class, record) {
      const object = objectCreate(Class.prototype);
      bind(kind, object, record);
      return object;
    }
    /** A dictionary argument: undefined and null are empty, any other non-object is a TypeError @param {unknown} value @param {string} what @returns {any} */ function dictionary(value, what) {
      if (value === undefined || value === null) return { __proto__: null };
      if (typeof value !== 'object' && typeof value !== 'function') throw new StreamTypeError(`${what} must be an object`);
      return value;
    }
    /** @param {any} dict @param {string} key @param {string} what @returns {Function | undefined} */ function callbackMember(dict, key, what) {
      const value = dict[key];
      if (value === undefined) return undefined;
      if (typeof value !== 'function') throw new StreamTypeError(`${what}.${key} must be a function`);
      return value;
    }
    /** @param {any} strategy @returns {any} */ function strategyOf(strategy) {
      const dict = dictionary(strategy, 'The queuing strategy');
      const highWaterMark = dict.highWaterMark;
      const size = callbackMember(dict, 'size', 'The queuing strategy');
      return { __proto__: null, highWaterMark, size };
    }
    /** @param {{ highWaterMark: unknown }} strategy @param {number} defaultHWM @returns {number} */ function extractHighWaterMark(strategy, defaultHWM) {
      if (strategy.highWaterMark === undefined) return defaultHWM;
      const hwm = RealNumber(strategy.highWaterMark);
      if (hwm !== hwm || hwm < 0) throw new StreamRangeError('The highWaterMark of a queuing strategy must be a non-negative number');
      return hwm;
    }
    /** @param {{ size: Function | undefined }} strategy @returns {(chunk: unknown) => number} */ function extractSizeAlgorithm(strategy) {
      const size = strategy.size;
      if (size === undefined) return () => 1;
      return (chunk) => RealNumber(reflectApply(size, undefined, [chunk]));
    }
    /* ---- ReadableStream: abstract operations ---- */ /** @returns {any} */ const newReadableRecord = () => ({ __proto__: null, kind: '', public: null, state: 'readable', reader: null, storedError: undefined, disturbed: false, controller: null });
    /** @param {any} stream @returns {boolean} */ const isLocked = (stream) => stream.reader !== null;
    /** @param {any} stream @param {unknown} reason @returns {Promise<undefined>} */ function readableStreamCancel(stream, reason) {
      stream.disturbed = true;
      if (stream.state === 'closed') return resolvedUndefined();
      if (stream.state === 'errored') return rejectedWith(stream.storedError);
      readableStreamClose(stream);
      const sourceCancelPromise = readableCancelSteps(stream.controller, reason);
      return then(sourceCancelPromise, noop);
    }
    /** @param {any} stream */ function readableStreamClose(stream) {
      stream.state = 'closed';
      const reader = stream.reader;
      if (reader === null) return;
      reader.closed.resolve(undefined);
      const requests = reader.readRequests;
      reader.readRequests = newQueue();
      while (requests.length > 0) queueShift(requests).close();
    }
    /** @param {any} stream @param {unknown} error */ function readableStreamError(stream, error) {
      stream.state = 'errored';
      stream.storedError = error;
      const reader = stream.reader;
      if (reader === null) return;
      reader.closed.reject(error);
      markHandled(reader.closed.promise);
      errorReadRequests(reader, error);
    }
    /** @param {any} reader @param {unknown} error */ function errorReadRequests(reader, error) {
      const requests = reader.readRequests;
      reader.readRequests = newQueue();
      while (requests.length > 0) queueShift(requests).error(error);
    }
    /** @param {any} stream @param {unknown} chunk @param {boolean} done */ function fulfillReadRequest(stream, chunk, done) {
      const request = queueShift(stream.reader.readRequests);
      if (done) request.close(); else request.chunk(chunk);
    }
    /** @param {any} stream @returns {number} */ const numReadRequests = (stream) => (stream.reader === null ? 0 : stream.reader.readRequests.length);
    /* ---- ReadableStreamDefaultController: abstract operations ---- */ /** @param {any} controller */ function callPullIfNeeded(controller) {
      if (!shouldCallPull(controller)) return;
      if (controller.pulling) { controller.pullAgain = true; return; }
      controller.pulling = true;
      then(controller.pullAlgorithm(), () => {
        controller.pulling = false;
        if (controller.pullAgain) { controller.pullAgain = false; callPullIfNeeded(controller); }
      }, (error) => readableControllerError(controller, error));
    }
    /** @param {any} controller @returns {boolean} */ function shouldCallPull(controller) {
      const stream = controller.stream;
      if (!canCloseOrEnqueue(controller) || !controller.started) return false;
      if (isLocked(stream) && numReadRequests(stream) > 0) return true;
      return /** @type {number} */ (readableDesiredSize(controller)) > 0;
    }
    /** @param {any} controller */ function clearReadableAlgorithms(controller) {
      controller.pullAlgorithm = resolvedUndefined;
      controller.cancelAlgorithm = resolvedUndefined;
      controller.strategySizeAlgorithm = () => 1;
    }
    /** @param {any} controller */ function readableControllerClose(controller) {
      if (!canCloseOrEnqueue(controller)) return;
      controller.closeRequested = true;
      if (controller.queue.length === 0) { clearReadableAlgorithms(controller); readableStreamClose(controller.stream); }
    }
    /** @param {any} controller @param {unknown} chunk */ function readableControllerEnqueue(controller, chunk) {
      if (!canCloseOrEnqueue(controller)) return;
      const stream = controller.stream;
      if (isLocked(stream) && numReadRequests(stream) > 0) fulfillReadRequest(stream, chunk, false);
      else {
        let size;
        try { size = controller.strategySizeAlgorithm(chunk); } catch (error) { readableControllerError(controller, error); throw error; }
        try { enqueueValueWithSize(controller, chunk, size); } catch (error) { readableControllerError(controller, error); throw error; }
      }
      callPullIfNeeded(controller);
    }
    /** @param {any} controller @param {unknown} error */ function readableControllerError(controller, error) {
      if (controller.stream.state !== 'readable') return;
      resetQueue(controller);
      clearReadableAlgorithms(controller);
      readableStreamError(controller.stream, error);
    }
    /** @param {any} controller @returns {number | null} */ function readableDesiredSize(controller) {
      const state = controller.stream.state;
      if (state === 'errored') return null;
      if (state === 'closed') return 0;
      return controller.strategyHWM - controller.queueTotalSize;
    }
    /** @param {any} controller @returns {boolean} */ const canCloseOrEnqueue = (controller) => !controller.closeRequested && controller.stream.state === 'readable';
    /** @param {any} controller @param {unknown} reason @returns {Promise<any>} */ function readableCancelSteps(controller, reason) {
      resetQueue(controller);
      const result = controller.cancelAlgorithm(reason);
      clearReadableAlgorithms(controller);
      return result;
    }
    /** @param {any} controller @param {any} readRequest */ function readablePullSteps(controller, readRequest) {
      const stream = controller.stream;
      if (controller.queue.length > 0) {
        const chunk = dequeueValue(controller);
        if (controller.closeRequested && controller.queue.length === 0) { clearReadableAlgorithms(controller); readableStreamClose(stream); } else callPullIfNeeded(controller);
        readRequest.chunk(chunk);
      } else {
        queuePush(stream.reader.readRequests, readRequest);
        callPullIfNeeded(controller);
      }
    }
    /**  @param {any} stream @param {() => unknown} startAlgorithm @param {() => Promise<any>} pullAlgorithm @param {(reason: unknown) => Promise<any>} cancelAlgorithm @param {number} highWaterMark @param {(chunk: unknown) => number} sizeAlgorithm */ function setUpReadableController(stream, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm) {
      const controller = { __proto__: null, kind: '', public: null, stream, queue: newQueue(), queueTotalSize: 0, started: false, closeRequested: false, pullAgain: false, pulling: false,
        strategySizeAlgorithm: sizeAlgorithm, strategyHWM: highWaterMark, pullAlgorithm, cancelAlgorithm };
      made('ReadableStreamDefaultController', ReadableStreamDefaultController, controller);
      stream.controller = controller;
      const startResult = startAlgorithm();
      then(resolvedWith(startResult), () => { controller.started = true; callPullIfNeeded(controller); }, (error) => readableControllerError(controller, error));
    }
    /** A stream of ours, not made by its constructor (tee, from, TransformStream, bodies) @returns {any} the record */ /** @param {() => unknown} start @param {() => Promise<any>} pull @param {(reason: unknown) => Promise<any>} cancel @param {number} [highWaterMark] @param {(chunk: unknown) => number} [size] */ function createReadableStream(start, pull, cancel, highWaterMark = 1, size = () => 1) {
      const stream = newReadableRecord();
      made('ReadableStream', ReadableStream, stream);
      setUpReadableController(stream, start, pull, cancel, highWaterMark, size);
      return stream;
    }
    /* ---- readers ---- */ /** @param {any} stream @returns {any} the reader's record */ function acquireReader(stream) {
      const reader = { __proto__: null, kind: '', public: null, stream: null, closed: null, readRequests: newQueue() };
      made('ReadableStreamDefaultReader', ReadableStreamDefaultReader, reader);
      setUpReader(reader, stream);
      return reader;
    }
    /** @param {any} reader @param {any} stream */ function setUpReader(reader, stream) {
      if (isLocked(stream)) throw new StreamTypeError('ReadableStream is locked: it has a reader already (releaseLock() it first)');
      reader.stream = stream;
      stream.reader = reader;
      if (stream.state === 'readable') reader.closed = deferred();
      else if (stream.state === 'closed') reader.closed = resolvedDeferred(undefined);
      else reader.closed = rejectedDeferred(stream.storedError);
      reader.readRequests = newQueue();
    }
    /** @param {any} reader @param {any} readRequest */ function readerRead(reader, readRequest) {
      const stream = reader.stream;
      stream.disturbed = true;
      if (stream.state === 'closed') readRequest.close();
      else if (stream.state === 'errored') readRequest.error(stream.storedError);
      else readablePullSteps(stream.controller, readRequest);
    }
    /** @param {any} reader */ function readerRelease(reader) {
      const stream = reader.stream;
      const released = new StreamTypeError('The reader was released: its lock on the stream is gone');
      if (stream.state === 'readable') reader.closed.reject(released); else reader.closed = rejectedDeferred(released);
      markHandled(reader.closed.promise);
      stream.reader = null;
      reader.stream = null;
      errorReadRequests(reader, released);
    }
    /**  A read request that settles `d` with an iterator result. Node orders the result done-first when the chunk was queued already and value-first when it came later (JSON and Object.keys show it): `queued` says which, while the read runs. @param {Deferred} d @returns {any} */ const readRequestFor = (d) => {
      const request = { __proto__: null, queued: true, chunk: (/** @type {unknown} */ value) => d.resolve(request.queued ? { done: false, value } : { value, done: false }), close: () => d.resolve({ value: undefined, done: true }), error: d.reject };
      return request;
    };
    /** @param {string} what @returns {Promise<never>} */ const releasedRejection = (what) => /** @type {Promise<never>} */ (rejectedWith(new StreamTypeError(`${what}: the reader has no stream (its lock was released)`)));
    /* ---- ReadableStream: the classes ---- */ class ReadableStream {
      /** @param {unknown} [underlyingSource] @param {unknown} [strategy] */ constructor(underlyingSource = undefined, strategy = undefined) {
        const strategyDict = strategyOf(strategy);
        const source = dictionary(underlyingSource, 'The underlying source');
        const cancel = callbackMember(source, 'cancel', 'The underlying source');
        const pull = callbackMember(source, 'pull', 'The underlying source');
        const start = callbackMember(source, 'start', 'The underlying source');
        const type = source.type;
        if (type !== undefined) {
          if (StreamString(type) === 'bytes') throw new StreamTypeError("ReadableStream: byte streams (type: 'bytes') are not supported in this sandbox; a default stream of Uint8Array chunks reads the same way");
          throw new StreamTypeError(`ReadableStream: type must be 'bytes' or undefined, got '${StreamString(type)}'`);
        }
        const highWaterMark = extractHighWaterMark(strategyDict, 1);
        const size = extractSizeAlgorithm(strategyDict);
        const stream = bind('ReadableStream', this, newReadableRecord());
        const controller = () => stream.controller.public;
        setUpReadableController(stream, () => (start === undefined ? undefined : reflectApply(start, source, [controller()])),
          pull === undefined ? resolvedUndefined : () => promiseCall(pull, source, [controller()]),
          cancel === undefined ? resolvedUndefined : (reason) => promiseCall(cancel, source, [reason]), highWaterMark, size);
      }
      get locked() { return isLocked(slotOf(this, 'ReadableStream')); }
      /** @param {unknown} [reason] */ cancel(reason = undefined) {
        const stream = recordOf(this, 'ReadableStream');
        if (stream === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStream'));
        if (isLocked(stream)) return rejectedWith(new StreamTypeError('Cannot cancel a locked ReadableStream (its reader can)'));
        return readableStreamCancel(stream, reason);
      }
      /** @param {unknown} [options] */ getReader(options = undefined) {
        const stream = slotOf(this, 'ReadableStream');
        const mode = dictionary(options, 'getReader options').mode;
        if (mode === undefined) return acquireReader(stream).public;
        if (StreamString(mode) === 'byob') throw new StreamTypeError("getReader({ mode: 'byob' }): byte streams and BYOB readers are not supported in this sandbox; use the default reader");
        throw new StreamTypeError(`getReader: mode must be 'byob' or undefined, got '${StreamString(mode)}'`);
      }
      /** @param {unknown} transform @param {unknown} [options] */ pipeThrough(transform, options = undefined) {
        const stream = slotOf(this, 'ReadableStream');
        const pair = dictionary(transform, 'pipeThrough\'s transform');
        const readable = pair.readable;
        const readableRecord = recordOf(readable, 'ReadableStream');
        if (readableRecord === null) throw new StreamTypeError('pipeThrough: transform.readable must be a ReadableStream');
        const writableRecord = recordOf(pair.writable, 'WritableStream');
        if (writableRecord === null) throw new StreamTypeError('pipeThrough: transform.writable must be a WritableStream');
        const flags = pipeOptions(options);
        if (isLocked(stream)) throw new StreamTypeError('pipeThrough: the ReadableStream is locked');
        if (writableRecord.writer !== null) throw new StreamTypeError('pipeThrough: the WritableStream is locked');
        markHandled(readableStreamPipeTo(stream, writableRecord, flags));
        return readable;
      }
      /** @param {unknown} destination @param {unknown} [options] */ pipeTo(destination, options = undefined) {
        const stream = recordOf(this, 'ReadableStream');
        if (stream === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStream'));
        const dest = recordOf(destination, 'WritableStream');
        if (dest === null) return rejectedWith(new StreamTypeError('pipeTo: the destination must be a WritableStream'));
        let flags;
        try { flags = pipeOptions(options); } catch (error) { return rejectedWith(error); }
        if (isLocked(stream)) return rejectedWith(new StreamTypeError('pipeTo: the ReadableStream is locked'));
        if (dest.writer !== null) return rejectedWith(new StreamTypeError('pipeTo: the WritableStream is locked'));
        return readableStreamPipeTo(stream, dest, flags);
      }
      tee() {
        const branches = readableStreamTee(slotOf(this, 'ReadableStream'));
        return [branches[0].public, branches[1].public];
      }
      /** @param {unknown} [options] */ values(options = undefined) {
        const stream = slotOf(this, 'ReadableStream');
        const preventCancel = !!dictionary(options, 'values options').preventCancel;
        const reader = acquireReader(stream);
        return made('ReadableStreamAsyncIterator', ReadableStreamAsyncIterator, { __proto__: null, kind: '', public: null, reader, preventCancel, ongoing: null, finished: false });
      }
      /** @param {unknown} asyncIterable */ static from(asyncIterable) { return readableStreamFromIterable(asyncIterable).public; }
      get [toStringTagSymbol]() { return 'ReadableStream'; }
    }
    defineProperty(ReadableStream.prototype, asyncIteratorSymbol, /** @type {PropertyDescriptor} */ ({ __proto__: null, value: ReadableStream.prototype.values, writable: true, enumerable: false, configurable: true }));
    class ReadableStreamDefaultReader {
      /** @param {unknown} stream */ constructor(stream) {
        const record = recordOf(stream, 'ReadableStream');
        if (record === null) throw new StreamTypeError('ReadableStreamDefaultReader: the argument must be a ReadableStream');
        setUpReader(bind('ReadableStreamDefaultReader', this, { __proto__: null, kind: '', public: null, stream: null, closed: null, readRequests: newQueue() }), record);
      }
      get closed() {
        const reader = recordOf(this, 'ReadableStreamDefaultReader');
        return reader === null ? rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStreamDefaultReader')) : reader.closed.promise;
      }
      /** @param {unknown} [reason] */ cancel(reason = undefined) {
        const reader = recordOf(this, 'ReadableStreamDefaultReader');
        if (reader === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStreamDefaultReader'));
        if (reader.stream === null) return releasedRejection('cancel');
        return readableStreamCancel(reader.stream, reason);
      }
      read() {
        const reader = recordOf(this, 'ReadableStreamDefaultReader');
        if (reader === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStreamDefaultReader'));
        if (reader.stream === null) return releasedRejection('read');
        const d = deferred();
        const request = readRequestFor(d);
        readerRead(reader, request);
        request.queued = false;
        return d.promise;
      }
      releaseLock() {
        const reader = slotOf(this, 'ReadableStreamDefaultReader');
        if (reader.stream !== null) readerRelease(reader);
      }
      get [toStringTagSymbol]() { return 'ReadableStreamDefaultReader'; }
    }
    class ReadableStreamDefaultController {
      constructor() { throw new StreamTypeError('Illegal constructor'); }
      get desiredSize() { return readableDesiredSize(slotOf(this, 'ReadableStreamDefaultController')); }
      close() {
        const controller = slotOf(this, 'ReadableStreamDefaultController');
        if (!canCloseOrEnqueue(controller)) throw new StreamTypeError('The stream is not in a state that permits close (closed, closing or errored)');
        readableControllerClose(controller);
      }
      /** @param {unknown} [chunk] */ enqueue(chunk = undefined) {
        const controller = slotOf(this, 'ReadableStreamDefaultController');
        if (!canCloseOrEnqueue(controller)) throw new StreamTypeError('The stream is not in a state that permits enqueue (closed, closing or errored)');
        readableControllerEnqueue(controller, chunk);
      }
      /** @param {unknown} [error] */ error(error = undefined) { readableControllerError(slotOf(this, 'ReadableStreamDefaultController'), error); }
      get [toStringTagSymbol]() { return 'ReadableStreamDefaultController'; }
    }
    /** The iterator of `for await (const chunk of stream)` and stream.values() */ class ReadableStreamAsyncIterator {
      next() {
        const iterator = recordOf(this, 'ReadableStreamAsyncIterator');
        if (iterator === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStream async iterator'));
        const nextSteps = () => iteratorNextSteps(iterator);
        iterator.ongoing = iterator.ongoing === null ? nextSteps() : chain(iterator.ongoing, nextSteps, nextSteps);
        return iterator.ongoing;
      }
      /** @param {unknown} [value] */ return(value = undefined) {
        const iterator = recordOf(this, 'ReadableStreamAsyncIterator');
        if (iterator === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a ReadableStream async iterator'));
        const returnSteps = () => iteratorReturnSteps(iterator, value);
        iterator.ongoing = iterator.ongoing === null ? returnSteps() : chain(iterator.ongoing, returnSteps, returnSteps);
        return then(iterator.ongoing, () => ({ done: true, value }));
      }
    }
    objectSetPrototypeOf(ReadableStreamAsyncIterator.prototype, AsyncIteratorPrototype);
    delete (/** @type {any} */ (ReadableStreamAsyncIterator.prototype)).constructor;
    const endOfIteration = { __proto__: null };
    /** WebIDL's next steps: the stream's next chunk, then its iterator result @param {any} iterator @returns {Promise<any>} */ function iteratorNextSteps(iterator) {
      if (iterator.finished) return resolvedWith({ value: undefined, done: true });
      const reader = iterator.reader;
      const d = deferred();
      readerRead(reader, { __proto__: null, chunk: d.resolve,
        close: () => { readerRelease(reader); d.resolve(endOfIteration); },
        error: (/** @type {unknown} */ error) => { readerRelease(reader); d.reject(error); } });
      return then(d.promise, (next) => {
        iterator.ongoing = null;
        if (next === endOfIteration) { iterator.finished = true; return { value: undefined, done: true }; }
        return { value: next, done: false };
      }, (reason) => { iterator.ongoing = null; iterator.finished = true; throw reason; });
    }
    /** @param {any} iterator @param {unknown} value @returns {Promise<any>} */ function iteratorReturnSteps(iterator, value) {
      if (iterator.finished) return resolvedWith({ done: true, value });
      iterator.finished = true;
      const reader = iterator.reader;
      if (!iterator.preventCancel) {
        const result = readableStreamCancel(reader.stream, value);
        readerRelease(reader);
        return result;
      }
      readerRelease(reader);
      return resolvedUndefined();
    }
    /* ---- tee ---- */ /** ReadableStreamDefaultTee (no cloning) @param {any} stream @returns {any[]} the two branches' records */ function readableStreamTee(stream) {
      const reader = acquireReader(stream);
      const state = { __proto__: null, reading: false, readAgain: false, canceled1: false, canceled2: false, reason1: /** @type {unknown} */ (undefined), reason2: /** @type {unknown} */ (undefined) };
      /** @type {any[]} */ const branches = objectCreate(null);
      const cancelPromise = deferred();
      const pullAlgorithm = () => {
        if (state.reading) { state.readAgain = true; return resolvedUndefined(); }
        state.reading = true;
        readerRead(reader, { __proto__: null,
          chunk: (/** @type {unknown} */ chunk) => { then(resolvedUndefined(), () => {
            state.readAgain = false;
            if (!state.canceled1) readableControllerEnqueue(branches[0].controller, chunk);
            if (!state.canceled2) readableControllerEnqueue(branches[1].controller, chunk);
            state.reading = false;
            if (state.readAgain) pullAlgorithm();
          }); },
          close: () => {
            state.reading = false;
            if (!state.canceled1) readableControllerClose(branches[0].controller);
            if (!state.canceled2) readableControllerClose(branches[1].controller);
            if (!state.canceled1 || !state.canceled2) cancelPromise.resolve(undefined);
          },
          error: () => { state.reading = false; } });
        return resolvedUndefined();
      };
      /** @param {boolean} first @returns {(reason: unknown) => Promise<any>} */ const cancelBranch = (first) => (reason) => {
        if (first) { state.canceled1 = true; state.reason1 = reason; } else { state.canceled2 = true; state.reason2 = reason; }
        if (state.canceled1 && state.canceled2) then(readableStreamCancel(stream, [state.reason1, state.reason2]), cancelPromise.resolve, cancelPromise.reject);
        return cancelPromise.promise;
      };
      branches[0] = createReadableStream(noop, pullAlgorithm, cancelBranch(true));
      branches[1] = createReadableStream(noop, pullAlgorithm, cancelBranch(false));
      then(reader.closed.promise, undefined, (reason) => {
        readableControllerError(branches[0].controller, reason);
        readableControllerError(branches[1].controller, reason);
        if (!state.canceled1 || !state.canceled2) cancelPromise.resolve(undefined);
      });
      return branches;
    }
    /* ---- ReadableStream.from ---- */ /** An async iterator over `value` (a sync iterator's values awaited, as CreateAsyncFromSyncIterator does) @param {unknown} value @returns {any} */ function asyncIteratorOf(value) {
      if (value === null || value === undefined) throw new StreamTypeError('ReadableStream.from: the argument must be an async iterable or an iterable');
      const object = /** @type {any} */ (value);
      let method = object[asyncIteratorSymbol];
      const sync = method === undefined || method === null;
      if (sync) method = object[iteratorSymbol];
      if (typeof method !== 'function') throw new StreamTypeError('ReadableStream.from: the argument is not iterable (no Symbol.asyncIterator or Symbol.iterator method)');
      const iterator = reflectApply(method, object, []);
      if (iterator === null || (typeof iterator !== 'object' && typeof iterator !== 'function')) throw new StreamTypeError('ReadableStream.from: the iterator is not an object');
      const nextMethod = iterator.next;
      const next = () => {
        const result = reflectApply(nextMethod, iterator, []);
        if (!sync) return resolvedWith(result);
        if (result === null || (typeof result !== 'object' && typeof result !== 'function')) throw new StreamTypeError('ReadableStream.from: the iterator result is not an object');
        const done = !!result.done;
        return then(resolvedWith(result.value), (resolved) => ({ __proto__: null, done, value: resolved }));
      };
      /** @param {unknown} reason */ const finish = (reason) => {
        const returnMethod = iterator.return;
        if (returnMethod === undefined || returnMethod === null) return resolvedUndefined();
        return then(resolvedWith(reflectApply(returnMethod, iterator, [reason])), (result) => {
          if (result === null || (typeof result !== 'object' && typeof result !== 'function')) throw new StreamTypeError('ReadableStream.from: the iterator\'s return() result is not an object');
        });
      };
      return { __proto__: null, next, finish };
    }
    /** @param {unknown} iterable @returns {any} the stream's record */ function readableStreamFromIterable(iterable) {
      const iterator = asyncIteratorOf(iterable);
      /** @type {any} */ let stream = null;
      const pull = () => {
        let nextPromise;
        try { nextPromise = iterator.next(); } catch (error) { return rejectedWith(error); }
        return then(nextPromise, (result) => {
          if (result === null || (typeof result !== 'object' && typeof result !== 'function')) throw new StreamTypeError('ReadableStream.from: the iterator result is not an object');
          if (result.done) readableControllerClose(stream.controller);
          else readableControllerEnqueue(stream.controller, result.value);
        });
      };
      /** @param {unknown} reason */ const cancel = (reason) => { try { return iterator.finish(reason); } catch (error) { return rejectedWith(error); } };
      stream = createReadableStream(noop, pull, cancel, 0);
      return stream;
    }
    /* ---- pipeTo ---- */ /** @param {unknown} options @returns {any} */ function pipeOptions(options) {
      const dict = dictionary(options, 'The pipe options');
      const preventAbort = !!dict.preventAbort;
      const preventCancel = !!dict.preventCancel;
      const preventClose = !!dict.preventClose;
      const signal = dict.signal;
      if (signal !== undefined) reflectApply(signalAborted, signal, []); // a TypeError for anything but an AbortSignal
      return { __proto__: null, preventAbort, preventCancel, preventClose, signal };
    }
    /** ReadableStreamPipeTo @param {any} source @param {any} dest @param {any} flags @returns {Promise<undefined>} */ function readableStreamPipeTo(source, dest, flags) {
      const reader = acquireReader(source);
      const writer = acquireWriter(dest);
      source.disturbed = true;
      const pipe = { __proto__: null, source, dest, reader, writer, flags, shuttingDown: false, currentWrite: resolvedUndefined(), done: deferred(), abortListener: /** @type {any} */ (null) };
      const signal = flags.signal;
      if (signal !== undefined) {
        const abortAlgorithm = () => pipeAbort(pipe, reflectApply(signalReason, signal, []));
        if (reflectApply(signalAborted, signal, [])) { abortAlgorithm(); return pipe.done.promise; }
        pipe.abortListener = abortAlgorithm;
        reflectApply(signalAddListener, signal, ['abort', abortAlgorithm]);
      }
      /** @param {unknown} error */ const sourceErrored = (error) => (flags.preventAbort ? pipeShutdown(pipe, true, error) : pipeShutdownWithAction(pipe, () => writableStreamAbort(dest, error), true, error));
      /** @param {unknown} error */ const destErrored = (error) => (flags.preventCancel ? pipeShutdown(pipe, true, error) : pipeShutdownWithAction(pipe, () => readableStreamCancel(source, error), true, error));
      const sourceClosed = () => (flags.preventClose ? pipeShutdown(pipe, false, undefined) : pipeShutdownWithAction(pipe, () => writerCloseWithErrorPropagation(writer), false, undefined));
      if (source.state === 'errored') sourceErrored(source.storedError); else then(reader.closed.promise, undefined, sourceErrored);
      if (dest.state === 'errored') destErrored(dest.storedError); else then(writer.closed.promise, undefined, destErrored);
      if (source.state === 'closed') sourceClosed(); else then(reader.closed.promise, sourceClosed, noop);
      if (closeQueuedOrInFlight(dest) || dest.state === 'closed') destErrored(new StreamTypeError('pipeTo: the destination WritableStream is closed or closing'));
      pipeLoop(pipe);
      return pipe.done.promise;
    }
    /** @param {any} pipe @param {unknown} error */ function pipeAbort(pipe, error) {
      const { dest, source, flags } = pipe;
      const action = () => {
        const abort = flags.preventAbort ? resolvedUndefined() : dest.state === 'writable' ? writableStreamAbort(dest, error) : resolvedUndefined();
        const cancel = flags.preventCancel ? resolvedUndefined() : source.state === 'readable' ? readableStreamCancel(source, error) : resolvedUndefined();
        return bothOrFirstRejection(abort, cancel);
      };
      pipeShutdownWithAction(pipe, action, true, error);
    }
    /** Promise.all of two promises, with the captured then @param {Promise<any>} first @param {Promise<any>} second @returns {Promise<any>} */ function bothOrFirstRejection(first, second) {
      const d = deferred();
      let left = 2;
      const settledOne = () => { if (--left === 0) d.resolve(undefined); };
      then(first, settledOne, d.reject);
      then(second, settledOne, d.reject);
      return d.promise;
    }
    /** One read, one write at a time, while the writer is ready @param {any} pipe */ function pipeLoop(pipe) {
      const step = () => {
        if (pipe.shuttingDown) return;
        then(pipe.writer.ready.promise, () => {
          if (pipe.shuttingDown) return;
          readerRead(pipe.reader, { __proto__: null,
            chunk: (/** @type {unknown} */ chunk) => {
              pipe.currentWrite = then(writerWrite(pipe.writer, chunk), undefined, noop);
              step();
            },
            close: noop,
            error: noop });
        }, noop);
      };
      step();
    }
    /** @param {any} pipe @returns {Promise<any>} */ function waitForWritesToFinish(pipe) {
      const oldCurrentWrite = pipe.currentWrite;
      return chain(oldCurrentWrite, () => (oldCurrentWrite !== pipe.currentWrite ? waitForWritesToFinish(pipe) : undefined));
    }
    /** @param {any} pipe @param {() => Promise<any>} action @param {boolean} originalIsError @param {unknown} originalError */ function pipeShutdownWithAction(pipe, action, originalIsError, originalError) {
      if (pipe.shuttingDown) return;
      pipe.shuttingDown = true;
      const doTheRest = () => {
        let result;
        try { result = action(); } catch (error) { result = rejectedWith(error); }
        then(result, () => pipeFinalize(pipe, originalIsError, originalError), (newError) => pipeFinalize(pipe, true, newError));
      };
      if (pipe.dest.state === 'writable' && !closeQueuedOrInFlight(pipe.dest)) then(waitForWritesToFinish(pipe), doTheRest); else doTheRest();
    }
    /** @param {any} pipe @param {boolean} isError @param {unknown} error */ function pipeShutdown(pipe, isError, error) {
      if (pipe.shuttingDown) return;
      pipe.shuttingDown = true;
      if (pipe.dest.state === 'writable' && !closeQueuedOrInFlight(pipe.dest)) then(waitForWritesToFinish(pipe), () => pipeFinalize(pipe, isError, error));
      else pipeFinalize(pipe, isError, error);
    }
    /** @param {any} pipe @param {boolean} isError @param {unknown} error */ function pipeFinalize(pipe, isError, error) {
      writerRelease(pipe.writer);
      readerRelease(pipe.reader);
      if (pipe.abortListener !== null) reflectApply(signalRemoveListener, pipe.flags.signal, ['abort', pipe.abortListener]);
      if (isError) pipe.done.reject(error); else pipe.done.resolve(undefined);
    }
    /* ---- WritableStream: abstract operations ---- */ /** @returns {any} */ const newWritableRecord = () => ({ __proto__: null, kind: '', public: null, state: 'writable', storedError: undefined, writer: null, controller: null, inFlightWriteRequest: null,
      closeRequest: null, inFlightCloseRequest: null, pendingAbortRequest: null, writeRequests: newQueue(), backpressure: false });
    /** @param {any} stream @param {unknown} reason @returns {Promise<undefined>} */ function writableStreamAbort(stream, reason) {
      if (stream.state === 'closed' || stream.state === 'errored') return resolvedUndefined();
      reflectApply(abortControllerAbort, stream.controller.abortController, [reason]);
      const state = stream.state;
      if (state === 'closed' || state === 'errored') return resolvedUndefined();
      if (stream.pendingAbortRequest !== null) return stream.pendingAbortRequest.promise.promise;
      const wasAlreadyErroring = state === 'erroring';
      const d = deferred();
      stream.pendingAbortRequest = { __proto__: null, promise: d, reason: wasAlreadyErroring ? undefined : reason, wasAlreadyErroring };
      if (!wasAlreadyErroring) writableStartErroring(stream, reason);
      return d.promise;
    }
    /** @param {any} stream @returns {Promise<undefined>} */ function writableStreamClose(stream) {
      if (stream.state === 'closed' || stream.state === 'errored') return rejectedWith(new StreamTypeError('The WritableStream is closed or errored: it cannot be closed'));
      const d = deferred();
      stream.closeRequest = d;
      const writer = stream.writer;
      if (writer !== null && stream.backpressure && stream.state === 'writable') writer.ready.resolve(undefined);
      enqueueValueWithSize(stream.controller, closeSentinel, 0);
      writableAdvanceQueueIfNeeded(stream.controller);
      return d.promise;
    }
    const closeSentinel = { __proto__: null };
    /** @param {any} stream @param {unknown} error */ function writableDealWithRejection(stream, error) {
      if (stream.state === 'writable') writableStartErroring(stream, error); else writableFinishErroring(stream);
    }
    /** @param {any} stream @param {unknown} reason */ function writableStartErroring(stream, reason) {
      stream.state = 'erroring';
      stream.storedError = reason;
      if (stream.writer !== null) writerEnsureReadyPromiseRejected(stream.writer, reason);
      if (!hasOperationMarkedInFlight(stream) && stream.controller.started) writableFinishErroring(stream);
    }
    /** @param {any} stream */ function writableFinishErroring(stream) {
      stream.state = 'errored';
      resetQueue(stream.controller);
      const storedError = stream.storedError;
      const requests = stream.writeRequests;
      stream.writeRequests = newQueue();
      while (requests.length > 0) queueShift(requests).reject(storedError);
      const abortRequest = stream.pendingAbortRequest;
      if (abortRequest === null) { rejectCloseAndClosedPromiseIfNeeded(stream); return; }
      stream.pendingAbortRequest = null;
      if (abortRequest.wasAlreadyErroring) { abortRequest.promise.reject(storedError); rejectCloseAndClosedPromiseIfNeeded(stream); return; }
      const controller = stream.controller;
      const promise = controller.abortAlgorithm(abortRequest.reason);
      clearWritableAlgorithms(controller);
      then(promise, () => { abortRequest.promise.resolve(undefined); rejectCloseAndClosedPromiseIfNeeded(stream); },
        (reason) => { abortRequest.promise.reject(reason); rejectCloseAndClosedPromiseIfNeeded(stream); });
    }
    /** @param {any} stream */ function rejectCloseAndClosedPromiseIfNeeded(stream) {
      if (stream.closeRequest !== null) { stream.closeRequest.reject(stream.storedError); stream.closeRequest = null; }
      const writer = stream.writer;
      if (writer !== null) { writer.closed.reject(stream.storedError); markHandled(writer.closed.promise); }
    }
    /** @param {any} stream @returns {boolean} */ const closeQueuedOrInFlight = (stream) => stream.closeRequest !== null || stream.inFlightCloseRequest !== null;
    /** @param {any} stream @returns {boolean} */ const hasOperationMarkedInFlight = (stream) => stream.inFlightWriteRequest !== null || stream.inFlightCloseRequest !== null;
    /** @param {any} stream @param {boolean} backpressure */ function writableUpdateBackpressure(stream, backpressure) {
      const writer = stream.writer;
      if (writer !== null && backpressure !== stream.backpressure) {
        if (backpressure) writer.ready = deferred(); else writer.ready.resolve(undefined);
      }
      stream.backpressure = backpressure;
    }
    /** @param {any} stream */ function finishInFlightClose(stream) {
      stream.inFlightCloseRequest.resolve(undefined);
      stream.inFlightCloseRequest = null;
      if (stream.state === 'erroring') {
        stream.storedError = undefined;
        if (stream.pendingAbortRequest !== null) { stream.pendingAbortRequest.promise.resolve(undefined); stream.pendingAbortRequest = null; }
      }
      stream.state = 'closed';
      if (stream.writer !== null) stream.writer.closed.resolve(undefined);
    }
    /** @param {any} stream @param {unknown} error */ function finishInFlightCloseWithError(stream, error) {
      stream.inFlightCloseRequest.reject(error);
      stream.inFlightCloseRequest = null;
      if (stream.pendingAbortRequest !== null) { stream.pendingAbortRequest.promise.reject(error); stream.pendingAbortRequest = null; }
      writableDealWithRejection(stream, error);
    }
    /* ---- WritableStreamDefaultController: abstract operations ---- */ /** @param {any} controller */ function clearWritableAlgorithms(controller) {
      controller.writeAlgorithm = resolvedUndefined;
      controller.closeAlgorithm = resolvedUndefined;
      controller.abortAlgorithm = resolvedUndefined;
      controller.strategySizeAlgorithm = null;
    }
    /** @param {any} controller @param {unknown} chunk @returns {number} */ function writableChunkSize(controller, chunk) {
      if (controller.strategySizeAlgorithm === null) return 1;
      try { return controller.strategySizeAlgorithm(chunk); } catch (error) { writableErrorIfNeeded(controller, error); return 1; }
    }
    /** @param {any} controller @returns {number} */ const writableDesiredSize = (controller) => controller.strategyHWM - controller.queueTotalSize;
    /** @param {any} controller @param {unknown} chunk @param {number} size */ function writableControllerWrite(controller, chunk, size) {
      try { enqueueValueWithSize(controller, chunk, size); } catch (error) { writableErrorIfNeeded(controller, error); return; }
      const stream = controller.stream;
      if (!closeQueuedOrInFlight(stream) && stream.state === 'writable') writableUpdateBackpressure(stream, writableDesiredSize(controller) <= 0);
      writableAdvanceQueueIfNeeded(controller);
    }
    /** @param {any} controller */ function writableAdvanceQueueIfNeeded(controller) {
      const stream = controller.stream;
      if (!controller.started || stream.inFlightWriteRequest !== null) return;
      if (stream.state === 'erroring') { writableFinishErroring(stream); return; }
      if (controller.queue.length === 0) return;
      if (controller.queue.head.value.value === closeSentinel) writableProcessClose(controller); else writableProcessWrite(controller, controller.queue.head.value.value);
    }
    /** @param {any} controller @param {unknown} error */ function writableErrorIfNeeded(controller, error) {
      if (controller.stream.state === 'writable') writableControllerError(controller, error);
    }
    /** @param {any} controller @param {unknown} error */ function writableControllerError(controller, error) {
      clearWritableAlgorithms(controller);
      writableStartErroring(controller.stream, error);
    }
    /** @param {any} controller */ function writableProcessClose(controller) {
      const stream = controller.stream;
      stream.inFlightCloseRequest = stream.closeRequest;
      stream.closeRequest = null;
      dequeueValue(controller);
      const sinkClosePromise = controller.closeAlgorithm();
      clearWritableAlgorithms(controller);
      then(sinkClosePromise, () => finishInFlightClose(stream), (reason) => finishInFlightCloseWithError(stream, reason));
    }
    /** @param {any} controller @param {unknown} chunk */ function writableProcessWrite(controller, chunk) {
      const stream = controller.stream;
      stream.inFlightWriteRequest = queueShift(stream.writeRequests);
      then(controller.writeAlgorithm(chunk), () => {
        stream.inFlightWriteRequest.resolve(undefined);
        stream.inFlightWriteRequest = null;
        dequeueValue(controller);
        if (!closeQueuedOrInFlight(stream) && stream.state === 'writable') writableUpdateBackpressure(stream, writableDesiredSize(controller) <= 0);
        writableAdvanceQueueIfNeeded(controller);
      }, (reason) => {
        if (stream.state === 'writable') clearWritableAlgorithms(controller);
        stream.inFlightWriteRequest.reject(reason);
        stream.inFlightWriteRequest = null;
        writableDealWithRejection(stream, reason);
      });
    }
    /**  @param {any} stream @param {() => unknown} startAlgorithm @param {(chunk: unknown) => Promise<any>} writeAlgorithm @param {() => Promise<any>} closeAlgorithm @param {(reason: unknown) => Promise<any>} abortAlgorithm @param {number} highWaterMark @param {(chunk: unknown) => number} sizeAlgorithm */ function setUpWritableController(stream, startAlgorithm, writeAlgorithm, closeAlgorithm, abortAlgorithm, highWaterMark, sizeAlgorithm) {
      const controller = { __proto__: null, kind: '', public: null, stream, queue: newQueue(), queueTotalSize: 0, started: false, abortController: new StreamAbortController(),
        strategySizeAlgorithm: /** @type {any} */ (sizeAlgorithm), strategyHWM: highWaterMark, writeAlgorithm, closeAlgorithm, abortAlgorithm };
      made('WritableStreamDefaultController', WritableStreamDefaultController, controller);
      stream.controller = controller;
      writableUpdateBackpressure(stream, writableDesiredSize(controller) <= 0);
      const startResult = startAlgorithm();
      then(resolvedWith(startResult), () => { controller.started = true; writableAdvanceQueueIfNeeded(controller); },
        (reason) => { controller.started = true; writableDealWithRejection(stream, reason); });
    }
    /* ---- writers ---- */ /** @param {any} stream @returns {any} the writer's record */ function acquireWriter(stream) {
      const writer = { __proto__: null, kind: '', public: null, stream: null, ready: null, closed: null };
      made('WritableStreamDefaultWriter', WritableStreamDefaultWriter, writer);
      setUpWriter(writer, stream);
      return writer;
    }
    /** @param {any} writer @param {any} stream */ function setUpWriter(writer, stream) {
      if (stream.writer !== null) throw new StreamTypeError('WritableStream is locked: it has a writer already (releaseLock() it first)');
      writer.stream = stream;
      stream.writer = writer;
      const state = stream.state;
      if (state === 'writable') {
        writer.ready = !closeQueuedOrInFlight(stream) && stream.backpressure ? deferred() : resolvedDeferred(undefined);
        writer.closed = deferred();
      } else if (state === 'erroring') {
        writer.ready = rejectedDeferred(stream.storedError);
        writer.closed = deferred();
      } else if (state === 'closed') {
        writer.ready = resolvedDeferred(undefined);
        writer.closed = resolvedDeferred(undefined);
      } else {
        writer.ready = rejectedDeferred(stream.storedError);
        writer.closed = rejectedDeferred(stream.storedError);
      }
    }
    /** @param {any} writer @param {unknown} error */ function writerEnsureReadyPromiseRejected(writer, error) {
      if (writer.ready.state === 'pending') writer.ready.reject(error); else writer.ready = rejectedDeferred(error);
      markHandled(writer.ready.promise);
    }
    /** @param {any} writer @param {unknown} error */ function writerEnsureClosedPromiseRejected(writer, error) {
      if (writer.closed.state === 'pending') writer.closed.reject(error); else writer.closed = rejectedDeferred(error);
      markHandled(writer.closed.promise);
    }
    /** @param {any} writer */ function writerRelease(writer) {
      const released = new StreamTypeError('The writer was released: its lock on the stream is gone');
      writerEnsureReadyPromiseRejected(writer, released);
      writerEnsureClosedPromiseRejected(writer, released);
      writer.stream.writer = null;
      writer.stream = null;
    }
    /** @param {any} writer @param {unknown} chunk @returns {Promise<undefined>} */ function writerWrite(writer, chunk) {
      const stream = writer.stream;
      const controller = stream.controller;
      const chunkSize = writableChunkSize(controller, chunk);
      if (stream !== writer.stream) return rejectedWith(new StreamTypeError('write: the writer was released while the chunk\'s size was measured'));
      const state = stream.state;
      if (state === 'errored') return rejectedWith(stream.storedError);
      if (closeQueuedOrInFlight(stream) || state === 'closed') return rejectedWith(new StreamTypeError('write: the WritableStream is closing or closed'));
      if (state === 'erroring') return rejectedWith(stream.storedError);
      const d = deferred();
      queuePush(stream.writeRequests, d);
      writableControllerWrite(controller, chunk, chunkSize);
      return d.promise;
    }
    /** @param {any} writer @returns {Promise<undefined>} */ function writerCloseWithErrorPropagation(writer) {
      const stream = writer.stream;
      if (closeQueuedOrInFlight(stream) || stream.state === 'closed') return resolvedUndefined();
      if (stream.state === 'errored') return rejectedWith(stream.storedError);
      return writableStreamClose(stream);
    }
    /* ---- WritableStream: the classes ---- */ class WritableStream {
      /** @param {unknown} [underlyingSink] @param {unknown} [strategy] */ constructor(underlyingSink = undefined, strategy = undefined) {
        const strategyDict = strategyOf(strategy);
        const sink = dictionary(underlyingSink, 'The underlying sink');
        const abort = callbackMember(sink, 'abort', 'The underlying sink');
        const close = callbackMember(sink, 'close', 'The underlying sink');
        const start = callbackMember(sink, 'start', 'The underlying sink');
        if (sink.type !== undefined) throw new StreamRangeError('WritableStream: the underlying sink\'s type must be undefined');
        const write = callbackMember(sink, 'write', 'The underlying sink');
        const size = extractSizeAlgorithm(strategyDict);
        const highWaterMark = extractHighWaterMark(strategyDict, 1);
        const stream = bind('WritableStream', this, newWritableRecord());
        const controller = () => stream.controller.public;
        setUpWritableController(stream, () => (start === undefined ? undefined : reflectApply(start, sink, [controller()])),
          write === undefined ? resolvedUndefined : (chunk) => promiseCall(write, sink, [chunk, controller()]),
          close === undefined ? resolvedUndefined : () => promiseCall(close, sink, []),
          abort === undefined ? resolvedUndefined : (reason) => promiseCall(abort, sink, [reason]), highWaterMark, size);
      }
      get locked() { return slotOf(this, 'WritableStream').writer !== null; }
      /** @param {unknown} [reason] */ abort(reason = undefined) {
        const stream = recordOf(this, 'WritableStream');
        if (stream === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a WritableStream'));
        if (stream.writer !== null) return rejectedWith(new StreamTypeError('Cannot abort a locked WritableStream (its writer can)'));
        return writableStreamAbort(stream, reason);
      }
      close() {
        const stream = recordOf(this, 'WritableStream');
        if (stream === null) return rejectedWith(new StreamTypeError('Illegal invocation: not a WritableStream'));
        if (stream.writer !== null) return rejectedWith(new StreamTypeError('Cannot close a locked WritableStream (its writer can)'));
        if (closeQueuedOrInFlight(stream)) return rejectedWith(new StreamTypeError('The WritableStream is closing already'));
        return writableStreamClose(stream);
      }
      getWriter() { return acquireWriter(slotOf(this, 'WritableStream')).public; }
      get [toStringTagSymbol]() { return 'WritableStream'; }
    }
    /** @param {unknown} self @param {string} what @returns {any} the writer's record, its stream still held */ function heldWriter(self, what) {
      const writer = slotOf(self, 'WritableStreamDefaultWriter');
      if (writer.stream === null) throw new StreamTypeError(`${what}: the writer has no stream (its lock was released)`);
      return writer;
    }
    /** @param {() => Promise<any>} body @returns {Promise<any>} a thrown error as a rejection */ function rejecting(body) { try { return body(); } catch (error) { return rejectedWith(error); } }
    class WritableStreamDefaultWriter {
      /** @param {unknown} stream */ constructor(stream) {
        const record = recordOf(stream, 'WritableStream');
        if (record === null) throw new StreamTypeError('WritableStreamDefaultWriter: the argument must be a WritableStream');
        setUpWriter(bind('WritableStreamDefaultWriter', this, { __proto__: null, kind: '', public: null, stream: null, ready: null, closed: null }), record);
      }
      get closed() { return rejecting(() => slotOf(this, 'WritableStreamDefaultWriter').closed.promise); }
      get ready() { return rejecting(() => slotOf(this, 'WritableStreamDefaultWriter').ready.promise); }
      get desiredSize() {
        const stream = heldWriter(this, 'desiredSize').stream;
        if (stream.state === 'errored' || stream.state === 'erroring') return null;
        if (stream.state === 'closed') return 0;
        return writableDesiredSize(stream.controller);
      }
      /** @param {unknown} [reason] */ abort(reason = undefined) { return rejecting(() => writableStreamAbort(heldWriter(this, 'abort').stream, reason)); }
      close() {
        return rejecting(() => {
          const stream = heldWriter(this, 'close').stream;
          if (closeQueuedOrInFlight(stream)) return rejectedWith(new StreamTypeError('close: the WritableStream is closing already'));
          return writableStreamClose(stream);
        });
      }
      releaseLock() {
        const writer = slotOf(this, 'WritableStreamDefaultWriter');
        if (writer.stream !== null) writerRelease(writer);
      }
      /** @param {unknown} [chunk] */ write(chunk = undefined) { return rejecting(() => writerWrite(heldWriter(this, 'write'), chunk)); }
      get [toStringTagSymbol]() { return 'WritableStreamDefaultWriter'; }
    }
    class WritableStreamDefaultController {
      constructor() { throw new StreamTypeError('Illegal constructor'); }
      get signal() { return reflectApply(abortControllerSignal, slotOf(this, 'WritableStreamDefaultController').abortController, []); }
      /** @param {unknown} [error] */ error(error = undefined) {
        const controller = slotOf(this, 'WritableStreamDefaultController');
        if (controller.stream.state === 'writable') writableControllerError(controller, error);
      }
      get [toStringTagSymbol]() { return 'WritableStreamDefaultController'; }
    }
    /* ---- TransformStream ---- */ /** @param {any} stream @param {boolean} backpressure */ function transformSetBackpressure(stream, backpressure) {
      if (stream.backpressureChange !== null) stream.backpressureChange.resolve(undefined);
      stream.backpressureChange = deferred();
      stream.backpressure = backpressure;
    }
    /** @param {any} stream @param {unknown} error */ function transformStreamError(stream, error) {
      readableControllerError(stream.readable.controller, error);
      transformErrorWritableAndUnblockWrite(stream, error);
    }
    /** @param {any} stream @param {unknown} error */ function transformErrorWritableAndUnblockWrite(stream, error) {
      clearTransformAlgorithms(stream.controller);
      writableErrorIfNeeded(stream.writable.controller, error);
      if (stream.backpressure) transformSetBackpressure(stream, false);
    }
    /** @param {any} controller */ function clearTransformAlgorithms(controller) {
      controller.transformAlgorithm = resolvedUndefined;
      controller.flushAlgorithm = resolvedUndefined;
      controller.cancelAlgorithm = resolvedUndefined;
    }
    /** @param {any} controller @param {unknown} chunk */ function transformControllerEnqueue(controller, chunk) {
      const stream = controller.stream;
      const readableController = stream.readable.controller;
      if (!canCloseOrEnqueue(readableController)) throw new StreamTypeError('TransformStream: the readable side is closed or errored: nothing can be enqueued');
      try { readableControllerEnqueue(readableController, chunk); } catch (error) { transformErrorWritableAndUnblockWrite(stream, error); throw stream.readable.storedError; }
      const backpressure = !shouldCallPull(readableController);
      if (backpressure !== stream.backpressure) transformSetBackpressure(stream, true);
    }
    /** @param {any} controller */ function transformControllerTerminate(controller) {
      const stream = controller.stream;
      readableControllerClose(stream.readable.controller);
      transformErrorWritableAndUnblockWrite(stream, new StreamTypeError('The TransformStream was terminated'));
    }
    /** @param {any} controller @param {unknown} chunk @returns {Promise<any>} */ function performTransform(controller, chunk) {
      return then(controller.transformAlgorithm(chunk), undefined, (reason) => { transformStreamError(controller.stream, reason); throw reason; });
    }
    /** @param {any} stream @param {Deferred} finish @param {Promise<any>} promise @param {() => void} onDone @param {(reason: unknown) => void} onError @param {any} other the side whose error wins */ function finishWith(stream, finish, promise, onDone, onError, other) {
      then(promise, () => {
        if (other.state === 'errored') finish.reject(other.storedError); else { onDone(); finish.resolve(undefined); }
      }, (reason) => { onError(reason); finish.reject(reason); });
    }
    /**  The writable side's sink and the readable side's source, for a transform stream's record. @param {any} stream @param {Promise<any>} startPromise @param {number} writableHWM @param {(chunk: unknown) => number} writableSize @param {number} readableHWM @param {(chunk: unknown) => number} readableSize */ function initializeTransformStream(stream, startPromise, writableHWM, writableSize, readableHWM, readableSize) {
      const start = () => startPromise;
      const write = (/** @type {unknown} */ chunk) => {
        const controller = stream.controller;
        if (!stream.backpressure) return performTransform(controller, chunk);
        return chain(stream.backpressureChange.promise, () => {
          if (stream.writable.state === 'erroring') throw stream.writable.storedError;
          return performTransform(controller, chunk);
        });
      };
      /** @param {() => Promise<any>} algorithm @param {() => void} onDone @param {(reason: unknown) => void} onError @param {any} other */ const finishing = (algorithm, onDone, onError, other) => {
        const controller = stream.controller;
        if (controller.finish !== null) return controller.finish.promise;
        controller.finish = deferred();
        const promise = algorithm();
        clearTransformAlgorithms(controller);
        finishWith(stream, controller.finish, promise, onDone, onError, other);
        return controller.finish.promise;
      };
      const readableError = (/** @type {unknown} */ reason) => readableControllerError(stream.readable.controller, reason);
      const writableError = (/** @type {unknown} */ reason) => { writableErrorIfNeeded(stream.writable.controller, reason); if (stream.backpressure) transformSetBackpressure(stream, false); };
      const abort = (/** @type {unknown} */ reason) => finishing(() => stream.controller.cancelAlgorithm(reason), () => readableError(reason), readableError, stream.readable);
      const close = () => finishing(() => stream.controller.flushAlgorithm(), () => readableControllerClose(stream.readable.controller), readableError, stream.readable);
      stream.writable = newWritableRecord();
      made('WritableStream', WritableStream, stream.writable);
      setUpWritableController(stream.writable, start, write, close, abort, writableHWM, writableSize);
      const pull = () => { transformSetBackpressure(stream, false); return stream.backpressureChange.promise; };
      const cancel = (/** @type {unknown} */ reason) => finishing(() => stream.controller.cancelAlgorithm(reason), () => writableError(reason), writableError, stream.writable);
      stream.readable = createReadableStream(start, pull, cancel, readableHWM, readableSize);
      stream.backpressure = false;
      stream.backpressureChange = null;
      transformSetBackpressure(stream, true);
    }
    /** @param {any} stream @param {(chunk: unknown, controller: any) => Promise<any>} [transform] @param {(controller: any) => Promise<any>} [flush] @param {(reason: unknown) => Promise<any>} [cancel] @returns {any} the controller's record */ function setUpTransformController(stream, transform, flush, cancel) {
      const controller = { __proto__: null, kind: '', public: null, stream, transformAlgorithm: /** @type {any} */ (null), flushAlgorithm: /** @type {any} */ (null), cancelAlgorithm: /** @type {any} */ (null), finish: /** @type {Deferred | null} */ (null) };
      made('TransformStreamDefaultController', TransformStreamDefaultController, controller);
      stream.controller = controller;
      controller.transformAlgorithm = transform !== undefined ? (/** @type {unknown} */ chunk) => transform(chunk, controller.public)
        : (/** @type {unknown} */ chunk) => { try { transformControllerEnqueue(controller, chunk); return resolvedUndefined(); } catch (error) { return rejectedWith(error); } };
      controller.flushAlgorithm = flush !== undefined ? () => flush(controller.public) : resolvedUndefined;
      controller.cancelAlgorithm = cancel !== undefined ? cancel : resolvedUndefined;
      return controller;
    }
    class TransformStream {
      /** @param {unknown} [transformer] @param {unknown} [writableStrategy] @param {unknown} [readableStrategy] */ constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
        const writableDict = strategyOf(writableStrategy);
        const readableDict = strategyOf(readableStrategy);
        const dict = dictionary(transformer, 'The transformer');
        const cancel = callbackMember(dict, 'cancel', 'The transformer');
        const flush = callbackMember(dict, 'flush', 'The transformer');
        if (dict.readableType !== undefined) throw new StreamRangeError('TransformStream: readableType must be undefined');
        const start = callbackMember(dict, 'start', 'The transformer');
        const transform = callbackMember(dict, 'transform', 'The transformer');
        if (dict.writableType !== undefined) throw new StreamRangeError('TransformStream: writableType must be undefined');
        const readableHWM = extractHighWaterMark(readableDict, 0);
        const readableSize = extractSizeAlgorithm(readableDict);
        const writableHWM = extractHighWaterMark(writableDict, 1);
        const writableSize = extractSizeAlgorithm(writableDict);
        const startPromise = deferred();
        const stream = bind('TransformStream', this, { __proto__: null, kind: '', public: null, readable: null, writable: null, backpressure: false, backpressureChange: null, controller: null });
        initializeTransformStream(stream, startPromise.promise, writableHWM, writableSize, readableHWM, readableSize);
        const controller = setUpTransformController(stream,
          transform === undefined ? undefined : (chunk, publicController) => promiseCall(transform, dict, [chunk, publicController]),
          flush === undefined ? undefined : (publicController) => promiseCall(flush, dict, [publicController]),
          cancel === undefined ? undefined : (reason) => promiseCall(cancel, dict, [reason]));
        if (start === undefined) startPromise.resolve(undefined); else startPromise.resolve(reflectApply(start, dict, [controller.public]));
      }
      get readable() { return slotOf(this, 'TransformStream').readable.public; }
      get writable() { return slotOf(this, 'TransformStream').writable.public; }
      get [toStringTagSymbol]() { return 'TransformStream'; }
    }
    class TransformStreamDefaultController {
      constructor() { throw new StreamTypeError('Illegal constructor'); }
      get desiredSize() { return readableDesiredSize(slotOf(this, 'TransformStreamDefaultController').stream.readable.controller); }
      /** @param {unknown} [chunk] */ enqueue(chunk = undefined) { transformControllerEnqueue(slotOf(this, 'TransformStreamDefaultController'), chunk); }
      /** @param {unknown} [reason] */ error(reason = undefined) { transformStreamError(slotOf(this, 'TransformStreamDefaultController').stream, reason); }
      terminate() { transformControllerTerminate(slotOf(this, 'TransformStreamDefaultController')); }
      get [toStringTagSymbol]() { return 'TransformStreamDefaultController'; }
    }
    /* ---- queuing strategies ---- */ /** @param {unknown} init @param {string} name @returns {number} */ function strategyHighWaterMark(init, name) {
      if (init === null || typeof init !== 'object') throw new StreamTypeError(`${name}: the argument must be an object with a highWaterMark`);
      const value = /** @type {any} */ (init).highWaterMark;
      if (value === undefined) throw new StreamTypeError(`${name}: highWaterMark is required`);
      return RealNumber(value);
    }
    /* One size function per realm, as the standard says (strategy.size === other.size). */ const byteLengthSize = { size(/** @type {any} */ chunk) { return chunk.byteLength; } }.size;
    const countSize = { size() { return 1; } }.size;
    class ByteLengthQueuingStrategy {
      #highWaterMark;
      /** @param {unknown} init */ constructor(init) { this.#highWaterMark = strategyHighWaterMark(init, 'ByteLengthQueuingStrategy'); }
      get highWaterMark() { return this.#highWaterMark; }
      get size() { this.#highWaterMark; return byteLengthSize; }
      get [toStringTagSymbol]() { return 'ByteLengthQueuingStrategy'; }
    }
    class CountQueuingStrategy {
      #highWaterMark;
      /** @param {unknown} init */ constructor(init) { this.#highWaterMark = strategyHighWaterMark(init, 'CountQueuingStrategy'); }
      get highWaterMark() { return this.#highWaterMark; }
      get size() { this.#highWaterMark; return countSize; }
      get [toStringTagSymbol]() { return 'CountQueuingStrategy'; }
    }
    /* ---- TextEncoderStream, TextDecoderStream ---- */ const encoder = new StreamTextEncoder();
    /** @param {any} transformer @returns {any} */ function textStream(transformer) {
      const stream = { __proto__: null, kind: '', public: null, readable: null, writable: null, backpressure: false, backpressureChange: null, controller: null };
      initializeTransformStream(stream, resolvedUndefined(), 1, () => 1, 0, () => 1);
      const controller = setUpTransformController(stream, (chunk) => {
        try { transformer.transform(chunk, (/** @type {unknown} */ out) => transformControllerEnqueue(controller, out)); return resolvedUndefined(); } catch (error) { return rejectedWith(error); }
      }, () => {
        try { transformer.flush((/** @type {unknown} */ out) => transformControllerEnqueue(controller, out)); return resolvedUndefined(); } catch (error) { return rejectedWith(error); }
      });
      return stream;
    }
    class TextEncoderStream {
      #stream;
      constructor() {
        let pendingHigh = 0;
        this.#stream = textStream({
          /** @param {unknown} chunk @param {(out: unknown) => void} enqueue */
          transform(chunk, enqueue) {
            let text = StreamString(chunk);
            if (pendingHigh !== 0) { text = streamFromCharCode(pendingHigh) + text; pendingHigh = 0; }
            const last = text.length === 0 ? 0 : reflectApply(stringCharCodeAt, text, [text.length - 1]);
            if (last >= 0xd800 && last <= 0xdbff) { pendingHigh = last; text = reflectApply(stringSliceOf, text, [0, text.length - 1]); }
            if (text.length > 0) enqueue(reflectApply(textEncode, encoder, [text]));
          },
          /** @param {(out: unknown) => void} enqueue */
          flush(enqueue) {
            if (pendingHigh === 0) return;
            const replacement = new RealUint8Array(3);
            replacement[0] = 0xef; replacement[1] = 0xbf; replacement[2] = 0xbd;
            enqueue(replacement);
          },
        });
      }
      get encoding() { this.#stream; return 'utf-8'; }
      get readable() { return this.#stream.readable.public; }
      get writable() { return this.#stream.writable.public; }
      get [toStringTagSymbol]() { return 'TextEncoderStream'; }
    }
    /** Where the bytes stop being whole UTF-8 sequences: a lead byte whose sequence is cut short starts the tail @param {Uint8Array} bytes @returns {number} */ function completeUtf8Length(bytes) {
      const length = reflectApply(typedArrayLength, bytes, []);
      for (let back = 1; back <= 3 && back <= length; back++) {
        const byte = bytes[length - back];
        if ((byte & 0xc0) === 0x80) continue;
        const needed = byte >= 0xf0 && byte <= 0xf4 ? 4 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xc2 && byte <= 0xdf ? 2 : 1;
        return back < needed ? length - back : length;
      }
      return length;
    }
    class TextDecoderStream {
      #stream;
      #decoder;
      /** @param {unknown} [label] @param {unknown} [options] */ constructor(label = 'utf-8', options = undefined) {
        const decoder = new StreamTextDecoder(label, options);
        this.#decoder = decoder;
        const fatal = reflectApply(textDecoderFatal, decoder, []);
        const ignoreBOM = reflectApply(textDecoderIgnoreBOM, decoder, []);
        const inner = new StreamTextDecoder('utf-8', { __proto__: null, fatal, ignoreBOM: true });
        let pending = new RealUint8Array(0);
        let started = false;
        /** @param {Uint8Array} bytes @param {(out: unknown) => void} enqueue */
        const emit = (bytes, enqueue) => {
          let text = reflectApply(textDecode, inner, [bytes]);
          if (!started && text.length > 0) { started = true; if (!ignoreBOM && reflectApply(stringCharCodeAt, text, [0]) === 0xfeff) text = reflectApply(stringSliceOf, text, [1]); }
          if (text.length > 0) enqueue(text);
        };
        this.#stream = textStream({
          /** @param {unknown} chunk @param {(out: unknown) => void} enqueue */
          transform(chunk, enqueue) {
            const view = bufferSourceView(chunk);
            if (view === null) throw new StreamTypeError('TextDecoderStream: a chunk must be an ArrayBuffer or an ArrayBufferView');
            const pendingLength = reflectApply(typedArrayLength, pending, []);
            const bytes = new RealUint8Array(pendingLength + reflectApply(typedArrayLength, view, []));
            reflectApply(typedArraySet, bytes, [pending]);
            reflectApply(typedArraySet, bytes, [view, pendingLength]);
            const whole = completeUtf8Length(bytes);
            pending = new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), whole);
            emit(new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), 0, whole), enqueue);
          },
          /** @param {(out: unknown) => void} enqueue */
          flush(enqueue) { if (reflectApply(typedArrayLength, pending, []) > 0) emit(pending, enqueue); },
        });
      }
      get encoding() { return reflectApply(textDecoderEncoding, this.#decoder, []); }
      get fatal() { return reflectApply(textDecoderFatal, this.#decoder, []); }
      get ignoreBOM() { return reflectApply(textDecoderIgnoreBOM, this.#decoder, []); }
      get readable() { return this.#stream.readable.public; }
      get writable() { return this.#stream.writable.public; }
      get [toStringTagSymbol]() { return 'TextDecoderStream'; }
    }
    /* ---- what fetch.js and Blob use ---- */ /** A stream of `bytes` in chunks of at most blobChunkBytesMax (copies: the reader may keep or change them) @param {Promise<Uint8Array> | null} bytesPromise @param {Uint8Array | null} known the bytes, when they are at hand @returns {any} */ function byteChunksStream(bytesPromise, known) {
      /** @type {Uint8Array | null} */ let bytes = known;
      let offset = 0;
      /** @type {any} */ let stream = null;
      // Bytes at hand are never passed through a promise: resolving one with a Uint8Array looks up its `then`, which a run may have put on Object.prototype.
      const pull = () => (bytes !== null ? (step(), resolvedUndefined()) : then(/** @type {Promise<Uint8Array>} */ (bytesPromise), (whole) => { bytes = whole; step(); }));
      const step = () => {
        if (bytes === null) return;
        const length = reflectApply(typedArrayLength, bytes, []);
        if (offset >= length) { readableControllerClose(stream.controller); return; }
        const size = mathMin(blobChunkBytesMax, length - offset);
        const chunk = new RealUint8Array(size);
        reflectApply(typedArraySet, chunk, [new RealUint8Array(reflectApply(typedArrayView[0], bytes, []), reflectApply(typedArrayView[1], bytes, []) + offset, size)]);
        offset += size;
        readableControllerEnqueue(stream.controller, chunk);
        if (offset >= length) readableControllerClose(stream.controller);
      };
      stream = createReadableStream(noop, pull, () => { bytes = null; return resolvedUndefined(); }, 0);
      return stream;
    }
    /** Reads a whole stream of Uint8Array chunks, as a body's text() does, the bytes in a null-prototype box (no `then` to look up) @param {any} stream @returns {Promise<{ bytes: Uint8Array }>} */ function readAllBytes(stream) {
      const reader = acquireReader(stream);
      const chunks = newQueue();
      let total = 0;
      const d = deferred();
      const step = () => readerRead(reader, { __proto__: null,
        chunk: (/** @type {unknown} */ chunk) => {
          if (!arrayBufferIsView(chunk) || reflectApply(typedArrayTag, chunk, []) !== 'Uint8Array') {
            const error = new StreamTypeError('The body\'s stream gave a chunk that is not a Uint8Array');
            d.reject(error);
            readableStreamCancel(stream, error);
            readerRelease(reader);
            return;
          }
          queuePush(chunks, chunk);
          total += reflectApply(typedArrayLength, chunk, []);
          step();
        },
        close: () => {
          const bytes = new RealUint8Array(total);
          let at = 0;
          while (chunks.length > 0) { const chunk = queueShift(chunks); reflectApply(typedArraySet, bytes, [chunk, at]); at += reflectApply(typedArrayLength, chunk, []); }
          d.resolve({ __proto__: null, bytes });
        },
        error: d.reject });
      step();
      return d.promise;
    }
    const api = {
      /** @param {unknown} value @returns {boolean} */ isReadableStream: (value) => recordOf(value, 'ReadableStream') !== null,
      /** @param {unknown} value @returns {boolean} locked or read from: a body made of it can no longer be read */ isUnusable: (value) => { const stream = recordOf(value, 'ReadableStream'); return stream.disturbed || isLocked(stream); },
      /** @param {unknown} value @returns {boolean} */ isDisturbed: (value) => recordOf(value, 'ReadableStream').disturbed,
      /** @param {Uint8Array} bytes @returns {any} a ReadableStream of the bytes */ streamOf: (bytes) => byteChunksStream(null, bytes).public,
      /** @param {unknown} value @returns {Promise<{ bytes: Uint8Array }>} */ readAll: (value) => readAllBytes(recordOf(value, 'ReadableStream')),
      /** @param {unknown} value @returns {any[]} */ tee: (value) => { const branches = readableStreamTee(recordOf(value, 'ReadableStream')); return [branches[0].public, branches[1].public]; },
    };
    const globals = { __proto__: null, ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController, WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController,
      TransformStream, TransformStreamDefaultController, ByteLengthQueuingStrategy, CountQueuingStrategy, TextEncoderStream, TextDecoderStream };
    return { __proto__: null, api, globals, blobStream: (/** @type {unknown} */ blob) => byteChunksStream(reflectApply(blobBytes, blob, []), null).public };
  }

  // ---- laziness: the classes are built on first use, by a global's getter, Blob.stream() or a body ----
  // Every context starts from the prelude's snapshot, and each object made here at start-up would
  // be deserialized for every run (≈ 0.25 ms of CPU per context for these classes, measured):
  // only the accessors defineLazy makes exist until then. Building runs in a run whose code may have replaced
  // any builtin, so it too calls only what was captured above (null-prototype descriptors, index loops).
  /** @type {any} */
  let built = null;
  // A lazy.js group (defineLazy presents the classes as V8's own, and names the group to checkpoints).
  const settleStreams = defineLazy(globalThis, streamNames, () => {
    fetchWebApi();
    const made = buildStreams();
    built = made;
    return made.globals;
  }, { group: 'streams' });
  /** @returns {any} */
  function ensureBuilt() {
    if (built === null) settleStreams();
    return built;
  }
  // Blob is built on a context's first read (web-api.js, lazy.js): stream() joins its prototype then,
  // so reading Blob here would build every web-api class into each context's snapshot.
  webApiExtend((values) => {
    blobBytes = values.Blob.prototype.bytes;
    const AbortSignalPrototype = values.AbortSignal.prototype;
    signalAborted = getterOf(AbortSignalPrototype, 'aborted');
    signalReason = getterOf(AbortSignalPrototype, 'reason');
    signalAddListener = AbortSignalPrototype.addEventListener;
    signalRemoveListener = AbortSignalPrototype.removeEventListener;
    StreamAbortController = values.AbortController;
    abortControllerSignal = getterOf(StreamAbortController.prototype, 'signal');
    abortControllerAbort = StreamAbortController.prototype.abort;
    defineBuiltin(values.Blob.prototype, 'stream', { stream() { return ensureBuilt().blobStream(this); } }.stream);
  });
  streamsApi = /** @type {typeof streamsApi} */ (/** @type {unknown} */ ({
    __proto__: null,
    isReadableStream: (/** @type {unknown} */ value) => built !== null && built.api.isReadableStream(value),
    isUnusable: (/** @type {unknown} */ value) => ensureBuilt().api.isUnusable(value),
    isDisturbed: (/** @type {unknown} */ value) => ensureBuilt().api.isDisturbed(value),
    streamOf: (/** @type {Uint8Array} */ bytes) => ensureBuilt().api.streamOf(bytes),
    readAll: (/** @type {unknown} */ value) => ensureBuilt().api.readAll(value),
    tee: (/** @type {unknown} */ value) => ensureBuilt().api.tee(value),
  }));
})();
