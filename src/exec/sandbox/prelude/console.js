// @ts-check
// Sandbox code, part of the prelude (src/exec/sandbox/prelude/*.js, concatenated in one closure
// by isolate-pool.ts; top-level names here are that closure's, shared by the parts): the
// captured inspect and determinism hooks, and console, batched to the host.
let hostLog = /** @type {((text: string) => void) | null} */ (null);
const { inspect, format } = /** @type {SandboxInspect} */ (globalThis.__mcpv8_inspect);
const { loopNow, noteEvent, reseed, begin, replaying, replayIssue, takeRecord } = /** @type {SandboxDeterminism} */ (globalThis.__mcpv8_determinism);
delete globalThis.__mcpv8_inspect;
delete globalThis.__mcpv8_determinism;

// ---- console: one call, one entry (split on newlines); batched to the host ----
// User code runs in this context and may replace any built-in before it calls console.log:
// what this path calls is captured here, and a batch goes to the host as one string (lines
// joined by '\n'; a line never holds one), built with `+`, which nothing can replace. Before,
// a replaced Array.prototype.push sent `null` lines that failed every other run's store write.
// The host checks the type and the size of what arrives all the same (outcome.ts, ConsoleBudget).
const outputBytesMax = 32 * 1024 * 1024;
/** Lines per execution at most: each costs the host a store write, so a flood of empty lines must end too. */
const outputLinesMax = 100000;
const linesPerFlushMax = 500;
const flushCharsMax = 1024 * 1024;
const flushIntervalMs = 10;
const eagerFlushesPerIntervalMax = 20;
const consoleApply = Reflect.apply;
const consoleIndexOf = String.prototype.indexOf;
const consoleSlice = String.prototype.slice;
let outputBytes = 0;
let outputLines = 0;
let batchesSent = 0;
let intervalStartMs = 0;
let flushesInInterval = 0;
let truncated = false;
let pendingText = '';
let pendingCount = 0;
let groupIndent = '';

function flushOutput() {
  if (pendingCount === 0) return;
  const text = pendingText;
  pendingText = '';
  pendingCount = 0;
  batchesSent++;
  flushesInInterval++;
  /** @type {(text: string) => void} */ (hostLog)(text);
}

/** @param {string} line */
function queueLine(line) {
  pendingText = pendingCount === 0 ? line : pendingText + '\n' + line;
  pendingCount++;
}

/** @param {string} prefix @param {unknown} text */
function emit(prefix, text) {
  // A replay prints nothing: the lines went out when the run was live.
  if (truncated || replaying()) return;
  // `format` runs through built-ins user code may have replaced: only a string is printed.
  if (typeof text !== 'string') text = '[console: the arguments could not be formatted]';
  let from = 0;
  for (;;) {
    const newline = consoleApply(consoleIndexOf, text, ['\n', from]);
    const line = consoleApply(consoleSlice, text, newline === -1 ? [from] : [from, newline]);
    const shown = groupIndent + prefix + line;
    prefix = '';
    // Characters count up to 3 UTF-8 bytes each; the host counts the exact bytes.
    outputBytes += shown.length + 1;
    outputLines++;
    if (outputBytes > outputBytesMax || outputLines > outputLinesMax) {
      truncated = true;
      queueLine(`[output truncated: this execution reached the console limit of ${outputLinesMax} lines or 32 MiB]`);
      break;
    }
    queueLine(shown);
    if (newline === -1) break;
    from = newline + 1;
  }
  // The first lines of every 10 ms go out at once, so that what a program printed before it
  // hangs in a loop that never yields reaches the host; past that (a flood) lines go out in
  // batches, and a loop that never yields loses at most the last batch when it times out.
  const nowMs = loopNow();
  if (nowMs - intervalStartMs >= flushIntervalMs) { intervalStartMs = nowMs; flushesInInterval = 0; }
  if (truncated || pendingCount >= linesPerFlushMax || pendingText.length >= flushCharsMax || flushesInInterval < eagerFlushesPerIntervalMax) flushOutput();
}

