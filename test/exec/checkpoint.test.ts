// Checkpoints (docs/stateful.md, "Checkpoints"): a heap resumed from its checkpoint plus the runs
// after it equals the same heap rebuilt by replaying its whole history (same bindings with the
// same attributes and order, same timer ids, same results of later runs); a history whose state
// the rule does not cover gets no checkpoint; a checkpoint the sandbox refuses falls back to the
// whole replay, with the reason reported.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkpointRunsEvery } from '../../src/exec/run.ts';
import type { ReplayStep, StatefulStart } from '../../src/exec/types.ts';
import { checkpointHelpers } from './checkpoint-support.ts';
import { statefulHarness } from './stateful-harness.ts';

const harness = await statefulHarness();
const { runStateful, chain, resume, drop } = harness;
const { resumeAndRun, liveEqualsReplayed } = checkpointHelpers(harness);

/** Every global's name, kind, value and attributes, in the global object's own order; the next timer id; the RegExp statics. */
const probe = `JSON.stringify([Object.getOwnPropertyNames(globalThis).map((name) => {
  const d = Object.getOwnPropertyDescriptor(globalThis, name);
  const v = d.value;
  const shown = typeof v === 'bigint' ? v + 'n' : typeof v === 'number' ? (Object.is(v, -0) ? '-0' : String(v)) : v === undefined ? 'undefined' : (typeof v === 'object' && v !== null) || typeof v === 'function' ? typeof v : v;
  return [name, typeof v, shown, d.writable, d.enumerable, d.configurable, 'get' in d];
}), +setTimeout(() => {}, 0), RegExp.lastMatch, RegExp.input])`;

/** Plain-data runs: every kind of primitive, each way of making a global, the clock, the generator and timers. */
const plainRun = (index: number): string => [
  `var total = (globalThis.total ?? 0) + ${index}; total`,
  `let text${index} = 'r' + Math.random(); const big${index} = ${index}n ** 20n; text${index}.length`,
  `const odd${index} = [NaN, -0, Infinity, -Infinity, undefined, null, true][${index} % 7]; await new Promise((done) => setTimeout(done, 1)); Date.now() > 0`,
  `globalThis.assigned${index} = 'configurable ' + ${index}; Object.defineProperty(globalThis, 'fixed${index}', { value: ${index}, enumerable: false }); fixed${index}`,
  `if (typeof total === 'number') { var fromBlock${index} = total * 2; } delete globalThis.assigned${index - 1}; setInterval(() => {}, 1000).unref(); var record${index} = { at: ${index}, list: [1, , 3] }; 'ok'`,
][index % 5]!;

/** Plain-data runs that make objects: trees, Maps and Sets, shared references, cycles, frozen and null-prototype objects, holes, Dates. */
const objectRun = (index: number): string => [
  `var s_tree${index} = { id: ${index}, tags: ['a', 'b'], nested: { deep: [1, , 3], when: new Date(${index} * 1000) } }; s_tree${index}.id`,
  `const s_map${index} = new Map([[1, 'one'], ['k', { v: ${index} }], [{ key: true }, [${index}]]]); const s_set${index} = new Set([1, 'two', s_map${index}, -0]); s_map${index}.size + s_set${index}.size`,
  `let s_shared${index} = { n: ${index} }; var s_pair${index} = [s_shared${index}, s_shared${index}, { again: s_shared${index} }]; s_pair${index}.length`,
  `var s_cycle${index} = { name: 'c' }; s_cycle${index}.self = s_cycle${index}; s_cycle${index}.list = [s_cycle${index}]; Object.freeze(s_cycle${index}.list); s_cycle${index}.name`,
  `var s_odd${index} = Object.create(null); s_odd${index}[2] = 'two'; s_odd${index}.b = -0; s_odd${index}[0] = NaN; Object.defineProperty(s_odd${index}, 'hidden', { value: ${index}n, enumerable: false }); Object.preventExtensions(s_odd${index}); Object.keys(s_odd${index}).length`,
  `var s_list${index} = [1, 2, 3]; s_list${index}.extra = 'x'; s_list${index}.length = 10; delete s_list${index}[1]; await new Promise((done) => setTimeout(done, 1)); s_tree${index - 5}.nested.deep.push(${index}); s_map${index - 4}.set('later', Math.random()); s_list${index}.length`,
][index % 6]!;

