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
  const slice = Array.prototype.slice;
  const isView = ArrayBuffer.isView;
  const Uint8ArrayOf = Uint8Array;
  const ArrayBufferType = ArrayBuffer;
  const TypeErrorType = TypeError;
  const RangeErrorType = RangeError;
  const typedArrayBytes = /** @type {(this: unknown) => number} */ (/** @type {PropertyDescriptor} */ (Reflect.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength')).get);
  const arrayBufferBytes = /** @type {(this: unknown) => number} */ (/** @type {PropertyDescriptor} */ (Reflect.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')).get);
  const stringTrim = String.prototype.trimStart;
  const stringStartsWith = String.prototype.startsWith;
  const stringLength = (/** @type {string} */ text) => text.length;
  const marker = '\u0000mcp-v8:display:';
  const imageBytesMax = 1024 * 1024;
  const encodeUtf8 = (() => { const encoder = new TextEncoder(); const encode = TextEncoder.prototype.encode; return (/** @type {string} */ text) => apply(encode, encoder, [text]); })();

  /** @param {Uint8Array} bytes @returns {string} */
  function base64(bytes) {
    let binary = '';
    const chunk = 0x8000;
    for (let index = 0; index < bytes.length; index += chunk) {
      binary += apply(fromCharCode, null, apply(slice, bytes, [index, index + chunk]));
    }
    return toBase64(binary);
  }

  /** @param {Uint8Array} bytes @returns {string | null} */
  function kindOf(bytes) {
    if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
    if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
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
      if (isView(image)) bytes = new Uint8ArrayOf(image.buffer, image.byteOffset, apply(typedArrayBytes, image, []));
      else if (image instanceof ArrayBufferType) bytes = new Uint8ArrayOf(image, 0, apply(arrayBufferBytes, image, []));
      else throw new TypeErrorType('display() takes PNG or JPEG bytes (a Uint8Array or ArrayBuffer) or an SVG string');
      mimeType = kindOf(bytes);
      if (mimeType === null) throw new TypeErrorType('display(): the bytes are neither PNG nor JPEG (checked by their signature)');
    }
    if (bytes.length > imageBytesMax) throw new RangeErrorType(`display(): the image is ${bytes.length} bytes; at most ${imageBytesMax}`);
    log(marker + mimeType + ';' + base64(bytes));
  }
  Object.defineProperty(globalThis, 'display', { value: display, writable: true, configurable: true });
})();
