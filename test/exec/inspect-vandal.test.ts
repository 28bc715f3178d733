// A run that replaces every builtin src/exec/sandbox/inspect.js uses still gets its result and its
// console lines as a clean run does: inspect and format call only what they captured at start-up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { format } from 'node:util';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { run } = await engineForFile(1);

/** Values as source text, evaluated before the vandal replaces anything (build) and printed after. */
const values = [
  `{a: 1}`, `{a: [1, {b: 2}], 'a-b': 1, [Symbol('s')]: 2}`, `{a: {b: {c: {d: 1}}}}`, `[[1, [2, [3, [4]]]]]`,
  `new Map([[1, {a: 1}], ['k', [1]]])`, `new Set(['a', 1])`, `new Date(0)`, `new Date(NaN)`, `new (class Foo { constructor() { this.x = 1; } })()`,
  `Object.create(null)`, `[1, , 3]`, `new Uint8Array([1, 2])`, `{ f() {}, g: () => 1, h: async () => 1, k: function* () {}, l: class K {} }`,
  `Array.from({length: 120}, (_, i) => i)`, `{ long: 'x'.repeat(100) }`, `Array.from({length: 30}, (_, i) => 'item' + i)`, `{ s: "it's \\"q\\" \\n" }`,
  `/re/gi`, `new ArrayBuffer(3)`, `Object.assign(() => {}, { a: 1 })`, `new Float64Array(8)`, `Object.assign([1, 2], { extra: true })`,
  `(() => { const o = { name: 'loop' }; o.self = o; return o; })()`, `new Number(-0)`, `new String('w')`, `new Boolean(false)`, `Symbol.iterator`, `1n`,
  `{ get x() { return 1; }, set y(v) {} }`, `new Map(Array.from({length: 3}, (_, i) => [i, new Set([i])]))`, `new Error('boom').message`, `[undefined, null, -0, NaN]`,
];
const formats = [`'%s:%d:%i:%f', 'x', 42.5, 42.5, '3.25'`, `'%j', {a: [1, {b: 2}]}`, `'%o', {a: 1}`, `'%O', {a: 1}`, `'100%', 5`, `'%%s %x', 1`, `'%c styled %s', 'color: red'`, `'a', {a: 1}, [1, 2, 3]`];

describe('inspect and format with every builtin they use replaced by the run', () => {
  test('results and console lines read as a clean run\'s (and as Node\'s)', async () => {
    const build = `const values = [${values.join(', ')}];\nconst formats = [${formats.map((list) => `[${list}]`).join(', ')}];\n`;
    const print = 'for (let i = 0; i < values.length; i++) console.log(values[i]);\nfor (let i = 0; i < formats.length; i++) console.log(...formats[i]);\n';
    const clean = await run(build + print);
    assert.equal(clean.status, 'completed', clean.error ?? '');
    const expected = [...values.map((value) => format(new Function(`return ${value}`)())), ...formats.map((list) => format(...(new Function(`return [${list}]`)() as unknown[])))].flatMap((line) => line.split('\n'));
    assert.deepEqual(clean.lines, expected);
    // The vandal's own loop may not use for-of or spread after it ran: index loops, and the console's own call.
    const vandalPrint = 'for (let i = 0; i < values.length; i++) console.log(values[i]);\nfor (let i = 0; i < formats.length; i++) Reflect.apply(console.log, console, formats[i]);\n';
    const ran = await run(build + 'const ReflectApply = Reflect.apply;\n' + vandalSource + vandalPrint.replace('Reflect.apply', 'ReflectApply'));
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.deepEqual(ran.lines, expected);
  });

  test('console.table, group, count and trace read as in a clean run', async () => {
    const build = "const rows = [{ a: 1, b: 'x' }, { a: 2, c: [1] }, 3];\nconst record = { one: { v: true }, two: 'plain' };\n";
    const print = "console.table(rows); console.table(record); console.table(5); console.group('g'); console.count(); console.count(); console.groupEnd(); console.log('out'); console.trace('here');\n";
    const clean = await run(build + print);
    assert.equal(clean.status, 'completed', clean.error ?? '');
    assert.ok(clean.lines.includes('│    0    │ 1 │ \'x\' │       │        │'), clean.lines.join('\n'));
    const ran = await run(build + vandalSource + print);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    const traceAt = clean.lines.indexOf('Trace: here');
    assert.deepEqual(ran.lines.slice(0, traceAt + 1), clean.lines.slice(0, traceAt + 1));
    assert.match(ran.lines[traceAt + 1]!, /^\s+at main\.js:\d+:\d+$/);
  });

  test('a long result is cut and a thrown error keeps its stack, as in a clean run', async () => {
    const long = "const text = 'ab'.repeat(5 * 1024 * 1024);\n";
    // 10 MB of text and its 8 Mi-character cut: within 8 MiB only by luck of when V8 checks the
    // limit (`'ab'.repeat(5 * 1024 * 1024).slice(1, 20)` was out of memory there), so 32 MiB.
    const clean = await run(long + 'text', { memoryMb: 32 });
    const ran = await run(long + vandalSource + 'text', { memoryMb: 32 });
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, clean.result);
    assert.match(String(ran.result), /… \[truncated: 2097152 more characters\]$/);
    const thrown = await run(vandalSource + "throw new TypeError('vandalised')");
    assert.equal(thrown.status, 'failed');
    assert.match(String(thrown.error), /^TypeError: vandalised\n {4}at main\.js:\d+:\d+/);
    assert.doesNotMatch(String(thrown.error), /mcp-v8:prelude/);
  });

  test('the brief\'s example: a replaced Array.prototype.push no longer empties the result', async () => {
    const ran = await run('Array.prototype.push = () => 0; ({a: 1})');
    assert.equal(ran.result, '{ a: 1 }');
    const all = await run(`const value = { a: [1, 'two', { three: new Map([[3, new Set([3])]]) }] };\n${vandalSource}value`);
    assert.equal(all.status, 'completed', all.error ?? '');
    const clean = await run(`({ a: [1, 'two', { three: new Map([[3, new Set([3])]]) }] })`);
    assert.equal(all.result, clean.result);
    assert.match(String(all.result), /three: Map\(1\) \{ 3 => Set\(1\) \{ 3 \} \}/);
  });
});
