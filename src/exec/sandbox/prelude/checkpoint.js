// @ts-check
// Sandbox code, part of the prelude (see console.js): the checkpoint of a stateful context
// (docs/stateful.md, "Checkpoints"). A checkpoint is taken only when what the history left for the
// next run is, exactly, a set of global bindings holding primitives (no symbol), plus the
// prelude's counters (timer and work ids, the off-heap bytes counted against the memory limit): every built-in object (everything reachable from the global object
// when the context was attached, through properties, accessors and prototypes) is as it was, no
// console.count/console.time state is left, no console group is open and the legacy RegExp
// statics (RegExp.$1 …) are those of a fresh context (nothing here matches a RegExp). Anything else answers null, and the heap resumes by replay.
// What runs after user code uses only what was captured here before it (and reads no property
// through a prototype); nothing here calls user code (descriptors are read, getters never called).
const checkpointFormat = 2;
/** The format of a checkpoint that names lazily built groups (`groups`, their names in build order). */
const checkpointFormatGroups = 3;
/** Characters of a checkpoint at most (the bound of what a heap record carries besides its run). */
const checkpointCharsMax = 1024 * 1024;
// Captured (the rest from natives.js): what runs after user code.
const { getPrototypeOf: checkpointGetPrototypeOf, isExtensible: checkpointIsExtensible, is: checkpointObjectIs } = Object;
const { stringify: checkpointJsonStringify, parse: checkpointJsonParse } = JSON;
const checkpointArrayIsArray = Array.isArray;
const checkpointBigIntToString = RealBigInt.prototype.toString;
const checkpointMapSize = getterOf(Map.prototype, 'size');
const regExpStaticNames = ['input', 'lastMatch', 'lastParen', 'leftContext', 'rightContext', '$1', '$2', '$3', '$4', '$5', '$6', '$7', '$8', '$9'];
/** @type {Array<(this: unknown) => unknown>} */
const regExpStaticGetters = [];
for (let index = 0; index < regExpStaticNames.length; index++) {
  const descriptor = getOwnPropertyDescriptor(RegExp, regExpStaticNames[index]);
  if (descriptor !== undefined && descriptor.get !== undefined) regExpStaticGetters[regExpStaticGetters.length] = descriptor.get;
}

/**
 * A record of built-in objects as they were, compact (a context made from the snapshot
 * deserializes it, so it holds few references: strings, which V8 shares between the contexts of
 * an isolate, and one list): `text` describes, object after object, its extensibility, own keys
 * in order, their attributes and primitive values; `refs` names, in the same order, what is
 * compared by identity (each object's prototype, symbol keys, object values, getters, setters),
 * each as a number: its index in `objects`, or past them in `others` (what the record does not
 * hold: symbols, undefined, objects of another record); `bounds` where each object's part of
 * `text` and of `refs` ends (two numbers per object). Numbers are two UTF-16 code units each
 * (`encodeNumbers`): as lists of numbers, `refs` and `bounds` were ≈ 25 KiB of every context's heap.
 * @typedef {{ objects: object[]; text: string; refs: string; others: unknown[]; bounds: string }} BuiltinRecord
 */
/**
 * The built-ins as the prelude's snapshot holds them, the global object first. Made once, when
 * the snapshot is made (the end of the prelude): every context made from the snapshot has its own
 * copy, which points at its own built-ins, so no context walks them.
 * @type {BuiltinRecord}
 */
let snapshotRecord = { objects: [], text: '', refs: '', others: [], bounds: '' };
/**
 * What attach changed after the snapshot, in a stateful context: the global object as attached
 * (first), the built-ins V8 installed after the snapshot, and the objects attach installed
 * (wasm.js's lazy globals, fetch/fs, display). Null until recorded (stateless contexts never are).
 * @type {null | BuiltinRecord}
 */
let attachedRecord = null;
/** The global object's own keys as attached: the globals a program adds come after them. */
let globalKeysAttached = 0;
/** Every built-in object, as a set (stateful contexts, made at attach): the state may hold none. @type {Set<unknown>} */
let builtinObjects = new Set();
/** The indices of `snapshotRecord.objects` superseded by `attachedRecord`, ascending. @type {number[]} */
let supersededEntries = [];
/** Object.prototype's own keys, captured with the prelude (before any user code). */
const objectPrototypeKeysAttached = reflectOwnKeys(Object.prototype);
/** The legacy RegExp statics as the context was attached (a fresh context's: web.js matched an encoding label). @type {unknown[]} */
const regExpStaticsAttached = [];
const checkpointStringSlice = String.prototype.slice;
const checkpointCharCodeAt = String.prototype.charCodeAt;
const checkpointFromCharCode = String.fromCharCode;
const checkpointFunctionPrototype = Function.prototype;

// ---- lazily built groups (lazy.js): built after attach, recorded as each build ends ----
// A group of globals built on a context's first read (URL, Headers, Event …) is made after the
// built-ins were recorded: as its build ends (before any user code sees it) the objects it made
// are recorded like the built-ins, and its accessors, now data properties, are described as the
// accessors they were while they hold what the build put there. A checkpoint names the groups
// built; a restore builds them again (the same code, the same captured built-ins) before the data.
const checkpointSetPrototypeOf = Object.setPrototypeOf;
/** Per holder, the properties built groups turned into data, by name. @type {null | Map<object, Record<string, { value: unknown, writable: boolean, enumerable: boolean, get: Function, set: Function | undefined }>>} */
let builtLazyProperties = null;
/**
 * The objects a built group made, each described as it was when the build ended (describeBuiltin:
 * `texts[i]` for `objects[i]`, whose references are `refs` from `ends[i - 1]` (0 for the first) to
 * `ends[i]`). Not in the snapshot, so kept plainly (the built-ins' compact BuiltinRecord is for
 * what every context deserializes); lists without a prototype.
 * @typedef {{ objects: object[]; texts: string[]; refs: unknown[]; ends: number[] }} GroupRecord
 */
/** The records of the groups built, in build order. @type {GroupRecord[]} */
const builtGroupRecords = nullPrototypeList();
/** Groups restored from a checkpoint at most (the groups lazy.js defines are a handful). */
const checkpointGroupsMax = 64;

