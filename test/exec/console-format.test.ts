// Console formatting is checked against Node's own util.format on the host: the same arguments,
// built by the same source text on both sides, must print the same line(s).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { format } from 'node:util';
import { engineForFile } from './harness.ts';

const { run } = await engineForFile();

/** Argument lists as source text; each is evaluated in the sandbox and on the host. */
const argumentLists = [
  `'a', {a: 1}, [1, 2, 3]`,
  `'%s:%d:%i:%f', 'x', 42.5, 42.5, '3.25'`,
  `'%j', {a: [1, {b: 2}]}`,
  `'%o', {a: 1}`,
  `'%O', {a: {b: {c: {d: 1}}}}`,
  `{a: {b: {c: {d: 1}}}}`,
  `[[1, [2, [3, [4]]]]]`,
  `new Map([[1, {a: 1}], ['k', [1]]])`,
  `new Set(['a', 1])`,
  `new Date(0)`,
  `new (class Foo { constructor() { this.x = 1; } })()`,
  `Object.create(null)`,
  `{ 'a-b': 1, [Symbol('s')]: 2 }`,
  `[1, , 3]`,
  `new Uint8Array([1, 2])`,
  `{ f() {}, g: () => 1, h: async () => 1, k: function* () {} }`,
  `null, undefined, true, 1n, -0, NaN`,
  `'%s', null`,
  `'%s', {a: 1}`,
  `'%d', '12abc'`,
  `Array.from({length: 120}, (_, i) => i)`,
  `{ long: 'x'.repeat(100) }`,
  `Array.from({length: 30}, (_, i) => 'item' + i)`,
  `[{a: 1, b: 2}, {a: 3, b: 4}]`,
  `'100%', 5`,
  `'%%s', 1`,
  `{ s: "it's" }`,
  `{ s: "it's \\"q\\"" }`,
  `[undefined, null]`,
  `new (class extends Map {})()`,
  `Symbol.iterator`,
  `{ get x() { return 1; } }`,
  `/re/g`,
  `new ArrayBuffer(3)`,
  `[new Date(0)]`,
  `{ a: [ { b: { c: {} } } ] }`,
  `{ a: { b: { c: {} } } }`,
  `'%c styled', 'color: red'`,
  `Object.assign(() => {}, { a: 1 })`,
  `Array.from({length: 10}, (_, i) => i * 1000)`,
  `Array.from({length: 8}, (_, i) => ({ id: i }))`,
  `{ nested: Array.from({length: 26}, (_, i) => String.fromCharCode(97 + i)) }`,
  `new Error('boom').message`,
  `[1.5, -2, 300000, 4, 5, 6, 7]`,
  `new Float64Array(8)`,
  `{ a: 1, b: 'two', c: [3], d: { e: 4 }, f: null, g: undefined, h: true }`,
  `new Map([['a', new Map([['b', new Map([['c', new Map([['d', 1]])]])]])]])`,
];

describe('console output matches Node\'s util.format', () => {
  test('primitives, substitutions, nesting, depth, Map/Set/Date/typed arrays, quoting, grouping of long arrays', async () => {
    const code = argumentLists.map((list) => `console.log(${list});`).join('\n');
    const ran = await run(code);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    const expected = argumentLists.flatMap((list) => format(...(new Function(`return [${list}]`)() as unknown[])).split('\n'));
    assert.deepEqual(ran.lines, expected);
  });

  test('an Error prints its stack; a thrown object in a getter does not break the line', async () => {
    const ran = await run("console.log(new Error('shown')); console.log({ get bad() { throw new Error('no'); } })");
    assert.match(ran.lines[0]!, /^Error: shown$/);
    assert.match(ran.lines[1]!, /^\s+at /);
    assert.equal(ran.lines.at(-1), '{ bad: [Getter] }');
  });

  test('group, count, assert, trace, time, dir with options', async () => {
    const ran = await run(`
      console.group('outer'); console.log('in'); console.group(); console.warn('deeper'); console.groupEnd(); console.groupEnd(); console.log('out');
      console.count(); console.count(); console.count('x'); console.countReset(); console.count();
      console.assert(1 === 1, 'never'); console.assert(false, 'broken %d', 7);
      console.trace('here');
      console.time('t'); console.timeEnd('t');
      console.dir({ a: { b: { c: 1 } } }, { depth: 0 });`);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    const traceAt = ran.lines.indexOf('Trace: here');
    assert.deepEqual(ran.lines.slice(0, 10), ['outer', '  in', '    [WARN] deeper', 'out', 'default: 1', 'default: 2', 'x: 1', 'default: 1', '[ERROR] Assertion failed: broken 7', 'Trace: here']);
    assert.match(ran.lines[traceAt + 1]!, /^\s+at .*main\.js:5:15/);
    assert.ok(ran.lines.some((line) => /^t: \d+\.\d{3}ms$/.test(line)));
    assert.equal(ran.lines.at(-1), '{ a: [Object] }');
  });
});
