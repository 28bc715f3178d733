// @ts-check
// Sandbox code, part of the prelude (see console.js): the `fs` global of the reference README, a
// promise API whose every call the host checks against the filesystem policy (src/policy/fs-gate.ts)
// and, in a stateful run, records for replay (src/exec/effects.ts). Installed by attach
// (fetch.js, installEffects) only with a filesystem policy. Captured built-ins only.
const FsError = Error;
const FsTypeError = TypeError;
const fsDefineProperty = Object.defineProperty;

/**
 * An Error as Node's fs rejects with: the host's message, and its code (ENOENT, EACCES, …, or
 * the gate's kind: denied, too_large, invalid_request, busy).
 * @param {string} message
 * @param {string | undefined} code
 * @returns {Error}
 */
function fsFailure(message, code) {
  const error = new FsError(message);
  if (code !== undefined) fsDefineProperty(error, 'code', { value: code, writable: true, enumerable: true, configurable: true });
  return error;
}

/**
 * A path as the host expects it: a string (URL and Buffer paths are not supported here).
 * @param {string} op
 * @param {unknown} path
 * @returns {string}
 */
function fsPath(op, path) {
  if (typeof path !== 'string') throw new FsTypeError(`fs.${op}: the path must be a string`);
  return path;
}

/**
 * Data to write: a string, or the bytes of an ArrayBuffer or view (copied), within the host's bound.
 * @param {string} op
 * @param {unknown} data
 * @returns {string | Uint8Array}
 */
function fsData(op, data) {
  const bytes = typeof data === 'string' ? null : bytesOf(data);
  if (typeof data !== 'string' && bytes === null) throw new FsTypeError(`fs.${op}: data must be a string or a Uint8Array`);
  const size = bytes === null ? /** @type {string} */ (data).length : bytes.length;
  // A string's UTF-8 may be up to 3 bytes a character: the host checks the exact size again.
  if (size > effectFeatures.fsWriteBytesMax) throw fsFailure(`fs.${op}: data larger than ${effectFeatures.fsWriteBytesMax} bytes`, 'too_large');
  return bytes === null ? /** @type {string} */ (data) : bytes;
}

/**
 * `{recursive}` from an options object, read once.
 * @param {unknown} options
 * @returns {boolean}
 */
function fsRecursive(options) {
  return options !== null && typeof options === 'object' && /** @type {any} */ (options).recursive === true;
}

/**
 * Runs `build` (argument checks) and sends its request; a throw becomes the promise's rejection.
 * @param {() => object} build
 * @returns {Promise<any>}
 */
function fsCall(build) {
  try {
    return callHost('fs', build(), fsFailure);
  } catch (error) {
    return reflectApply(promiseReject, RealPromise, [error]);
  }
}

/**
 * An operation on one path.
 * @param {string} op
 * @returns {(path: unknown) => Promise<any>}
 */
const onePath = (op) => (path) => fsCall(() => ({ op, path: fsPath(op, path) }));
/**
 * An operation on one path with `{recursive}`.
 * @param {string} op
 * @returns {(path: unknown, options?: unknown) => Promise<any>}
 */
const withRecursive = (op) => (path, options = undefined) => fsCall(() => ({ op, path: fsPath(op, path), recursive: fsRecursive(options) }));
/**
 * An operation from one path to another.
 * @param {string} op
 * @returns {(from: unknown, to: unknown) => Promise<any>}
 */
const twoPaths = (op) => (from, to) => fsCall(() => ({ op, path: fsPath(op, from), destination: fsPath(op, to) }));

/**
 * The fs object of one context.
 * @returns {object}
 */
function makeFs() {
  const fs = {
    /** @param {unknown} path @param {unknown} [options] 'utf8' (default) or 'buffer', or {encoding} */
    readFile(path, options = undefined) {
      return fsCall(() => {
        const encoding = options !== null && typeof options === 'object' ? /** @type {any} */ (options).encoding : options;
        const chosen = encoding === undefined || encoding === null || encoding === 'utf8' || encoding === 'utf-8' ? 'utf8' : encoding === 'buffer' ? 'buffer' : null;
        if (chosen === null) throw new FsTypeError(`fs.readFile: encoding must be "utf8" or "buffer"`);
        return { op: 'readFile', path: fsPath('readFile', path), encoding: chosen };
      });
    },
    /** @param {unknown} path @param {unknown} data */
    writeFile(path, data) {
      return fsCall(() => ({ op: 'writeFile', path: fsPath('writeFile', path), data: fsData('writeFile', data) }));
    },
    /** @param {unknown} path @param {unknown} data */
    appendFile(path, data) {
      return fsCall(() => ({ op: 'appendFile', path: fsPath('appendFile', path), data: fsData('appendFile', data) }));
    },
    readdir: onePath('readdir'),
    stat: onePath('stat'),
    mkdir: withRecursive('mkdir'),
    rm: withRecursive('rm'),
    rename: twoPaths('rename'),
    copyFile: twoPaths('copyFile'),
    exists: onePath('exists'),
  };
  // Code written for Node's fs/promises (`fs.promises.readFile`) works too.
  fsDefineProperty(fs, 'promises', { value: fs, enumerable: false, configurable: true, writable: true });
  fsDefineProperty(fs, Symbol.toStringTag, { value: 'fs', configurable: true });
  return fs;
}