/**
 * An empty array without a prototype: what code of ours appends to after user code ran (an index
 * setter on Array.prototype is not reached).
 * @returns {any[]}
 */
function nullPrototypeList() {
  const list = /** @type {any[]} */ ([]);
  checkpointSetPrototypeOf(list, null);
  return list;
}

/**
 * The accessor a built group replaced at `object[key]`, if the property is what the build made it.
 * @param {object} object
 * @param {string} key
 * @param {PropertyDescriptor} descriptor its own descriptor now
 * @returns {null | { enumerable: boolean, get: Function, set: Function | undefined }}
 */
function builtProperty(object, key, descriptor) {
  const properties = builtLazyProperties === null ? undefined : reflectApply(checkpointMapGet, builtLazyProperties, [object]);
  const built = properties === undefined ? undefined : properties[key];
  if (built === undefined || !objectHasOwn(descriptor, 'value')) return null;
  if (descriptor.value !== built.value || descriptor.writable !== built.writable || descriptor.enumerable !== built.enumerable || descriptor.configurable !== true) return null;
  return built;
}

/**
 * lazy.js tells of each group as its build ends: in a stateful context (built-ins recorded), its
 * objects not already built-ins are recorded, and become built-ins (the state may hold none).
 * Runs after user code: captured calls, index loops and lists without a prototype only.
 * @param {LazyGroup} group
 * @returns {void}
 */
function noteGroupBuilt(group) {
  if (attachedRecord === null) return;
  if (builtLazyProperties === null) builtLazyProperties = new CheckpointMap();
  let properties = reflectApply(checkpointMapGet, builtLazyProperties, [group.holder]);
  if (properties === undefined) {
    properties = /** @type {any} */ ({ __proto__: null });
    reflectApply(checkpointMapSet, builtLazyProperties, [group.holder, properties]);
  }
  const roots = nullPrototypeList();
  for (let index = 0; index < group.names.length; index++) {
    const name = group.names[index];
    const own = getOwnPropertyDescriptor(group.values, name);
    const value = own !== undefined && objectHasOwn(own, 'value') ? own.value : undefined;
    properties[name] = { __proto__: null, value, writable: group.writable, enumerable: group.enumerable, get: group.getters[index], set: group.setters[index] };
    roots[roots.length] = value;
  }
  const objects = walkBuilt(roots);
  const texts = nullPrototypeList();
  const refs = nullPrototypeList();
  const ends = nullPrototypeList();
  for (let index = 0; index < objects.length; index++) {
    texts[index] = describeBuiltin(objects[index], refs);
    ends[index] = refs.length;
  }
  builtGroupRecords[builtGroupRecords.length] = { objects, texts, refs, ends };
}

/**
 * Whether the object at `index` of a group's record is as the build left it.
 * @param {GroupRecord} record
 * @param {number} index
 * @param {unknown[]} refs a scratch list without a prototype
 * @returns {boolean}
 */
function groupObjectAsBuilt(record, index, refs) {
  refs.length = 0;
  if (describeBuiltin(record.objects[index], refs) !== record.texts[index]) return false;
  const start = index === 0 ? 0 : record.ends[index - 1];
  if (refs.length !== record.ends[index] - start) return false;
  for (let at = 0; at < refs.length; at++) if (refs[at] !== record.refs[start + at]) return false;
  return true;
}
sandboxLazy.setBuildObserver(noteGroupBuilt);

/**
 * Every object reachable from `roots` that is not a built-in yet (walkBuiltins' walk, safe after
 * user code), added to the built-ins.
 * @param {unknown[]} roots
 * @returns {object[]}
 */
function walkBuilt(roots) {
  const queue = nullPrototypeList();
  /** @param {unknown} value @returns {void} */
  const visit = (value) => {
    if (value !== null && (typeof value === 'object' || typeof value === 'function') && !reflectApply(checkpointSetHas, builtinObjects, [value])) {
      reflectApply(checkpointSetAdd, builtinObjects, [value]);
      queue[queue.length] = value;
    }
  };
  for (let index = 0; index < roots.length; index++) visit(roots[index]);
  for (let index = 0; index < queue.length; index++) {
    const object = queue[index];
    const keys = reflectOwnKeys(object);
    for (let at = 0; at < keys.length; at++) {
      const descriptor = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(object, keys[at]));
      if (objectHasOwn(descriptor, 'value')) visit(descriptor.value);
      else { visit(descriptor.get); visit(descriptor.set); }
    }
    visit(checkpointGetPrototypeOf(object));
  }
  return queue;
}

/**
 * Built-ins no property path from the global object reaches, but user code does (through an
 * instance): each a root of its own.
 * @returns {object[]}
 */
function unreachableBuiltins() {
  const getPrototypeOf = checkpointGetPrototypeOf;
  const roots = [
    getPrototypeOf([][Symbol.iterator]()), getPrototypeOf(new Map()[Symbol.iterator]()), getPrototypeOf(new Set()[Symbol.iterator]()),
    getPrototypeOf(''[Symbol.iterator]()), getPrototypeOf(/(?:)/[Symbol.matchAll]('')),
    getPrototypeOf(function* () {}), getPrototypeOf(async function () {}), getPrototypeOf(async function* () {}),
  ];
  const iteratorPrototype = getPrototypeOf(getPrototypeOf([][Symbol.iterator]()));
  if (typeof iteratorPrototype.map === 'function') roots.push(getPrototypeOf(/** @type {any} */ ([].values()).map(/** @param {unknown} value */ (value) => value)));
  const iteratorFrom = /** @type {any} */ (globalThis).Iterator?.from;
  if (typeof iteratorFrom === 'function') roots.push(getPrototypeOf(iteratorFrom({ next: () => ({ done: true, value: undefined }) })));
  if (typeof Intl.Segmenter === 'function') {
    // The segmenter made here is not the user's: its ballast is not counted against the run.
    const ballastBefore = ballastBytes;
    const segments = new Intl.Segmenter().segment('');
    roots.push(getPrototypeOf(segments), getPrototypeOf(segments[Symbol.iterator]()));
    ballastBytes = ballastBefore;
  }
  // The prelude's own: a timer's class; V8's: the accessor of an error's own `stack`.
  roots.push(Timeout.prototype);
  const stack = getOwnPropertyDescriptor(new Error(), 'stack');
  if (stack !== undefined && stack.get !== undefined) roots.push(stack.get);
  if (stack !== undefined && stack.set !== undefined) roots.push(stack.set);
  return roots;
}

