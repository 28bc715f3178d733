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
/** @param {any} data (user code's: any value) @returns {string} */
function table(data) {
  if (data === null || typeof data !== 'object') return format([data]);
  const rows = Object.keys(data);
  const columns = /** @type {string[]} */ ([]);
  for (const row of rows) {
    const item = data[row];
    if (item !== null && typeof item === 'object') for (const key of Object.keys(item)) if (!columns.includes(key)) columns.push(key);
  }
  const hasValues = rows.some((row) => data[row] === null || typeof data[row] !== 'object');
  const header = ['(index)', ...columns, ...(hasValues ? ['Values'] : [])];
  const cell = (/** @type {unknown} */ value) => (value === undefined ? '' : inspect(value, { depth: 0 }));
  const body = rows.map((row) => {
    const item = data[row];
    const isObject = item !== null && typeof item === 'object';
    return [row, ...columns.map((key) => (isObject ? cell(item[key]) : '')), ...(hasValues ? [isObject ? '' : cell(item)] : [])];
  });
  const widths = header.map((title, index) => Math.max(title.length, ...body.map((line) => line[index].length)) + 2);
  const line = (/** @type {string} */ left, /** @type {string} */ middle, /** @type {string} */ right) => left + widths.map((width) => '─'.repeat(width)).join(middle) + right;
  const render = (/** @type {string[]} */ cells) => '│' + cells.map((text, index) => {
    const space = widths[index] - text.length;
    return ' '.repeat(Math.floor(space / 2)) + text + ' '.repeat(Math.ceil(space / 2));
  }).join('│') + '│';
  return [line('┌', '┬', '┐'), render(header), line('├', '┼', '┤'), ...body.map(render), line('└', '┴', '┘')].join('\n');
}

/** @type {Record<string, (...args: any[]) => void>} user code's arguments, any values */
const consoleObject = {
  log: (...args) => emit('', format(args)),
  info: (...args) => emit('[INFO] ', format(args)),
  warn: (...args) => emit('[WARN] ', format(args)),
  error: (...args) => emit('[ERROR] ', format(args)),
  debug: (...args) => emit('', format(args)),
  trace: (...args) => {
    const stack = String(new Error().stack).split('\n').slice(2).join('\n');
    emit('', `Trace${args.length > 0 ? ': ' + format(args) : ''}\n${stack}`);
  },
  dir: (value, options) => emit('', inspect(value, options)),
  table: (data) => emit('', table(data)),
  assert: (condition, ...args) => { if (!condition) emit('[ERROR] ', `Assertion failed${args.length > 0 ? ': ' + format(args) : ''}`); },
  count: (label = 'default') => { const count = (counts.get(label) ?? 0) + 1; counts.set(label, count); emit('', `${label}: ${count}`); },
  countReset: (label = 'default') => { counts.delete(label); },
  time: (label = 'default') => { timers.set(label, performance.now()); },
  timeEnd: (label = 'default') => { if (timers.has(label)) { emit('', `${label}: ${(performance.now() - timers.get(label)).toFixed(3)}ms`); timers.delete(label); } },
  timeLog: (label = 'default', ...args) => { if (timers.has(label)) emit('', `${label}: ${(performance.now() - timers.get(label)).toFixed(3)}ms${args.length > 0 ? ' ' + format(args) : ''}`); },
  group: (...args) => { if (args.length > 0) emit('', format(args)); groupIndent += '  '; },
  groupEnd: () => { groupIndent = groupIndent.slice(2); },
};
const consoleGroup = consoleObject.group;
consoleObject.groupCollapsed = { groupCollapsed: (/** @type {unknown[]} */ ...args) => consoleApply(consoleGroup, undefined, args) }.groupCollapsed;
Object.defineProperty(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });

