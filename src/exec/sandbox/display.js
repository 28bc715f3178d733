// @ts-check
// Sandbox code: display(image), which hands PNG or JPEG bytes, or an SVG string, to the agent as
// MCP image content. It runs after the prelude at snapshot time and captures what it uses then
// (console.log, btoa, builtins), so user code that replaces them later changes nothing. The image
// travels as one console line with a marker; the host (src/service/images.ts) takes such lines
// out of the output, checks them again, and keeps the image for the reply. A replay displays
// nothing (the prelude's console prints nothing while replaying).
(function () {
  'use strict';
  const log = globalThis.console.log;
  const toBase64 = /** @type {(binary: string) => string} */ (/** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis)).btoa);
  const fromCharCode = String.fromCharCode;
  const apply = Reflect.apply;
  const isView = ArrayBuffer.isView;
  const Uint8ArrayOf = Uint8Array;
  const TypeErrorType = TypeError;
  const RangeErrorType = RangeError;
  /** @type {(prototype: object, name: string) => Function} */
  const getter = (prototype, name) => /** @type {Function} */ (/** @type {PropertyDescriptor} */ (Reflect.getOwnPropertyDescriptor(prototype, name)).get);
  const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
  const typedArrayView = { __proto__: null, buffer: getter(TypedArrayPrototype, 'buffer'), offset: getter(TypedArrayPrototype, 'byteOffset'), bytes: getter(TypedArrayPrototype, 'byteLength') };
  const dataViewView = { __proto__: null, buffer: getter(DataView.prototype, 'buffer'), offset: getter(DataView.prototype, 'byteOffset'), bytes: getter(DataView.prototype, 'byteLength') };
  const typedArrayLength = getter(TypedArrayPrototype, 'length');
  const arrayBufferBytes = getter(ArrayBuffer.prototype, 'byteLength');
  /**
   * One character for each byte value, made before any run: base64 then calls nothing a run can
   * replace (a primitive string's index within its length reads no prototype). One flat string,
   * which the contexts of an isolate share, not a list of 256 copied into each.
   */
  const byteCodes = /** @type {number[]} */ ([]);
  for (let value = 0; value < 256; value++) byteCodes[value] = value;
  const byteChars = /** @type {string} */ (apply(fromCharCode, undefined, byteCodes));
  /** @param {Uint8Array} bytes @returns {number} */
  const lengthOf = (bytes) => apply(typedArrayLength, bytes, []);
  /**
   * The bytes a view views, by the getters of its kind, or null if they refuse it.
   * @param {unknown} view @param {{ buffer: Function, offset: Function, bytes: Function }} getters @returns {Uint8Array | null}
   */
  const viewBytes = (view, getters) => {
    let buffer, offset, bytes;
    try {
      buffer = apply(getters.buffer, view, []);
      offset = apply(getters.offset, view, []);
      bytes = apply(getters.bytes, view, []);
    } catch {
      return null;
    }
    return new Uint8ArrayOf(buffer, offset, bytes);
  };
  /**
   * The bytes of a typed array, a DataView or an ArrayBuffer, or null: told apart by the builtins'
   * own getters, which throw for anything else (not by instanceof, which a run can answer for).
   * @param {unknown} image @returns {Uint8Array | null}
   */
  const bytesOf = (image) => {
    if (isView(image)) return viewBytes(image, typedArrayView) ?? viewBytes(image, dataViewView);
    let bytes;
    try {
      bytes = apply(arrayBufferBytes, image, []);
    } catch {
      return null;
    }
    return new Uint8ArrayOf(/** @type {ArrayBuffer} */ (image), 0, bytes);
  };
  const stringTrim = String.prototype.trimStart;
  const stringStartsWith = String.prototype.startsWith;
  const stringLength = (/** @type {string} */ text) => text.length;
  const marker = '\u0000mcp-v8:display:';
  const imageBytesMax = 1024 * 1024;
  const encodeUtf8 = (() => { const encoder = new TextEncoder(); const encode = TextEncoder.prototype.encode; return (/** @type {string} */ text) => apply(encode, encoder, [text]); })();

  /** @param {Uint8Array} bytes @returns {string} */
  function base64(bytes) {
    let binary = '';
    const length = lengthOf(bytes);
    for (let index = 0; index < length; index++) binary += byteChars[bytes[index]];
    return toBase64(binary);
  }

  /** @param {Uint8Array} bytes @returns {string | null} */
  function kindOf(bytes) {
    const length = lengthOf(bytes);
    if (length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
    if (length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
    return null;
  }

  /** @param {unknown} image */
  function display(image) {
    let bytes;
    let mimeType;
    if (typeof image === 'string') {
      const text = apply(stringTrim, image, []);
      if (!apply(stringStartsWith, text, ['<svg']) && !apply(stringStartsWith, text, ['<?xml'])) {
        throw new TypeErrorType('display(): a string must be SVG markup (starting with <svg or <?xml)');
      }
      if (stringLength(image) > imageBytesMax) throw new RangeErrorType(`display(): the SVG is ${stringLength(image)} characters; at most ${imageBytesMax}`);
      bytes = encodeUtf8(image);
      mimeType = 'image/svg+xml';
    } else {
      const viewed = bytesOf(image);
      if (viewed === null) throw new TypeErrorType('display() takes PNG or JPEG bytes (a Uint8Array or ArrayBuffer) or an SVG string');
      bytes = viewed;
      mimeType = kindOf(bytes);
      if (mimeType === null) throw new TypeErrorType('display(): the bytes are neither PNG nor JPEG (checked by their signature)');
    }
    if (lengthOf(bytes) > imageBytesMax) throw new RangeErrorType(`display(): the image is ${lengthOf(bytes)} bytes; at most ${imageBytesMax}`);
    log(marker + mimeType + ';' + base64(bytes));
  }
  Object.defineProperty(globalThis, 'display', { value: display, writable: true, configurable: true });
})();