/**
 * Every object reachable from `roots` (through properties, accessors and prototypes), except
 * those `known` holds, in the order met: before any user code.
 * @param {object[]} roots
 * @param {Set<unknown>} known
 * @returns {object[]}
 */
function walkBuiltins(roots, known) {
  const seen = new Set();
  /** @type {object[]} */
  const queue = [];
  /** @param {unknown} value @returns {void} */
  const visit = (value) => {
    if (value !== null && (typeof value === 'object' || typeof value === 'function') && !seen.has(value) && !known.has(value)) {
      seen.add(value);
      queue.push(value);
    }
  };
  for (const root of roots) visit(root);
  for (let index = 0; index < queue.length; index++) {
    const object = queue[index];
    for (const key of reflectOwnKeys(object)) {
      const descriptor = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(object, key));
      visit(descriptor.value); visit(descriptor.get); visit(descriptor.set);
    }
    visit(checkpointGetPrototypeOf(object));
  }
  return queue;
}

/**
 * One own property of a built-in, described: its key, attributes and primitive value as text,
 * what is compared by identity (a symbol key, an object value, a getter, a setter) pushed onto
 * `refs`. Reads the descriptor's own fields only, those its kind has (never a getter).
 * @param {object} object
 * @param {string | symbol} key
 * @param {unknown[]} refs
 * @returns {string}
 */
function describeProperty(object, key, refs) {
  let text;
  if (typeof key === 'string') text = '|' + key.length + ':' + key;
  else { text = '|s'; refs[refs.length] = key; }
  const descriptor = getOwnPropertyDescriptor(object, key);
  if (descriptor === undefined) return text + 'x';
  if (builtLazyProperties !== null && typeof key === 'string') {
    const lazy = builtProperty(object, key, descriptor);
    if (lazy !== null) { refs[refs.length] = lazy.get; refs[refs.length] = lazy.set; return text + (lazy.enumerable ? 'e' : '-') + 'ca'; }
  }
  text += (descriptor.enumerable ? 'e' : '-') + (descriptor.configurable ? 'c' : '-');
  if (!objectHasOwn(descriptor, 'value')) {
    refs[refs.length] = descriptor.get;
    refs[refs.length] = descriptor.set;
    return text + 'a';
  }
  text += descriptor.writable ? 'w' : '-';
  const value = descriptor.value;
  if ((typeof value === 'object' && value !== null) || typeof value === 'function' || typeof value === 'symbol') {
    refs[refs.length] = value;
    return text + 'o';
  }
  if (typeof value === 'string') return text + 's' + value.length + ':' + value;
  if (typeof value === 'number' && checkpointObjectIs(value, -0)) return text + 'n-0';
  return text + typeof value + ':' + value;
}

/**
 * One built-in object's part of a record: its text, its references pushed onto `refs`.
 * @param {object} object
 * @param {unknown[]} refs
 * @returns {string}
 */
function describeBuiltin(object, refs) {
  const keys = reflectOwnKeys(object);
  let text = (checkpointIsExtensible(object) ? 'E' : 'N') + keys.length;
  // The two usual prototypes by a letter: fewer references for every context to deserialize.
  const prototype = checkpointGetPrototypeOf(object);
  if (prototype === checkpointObjectPrototype) text += 'O';
  else if (prototype === checkpointFunctionPrototype) text += 'F';
  else { text += 'P'; refs[refs.length] = prototype; }
  for (let index = 0; index < keys.length; index++) text += describeProperty(object, keys[index], refs);
  return text;
}

/**
 * The record of `objects` (the global object described in full: attach and the snapshot).
 * @param {object[]} objects
 * @returns {BuiltinRecord}
 */
function recordOf(objects) {
  /** @type {string[]} */
  const parts = [];
  /** @type {unknown[]} */
  const refs = [];
  /** @type {number[]} */
  const bounds = [];
  let length = 0;
  for (const object of objects) {
    const part = describeBuiltin(object, refs);
    parts.push(part);
    length += part.length;
    bounds.push(length, refs.length);
  }
  /** @type {Map<unknown, number>} */
  const numbers = new Map();
  for (let index = 0; index < objects.length; index++) numbers.set(objects[index], index);
  /** @type {unknown[]} */
  const others = [];
  /** @type {number[]} */
  const refNumbers = [];
  for (const ref of refs) {
    let number = numbers.get(ref);
    if (number === undefined) {
      number = objects.length + others.length;
      others.push(ref);
      numbers.set(ref, number);
    }
    refNumbers.push(number);
  }
  // Joined, one flat string (not a rope of a thousand parts kept in the snapshot).
  return { objects, text: parts.join(''), refs: encodeNumbers(refNumbers), others, bounds: encodeNumbers(bounds) };
}

/**
 * Numbers below 2 ** 32 as a flat string, two UTF-16 code units each (`decodedNumber` reads one).
 * @param {number[]} numbers
 * @returns {string}
 */
function encodeNumbers(numbers) {
  /** @type {string[]} */
  const chunks = [];
  for (let from = 0; from < numbers.length; from += 4096) {
    /** @type {number[]} */
    const units = [];
    for (let index = from; index < numbers.length && index < from + 4096; index++) units.push(numbers[index] >>> 16, numbers[index] & 0xffff);
    chunks.push(reflectApply(checkpointFromCharCode, undefined, units));
  }
  return chunks.join('');
}

/**
 * The number at `index` of a string made by `encodeNumbers`.
 * @param {string} numbers
 * @param {number} index
 * @returns {number}
 */
function decodedNumber(numbers, index) {
  return reflectApply(checkpointCharCodeAt, numbers, [2 * index]) * 0x10000 + reflectApply(checkpointCharCodeAt, numbers, [2 * index + 1]);
}