// Maps of our own whose methods user code cannot replace: a prototype of their own (null-based)
// with the original methods, iterated by forEach (a for-of would call the MapIterator
// prototype's `next`, which user code can reach and replace).
const SafeMapPrototype = Object.create(null);
for (const key of Reflect.ownKeys(Map.prototype)) Object.defineProperty(SafeMapPrototype, key, /** @type {PropertyDescriptor} */ (Object.getOwnPropertyDescriptor(Map.prototype, key)));
const OriginalMap = Map;
const setPrototypeOf = Object.setPrototypeOf;
function safeMap() {
  return setPrototypeOf(new OriginalMap(), SafeMapPrototype);
}

const counts = safeMap();
const timers = safeMap();
// console.table, trace, time and groupEnd call only what is captured here, at start-up.
const consoleKeys = Object.keys;
const consoleDefineProperty = Object.defineProperty;
const consoleRepeat = String.prototype.repeat;
const consoleToFixed = Number.prototype.toFixed;
const consoleFloor = Math.floor;
const consoleCeil = Math.ceil;
const ConsoleError = Error;
const ConsoleString = String;
/** Appends as a data property: no push, no setter a run put on Array.prototype. */
/** @template T @param {T[]} list @param {T} item */
function consoleAppend(list, item) {
  consoleDefineProperty(list, list.length, /** @type {PropertyDescriptor} */ ({ __proto__: null, value: item, writable: true, enumerable: true, configurable: true }));
}
/** @param {string[]} list @param {string} separator @returns {string} */
function consoleJoin(list, separator) {
  let text = '';
  for (let index = 0; index < list.length; index++) text = index === 0 ? list[index] : text + separator + list[index];
  return text;
}
/** @param {number} count @returns {string} */
const consoleSpaces = (count) => consoleApply(consoleRepeat, ' ', [count]);
/** @param {any} data (user code's: any value) @returns {string} */
function table(data) {
  if (data === null || typeof data !== 'object') return format([data]);
  const rows = consoleKeys(data);
  const columns = /** @type {string[]} */ ([]);
  for (let r = 0; r < rows.length; r++) {
    const item = data[rows[r]];
    if (item === null || typeof item !== 'object') continue;
    const keys = consoleKeys(item);
    for (let k = 0; k < keys.length; k++) {
      let known = false;
      for (let c = 0; c < columns.length && !known; c++) known = columns[c] === keys[k];
      if (!known) consoleAppend(columns, keys[k]);
    }
  }
  let hasValues = false;
  for (let r = 0; r < rows.length && !hasValues; r++) hasValues = data[rows[r]] === null || typeof data[rows[r]] !== 'object';
  const header = ['(index)'];
  for (let c = 0; c < columns.length; c++) consoleAppend(header, columns[c]);
  if (hasValues) consoleAppend(header, 'Values');
  const cell = (/** @type {unknown} */ value) => (value === undefined ? '' : inspect(value, { depth: 0 }));
  const body = /** @type {string[][]} */ ([]);
  for (let r = 0; r < rows.length; r++) {
    const item = data[rows[r]];
    const isObject = item !== null && typeof item === 'object';
    const line = [rows[r]];
    for (let c = 0; c < columns.length; c++) consoleAppend(line, isObject ? cell(item[columns[c]]) : '');
    if (hasValues) consoleAppend(line, isObject ? '' : cell(item));
    consoleAppend(body, line);
  }
  const widths = /** @type {number[]} */ ([]);
  for (let index = 0; index < header.length; index++) {
    let width = header[index].length;
    for (let r = 0; r < body.length; r++) if (body[r][index].length > width) width = body[r][index].length;
    consoleAppend(widths, width + 2);
  }
  const rule = (/** @type {string} */ left, /** @type {string} */ middle, /** @type {string} */ right) => {
    const parts = /** @type {string[]} */ ([]);
    for (let index = 0; index < widths.length; index++) consoleAppend(parts, consoleApply(consoleRepeat, '─', [widths[index]]));
    return left + consoleJoin(parts, middle) + right;
  };
  const render = (/** @type {string[]} */ cells) => {
    const parts = /** @type {string[]} */ ([]);
    for (let index = 0; index < cells.length; index++) {
      const space = widths[index] - cells[index].length;
      consoleAppend(parts, consoleSpaces(consoleFloor(space / 2)) + cells[index] + consoleSpaces(consoleCeil(space / 2)));
    }
    return '│' + consoleJoin(parts, '│') + '│';
  };
  let text = rule('┌', '┬', '┐') + '\n' + render(header) + '\n' + rule('├', '┼', '┤');
  for (let r = 0; r < body.length; r++) text += '\n' + render(body[r]);
  return text + '\n' + rule('└', '┴', '┘');
}