/** The globals named s_*, in depth: kinds, prototypes, extensibility, every property's attributes in order, Map and Set entries, Dates, and which objects are one. */
const deepProbe = `(() => {
  const ids = new Map();
  const protoNames = new Map([[null, 'null'], [Object.prototype, 'Object'], [Array.prototype, 'Array'], [Map.prototype, 'Map'], [Set.prototype, 'Set'], [Date.prototype, 'Date']]);
  const show = (v) => {
    if (typeof v === 'bigint') return v + 'n';
    if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
    if (typeof v === 'function') return 'function';
    if (typeof v !== 'object' || v === null) return typeof v + ':' + String(v);
    if (ids.has(v)) return '#' + ids.get(v);
    ids.set(v, ids.size);
    const parts = ['#' + ids.get(v), protoNames.get(Object.getPrototypeOf(v)) ?? 'other', Object.isExtensible(v), Object.isFrozen(v)];
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      parts.push([String(key), 'value' in d ? show(d.value) : 'accessor', d.writable, d.enumerable, d.configurable]);
    }
    if (v instanceof Map) for (const [k, x] of v) parts.push(['entry', show(k), show(x)]);
    if (v instanceof Set) for (const x of v) parts.push(['item', show(x)]);
    if (v instanceof Date) parts.push(['time', v.getTime()]);
    return parts;
  };
  return JSON.stringify(Object.getOwnPropertyNames(globalThis).filter((name) => name.startsWith('s_')).map((name) => {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    return [name, show(d.value), d.writable, d.enumerable, d.configurable];
  }));
})()`;

const laterRuns = ['total += 1; total', "var after = 'after'; typeof big1 + typeof odd2 + after", 'Object.is(odd7, -0) + String(odd2) + String(odd12)'];

/** The steps after the newest run that left a checkpoint, and that checkpoint. */
function fromCheckpoint(steps: ReplayStep[], checkpoints: Array<string | null | undefined>): { index: number; state: string } {
  for (let index = checkpoints.length - 1; index >= 0; index--) {
    const state = checkpoints[index];
    if (typeof state === 'string') return { index, state };
  }
  throw new Error('no checkpoint was taken');
}

async function plainHistory(runs: number, runOf = plainRun): Promise<{ steps: ReplayStep[]; checkpoints: Array<string | null | undefined> }> {
  const codes = Array.from({ length: runs }, (_, index) => runOf(index));
  const checkpoints: Array<string | null | undefined> = [];
  const steps: ReplayStep[] = [];
  let start: StatefulStart = { replay: [] };
  for (const code of codes) {
    const ran = await runStateful(code, start);
    assert.equal(ran.outcome.status, 'completed', `${code}: ${ran.outcome.error}`);
    steps.push(ran.step!);
    checkpoints.push(ran.outcome.checkpoint);
    if ('resume' in start) drop(start.resume);
    start = resume(ran.live!);
  }
  if ('resume' in start) drop(start.resume);
  return { steps, checkpoints };
}