/**
 * Whether the record's object at `index` is as recorded.
 * @param {BuiltinRecord} record
 * @param {number} index
 * @returns {boolean}
 */
function asRecorded(record, index) {
  const object = record.objects[index];
  const refs = nullPrototypeList();
  const text = describeBuiltin(object, refs);
  const bounds = record.bounds;
  const textStart = index === 0 ? 0 : decodedNumber(bounds, 2 * index - 2);
  const refsStart = index === 0 ? 0 : decodedNumber(bounds, 2 * index - 1);
  const textEnd = decodedNumber(bounds, 2 * index);
  if (text.length !== textEnd - textStart || refs.length !== decodedNumber(bounds, 2 * index + 1) - refsStart) return false;
  if (text !== reflectApply(checkpointStringSlice, record.text, [textStart, textEnd])) return false;
  const { objects, others } = record;
  for (let at = 0; at < refs.length; at++) {
    const number = decodedNumber(record.refs, refsStart + at);
    if (refs[at] !== (number < objects.length ? objects[number] : others[number - objects.length])) return false;
  }
  return true;
}

/**
 * The global object's own properties, one description each (describeProperty): `pieces[i]`
 * describes `keys[i]`, whose references are `refs` up to `refEnds[i]`.
 * @typedef {{ keys: Array<string | symbol>; pieces: string[]; refs: unknown[]; refEnds: number[] }} GlobalRecord
 */
/** The global object as the snapshot holds it, property by property. @type {GlobalRecord} */
let snapshotGlobal = { keys: [], pieces: [], refs: [], refEnds: [] };
/** The global object as attached (stateful contexts): its keys then are a prefix of its keys later. @type {GlobalRecord | null} */
let attachedGlobal = null;

/**
 * The built-ins as the snapshot holds them: called once, at the end of the prelude, as the
 * snapshot is made (control.js).
 * @returns {void}
 */
function captureSnapshotBuiltins() {
  const record = recordOf(walkBuiltins([globalThis, ...unreachableBuiltins()], new Set()));
  // Lists of their exact length (slice): a list grown by push keeps up to half again as many
  // empty slots, which every context made from the snapshot would copy.
  // Without a prototype (as the global record below): a dictionary, not a map per property in every context.
  snapshotRecord = /** @type {BuiltinRecord} */ (/** @type {unknown} */ ({ __proto__: null, ...record, objects: record.objects.slice(), others: record.others.slice() }));
  const keys = reflectOwnKeys(globalThis);
  /** @type {GlobalRecord} */
  const global = { keys, pieces: [], refs: [], refEnds: [] };
  for (const key of keys) {
    global.pieces.push(describeProperty(globalThis, key, global.refs));
    global.refEnds.push(global.refs.length);
  }
  snapshotGlobal = /** @type {GlobalRecord} */ (/** @type {unknown} */ ({ __proto__: null, keys, pieces: global.pieces.slice(), refs: global.refs.slice(), refEnds: global.refEnds.slice() }));
}

/**
 * Whether the global object's property `keys[index]` is as `record` describes it at `index`.
 * @param {GlobalRecord} record
 * @param {number} index
 * @param {unknown[]} refs a scratch list
 * @returns {boolean}
 */
function globalAsRecorded(record, index, refs) {
  refs.length = 0;
  if (describeProperty(globalThis, record.keys[index], refs) !== record.pieces[index]) return false;
  const start = index === 0 ? 0 : record.refEnds[index - 1];
  if (refs.length !== record.refEnds[index] - start) return false;
  for (let at = 0; at < refs.length; at++) if (refs[at] !== record.refs[start + at]) return false;
  return true;
}

/**
 * What attach changes in the snapshot's built-ins, the same in every context of a process (V8
 * installs its flag-gated built-ins, `Promise.try` and others, on a context made from a snapshot,
 * after it is deserialized; attach makes SharedArrayBuffer and WebAssembly lazy): the indices of
 * the record's objects, and the names of the global object's properties, that differ. The host
 * asks one context it throws away, once per process (isolate-pool.ts, `builtinDeltaOfPrelude`),
 * and hands the answer to every stateful attach.
 * @returns {string}
 */
function builtinDelta() {
  const entries = [];
  for (let index = 1; index < snapshotRecord.objects.length; index++) if (!asRecorded(snapshotRecord, index)) entries.push(index);
  const globals = [];
  /** @type {unknown[]} */
  const refs = [];
  for (let index = 0; index < snapshotGlobal.keys.length; index++) {
    const key = snapshotGlobal.keys[index];
    if (typeof key === 'string' && getOwnPropertyDescriptor(globalThis, key) !== undefined && !globalAsRecorded(snapshotGlobal, index, refs)) globals.push(key);
  }
  return checkpointJsonStringify({ entries, globals });
}

/**
 * What attach changed since the snapshot (stateful contexts only, before any user code), from
 * `delta` (builtinDelta's answer) without reading the rest again: the global object's properties
 * (those the snapshot holds unchanged are taken from its record, the others described), the
 * record's objects the delta names, and the objects reachable from either that the snapshot's
 * record does not hold.
 * @param {string} delta
 * @returns {void}
 */
function captureBuiltins(delta) {
  const parsed = checkpointJsonParse(delta);
  const objects = snapshotRecord.objects;
  /** @type {number[]} */
  const entries = parsed.entries;
  /** @type {string[]} */
  const changed = parsed.globals;
  if (!checkpointArrayIsArray(entries) || !checkpointArrayIsArray(changed)) throw new TypeError('a built-in delta has entries and globals');
  for (let at = 0; at < entries.length; at++) {
    const index = entries[at];
    if (!Number.isSafeInteger(index) || index < 1 || index >= objects.length || (at > 0 && index <= entries[at - 1])) throw new TypeError('a built-in delta has ascending entry indices');
  }
  const known = new Set(objects);
  /** @type {object[]} */
  const roots = [];
  for (const index of entries) { known.delete(objects[index]); roots.push(objects[index]); }
  attachedGlobal = globalAsAttached(new Set(changed), known, roots);
  const attached = walkBuiltins(roots, known);
  for (const object of attached) known.add(object);
  for (const index of entries) known.add(objects[index]);
  attachedRecord = recordOf(attached);
  globalKeysAttached = attachedGlobal.keys.length;
  builtinObjects = known;
  supersededEntries = entries;
  for (let index = 0; index < regExpStaticGetters.length; index++) regExpStaticsAttached[index] = reflectApply(regExpStaticGetters[index], RegExp, []);
}