/** The stack of a new Error less its first `skip` lines @param {number} skip @returns {string} */
function stackBelow(skip) {
  const stack = ConsoleString(new ConsoleError().stack);
  let from = 0;
  for (let line = 0; line < skip && from !== -1; line++) {
    const newline = consoleApply(consoleIndexOf, stack, ['\n', from]);
    from = newline === -1 ? -1 : newline + 1;
  }
  return from === -1 ? '' : consoleApply(consoleSlice, stack, [from]);
}

// Made without a prototype, then given Object.prototype (as V8's console has): an object literal
// with a prototype takes a map per property added (≈ 17 here), each copied into every new context;
// this one is a dictionary (one map, shared), as fast for the few calls a run makes.
// (user code's arguments, any values)
const consoleObject = /** @type {Record<string, (...args: any[]) => void>} */ (/** @type {Record<string, ((...args: any[]) => void) | null>} */ ({
  __proto__: null,
  log: (...args) => emit('', format(args)),
  info: (...args) => emit('[INFO] ', format(args)),
  warn: (...args) => emit('[WARN] ', format(args)),
  error: (...args) => emit('[ERROR] ', format(args)),
  debug: (...args) => emit('', format(args)),
  trace: (...args) => {
    const stack = stackBelow(3);
    emit('', `Trace${args.length > 0 ? ': ' + format(args) : ''}\n${stack}`);
  },
  dir: (value, options) => emit('', inspect(value, options)),
  table: (data) => emit('', table(data)),
  assert: (condition, ...args) => { if (!condition) emit('[ERROR] ', `Assertion failed${args.length > 0 ? ': ' + format(args) : ''}`); },
  count: (label = 'default') => { const count = (counts.get(label) ?? 0) + 1; counts.set(label, count); emit('', `${label}: ${count}`); },
  countReset: (label = 'default') => { counts.delete(label); },
  time: (label = 'default') => { timers.set(label, performance.now()); },
  timeEnd: (label = 'default') => { if (timers.has(label)) { emit('', `${label}: ${consoleApply(consoleToFixed, performance.now() - timers.get(label), [3])}ms`); timers.delete(label); } },
  timeLog: (label = 'default', ...args) => { if (timers.has(label)) emit('', `${label}: ${consoleApply(consoleToFixed, performance.now() - timers.get(label), [3])}ms${args.length > 0 ? ' ' + format(args) : ''}`); },
  group: (...args) => { if (args.length > 0) emit('', format(args)); groupIndent += '  '; },
  groupEnd: () => { groupIndent = consoleApply(consoleSlice, groupIndent, [2]); },
}));
const consoleGroup = consoleObject.group;
consoleObject.groupCollapsed = { groupCollapsed: (/** @type {unknown[]} */ ...args) => consoleApply(consoleGroup, undefined, args) }.groupCollapsed;
Object.setPrototypeOf(consoleObject, Object.prototype);
Object.defineProperty(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });

