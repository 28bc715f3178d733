// @ts-check
// Sandbox code (runs inside the isolate, never on the host): Node's util.inspect and util.format,
// reimplemented small, so console output reads as it would in Node.
// Defines globalThis.__mcpv8_inspect = { inspect, format }; the prelude captures and deletes it.
(function () {
  'use strict';
  // Every builtin called below is captured here, at start-up, before any user code runs: user
  // code may replace any prototype method, iterator or static, and results and console lines
  // must read the same (test/exec/inspect-vandal.test.ts).
  const apply = Reflect.apply;
  const ObjectPrototype = Object.prototype;
  const getPrototypeOf = Object.getPrototypeOf;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const getOwnPropertySymbols = Object.getOwnPropertySymbols;
  const defineProperty = Object.defineProperty;
  const objectKeys = Object.keys;
  const objectIs = Object.is;
  const hasOwn = Object.hasOwn;
  const ownKeys = Reflect.ownKeys;
  const isArray = Array.isArray;
  const isView = ArrayBuffer.isView;
  const StringConstructor = String;
  const NumberConstructor = Number;
  const parseIntFunction = parseInt;
  const parseFloatFunction = parseFloat;
  const jsonStringify = JSON.stringify;
  const mathMax = Math.max;
  const mathMin = Math.min;
  const mathSqrt = Math.sqrt;
  const mathRound = Math.round;
  const mathFloor = Math.floor;
  const MapConstructor = Map;
  const Uint8ArrayConstructor = Uint8Array;
  const symbolToStringTag = Symbol.toStringTag;
  const stringSlice = String.prototype.slice;
  const stringIndexOf = String.prototype.indexOf;
  const stringStartsWith = String.prototype.startsWith;
  const stringPadStart = String.prototype.padStart;
  const stringPadEnd = String.prototype.padEnd;
  const stringRepeat = String.prototype.repeat;
  const stringCharCodeAt = String.prototype.charCodeAt;
  const numberToString = Number.prototype.toString;
  const numberValueOf = Number.prototype.valueOf;
  const stringValueOf = String.prototype.valueOf;
  const booleanValueOf = Boolean.prototype.valueOf;
  const functionToString = Function.prototype.toString;
  const errorToString = Error.prototype.toString;
  const dateGetTime = Date.prototype.getTime;
  const dateToISOString = Date.prototype.toISOString;
  /** @param {object} prototype @param {string | symbol} key @returns {(this: any) => any} */
  const getterOf = (prototype, key) => /** @type {(this: any) => any} */ (/** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(prototype, key)).get);
  const mapSize = getterOf(Map.prototype, 'size');
  const mapGet = Map.prototype.get;
  const mapSet = Map.prototype.set;
  const mapEntries = Map.prototype.entries;
  const mapIteratorNext = getPrototypeOf(new Map().entries()).next;
  const setSize = getterOf(Set.prototype, 'size');
  const setValues = Set.prototype.values;
  const setIteratorNext = getPrototypeOf(new Set().values()).next;
  const arrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
  const regExpSource = getterOf(RegExp.prototype, 'source');
  /** The flag getters in the order of RegExp.prototype.flags. */
  const regExpFlags = [['d', 'hasIndices'], ['g', 'global'], ['i', 'ignoreCase'], ['m', 'multiline'], ['s', 'dotAll'], ['u', 'unicode'], ['v', 'unicodeSets'], ['y', 'sticky']];
  const regExpFlagGetters = /** @type {Array<[string, (this: any) => any]>} */ ([]);
  for (let index = 0; index < regExpFlags.length; index++) {
    const descriptor = getOwnPropertyDescriptor(RegExp.prototype, regExpFlags[index][1]);
    if (descriptor !== undefined && descriptor.get !== undefined) regExpFlagGetters[regExpFlagGetters.length] = [regExpFlags[index][0], descriptor.get];
  }
  const prototypes = {
    __proto__: null,
    Map: Map.prototype, Set: Set.prototype, ArrayBuffer: ArrayBuffer.prototype, DataView: DataView.prototype, Date: Date.prototype, RegExp: RegExp.prototype, Error: Error.prototype,
    Promise: Promise.prototype, WeakMap: WeakMap.prototype, WeakSet: WeakSet.prototype, Number: Number.prototype, String: String.prototype, Boolean: Boolean.prototype,
  };

  /** `value instanceof C` for a builtin C, without C[Symbol.hasInstance] (which user code can define) @param {object} value @param {object} prototype @returns {boolean} */
  function inherits(value, prototype) {
    let current = getPrototypeOf(value);
    while (current !== null) {
      if (current === prototype) return true;
      current = getPrototypeOf(current);
    }
    return false;
  }

  /** Appends to an array of ours as a data property: no push, no setter a run put on Array.prototype. */
  /** @template T @param {T[]} list @param {T} item */
  function append(list, item) {
    defineProperty(list, list.length, /** @type {PropertyDescriptor} */ ({ __proto__: null, value: item, writable: true, enumerable: true, configurable: true }));
  }

  /** @param {string[]} list @param {string} separator @param {number} [end] @returns {string} */
  function join(list, separator, end) {
    const stop = end === undefined ? list.length : end;
    let text = '';
    for (let index = 0; index < stop; index++) text = index === 0 ? list[index] : text + separator + list[index];
    return text;
  }

  /** @param {string} text @param {string} part @returns {boolean} */
  function includes(text, part) {
    return apply(stringIndexOf, text, [part]) !== -1;
  }

  /** @param {unknown[]} list @param {unknown} value @returns {boolean} */
  function contains(list, value) {
    for (let index = 0; index < list.length; index++) if (list[index] === value) return true;
    return false;
  }

  /** @param {number} count @returns {string} */
  function spaces(count) {
    return apply(stringRepeat, ' ', [count]);
  }

  /** @param {string} text @param {number} index @returns {boolean} */
  function isDigit(text, index) {
    const code = apply(stringCharCodeAt, text, [index]);
    return code >= 48 && code <= 57;
  }

  /** /^[A-Za-z_$][A-Za-z0-9_$]*$/ @param {string} text @returns {boolean} */
  function isIdentifier(text) {
    if (text.length === 0) return false;
    for (let index = 0; index < text.length; index++) {
      const code = apply(stringCharCodeAt, text, [index]);
      const letter = (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code === 36;
      if (!letter && (index === 0 || !(code >= 48 && code <= 57))) return false;
    }
    return true;
  }

  /** /^(0|[1-9]\d*)$/ @param {string} text @returns {boolean} */
  function isIndexKey(text) {
    if (text.length === 0) return false;
    if (text === '0') return true;
    if (apply(stringCharCodeAt, text, [0]) === 48) return false;
    for (let index = 0; index < text.length; index++) if (!isDigit(text, index)) return false;
    return true;
  }
  const breakLength = 80;
  const compactLevels = 3;
  const groupColumnsMax = 15;
  const arrayItemsMax = 100;
  const stringCharsMax = 10000;
  /** Own properties listed per object, as Node lists array items: the rest are counted. */
  const propertiesMax = 1000;
  /**
   * An array longer than this lists no properties beside its items: finding them means listing
   * every index as a string (Reflect.ownKeys), 1,000,000 strings for `Array.from({length: 1e6})`,
   * which ran an 8 MiB run out of memory where the array itself fits.
   */
  const arrayKeysScanLengthMax = 10000;
  /** Values formatted per inspection at most: past it, objects print as at the depth limit ([Object]). */
  const valuesMax = 20000;
  const typedArrayPrototype = getPrototypeOf(Uint8Array.prototype);
  const typedArrayTag = /** @type {(this: unknown) => string} */ (/** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag)).get);

  const typedArrayLength = getterOf(typedArrayPrototype, 'length');

  const escapes = /** @type {Record<string, string>} */ (/** @type {unknown} */ ({ __proto__: null, '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\0' }));
/** @typedef {{ depth: number, seen: unknown[], circular: Map<unknown, number>, indentation: number, currentDepth: number, valuesLeft: number }} InspectContext */

  // The formatting functions from here on are made in a context on its first inspect or format
  // of something other than strings and primitives (`formatting`, below): every function the
  // snapshot's context holds is copied into each new context, and most runs print no object
  // (docs/exec.md, "The prelude's functions made on first use"). They capture nothing new: what
  // they call was captured above, at start-up.
  /** @returns {{ inspect: (value: unknown, options?: { depth?: unknown }) => string, formatWithOptions: (args: any[]) => string }} */
  function formattingFunctions() {
  /** Node's choice of quote: single, else double if the text has single quotes, else backtick. */
  /** @param {string} text @returns {string} */
  function quote(text) {
    const shown = text.length > stringCharsMax ? apply(stringSlice, text, [0, stringCharsMax]) : text;
    let mark = "'";
    if (includes(shown, "'")) {
      if (!includes(shown, '"')) mark = '"';
      else if (!includes(shown, '`') && !includes(shown, '${')) mark = '`';
    }
    let escaped = '';
    let from = 0;
    for (let index = 0; index < shown.length; index++) {
      const character = shown[index];
      let replacement = escapes[character];
      if (replacement === undefined) {
        if (character !== mark) continue;
        replacement = '\\' + character;
      }
      escaped += apply(stringSlice, shown, [from, index]) + replacement;
      from = index + 1;
    }
    escaped += from === 0 ? shown : apply(stringSlice, shown, [from]);
    const more = text.length > shown.length ? `... ${text.length - shown.length} more characters` : '';
    return `${mark}${escaped}${mark}${more}`;
  }

  /** @param {number} value @returns {string} */
  function formatNumber(value) {
    return objectIs(value, -0) ? '-0' : StringConstructor(value);
  }

  /** @param {unknown} value @returns {string} */
  function formatPrimitive(value) {
    switch (typeof value) {
      case 'string': return quote(value);
      case 'number': return formatNumber(value);
      case 'bigint': return `${value}n`;
      case 'symbol': return StringConstructor(value);
      case 'undefined': return 'undefined';
      default: return StringConstructor(value);
    }
  }

  /** @param {object} value @returns {string | null} */
  function constructorName(value) {
    let prototype = getPrototypeOf(value);
    while (prototype !== null) {
      const descriptor = getOwnPropertyDescriptor(prototype, 'constructor');
      if (descriptor !== undefined && hasOwn(descriptor, 'value') && typeof descriptor.value === 'function' && descriptor.value.name !== '') return descriptor.value.name;
      prototype = getPrototypeOf(prototype);
    }
    return null;
  }

  /** @param {string | symbol} key @returns {string} */
  function formatKey(key) {
    if (typeof key === 'symbol') return StringConstructor(key);
    return isIdentifier(key) ? key : quote(key);
  }

  /** @param {ArrayLike<unknown>} list an array or a typed array @returns {number} */
  function listLength(list) {
    return isArray(list) ? list.length : apply(typedArrayLength, list, []);
  }

  /**
   * Node's grouping of long arrays into aligned columns (util.inspect's groupArrayElements):
   * about as many columns as make a square of cells 2.5 times higher than wide, at most 15 and
   * within 80 columns; numbers are right-aligned, anything else left-aligned.
   */
  /** @param {InspectContext} ctx @param {string[]} entries @param {ArrayLike<unknown>} list @returns {string[]} */
  function groupListEntries(ctx, entries, list) {
    const more = listLength(list) > arrayItemsMax ? 1 : 0;
    const count = entries.length - more;
    const separatorSpace = 2;
    /** @type {number[]} */
    const lengths = [];
    let totalLength = 0;
    let maxLength = 0;
    for (let index = 0; index < count; index++) {
      const length = entries[index].length;
      append(lengths, length);
      totalLength += length + separatorSpace;
      if (length > maxLength) maxLength = length;
    }
    const actualMax = maxLength + separatorSpace;
    if (!(actualMax * 3 + ctx.indentation < breakLength && (totalLength / actualMax > 5 || maxLength <= 6))) return entries;
    const averageBias = mathSqrt(actualMax - totalLength / entries.length);
    const biasedMax = mathMax(actualMax - 3 - averageBias, 1);
    const columns = mathMin(mathRound(mathSqrt(2.5 * biasedMax * count) / biasedMax), mathFloor((breakLength - ctx.indentation) / actualMax), compactLevels * 4, groupColumnsMax);
    if (columns <= 1) return entries;
    /** @type {number[]} */
    const widths = [];
    for (let column = 0; column < columns; column++) {
      let width = 0;
      for (let index = column; index < count; index += columns) width = mathMax(width, lengths[index]);
      append(widths, width + separatorSpace);
    }
    let numeric = true;
    for (let index = 0; index < count && numeric; index++) numeric = typeof list[index] === 'number' || typeof list[index] === 'bigint';
    /** @type {string[]} */
    const rows = [];
    for (let start = 0; start < count; start += columns) {
      const end = mathMin(start + columns, count);
      let row = '';
      for (let index = start; index < end - 1; index++) {
        const cell = `${entries[index]}, `;
        row += apply(numeric ? stringPadStart : stringPadEnd, cell, [widths[index - start]]);
      }
      row += numeric ? apply(stringPadStart, entries[end - 1], [widths[end - 1 - start] - separatorSpace]) : entries[end - 1];
      append(rows, row);
    }
    if (more === 1) append(rows, entries[entries.length - 1]);
    return rows;
  }

  /** Node's rule: up to 3 levels of nesting share a line when the entries fit in 80 columns. */
  /** @param {InspectContext} ctx @param {string[]} entries @param {string} open @param {string} close @param {string} prefix @param {number} depth @param {ArrayLike<unknown>} [list] @returns {string} */
  function reduceToLines(ctx, entries, open, close, prefix, depth, list) {
    const count = entries.length;
    if (list !== undefined && count > 6) entries = groupListEntries(ctx, entries, list);
    if (ctx.currentDepth - depth < compactLevels && count === entries.length) {
      const start = entries.length + ctx.indentation + open.length + prefix.length + 10;
      let total = entries.length + start;
      let multiline = false;
      for (let index = 0; index < entries.length; index++) {
        total += entries[index].length;
        if (includes(entries[index], '\n')) multiline = true;
      }
      if (total <= breakLength && !multiline) {
        return `${prefix}${open} ${join(entries, ', ')} ${close}`;
      }
    }
    const indent = spaces(ctx.indentation + 2);
    return `${prefix}${open}\n${indent}${join(entries, `,\n${indent}`)}\n${spaces(ctx.indentation)}${close}`;
  }

  /** @param {InspectContext} ctx @param {any} value @param {number} depth @param {boolean} skipIndexes @param {string[]} [entries] appended to @returns {string[]} */
  function propertyEntries(ctx, value, depth, skipIndexes, entries = []) {
    if (skipIndexes && value.length > arrayKeysScanLengthMax) return entries;
    const keys = ownKeys(value);
    let listed = 0;
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index];
      if (listed >= propertiesMax) {
        append(entries, `... ${keys.length - index} more properties`);
        break;
      }
      const descriptor = getOwnPropertyDescriptor(value, key);
      if (descriptor === undefined || !descriptor.enumerable) continue;
      if (skipIndexes && typeof key === 'string' && isIndexKey(key)) continue;
      const getter = hasOwn(descriptor, 'get') ? descriptor.get : undefined;
      const setter = hasOwn(descriptor, 'set') ? descriptor.set : undefined;
      let shown;
      if (getter !== undefined) shown = setter !== undefined ? '[Getter/Setter]' : '[Getter]';
      else if (setter !== undefined) shown = '[Setter]';
      else shown = formatValue(ctx, descriptor.value, depth + 1);
      append(entries, `${formatKey(key)}: ${shown}`);
      listed++;
    }
    return entries;
  }

  /** \s of a regular expression @param {number} code @returns {boolean} */
  function isSpace(code) {
    return (code >= 9 && code <= 13) || code === 32 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
  }

  /** A generator's source: `*` first, or `function`, white space, `*` @param {string} source @returns {boolean} */
  function isGeneratorSource(source) {
    if (apply(stringStartsWith, source, ['*'])) return true;
    if (!apply(stringStartsWith, source, ['function'])) return false;
    let index = 8;
    while (index < source.length && isSpace(apply(stringCharCodeAt, source, [index]))) index++;
    return source[index] === '*';
  }

  /** @param {Function} value @returns {string} */
  function formatFunction(value) {
    const source = apply(functionToString, value, []);
    if (apply(stringStartsWith, source, ['class'])) return value.name ? `[class ${value.name}]` : '[class (anonymous)]';
    const kind = apply(stringStartsWith, source, ['async']) ? 'AsyncFunction' : isGeneratorSource(source) ? 'GeneratorFunction' : 'Function';
    return value.name ? `[${kind}: ${value.name}]` : `[${kind} (anonymous)]`;
  }

  /** @param {InspectContext} ctx @param {ArrayLike<unknown>} items @param {number} depth @param {number} total @returns {string[]} */
  function formatList(ctx, items, depth, total) {
    /** @type {string[]} */
    const entries = [];
    const shown = mathMin(total, arrayItemsMax);
    let holes = 0;
    for (let index = 0; index < shown; index++) {
      if (!hasOwn(items, index)) { holes++; continue; }
      if (holes > 0) { append(entries, `<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; }
      append(entries, formatValue(ctx, items[index], depth + 1));
    }
    if (holes > 0) append(entries, `<${holes} empty item${holes > 1 ? 's' : ''}>`);
    if (total > shown) append(entries, `... ${total - shown} more item${total - shown > 1 ? 's' : ''}`);
    return entries;
  }

  /** @param {InspectContext} ctx @param {any} value @param {number} depth @returns {string} */
  function formatObjectBody(ctx, value, depth) {
    if (isArray(value)) {
      if (value.length > 0) ctx.currentDepth = depth;
      const entries = propertyEntries(ctx, value, depth, true, formatList(ctx, value, depth, value.length));
      const name = constructorName(value);
      const prefix = name === 'Array' ? '' : `${name}(${value.length}) `;
      return entries.length === 0 ? `${prefix}[]` : reduceToLines(ctx, entries, '[', ']', prefix, depth, value);
    }
    if (isView(value) && !inherits(value, prototypes.DataView)) {
      value = /** @type {Uint8Array} */ (value);
      const length = apply(typedArrayLength, value, []);
      if (length > 0) ctx.currentDepth = depth;
      const entries = formatList(ctx, value, depth, length);
      const prefix = `${apply(typedArrayTag, value, [])}(${length}) `;
      return entries.length === 0 ? `${prefix}[]` : reduceToLines(ctx, entries, '[', ']', prefix, depth, value);
    }
    if (inherits(value, prototypes.ArrayBuffer)) {
      const byteLength = apply(arrayBufferByteLength, value, []);
      const shown = mathMin(byteLength, 50);
      const view = new Uint8ArrayConstructor(value, 0, shown);
      let bytes = '';
      for (let index = 0; index < shown; index++) bytes += (index === 0 ? '' : ' ') + apply(stringPadStart, apply(numberToString, view[index], [16]), [2, '0']);
      const more = byteLength > 50 ? ` ... ${byteLength - 50} more bytes` : '';
      return `ArrayBuffer { [Uint8Contents]: <${bytes}${more}>, [byteLength]: ${byteLength} }`;
    }
    if (inherits(value, prototypes.Map)) {
      const size = apply(mapSize, value, []);
      if (size > 0) ctx.currentDepth = depth;
      /** @type {string[]} */
      const entries = [];
      const iterator = apply(mapEntries, value, []);
      for (let step = apply(mapIteratorNext, iterator, []); !step.done; step = apply(mapIteratorNext, iterator, [])) {
        if (entries.length >= arrayItemsMax) { append(entries, `... ${size - arrayItemsMax} more items`); break; }
        append(entries, `${formatValue(ctx, step.value[0], depth + 1)} => ${formatValue(ctx, step.value[1], depth + 1)}`);
      }
      return entries.length === 0 ? `Map(0) {}` : reduceToLines(ctx, entries, '{', '}', `Map(${size}) `, depth);
    }
    if (inherits(value, prototypes.Set)) {
      const size = apply(setSize, value, []);
      if (size > 0) ctx.currentDepth = depth;
      /** @type {string[]} */
      const entries = [];
      const iterator = apply(setValues, value, []);
      for (let step = apply(setIteratorNext, iterator, []); !step.done; step = apply(setIteratorNext, iterator, [])) {
        if (entries.length >= arrayItemsMax) { append(entries, `... ${size - arrayItemsMax} more items`); break; }
        append(entries, formatValue(ctx, step.value, depth + 1));
      }
      return entries.length === 0 ? `Set(0) {}` : reduceToLines(ctx, entries, '{', '}', `Set(${size}) `, depth);
    }
    if (objectKeys(value).length > 0 || getOwnPropertySymbols(value).length > 0) ctx.currentDepth = depth;
    const entries = propertyEntries(ctx, value, depth, false);
    const name = constructorName(value);
    let prefix = name === 'Object' ? '' : name === null ? '[Object: null prototype] ' : `${name} `;
    const tag = value[symbolToStringTag];
    if (typeof tag === 'string' && tag !== '' && tag !== name) prefix = `${prefix === '' ? 'Object ' : prefix}[${tag}] `;
    if (entries.length === 0) return `${prefix}{}`;
    return reduceToLines(ctx, entries, '{', '}', prefix, depth);
  }

  /** RegExp.prototype.toString without the replaceable `source` and `flags` getters @param {RegExp} value @returns {string} */
  function formatRegExp(value) {
    let flags = '';
    for (let index = 0; index < regExpFlagGetters.length; index++) if (apply(regExpFlagGetters[index][1], value, [])) flags += regExpFlagGetters[index][0];
    return `/${apply(regExpSource, value, [])}/${flags}`;
  }

  /** @param {object} value @returns {string | null} */
  function formatSpecial(value) {
    if (inherits(value, prototypes.Date)) {
      const time = apply(dateGetTime, value, []);
      return time !== time ? 'Invalid Date' : apply(dateToISOString, value, []);
    }
    if (inherits(value, prototypes.RegExp)) return formatRegExp(/** @type {RegExp} */ (value));
    if (inherits(value, prototypes.Error)) {
      const stack = /** @type {Error} */ (value).stack;
      return stack === undefined ? `[${apply(errorToString, value, [])}]` : StringConstructor(stack);
    }
    if (inherits(value, prototypes.Promise)) return 'Promise { <state unknown> }';
    if (inherits(value, prototypes.WeakMap)) return 'WeakMap { <items unknown> }';
    if (inherits(value, prototypes.WeakSet)) return 'WeakSet { <items unknown> }';
    if (inherits(value, prototypes.Number)) return `[Number: ${formatNumber(apply(numberValueOf, value, []))}]`;
    if (inherits(value, prototypes.String)) return `[String: ${quote(apply(stringValueOf, value, []))}]`;
    if (inherits(value, prototypes.Boolean)) return `[Boolean: ${apply(booleanValueOf, value, [])}]`;
    return null;
  }

  /** Empty containers print as `{}` or `[]` at any depth, as in Node. */
  /** @param {object} value @returns {boolean} */
  function isEmpty(value) {
    if (inherits(value, prototypes.Map)) return apply(mapSize, value, []) === 0;
    if (inherits(value, prototypes.Set)) return apply(setSize, value, []) === 0;
    if (isArray(value) && value.length > 0) return false;
    if (isView(value) && (inherits(value, prototypes.DataView) ? /** @type {any} */ (value).length > 0 : apply(typedArrayLength, value, []) > 0)) return false;
    return objectKeys(value).length === 0 && getOwnPropertySymbols(value).length === 0;
  }

  /** @param {InspectContext} ctx @param {Function} value @param {number} depth @returns {string} */
  function formatFunctionWithProperties(ctx, value, depth) {
    const base = formatFunction(value);
    if (objectKeys(value).length === 0 || depth > ctx.depth || contains(ctx.seen, value)) return base;
    append(ctx.seen, value);
    const savedIndentation = ctx.indentation;
    ctx.indentation = depth * 2;
    ctx.currentDepth = depth;
    const text = reduceToLines(ctx, propertyEntries(ctx, value, depth, false), '{', '}', `${base} `, depth);
    ctx.indentation = savedIndentation;
    ctx.seen.length--;
    return text;
  }

  /** @param {InspectContext} ctx @param {unknown} value @param {number} depth @returns {string} */
  function formatValue(ctx, value, depth) {
    if (value === null) return 'null';
    if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(value);
    if (typeof value === 'function') return formatFunctionWithProperties(ctx, value, depth);
    const special = formatSpecial(value);
    if (special !== null) return special;
    if (contains(ctx.seen, value)) {
      let index = apply(mapGet, ctx.circular, [value]);
      if (index === undefined) { index = apply(mapSize, ctx.circular, []) + 1; apply(mapSet, ctx.circular, [value, index]); }
      return `[Circular *${index}]`;
    }
    ctx.valuesLeft--;
    if ((depth > ctx.depth || ctx.valuesLeft < 0) && !isEmpty(value)) return isArray(value) ? '[Array]' : `[${constructorName(value) ?? 'Object'}]`;
    append(ctx.seen, value);
    const savedIndentation = ctx.indentation;
    ctx.indentation = depth * 2;
    let text;
    try {
      text = formatObjectBody(ctx, value, depth);
    } catch (error) {
      text = `[object: inspection failed: ${error && /** @type {{ message?: unknown }} */ (error).message}]`;
    }
    ctx.indentation = savedIndentation;
    ctx.seen.length--;
    const index = apply(mapGet, ctx.circular, [value]);
    return index === undefined ? text : `<ref *${index}> ${text}`;
  }

  /** @param {unknown} value @param {{ depth?: unknown }} [options] @returns {string} */
  function inspect(value, options) {
    const depth = options && typeof options.depth === 'number' ? options.depth : 2;
    return formatValue({ depth, seen: [], circular: new MapConstructor(), indentation: 0, currentDepth: 0, valuesLeft: valuesMax }, value, 0);
  }

  /** @param {unknown} argument @returns {string} */
  function formatString(argument) {
    if (typeof argument === 'string') return argument;
    if (typeof argument === 'bigint') return `${argument}n`;
    if (typeof argument === 'number') return formatNumber(argument);
    if (typeof argument === 'symbol') return StringConstructor(argument);
    if (argument !== null && typeof argument === 'object') {
      const ownToString = argument.toString !== ObjectPrototype.toString && typeof argument.toString === 'function' && !inherits(argument, prototypes.Error);
      return ownToString ? StringConstructor(argument) : inspect(argument, { depth: 0 });
    }
    return StringConstructor(argument);
  }

  /** One `%` directive of util.format @param {string} kind @param {unknown} argument @returns {string} */
  function formatDirective(kind, argument) {
    switch (kind) {
      case 's': return formatString(argument);
      case 'd': return typeof argument === 'bigint' ? `${argument}n` : typeof argument === 'object' ? 'NaN' : formatNumber(NumberConstructor(argument));
      case 'i': return typeof argument === 'bigint' ? `${argument}n` : typeof argument === 'object' ? 'NaN' : formatNumber(parseIntFunction(/** @type {string} */ (argument), 10));
      case 'f': return typeof argument === 'symbol' ? 'NaN' : formatNumber(parseFloatFunction(/** @type {string} */ (argument)));
      case 'j': try { return jsonStringify(argument); } catch { return '[Circular]'; }
      case 'o': return inspect(argument, { depth: 4 });
      case 'O': return inspect(argument);
      default: return '';
    }
  }

  /** @param {any[]} args (user code's: `%i` and `%f` parse whatever they are given, as Node does) @returns {string} */
  function formatWithOptions(args) {
    const first = args[0];
    let index = 0;
    let text = '';
    if (typeof first === 'string' && args.length > 1 && includes(first, '%')) {
      index = 1;
      // first.replace(/%([sdifjoOc%])/g, …), scanned by hand: RegExp.prototype is the run's to replace.
      let from = 0;
      for (let at = 0; at < first.length - 1; at++) {
        if (first[at] !== '%') continue;
        const kind = first[at + 1];
        if (!includes('sdifjoOc%', kind)) continue;
        let replacement;
        if (kind === '%') replacement = '%';
        else if (index >= args.length) replacement = '%' + kind;
        else replacement = formatDirective(kind, args[index++]);
        text += apply(stringSlice, first, [from, at]) + replacement;
        from = at + 2;
        at++;
      }
      text += from === 0 ? first : apply(stringSlice, first, [from]);
    } else if (args.length > 0) {
      index = 1;
      text = typeof first === 'string' ? first : inspect(first);
    }
    for (; index < args.length; index++) {
      const argument = args[index];
      text += ' ' + (typeof argument === 'string' ? argument : inspect(argument));
    }
    return text;
  }

  return /** @type {any} */ ({ __proto__: null, inspect, formatWithOptions });
  }
  /** @type {ReturnType<typeof formattingFunctions> | null} */
  let formatting = null;
  /** @returns {ReturnType<typeof formattingFunctions>} */
  const formattingMade = () => formatting ??= formattingFunctions();
  /**
   * inspect, a primitive other than a string without the formatting functions (formatPrimitive's
   * text: a result of `1 + 1` makes none of them).
   * @param {unknown} value @param {{ depth?: unknown }} [options] @returns {string}
   */
  const inspectFirst = (value, options) => {
    if (typeof value === 'number') return objectIs(value, -0) ? '-0' : StringConstructor(value);
    if (typeof value === 'boolean' || value === undefined || value === null) return StringConstructor(value);
    return formattingMade().inspect(value, options);
  };
  /**
   * util.format; strings alone (no `%` directive) without the formatting functions: joined by spaces.
   * @param {any[]} args @returns {string}
   */
  const formatFirst = (args) => {
    if (args.length > 1 && typeof args[0] === 'string' && includes(args[0], '%')) return formattingMade().formatWithOptions(args);
    let text = '';
    for (let index = 0; index < args.length; index++) {
      const argument = args[index];
      if (typeof argument !== 'string') return formattingMade().formatWithOptions(args);
      text = index === 0 ? argument : text + ' ' + argument;
    }
    return text;
  };
  defineProperty(globalThis, '__mcpv8_inspect', { value: { inspect: inspectFirst, format: formatFirst }, configurable: true });
})();