/**
 * The global object's record as attached: a property the snapshot holds and the delta does not
 * name is taken from the snapshot's record; any other is described, and the objects it holds
 * that `known` does not are pushed onto `roots` (to be recorded too).
 * @param {Set<string>} changed
 * @param {Set<unknown>} known
 * @param {object[]} roots
 * @returns {GlobalRecord}
 */
function globalAsAttached(changed, known, roots) {
  const snapshot = snapshotGlobal;
  const indexOf = new Map();
  for (let index = 0; index < snapshot.keys.length; index++) indexOf.set(snapshot.keys[index], index);
  const keys = reflectOwnKeys(globalThis);
  /** @type {GlobalRecord} */
  const global = { keys, pieces: [], refs: [], refEnds: [] };
  for (const key of keys) {
    const at = indexOf.get(key);
    if (at !== undefined && !(typeof key === 'string' && changed.has(key))) {
      global.pieces.push(snapshot.pieces[at]);
      for (let ref = at === 0 ? 0 : snapshot.refEnds[at - 1]; ref < snapshot.refEnds[at]; ref++) global.refs.push(snapshot.refs[ref]);
    } else {
      const from = global.refs.length;
      global.pieces.push(describeProperty(globalThis, key, global.refs));
      for (let ref = from; ref < global.refs.length; ref++) {
        const value = global.refs[ref];
        if (value !== null && (typeof value === 'object' || typeof value === 'function') && !known.has(value)) roots.push(value);
      }
    }
    global.refEnds.push(global.refs.length);
  }
  return global;
}

/**
 * Why the built-ins differ from their record, or null. Reads own descriptors only.
 * @returns {string | null}
 */
function builtinsChanged() {
  const attached = attachedRecord;
  const global = attachedGlobal;
  if (attached === null || global === null) return 'no capture of the built-ins';
  // Object.prototype's keys first: until they are known unchanged, reading a field a descriptor
  // lacks (`get` of a data property) or a trap our proxies' handlers lack could reach user code.
  const objectPrototypeKeys = reflectOwnKeys(Object.prototype);
  if (objectPrototypeKeys.length !== objectPrototypeKeysAttached.length) return 'a built-in property was added or deleted';
  for (let index = 0; index < objectPrototypeKeys.length; index++) {
    if (objectPrototypeKeys[index] !== objectPrototypeKeysAttached[index]) return 'a built-in property was added or deleted';
  }
  // The global object: its keys as attached first, in order, each as it was (the program's follow).
  const keys = reflectOwnKeys(globalThis);
  if (keys.length < global.keys.length) return 'a global built-in was deleted';
  // No prototype: an index setter a program put on Array.prototype must not run here.
  const refs = nullPrototypeList();
  for (let index = 0; index < global.keys.length; index++) {
    if (keys[index] !== global.keys[index]) return 'a global built-in was deleted or moved';
    if (!globalAsRecorded(global, index, refs)) return 'a global built-in was changed';
  }
  for (let index = 0; index < attached.objects.length; index++) {
    if (!asRecorded(attached, index)) return 'a built-in was changed';
  }
  // The snapshot's entry of the global object (its first), and those of the delta, are superseded by the attached ones.
  const superseded = supersededEntries;
  let next = 0;
  for (let index = 1; index < snapshotRecord.objects.length; index++) {
    if (next < superseded.length && superseded[next] === index) { next++; continue; }
    if (!asRecorded(snapshotRecord, index)) return 'a built-in was changed';
  }
  const groups = builtGroupRecords;
  for (let group = 0; group < groups.length; group++) {
    for (let index = 0; index < groups[group].objects.length; index++) {
      if (!groupObjectAsBuilt(groups[group], index, refs)) return 'a lazily built class or object (URL, Headers, Event …) was changed';
    }
  }
  return null;
}

/**
 * A primitive, encoded for JSON exactly (NaN, ±Infinity, -0, undefined and BigInt included), or
 * null if it is not one a checkpoint carries.
 * @param {unknown} value
 * @returns {unknown[] | null}
 */
function encodePrimitive(value) {
  switch (typeof value) {
    case 'undefined': return ['u'];
    case 'boolean': case 'string': return ['j', value];
    case 'number':
      if (value !== value || value === Infinity || value === -Infinity || checkpointObjectIs(value, -0)) return ['n', value === 0 ? '-0' : '' + value];
      return ['j', value];
    case 'bigint': return ['b', reflectApply(checkpointBigIntToString, value, [])];
    case 'object': return value === null ? ['j', null] : null;
    default: return null;
  }
}

// ---- plain data: objects a checkpoint encodes, and proves ordinary ----
// Captured: what plain data is made of, and how it is read and rebuilt.
const [CheckpointMap, CheckpointSet, CheckpointDate] = [Map, Set, Date];
const [checkpointObjectPrototype, checkpointArrayPrototype, checkpointMapPrototype, checkpointSetPrototype, checkpointDatePrototype] = [Object.prototype, Array.prototype, Map.prototype, Set.prototype, Date.prototype];
const { get: checkpointMapGet, set: checkpointMapSet, forEach: checkpointMapForEach } = Map.prototype;
const { add: checkpointSetAdd, has: checkpointSetHas, forEach: checkpointSetForEach } = Set.prototype;
const { add: checkpointWeakSetAdd, has: checkpointWeakSetHas } = WeakSet.prototype;
const { create: checkpointObjectCreate, preventExtensions: checkpointPreventExtensions } = Object;
const checkpointSetSize = getterOf(Set.prototype, 'size');
const checkpointDateGetTime = Date.prototype.getTime;
/** Values (primitives and objects) a checkpoint encodes at most. */
const checkpointValuesMax = 100_000;

