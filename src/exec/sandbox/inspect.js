// Sandbox code (runs inside the isolate, never on the host): Node's util.inspect and util.format,
// reimplemented small, so console output reads as it would in Node.
// Defines globalThis.__mcpv8_inspect = { inspect, format }; the prelude captures and deletes it.
(function () {
  'use strict';
  const breakLength = 80;
  const arrayItemsMax = 100;
  const stringCharsMax = 10000;
  const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
  const typedArrayTag = Object.getOwnPropertyDescriptor(typedArrayPrototype, Symbol.toStringTag).get;

  function quote(text) {
    const shown = text.length > stringCharsMax ? text.slice(0, stringCharsMax) : text;
    const escaped = shown.replace(/[\\'\n\r\t\b\f\v\0]/g, (character) => ({
      '\\': '\\\\', "'": "\\'", '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\0',
    })[character]);
    const more = text.length > shown.length ? `... ${text.length - shown.length} more characters` : '';
    return `'${escaped}'${more}`;
  }

  function formatNumber(value) {
    return Object.is(value, -0) ? '-0' : String(value);
  }

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

  function constructorName(value) {
    let prototype = Object.getPrototypeOf(value);
    while (prototype !== null) {
      const descriptor = Object.getOwnPropertyDescriptor(prototype, 'constructor');
      if (descriptor !== undefined && typeof descriptor.value === 'function' && descriptor.value.name !== '') return descriptor.value.name;
      prototype = Object.getPrototypeOf(prototype);
    }
    return null;
  }

  function formatKey(key) {
    if (typeof key === 'symbol') return `[${key.toString()}]`;
    return identifier.test(key) ? key : quote(key);
  }

  function reduceToLines(ctx, entries, open, close, prefix) {
    const start = entries.length + ctx.indentation + open.length + prefix.length + 10;
    const total = entries.reduce((sum, entry) => sum + entry.length, 0);
    if (total + start <= breakLength && !entries.some((entry) => entry.includes('\n'))) {
      return `${prefix}${open} ${entries.join(', ')} ${close}`;
    }
    const indent = ' '.repeat(ctx.indentation + 2);
    return `${prefix}${open}\n${indent}${entries.join(`,\n${indent}`)}\n${' '.repeat(ctx.indentation)}${close}`;
  }

  function propertyEntries(ctx, value, depth, skipIndexes) {
    const entries = [];
    for (const key of Reflect.ownKeys(value)) {
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

  function formatFunction(value) {
    const source = Function.prototype.toString.call(value);
    if (source.startsWith('class')) return value.name ? `[class ${value.name}]` : '[class (anonymous)]';
    const kind = source.startsWith('async') ? 'AsyncFunction' : /^function\s*\*|^\*/.test(source) ? 'GeneratorFunction' : 'Function';
    return value.name ? `[${kind}: ${value.name}]` : `[${kind} (anonymous)]`;
  }

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

  function formatObjectBody(ctx, value, depth) {
    if (Array.isArray(value)) {
      const entries = formatList(ctx, value, depth, value.length).concat(propertyEntries(ctx, value, depth, true));
      const name = constructorName(value);
      const prefix = name === 'Array' ? '' : `${name}(${value.length}) `;
      return entries.length === 0 ? `${prefix}[]` : reduceToLines(ctx, entries, '[', ']', prefix);
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const entries = formatList(ctx, value, depth, value.length);
      const prefix = `${typedArrayTag.call(value)}(${value.length}) `;
      return entries.length === 0 ? `${prefix}[]` : reduceToLines(ctx, entries, '[', ']', prefix);
    }
    if (value instanceof ArrayBuffer) {
      const bytes = Array.from(new Uint8Array(value, 0, Math.min(value.byteLength, 50)), (byte) => byte.toString(16).padStart(2, '0'));
      const more = value.byteLength > 50 ? ` ... ${value.byteLength - 50} more bytes` : '';
      return `ArrayBuffer { [Uint8Contents]: <${bytes.join(' ')}${more}>, byteLength: ${value.byteLength} }`;
    }
    if (value instanceof Map) {
      const entries = [];
      for (const [key, item] of value) {
        if (entries.length >= arrayItemsMax) { entries.push(`... ${value.size - arrayItemsMax} more items`); break; }
        entries.push(`${formatValue(ctx, key, depth + 1)} => ${formatValue(ctx, item, depth + 1)}`);
      }
      return entries.length === 0 ? `Map(0) {}` : reduceToLines(ctx, entries, '{', '}', `Map(${value.size}) `);
    }
    if (value instanceof Set) {
      const entries = [];
      for (const item of value) {
        if (entries.length >= arrayItemsMax) { entries.push(`... ${value.size - arrayItemsMax} more items`); break; }
        entries.push(formatValue(ctx, item, depth + 1));
      }
      return entries.length === 0 ? `Set(0) {}` : reduceToLines(ctx, entries, '{', '}', `Set(${value.size}) `);
    }
    const entries = propertyEntries(ctx, value, depth, false);
    const name = constructorName(value);
    let prefix = name === 'Object' ? '' : name === null ? '[Object: null prototype] ' : `${name} `;
    const tag = value[Symbol.toStringTag];
    if (typeof tag === 'string' && tag !== '' && tag !== name) prefix = `${prefix === '' ? 'Object ' : prefix}[${tag}] `;
    if (entries.length === 0) return `${prefix}{}`;
    return reduceToLines(ctx, entries, '{', '}', prefix);
  }

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

  function formatValue(ctx, value, depth) {
    if (value === null) return 'null';
    if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(value);
    if (typeof value === 'function') return formatFunction(value);
    const special = formatSpecial(value);
    if (special !== null) return special;
    if (ctx.seen.includes(value)) {
      let index = ctx.circular.get(value);
      if (index === undefined) { index = ctx.circular.size + 1; ctx.circular.set(value, index); }
      return `[Circular *${index}]`;
    }
    if (depth > ctx.depth) return Array.isArray(value) ? '[Array]' : `[${constructorName(value) ?? 'Object'}]`;
    ctx.seen.push(value);
    const savedIndentation = ctx.indentation;
    ctx.indentation = depth * 2;
    let text;
    try {
      text = formatObjectBody(ctx, value, depth);
    } catch (error) {
      text = `[object: inspection failed: ${error && error.message}]`;
    }
    ctx.indentation = savedIndentation;
    ctx.seen.pop();
    const index = ctx.circular.get(value);
    return index === undefined ? text : `<ref *${index}> ${text}`;
  }

  function inspect(value, options) {
    const depth = options && typeof options.depth === 'number' ? options.depth : 2;
    return formatValue({ depth, seen: [], circular: new Map(), indentation: 0 }, value, 0);
  }

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

  Object.defineProperty(globalThis, '__mcpv8_inspect', { value: { inspect, format: (...args) => formatWithOptions(args) }, configurable: true });
})();
