// @ts-check
// Sandbox code (runs inside the isolate, never on the host): Node's util.inspect and util.format,
// reimplemented small, so console output reads as it would in Node.
// Defines globalThis.__mcpv8_inspect = { inspect, format }; the prelude captures and deletes it.
(function () {
  'use strict';
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
  const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
  const typedArrayTag = /** @type {(this: unknown) => string} */ (/** @type {PropertyDescriptor} */ (Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag)).get);

  const escapes = /** @type {Record<string, string>} */ ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\0' });
/** @typedef {{ depth: number, seen: unknown[], circular: Map<unknown, number>, indentation: number, currentDepth: number, valuesLeft: number }} InspectContext */

  /** Node's choice of quote: single, else double if the text has single quotes, else backtick. */
  /** @param {string} text @returns {string} */
  function quote(text) {
    const shown = text.length > stringCharsMax ? text.slice(0, stringCharsMax) : text;
    let mark = "'";
    if (shown.includes("'")) {
      if (!shown.includes('"')) mark = '"';
      else if (!shown.includes('`') && !shown.includes('${')) mark = '`';
    }
    const escaped = shown.replace(/[\\\n\r\t\b\f\v\0'"`]/g, (/** @type {string} */ character) => escapes[character] ?? (character === mark ? `\\${character}` : character));
    const more = text.length > shown.length ? `... ${text.length - shown.length} more characters` : '';
    return `${mark}${escaped}${mark}${more}`;
  }

  /** @param {number} value @returns {string} */
  function formatNumber(value) {
    return Object.is(value, -0) ? '-0' : String(value);
  }

  /** @param {unknown} value @returns {string} */
  function formatPrimitive(value) {
    switch (typeof value) {
      case 'string': return quote(value);
      case 'number': return formatNumber(value);
      case 'bigint': return `${value}n`;
      case 'symbol': return value.toString();
      case 'undefined': return 'undefined';
      default: return String(value);
    }
  }

  /** @param {object} value @returns {string | null} */
  function constructorName(value) {
    let prototype = Object.getPrototypeOf(value);
    while (prototype !== null) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, 'constructor');
      if (descriptor !== undefined && typeof descriptor.value === 'function' && descriptor.value.name !== '') return descriptor.value.name;
      prototype = Object.getPrototypeOf(prototype);
    }
    return null;
  }

  /** @param {string | symbol} key @returns {string} */
  function formatKey(key) {
    if (typeof key === 'symbol') return key.toString();
    return identifier.test(key) ? key : quote(key);
  }

  /**
   * Node's grouping of long arrays into aligned columns (util.inspect's groupArrayElements):
   * about as many columns as make a square of cells 2.5 times higher than wide, at most 15 and
   * within 80 columns; numbers are right-aligned, anything else left-aligned.
   */
  /** @param {InspectContext} ctx @param {string[]} entries @param {ArrayLike<unknown>} list @returns {string[]} */
  function groupListEntries(ctx, entries, list) {
    const more = list.length > arrayItemsMax ? 1 : 0;
    const count = entries.length - more;
    const separatorSpace = 2;
    const lengths = entries.slice(0, count).map((entry) => entry.length);
    const totalLength = lengths.reduce((sum, length) => sum + length + separatorSpace, 0);
    const maxLength = Math.max(0, ...lengths);
    const actualMax = maxLength + separatorSpace;
    if (!(actualMax * 3 + ctx.indentation < breakLength && (totalLength / actualMax > 5 || maxLength <= 6))) return entries;
    const averageBias = Math.sqrt(actualMax - totalLength / entries.length);
    const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
    const columns = Math.min(Math.round(Math.sqrt(2.5 * biasedMax * count) / biasedMax), Math.floor((breakLength - ctx.indentation) / actualMax), compactLevels * 4, groupColumnsMax);
    if (columns <= 1) return entries;
    const widths = [];
    for (let column = 0; column < columns; column++) {
      let width = 0;
      for (let index = column; index < count; index += columns) width = Math.max(width, lengths[index]);
      widths.push(width + separatorSpace);
    }
    let numeric = true;
    for (let index = 0; index < count && numeric; index++) numeric = typeof list[index] === 'number' || typeof list[index] === 'bigint';
    const rows = [];
    for (let start = 0; start < count; start += columns) {
      const end = Math.min(start + columns, count);
      let row = '';
      for (let index = start; index < end - 1; index++) {
        const cell = `${entries[index]}, `;
        row += numeric ? cell.padStart(widths[index - start]) : cell.padEnd(widths[index - start]);
      }
      row += numeric ? entries[end - 1].padStart(widths[end - 1 - start] - separatorSpace) : entries[end - 1];
      rows.push(row);
    }
    if (more === 1) rows.push(entries[entries.length - 1]);
    return rows;
  }

  /** Node's rule: up to 3 levels of nesting share a line when the entries fit in 80 columns. */
  /** @param {InspectContext} ctx @param {string[]} entries @param {string} open @param {string} close @param {string} prefix @param {number} depth @param {ArrayLike<unknown>} [list] @returns {string} */
  function reduceToLines(ctx, entries, open, close, prefix, depth, list) {
    const count = entries.length;
    if (list !== undefined && count > 6) entries = groupListEntries(ctx, entries, list);
    if (ctx.currentDepth - depth < compactLevels && count === entries.length) {
      const start = entries.length + ctx.indentation + open.length + prefix.length + 10;
      const total = entries.reduce((sum, entry) => sum + entry.length, entries.length + start);
      if (total <= breakLength && !entries.some((entry) => entry.includes('\n'))) {
        return `${prefix}${open} ${entries.join(', ')} ${close}`;
      }
    }
    const indent = ' '.repeat(ctx.indentation + 2);
    return `${prefix}${open}\n${indent}${entries.join(`,\n${indent}`)}\n${' '.repeat(ctx.indentation)}${close}`;
  }

  /** @param {InspectContext} ctx @param {any} value @param {number} depth @param {boolean} skipIndexes @returns {string[]} */
  function propertyEntries(ctx, value, depth, skipIndexes) {
    /** @type {string[]} */
    const entries = [];
    if (skipIndexes && value.length > arrayKeysScanLengthMax) return entries;
    const keys = Reflect.ownKeys(value);
    for (let index = 0; index < keys.length; index++) {
      const key = keys[index];
      if (entries.length >= propertiesMax) {
        entries.push(`... ${keys.length - index} more properties`);
        break;
      }
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor === undefined || !descriptor.enumerable) continue;
      if (skipIndexes && typeof key === 'string' && /^(0|[1-9]\d*)$/.test(key)) continue;
      let shown;
      if (descriptor.get !== undefined) shown = descriptor.set !== undefined ? '[Getter/Setter]' : '[Getter]';
      else if (descriptor.set !== undefined) shown = '[Setter]';
      else shown = formatValue(ctx, descriptor.value, depth + 1);
      entries.push(`${formatKey(key)}: ${shown}`);
    }
    return entries;
  }

  /** @param {Function} value @returns {string} */
  function formatFunction(value) {
    const source = Function.prototype.toString.call(value);
    if (source.startsWith('class')) return value.name ? `[class ${value.name}]` : '[class (anonymous)]';
    const kind = source.startsWith('async') ? 'AsyncFunction' : /^function\s*\*|^\*/.test(source) ? 'GeneratorFunction' : 'Function';
    return value.name ? `[${kind}: ${value.name}]` : `[${kind} (anonymous)]`;
  }

  /** @param {InspectContext} ctx @param {ArrayLike<unknown>} items @param {number} depth @param {number} total @returns {string[]} */
  function formatList(ctx, items, depth, total) {
    const entries = [];
    const shown = Math.min(items.length, arrayItemsMax);
    let holes = 0;
    for (let index = 0; index < shown; index++) {
      if (!(index in items)) { holes++; continue; }
      if (holes > 0) { entries.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; }
      entries.push(formatValue(ctx, items[index], depth + 1));
    }
    if (holes > 0) entries.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
    if (total > shown) entries.push(`... ${total - shown} more item${total - shown > 1 ? 's' : ''}`);
    return entries;
  }

  /** @param {InspectContext} ctx @param {any} value @param {number} depth @returns {string} */
  function formatObjectBody(ctx, value, depth) {
    if (Array.isArray(value)) {
      if (value.length > 0) ctx.currentDepth = depth;
      const entries = formatList(ctx, value, depth, value.length).concat(propertyEntries(ctx, value, depth, true));
      const name = constructorName(value);
      const prefix = name === 'Array' ? '' : `${name}(${value.length}) `;
      return entries.length === 0 ? `${prefix}[]` : reduceToLines(ctx, entries, '[', ']', prefix, depth, value);
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      value = /** @type {Uint8Array} */ (value);
      if (value.length > 0) ctx.currentDepth = depth;
      const entries = formatList(ctx, value, depth, value.length);
      const prefix = `${typedArrayTag.call(value)}(${value.length}) `;
      return entries.length === 0 ? `${prefix}[]` : reduceToLines(ctx, entries, '[', ']', prefix, depth, value);
    }
    if (value instanceof ArrayBuffer) {
      const bytes = Array.from(new Uint8Array(value, 0, Math.min(value.byteLength, 50)), (byte) => byte.toString(16).padStart(2, '0'));
      const more = value.byteLength > 50 ? ` ... ${value.byteLength - 50} more bytes` : '';
      return `ArrayBuffer { [Uint8Contents]: <${bytes.join(' ')}${more}>, [byteLength]: ${value.byteLength} }`;
    }
    if (value instanceof Map) {
      if (value.size > 0) ctx.currentDepth = depth;
      const entries = [];
      for (const [key, item] of value) {
        if (entries.length >= arrayItemsMax) { entries.push(`... ${value.size - arrayItemsMax} more items`); break; }
        entries.push(`${formatValue(ctx, key, depth + 1)} => ${formatValue(ctx, item, depth + 1)}`);
      }
      return entries.length === 0 ? `Map(0) {}` : reduceToLines(ctx, entries, '{', '}', `Map(${value.size}) `, depth);
    }
    if (value instanceof Set) {
      if (value.size > 0) ctx.currentDepth = depth;
      const entries = [];
      for (const item of value) {
        if (entries.length >= arrayItemsMax) { entries.push(`... ${value.size - arrayItemsMax} more items`); break; }
        entries.push(formatValue(ctx, item, depth + 1));
      }
      return entries.length === 0 ? `Set(0) {}` : reduceToLines(ctx, entries, '{', '}', `Set(${value.size}) `, depth);
    }
    if (Object.keys(value).length > 0 || Object.getOwnPropertySymbols(value).length > 0) ctx.currentDepth = depth;
    const entries = propertyEntries(ctx, value, depth, false);
    const name = constructorName(value);
    let prefix = name === 'Object' ? '' : name === null ? '[Object: null prototype] ' : `${name} `;
    const tag = value[Symbol.toStringTag];
    if (typeof tag === 'string' && tag !== '' && tag !== name) prefix = `${prefix === '' ? 'Object ' : prefix}[${tag}] `;
    if (entries.length === 0) return `${prefix}{}`;
    return reduceToLines(ctx, entries, '{', '}', prefix, depth);
  }

  /** @param {object} value @returns {string | null} */
  function formatSpecial(value) {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (value instanceof RegExp) return RegExp.prototype.toString.call(value);
    if (value instanceof Error) return value.stack === undefined ? `[${String(value)}]` : String(value.stack);
    if (value instanceof Promise) return 'Promise { <state unknown> }';
    if (value instanceof WeakMap) return 'WeakMap { <items unknown> }';
    if (value instanceof WeakSet) return 'WeakSet { <items unknown> }';
    if (value instanceof Number) return `[Number: ${formatNumber(value.valueOf())}]`;
    if (value instanceof String) return `[String: ${quote(value.valueOf())}]`;
    if (value instanceof Boolean) return `[Boolean: ${value.valueOf()}]`;
    return null;
  }

  /** Empty containers print as `{}` or `[]` at any depth, as in Node. */
  /** @param {object} value @returns {boolean} */
  function isEmpty(value) {
    if (value instanceof Map || value instanceof Set) return value.size === 0;
    if ((Array.isArray(value) || ArrayBuffer.isView(value)) && /** @type {ArrayLike<unknown>} */ (value).length > 0) return false;
    return Object.keys(value).length === 0 && Object.getOwnPropertySymbols(value).length === 0;
  }

  /** @param {InspectContext} ctx @param {Function} value @param {number} depth @returns {string} */
  function formatFunctionWithProperties(ctx, value, depth) {
    const base = formatFunction(value);
    if (Object.keys(value).length === 0 || depth > ctx.depth || ctx.seen.includes(value)) return base;
    ctx.seen.push(value);
    const savedIndentation = ctx.indentation;
    ctx.indentation = depth * 2;
    ctx.currentDepth = depth;
    const text = reduceToLines(ctx, propertyEntries(ctx, value, depth, false), '{', '}', `${base} `, depth);
    ctx.indentation = savedIndentation;
    ctx.seen.pop();
    return text;
  }

  /** @param {InspectContext} ctx @param {unknown} value @param {number} depth @returns {string} */
  function formatValue(ctx, value, depth) {
    if (value === null) return 'null';
    if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(value);
    if (typeof value === 'function') return formatFunctionWithProperties(ctx, value, depth);
    const special = formatSpecial(value);
    if (special !== null) return special;
    if (ctx.seen.includes(value)) {
      let index = ctx.circular.get(value);
      if (index === undefined) { index = ctx.circular.size + 1; ctx.circular.set(value, index); }
      return `[Circular *${index}]`;
    }
    ctx.valuesLeft--;
    if ((depth > ctx.depth || ctx.valuesLeft < 0) && !isEmpty(value)) return Array.isArray(value) ? '[Array]' : `[${constructorName(value) ?? 'Object'}]`;
    ctx.seen.push(value);
    const savedIndentation = ctx.indentation;
    ctx.indentation = depth * 2;
    let text;
    try {
      text = formatObjectBody(ctx, value, depth);
    } catch (error) {
      text = `[object: inspection failed: ${error && /** @type {{ message?: unknown }} */ (error).message}]`;
    }
    ctx.indentation = savedIndentation;
    ctx.seen.pop();
    const index = ctx.circular.get(value);
    return index === undefined ? text : `<ref *${index}> ${text}`;
  }

  /** @param {unknown} value @param {{ depth?: unknown }} [options] @returns {string} */
  function inspect(value, options) {
    const depth = options && typeof options.depth === 'number' ? options.depth : 2;
    return formatValue({ depth, seen: [], circular: new Map(), indentation: 0, currentDepth: 0, valuesLeft: valuesMax }, value, 0);
  }

  /** @param {unknown} argument @returns {string} */
  function formatString(argument) {
    if (typeof argument === 'string') return argument;
    if (typeof argument === 'bigint') return `${argument}n`;
    if (typeof argument === 'number') return formatNumber(argument);
    if (typeof argument === 'symbol') return argument.toString();
    if (argument !== null && typeof argument === 'object') {
      const ownToString = argument.toString !== Object.prototype.toString && typeof argument.toString === 'function' && !(argument instanceof Error);
      return ownToString ? String(argument) : inspect(argument, { depth: 0 });
    }
    return String(argument);
  }

  /** @param {any[]} args (user code's: `%i` and `%f` parse whatever they are given, as Node does) @returns {string} */
  function formatWithOptions(args) {
    const first = args[0];
    let index = 0;
    let text = '';
    if (typeof first === 'string' && args.length > 1 && first.includes('%')) {
      index = 1;
      text = first.replace(/%([sdifjoOc%])/g, (match, kind) => {
        if (kind === '%') return '%';
        if (index >= args.length) return match;
        const argument = args[index++];
        switch (kind) {
          case 's': return formatString(argument);
          case 'd': return typeof argument === 'bigint' ? `${argument}n` : typeof argument === 'object' ? 'NaN' : formatNumber(Number(argument));
          case 'i': return typeof argument === 'bigint' ? `${argument}n` : typeof argument === 'object' ? 'NaN' : formatNumber(parseInt(argument, 10));
          case 'f': return typeof argument === 'symbol' ? 'NaN' : formatNumber(parseFloat(argument));
          case 'j': try { return JSON.stringify(argument); } catch { return '[Circular]'; }
          case 'o': return inspect(argument, { depth: 4 });
          case 'O': return inspect(argument);
          case 'c': return '';
          default: return match;
        }
      });
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

  Object.defineProperty(globalThis, '__mcpv8_inspect', { value: { inspect, format: (/** @type {unknown[]} */ ...args) => formatWithOptions(args) }, configurable: true });
})();