// Every operation on a proxy may run its handler (user code), and nothing in JavaScript tells a
// proxy from its target without one, so every proxy a program makes is noted as it is made: the
// global Proxy and Proxy.revocable are proxies of V8's, whose handlers (null prototypes: no trap
// is looked up where a program could put one) note the proxy made. A checkpoint refuses a state
// that holds one.
const madeProxies = new WeakSet();
const notingProxy = new RealProxy(RealProxy, /** @type {ProxyHandler<any>} */ ({
  __proto__: null,
  /** @param {any} target @param {any[]} args @param {any} newTarget */
  construct(target, args, newTarget) {
    const made = reflectConstruct(target, args, newTarget);
    reflectApply(checkpointWeakSetAdd, madeProxies, [made]);
    return made;
  },
}));
const notingRevocable = new RealProxy(RealProxy.revocable, /** @type {ProxyHandler<any>} */ ({
  __proto__: null,
  /** @param {any} target @param {unknown} self @param {any[]} args */
  apply(target, self, args) {
    const made = reflectApply(target, self, args);
    reflectApply(checkpointWeakSetAdd, madeProxies, [made.proxy]);
    return made;
  },
}));
presentAsNative(notingProxy, 'Proxy');
presentAsNative(notingRevocable, 'revocable');
defineBuiltin(RealProxy, 'revocable', notingRevocable);
defineBuiltin(globalThis, 'Proxy', notingProxy);

/**
 * Encodes the state's values: a primitive in place, an object as ['o', index] into `objects` (each
 * object once, so shared references and cycles are kept), its contents encoded after it. Throws a
 * string, why, for anything but plain data: a function, a symbol, a proxy, a built-in object, an
 * accessor, a symbol key, another prototype. Runs after builtinsChanged found every built-in as
 * attached, so the built-ins it calls are the real ones; it reads own descriptors only.
 * @returns {{ value(value: unknown): unknown[]; spend(text: string): void; drain(): void; objects: unknown[][]; originals: object[]; kinds: string[] }}
 */
function stateEncoder() {
  /** @type {unknown[][]} */
  const objects = [];
  /** @type {object[]} */
  const originals = [];
  /** @type {string[]} */
  const kinds = [];
  const indexOf = new CheckpointMap();
  let values = 0;
  let chars = 0;
  let drained = 0;
  // Strings are counted as they are met: a state past the bound is refused before its text is made.
  /** @param {string} text @returns {void} */
  const spend = (text) => {
    chars += text.length;
    if (chars > checkpointCharsMax) throw `the state takes more than ${checkpointCharsMax} characters`;
  };
  /** @param {unknown} value @returns {unknown[]} */
  const value = (value) => {
    if (++values > checkpointValuesMax) throw `the state holds more than ${checkpointValuesMax} values`;
    if (typeof value === 'string') spend(value);
    const primitive = encodePrimitive(value);
    if (primitive !== null) return primitive;
    if (typeof value !== 'object' || value === null) throw `the state holds a ${typeof value}`;
    const known = reflectApply(checkpointMapGet, indexOf, [value]);
    if (known !== undefined) return ['o', known];
    if (reflectApply(checkpointWeakSetHas, madeProxies, [value])) throw 'the state holds a proxy';
    if (reflectApply(checkpointSetHas, builtinObjects, [value])) throw 'the state holds a built-in object';
    const index = originals.length;
    reflectApply(checkpointMapSet, indexOf, [value, index]);
    originals[index] = value;
    return ['o', index];
  };
  const drain = () => {
    for (; drained < originals.length; drained++) {
      const encoded = encodeObject(originals[drained], value, spend);
      objects[drained] = encoded;
      kinds[drained] = /** @type {string} */ (encoded[0]);
    }
  };
  return { value, spend, drain, objects, originals, kinds };
}

/**
 * An object's own properties, each [key, value, writable, enumerable, configurable]; throws for a
 * symbol key or an accessor. `skip`: a key left out (an array's length).
 * @param {object} object
 * @param {(value: unknown) => unknown[]} value
 * @param {(text: string) => void} spend
 * @param {string | null} skip
 * @returns {unknown[][]}
 */
function encodeProperties(object, value, spend, skip) {
  const keys = reflectOwnKeys(object);
  /** @type {unknown[][]} */
  const properties = [];
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index];
    if (typeof key !== 'string') throw 'an object of the state has a symbol key';
    if (key === skip) continue;
    spend(key);
    const descriptor = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(object, key));
    if (!objectHasOwn(descriptor, 'value')) throw `an object of the state has an accessor (${key})`;
    properties[properties.length] = [key, value(descriptor.value), descriptor.writable === true, descriptor.enumerable === true, descriptor.configurable === true];
  }
  return properties;
}

/**
 * One object of the state (not a proxy, not a built-in): [kind, ...contents]. A Map, Set or Date
 * must have its own prototype and no own property; the host checks each object's kind again on
 * the copy it receives (V8's serializer sees internal slots, which JavaScript cannot).
 * @param {object} object
 * @param {(value: unknown) => unknown[]} value
 * @param {(text: string) => void} spend
 * @returns {unknown[]}
 */
function encodeObject(object, value, spend) {
  const prototype = checkpointGetPrototypeOf(object);
  const extensible = checkpointIsExtensible(object);
  if (prototype === checkpointMapPrototype || prototype === checkpointSetPrototype || prototype === checkpointDatePrototype) {
    if (!extensible || reflectOwnKeys(object).length !== 0) throw 'a Map, Set or Date of the state has own properties or is frozen';
    /** @type {unknown[]} */
    const items = [];
    // Each throws for an object that only has the prototype (not the internal slots).
    if (prototype === checkpointDatePrototype) return ['date', value(reflectApply(checkpointDateGetTime, object, []))];
    if (prototype === checkpointMapPrototype) {
      reflectApply(checkpointMapSize, object, []);
      reflectApply(checkpointMapForEach, object, [(/** @type {unknown} */ item, /** @type {unknown} */ key) => { items[items.length] = [value(key), value(item)]; }]);
      return ['map', items];
    }
    reflectApply(checkpointSetSize, object, []);
    reflectApply(checkpointSetForEach, object, [(/** @type {unknown} */ item) => { items[items.length] = value(item); }]);
    return ['set', items];
  }
  if (checkpointArrayIsArray(object)) {
    if (prototype !== checkpointArrayPrototype) throw 'an array of the state has another prototype';
    const length = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(object, 'length'));
    // Its keys are not listed past the bound (a long array's would be as many new strings).
    if (length.value > checkpointValuesMax) throw `the state holds an array longer than ${checkpointValuesMax}`;
    return ['array', length.value, length.writable === true, extensible, encodeProperties(object, value, spend, 'length')];
  }
  if (prototype !== checkpointObjectPrototype && prototype !== null) {
    // Its internal state is in the class's closures and private fields: not data a checkpoint can see whole.
    if (reflectApply(checkpointSetHas, builtinObjects, [prototype])) throw 'the state holds an instance of a built-in or lazily built class (a URL, Headers, Blob, an Error …)';
    throw 'an object of the state has another prototype (a class instance)';
  }
  return ['object', prototype === null, extensible, encodeProperties(object, value, spend, null)];
}