describe('a checkpoint-resumed heap equals the fully replayed one', () => {
  test(`a plain-data history of ${2 * checkpointRunsEvery + 5} runs`, async () => {
    const { steps, checkpoints } = await plainHistory(2 * checkpointRunsEvery + 5);
    // A checkpoint every checkpointRunsEvery runs of a context, and only then.
    assert.deepEqual(checkpoints.flatMap((state, index) => (typeof state === 'string' ? [index + 1] : [])), [checkpointRunsEvery, 2 * checkpointRunsEvery]);
    const { index, state } = fromCheckpoint(steps, checkpoints);
    const fallbacks: string[] = [];
    const fromIt: StatefulStart = {
      replay: steps.slice(index + 1),
      checkpoint: { heap: steps[index]!.heap, state, fallback: async (reason) => { fallbacks.push(reason); return steps; } },
    };
    const codes = [probe, ...laterRuns, probe];
    const restored = await resumeAndRun(fromIt, codes);
    const replayed = await resumeAndRun({ replay: steps }, codes);
    assert.deepEqual(fallbacks, []);
    assert.deepEqual(restored, replayed);
    // The probe saw the history's bindings (not two empty states that agree).
    assert.match(restored[0]!, /"total","number","455"/);
    assert.match(restored[0]!, /"big6","bigint","3656158440062976n"/);
    assert.match(restored[0]!, /"fixed3","number","3",false,false,false/);
  });

  test(`a history of plain objects, arrays, Maps, Sets and Dates, ${2 * checkpointRunsEvery + 5} runs (sharing, cycles, attributes kept)`, async () => {
    const { steps, checkpoints } = await plainHistory(2 * checkpointRunsEvery + 5, objectRun);
    assert.deepEqual(checkpoints.flatMap((state, index) => (typeof state === 'string' ? [index + 1] : [])), [checkpointRunsEvery, 2 * checkpointRunsEvery]);
    const { index, state } = fromCheckpoint(steps, checkpoints);
    const fromIt: StatefulStart = {
      replay: steps.slice(index + 1),
      checkpoint: { heap: steps[index]!.heap, state, fallback: () => assert.fail('the checkpoint was refused') },
    };
    const codes = [
      deepProbe,
      "s_tree0.nested.deep.push(99); s_map1.get('k').v += 1; s_set7.add(s_tree6); s_map1.get('k').v + ':' + s_tree0.nested.deep.length",
      's_pair2[0] === s_pair2[1] && s_pair2[2].again === s_pair2[0] && s_cycle3.self === s_cycle3 && s_cycle3.list[0] === s_cycle3 && Object.isFrozen(s_cycle3.list)',
      "[...s_map1.keys()].map(String).join() + s_map1.get('later') + [...s_set1].length + s_tree0.nested.when.toISOString()",
      deepProbe,
    ];
    const restored = await resumeAndRun(fromIt, codes);
    const replayed = await resumeAndRun({ replay: steps }, codes);
    assert.deepEqual(restored, replayed);
    assert.equal(restored[2], 'true');
    // The probe saw the objects (not two empty states that agree): a cycle, a frozen array, a null prototype.
    assert.match(restored[0]!, /"s_cycle3",\["#\d+","Object",true,false,\["name","string:c",true,true,true\],\["self","#\d+"/);
    assert.match(restored[0]!, /"s_odd4",\["#\d+","null",false,false,\["0","NaN"/);
  });

  test('the off-heap counters are carried: a restored context counts what the history reserved', async () => {
    const { last } = await chain(["var formatted = new Intl.NumberFormat('en').format(1234.5);", ...Array.from({ length: checkpointRunsEvery - 1 }, () => '1')]);
    const state = JSON.parse(last.outcome.checkpoint!) as { sequences: number[] };
    assert.ok(state.sequences[5]! > 0, `the Intl object's ballast is counted: ${JSON.stringify(state.sequences)}`);
    drop(last.live);
  });

  test('a resume whose live context is gone replays from the checkpoint its history answers', async () => {
    const { steps, checkpoints } = await plainHistory(checkpointRunsEvery + 3);
    const { index, state } = fromCheckpoint(steps, checkpoints);
    const gone: StatefulStart = {
      resume: 'not-live',
      history: () => Promise.resolve({ replay: steps.slice(index + 1), checkpoint: { heap: steps[index]!.heap, state, fallback: () => assert.fail('the checkpoint was refused') } }),
    };
    assert.deepEqual(await resumeAndRun(gone, [probe]), await resumeAndRun({ replay: steps }, [probe]));
  });

  test('a checkpoint taken at the very run resumed (nothing after it to replay)', async () => {
    const { steps, checkpoints } = await plainHistory(checkpointRunsEvery);
    const { index, state } = fromCheckpoint(steps, checkpoints);
    assert.equal(index, steps.length - 1);
    const restored = await resumeAndRun({ replay: [], checkpoint: { heap: steps[index]!.heap, state, fallback: () => assert.fail('no fallback') } }, [probe]);
    assert.deepEqual(restored, await resumeAndRun({ replay: steps }, [probe]));
  });
});

describe('state the rule does not cover has no checkpoint', () => {
  const cases: Array<[string, string]> = [
    ['a function', 'function helper() { return 1; }'],
    ['a class', 'class Point {}'],
    ['an object holding a function', 'var data = { a: 1, f() { return 1; } };'],
    ['an array holding a closure', 'const list = [1, () => list];'],
    ['a proxy', 'var seen = new Proxy({}, {});'],
    ['a proxy of an array, deep in an object', 'var deep = { list: [1, { inner: new Proxy([], {}) }] };'],
    ['a revocable proxy', 'var pair = { proxy: Proxy.revocable({}, {}).proxy };'],
    ['a proxy made through Reflect.construct', 'var made = Reflect.construct(Proxy, [{}, {}]);'],
    ['a class instance', 'var point = new (class Point { x = 1; })();'],
    ['an object with an accessor', "var lazy = { get value() { return 1; } };"],
    ['an object with a symbol key', "var tagged = { [Symbol.iterator]: 1 };"],
    ['a Map given a plain prototype', 'var disguised = Object.setPrototypeOf(new Map([[1, 2]]), Object.prototype);'],
    ['a Map made with a plain prototype', 'var constructed = Reflect.construct(Map, [], Object);'],
    ['a Date given a plain prototype', 'var when = Object.setPrototypeOf(new Date(0), null);'],
    ['a plain object given the prototype of a Map', 'var fake = Object.create(Map.prototype);'],
    ['a promise given a plain prototype', 'var later = Object.setPrototypeOf(Promise.resolve(1), Object.prototype);'],
    ['a generator given a plain prototype', 'var steps = Object.setPrototypeOf((function* () { yield 1; })(), Object.prototype);'],
    ['an error', "var failure = new Error('x');"],
    ['a RegExp', 'var pattern = /a/g;'],
    ['a typed array', 'var bytes = new Uint8Array(4);'],
    ['a WeakMap', 'var weak = new WeakMap();'],
    ['a boxed number', 'var boxed = Object(1);'],
    ['a Map with an own property', 'var tagged = new Map(); tagged.extra = 1;'],
    ['the global object in an object', 'var holder = { global: globalThis };'],
    ['a built-in object in an array', 'var holder = [Math];'],
    ['a built-in prototype in a Map', 'var holder = new Map([[1, Array.prototype]]);'],
    ['a flag-gated built-in changed (installed after the snapshot)', 'Promise.try.extra = 1;'],
    ['a global V8 installs after the snapshot changed', 'DisposableStack.prototype.extra = 1;'],
    ['a global attach installs changed (display)', 'display.extra = 1;'],
    ["a lazy global's accessor changed", "Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly').get.extra = 1;"],
    ['a global built-in replaced by another of the same name', 'globalThis.Map = WeakMap; globalThis.WeakMap = Map;'],
    ['a built-in method swapped with one of the same name and length', 'const get = Map.prototype.get; Map.prototype.get = WeakMap.prototype.get; WeakMap.prototype.get = get;'],
    ['an array past the bound of values', 'var long = []; long.length = 200000; long[0] = 1;'],
    ['a state past 1 MiB of text', "var big = { text: 'x'.repeat(2 ** 20 + 1) };"],
    ['a symbol', "var tag = Symbol('t');"],
    ['a symbol-keyed global', "globalThis[Symbol.for('k')] = 1;"],
    ['an accessor global', "Object.defineProperty(globalThis, 'lazy', { get() { return 1; } });"],
    ['a mutated prototype', 'Array.prototype.sum = 1;'],
    ['a replaced builtin', 'JSON.stringify = () => "x";'],
    ['a deleted builtin', 'delete globalThis.WeakRef;'],
    ['a frozen builtin', 'Object.freeze(Math);'],
    ['an iterator prototype changed', 'Object.getPrototypeOf([][Symbol.iterator]()).extra = 1;'],
    ['a generator prototype changed', 'Object.getPrototypeOf(function* () {}).prototype.extra = 1;'],
    ['an async function prototype changed', 'Object.getPrototypeOf(async () => {}).extra = 1;'],
    ['a segments prototype changed', "Object.getPrototypeOf(new Intl.Segmenter().segment('')).extra = 1;"],
    ['an iterator helper prototype changed', 'Object.getPrototypeOf([].values().map((x) => x)).extra = 1;'],
    ['a timer prototype changed', 'Object.getPrototypeOf(setTimeout(() => {}, 0)).extra = 1;'],
    ["an error's stack accessor changed", "Object.getOwnPropertyDescriptor(new Error(), 'stack').get.extra = 1;"],
    ['a RegExp match left in the statics', "var found = /(b)/.exec('abc')[1];"],
    ['an open console group', "console.group('g');"],
    // Lazily built globals (lazy.js) are checkpointed: test/exec/checkpoint-lazy.test.ts.
    ['a console.count label', "console.count('c');"],
  ];
  const rest = Array.from({ length: checkpointRunsEvery - 1 }, (_, index) => `var n${index} = ${index};`);
  test('the control: plain runs get one', async () => {
    const { last } = await chain(['var plain = 1;', ...rest]);
    assert.equal(typeof last.outcome.checkpoint, 'string');
    // No lazily built group: the format before groups existed, which older servers restore too.
    assert.equal(JSON.parse(last.outcome.checkpoint!).format, 2);
    assert.equal('groups' in JSON.parse(last.outcome.checkpoint!), false);
    drop(last.live);
  });
  test('trying a checkpoint runs no user code (a getter on Object.prototype for a descriptor field or a proxy trap)', async () => {
    const hooks = ['get', 'set', 'value', 'writable', 'enumerable', 'configurable', 'getPrototypeOf', 'ownKeys', 'getOwnPropertyDescriptor', 'isExtensible']
      .map((name) => `Object.defineProperty(Object.prototype, '${name}', { get() { globalThis.hooked = (globalThis.hooked ?? 0) + 1; return undefined; }, configurable: true });`).join('\n');
    const { steps, last } = await chain([`var hooked = 0; ${hooks}`, ...rest]);
    assert.equal(last.outcome.checkpoint, null);
    await liveEqualsReplayed(steps, last.live, 'String(hooked)');
  });
  test('trying a checkpoint runs no user code (an index setter on Array.prototype, that removes itself)', async () => {
    const setter = `var hooked = 0; for (const index of ['0', '1', '2']) Object.defineProperty(Array.prototype, index, { set(value) { globalThis.hooked++; delete Array.prototype[index]; Object.defineProperty(this, index, { value, writable: true, enumerable: true, configurable: true }); }, configurable: true });`;
    const { steps, last } = await chain([setter, ...rest]);
    await liveEqualsReplayed(steps, last.live, 'String(hooked)');
  });
  for (const [what, code] of cases) {
    test(what, async () => {
      const { last } = await chain([code, ...rest]);
      assert.equal(last.outcome.checkpoint, null);
      drop(last.live);
    });
  }
});

test('the global Proxy, which notes the proxies made, behaves as V8\'s', async () => {
  const code = `[typeof Proxy, Proxy.name, Proxy.length, String(Proxy), 'prototype' in Proxy, Object.getPrototypeOf(Proxy) === Function.prototype,
    (() => { try { Proxy({}, {}); return 'called'; } catch (error) { return error.constructor.name + ': ' + error.message; } })(),
    Proxy.revocable.name, Proxy.revocable.length, String(Proxy.revocable),
    (() => { const pair = Proxy.revocable({ a: 1 }, {}); const before = pair.proxy.a; pair.revoke(); try { return pair.proxy.a; } catch (error) { return before + error.constructor.name; } })(),
    new Proxy({}, { get: () => 7 }).x, Array.isArray(new Proxy([], {})), (() => { try { class Sub extends Proxy {} return 'extended'; } catch (error) { return error.constructor.name; } })()].join('|')`;
  const ran = await runStateful(code, { replay: [] });
  drop(ran.live);
  assert.equal(ran.outcome.result, (0, eval)(code) as string);
});

/**
 * A plain history of `runs` resumed from its newest checkpoint, damaged: asserts that later runs
 * see what a whole replay gives; answers the reasons the fallback was given.
 */
async function resumedDamaged(runs: number, damage: (state: string) => string): Promise<string[]> {
  const { steps, checkpoints } = await plainHistory(runs);
  const { index, state } = fromCheckpoint(steps, checkpoints);
  const damaged = damage(state);
  assert.notEqual(damaged, state);
  const reasons: string[] = [];
  const start: StatefulStart = { replay: steps.slice(index + 1), checkpoint: { heap: steps[index]!.heap, state: damaged, fallback: async (reason) => { reasons.push(reason); return steps; } } };
  const codes = [probe, laterRuns[0]!];
  assert.deepEqual(await resumeAndRun(start, codes), await resumeAndRun({ replay: steps }, codes));
  return reasons;
}

test('a checkpoint that parses but does not stand for its history: the runs after it diverge, and the whole history is replayed instead', async () => {
  // Run checkpointRunsEvery + 4 (index 35) adds to `total`: its recorded result no longer matches.
  const reasons = await resumedDamaged(checkpointRunsEvery + 4, (state) => state.replace(/\["total",\["j",(\d+)\]/, (_, total: string) => `["total",["j",${Number(total) + 1000}]`));
  assert.equal(reasons.length, 1);
  assert.match(reasons[0]!, /diverged from its record/);
});

describe('a checkpoint the sandbox refuses falls back to the whole replay', () => {
  const corrupt: Array<[string, (state: string) => string]> = [
    ['not JSON', () => '{'],
    ['another format', (state) => state.replace('"format":2', '"format":3')],
    ['a value naming an object it does not have', (state) => state.replace('["o",0]', '["o",99999]')],
    ['an object of an unknown kind', (state) => state.replace('["object",', '["weakmap",')],
    ['an array with a negative length', (state) => state.replace(/\["array",\d+,/, '["array",-1,')],
    ['a binding named as a builtin', (state) => state.replace('"total"', '"Map"')],
    ['a malformed BigInt', (state) => state.replace(/\["b","\d+"\]/, '["b","0x10"]')],
    ['an unknown tag', (state) => state.replace(/\["j",/, '["q",')],
    ['a negative sequence', (state) => state.replace(/"sequences":\[\d+/, '"sequences":[-1')],
    ['a counter missing', (state) => state.replace(/"sequences":\[\d+,/, '"sequences":[')],
    ['not a string', () => 42 as unknown as string],
  ];
  for (const [what, damage] of corrupt) {
    test(what, async () => {
      assert.equal((await resumedDamaged(checkpointRunsEvery + 2, damage)).length, 1);
    });
  }
});