/**
 * The checkpoint of this context after a run, as text, or why there is none; with the objects it
 * encodes and their kinds, for the host to check on its copy.
 * @returns {{ text: string | null; reason: string | null; originals?: object[]; kinds?: string[] }}
 */
function takeCheckpoint() {
  /** @param {string} reason */
  const none = (reason) => ({ text: null, reason });
  // A module's own scope (its top-level bindings) is not reachable from the global object.
  if (importTableEntries !== 0) return none('the context imported modules');
  if (groupIndent !== '' || reflectApply(checkpointMapSize, counts, []) !== 0 || reflectApply(checkpointMapSize, timers, []) !== 0) return none('console state (a group, a count or a timer label) is left');
  for (let index = 0; index < regExpStaticGetters.length; index++) {
    if (reflectApply(regExpStaticGetters[index], RegExp, []) !== regExpStaticsAttached[index]) return none('the RegExp statics hold a match made since the context was attached');
  }
  const changed = builtinsChanged();
  if (changed !== null) return none(changed);
  // The built-ins are as captured: from here on, ordinary calls reach the real ones.
  const keys = reflectOwnKeys(globalThis);
  const first = globalKeysAttached;
  const bindings = [];
  const encoder = stateEncoder();
  try {
    for (let index = first; index < keys.length; index++) {
      const key = keys[index];
      if (typeof key !== 'string') return none('a global has a symbol key');
      const descriptor = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(globalThis, key));
      if (!objectHasOwn(descriptor, 'value')) return none(`global ${key} is an accessor`);
      encoder.spend(key);
      bindings.push([key, encoder.value(descriptor.value), descriptor.writable === true, descriptor.enumerable === true, descriptor.configurable === true]);
    }
    encoder.drain();
  } catch (reason) {
    if (typeof reason === 'string') return none(reason);
    // A Map, Set or Date method refused an object that only has their prototype.
    return none('an object of the state has a built-in prototype without being of its kind');
  }
  // The off-heap counters only grow (off-heap.js): carried, a restored context refuses the same allocations a replayed one would.
  const sequences = [idSequence, timerSequence, workSequence, offHeapBytes, wasmMemories, ballastBytes];
  const groups = sandboxLazy.builtGroups();
  // Without a built group, the format before groups existed (what an older server restores too).
  const text = checkpointJsonStringify(groups.length === 0 ? { format: checkpointFormat, sequences, bindings, objects: encoder.objects } : { format: checkpointFormatGroups, sequences, bindings, objects: encoder.objects, groups });
  if (text.length > checkpointCharsMax) return none(`the state takes more than ${checkpointCharsMax} characters`);
  return { text, reason: null, originals: encoder.originals, kinds: encoder.kinds };
}

/**
 * A primitive from its encoding; throws on anything else.
 * @param {unknown} encoded
 * @returns {unknown}
 */
function decodePrimitive(encoded) {
  if (!checkpointArrayIsArray(encoded)) throw new TypeError('a value is not an encoded primitive');
  const tag = encoded[0];
  const payload = encoded[1];
  if (tag === 'u' && encoded.length === 1) return undefined;
  if (tag === 'j' && encoded.length === 2 && (payload === null || typeof payload === 'boolean' || typeof payload === 'string' || typeof payload === 'number')) return payload;
  if (tag === 'n' && encoded.length === 2 && (payload === 'NaN' || payload === 'Infinity' || payload === '-Infinity' || payload === '-0')) return payload === '-0' ? -0 : RealNumber(payload);
  if (tag === 'b' && encoded.length === 2 && typeof payload === 'string') {
    // Checked by its round trip (no RegExp here: a match would set the RegExp statics).
    const value = RealBigInt(payload);
    if (reflectApply(checkpointBigIntToString, value, []) === payload) return value;
  }
  throw new TypeError('a value is not an encoded primitive');
}

/**
 * Restores a checkpoint into this fresh context (attached, no user code run yet): all checked
 * before the first binding is defined, so a bad checkpoint throws and changes nothing.
 * @param {unknown} text
 * @returns {void}
 */
function restoreCheckpoint(text) {
  if (typeof text !== 'string' || text.length > checkpointCharsMax) throw new TypeError('a checkpoint is a bounded string');
  const parsed = checkpointJsonParse(text);
  if (parsed === null || typeof parsed !== 'object' || (parsed.format !== checkpointFormat && parsed.format !== checkpointFormatGroups)) throw new TypeError('not a checkpoint of this format');
  const groups = restoredGroups(parsed);
  const sequences = parsed.sequences;
  const bindings = parsed.bindings;
  const objects = parsed.objects;
  if (!checkpointArrayIsArray(sequences) || sequences.length !== 6 || !checkpointArrayIsArray(bindings) || !checkpointArrayIsArray(objects)) throw new TypeError('a checkpoint has sequences, bindings and objects');
  for (const sequence of sequences) if (!Number.isSafeInteger(sequence) || sequence < 0) throw new TypeError('a sequence is a count');
  if (objects.length > checkpointValuesMax) throw new TypeError(`a checkpoint has more than ${checkpointValuesMax} objects`);
  // The objects first, empty (a value may name any of them), then filled; nothing is defined on
  // the global object until all of them are built.
  /** @type {object[]} */
  const shells = [];
  for (const object of objects) shells.push(shellOf(object));
  /** @param {unknown} encoded @returns {unknown} */
  const decode = (encoded) => {
    if (checkpointArrayIsArray(encoded) && encoded[0] === 'o' && encoded.length === 2) {
      const index = encoded[1];
      if (!Number.isSafeInteger(index) || index < 0 || index >= shells.length) throw new TypeError('a value names an object the checkpoint does not have');
      return shells[index];
    }
    return decodePrimitive(encoded);
  };
  for (let index = 0; index < objects.length; index++) fillShell(shells[index], objects[index], decode);
  const defined = new Set(reflectOwnKeys(globalThis));
  const ready = [];
  for (const binding of bindings) {
    if (!checkpointArrayIsArray(binding) || binding.length !== 5 || typeof binding[0] !== 'string' || typeof binding[2] !== 'boolean' || typeof binding[3] !== 'boolean' || typeof binding[4] !== 'boolean') throw new TypeError('a binding is [name, value, writable, enumerable, configurable]');
    if (defined.has(binding[0])) throw new TypeError(`a binding named ${binding[0]} is defined already`);
    defined.add(binding[0]);
    ready.push({ name: binding[0], descriptor: { value: decode(binding[1]), writable: binding[2], enumerable: binding[3], configurable: binding[4] } });
  }
  // Built before the data, as in the history (their objects' record made as each build ends),
  // after everything was checked; the counters set below include what the builds counted.
  for (const name of groups) sandboxLazy.buildGroup(name);
  for (const { name, descriptor } of ready) defineProperty(globalThis, name, descriptor);
  idSequence = sequences[0]; timerSequence = sequences[1]; workSequence = sequences[2];
  offHeapBytes = sequences[3]; wasmMemories = sequences[4]; ballastBytes = sequences[5];
}

/**
 * The lazily built groups a parsed checkpoint names (none in format 2): distinct names of groups
 * this sandbox defines, at most checkpointGroupsMax.
 * @param {any} parsed
 * @returns {string[]}
 */
function restoredGroups(parsed) {
  if (parsed.format === checkpointFormat) {
    if (parsed.groups !== undefined) throw new TypeError('a checkpoint of format 2 names no lazily built group');
    return [];
  }
  const groups = parsed.groups;
  if (!checkpointArrayIsArray(groups) || groups.length === 0 || groups.length > checkpointGroupsMax) throw new TypeError(`a checkpoint of format 3 names 1 to ${checkpointGroupsMax} lazily built groups`);
  const seen = new Set();
  for (const name of groups) {
    if (typeof name !== 'string' || !sandboxLazy.hasGroup(name)) throw new TypeError(`a checkpoint names a lazily built group this sandbox does not have (${typeof name === 'string' ? name.slice(0, 100) : typeof name})`);
    if (seen.has(name)) throw new TypeError(`a checkpoint names the lazily built group ${name} twice`);
    seen.add(name);
  }
  return groups;
}

/**
 * The empty object an encoded one is rebuilt into (its kind, its prototype; a Date its time).
 * @param {unknown} encoded
 * @returns {object}
 */
function shellOf(encoded) {
  if (!checkpointArrayIsArray(encoded)) throw new TypeError('an object is [kind, ...contents]');
  const kind = encoded[0];
  if (kind === 'object' && encoded.length === 4 && typeof encoded[1] === 'boolean') return encoded[1] ? checkpointObjectCreate(null) : {};
  if (kind === 'array' && encoded.length === 5) return [];
  if (kind === 'map' && encoded.length === 2) return new CheckpointMap();
  if (kind === 'set' && encoded.length === 2) return new CheckpointSet();
  if (kind === 'date' && encoded.length === 2) {
    const time = decodePrimitive(encoded[1]);
    if (typeof time === 'number') return new CheckpointDate(time);
  }
  throw new TypeError('an object is of a kind a checkpoint does not have');
}

/**
 * Fills a shell with its encoded contents (its values decoded by `decode`).
 * @param {any} shell
 * @param {any} encoded
 * @param {(encoded: unknown) => unknown} decode
 * @returns {void}
 */
function fillShell(shell, encoded, decode) {
  const kind = encoded[0];
  if (kind === 'date') return;
  if (kind === 'map' || kind === 'set') {
    const items = encoded[1];
    if (!checkpointArrayIsArray(items)) throw new TypeError('a Map or Set has a list of items');
    for (const item of items) {
      if (kind === 'set') { reflectApply(checkpointSetAdd, shell, [decode(item)]); continue; }
      if (!checkpointArrayIsArray(item) || item.length !== 2) throw new TypeError('a Map item is [key, value]');
      reflectApply(checkpointMapSet, shell, [decode(item[0]), decode(item[1])]);
    }
    return;
  }
  const properties = encoded[kind === 'array' ? 4 : 3];
  const extensible = encoded[kind === 'array' ? 3 : 2];
  if (!checkpointArrayIsArray(properties) || typeof extensible !== 'boolean') throw new TypeError('an object has properties and its extensibility');
  for (const property of properties) {
    if (!checkpointArrayIsArray(property) || property.length !== 5 || typeof property[0] !== 'string' || typeof property[2] !== 'boolean' || typeof property[3] !== 'boolean' || typeof property[4] !== 'boolean') throw new TypeError('a property is [key, value, writable, enumerable, configurable]');
    if (kind === 'array' && property[0] === 'length') throw new TypeError("an array's length is not one of its properties");
    defineProperty(shell, property[0], { value: decode(property[1]), writable: property[2], enumerable: property[3], configurable: property[4] });
  }
  if (kind === 'array') {
    const length = encoded[1];
    if (!Number.isSafeInteger(length) || length < 0 || typeof encoded[2] !== 'boolean') throw new TypeError('an array has a length');
    defineProperty(shell, 'length', { value: length });
    if (!encoded[2]) defineProperty(shell, 'length', { writable: false });
  }
  if (!extensible) checkpointPreventExtensions(shell);
}
