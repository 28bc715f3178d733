// The streaming count of a JSON body's strings (src/transport/body.ts, StringCounter): whatever
// the chunks the body arrives in, escapes across their boundaries included, it counts what
// JSON.parse would see, and refuses past bodyStringsMax; and its values (commas, '[' and '{'
// outside strings), refused past bodyValuesMax.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { StringCounter, bodyStringsMax, bodyValuesMax, parseJsonBody, requestBounds, requestStringsMax, requestValuesMax } from '../../src/transport/body.ts';
import { bodyShapeOf } from '../../src/transport/body-shape.ts';
import { tagMapArgument } from '../../src/tools/tags-argument.ts';
import { defineTool, parseToolArguments, type ToolDefinition } from '../../src/tools/tool.ts';

/** Whether the counter accepts `text` cut into pieces of `size` bytes. */
function accepts(text: string, size: number): boolean {
  const bytes = Buffer.from(text);
  const counter = new StringCounter();
  for (let at = 0; at < bytes.length; at += size) if (!counter.add(bytes.subarray(at, at + size))) return false;
  return true;
}

describe('StringCounter', () => {
  test('escaped quotes and backslashes split at every byte count as one string', () => {
    // bodyStringsMax strings (two keys, the array's, the code), the last is full of \" and \\ escapes.
    const strings = Array.from({ length: bodyStringsMax - 3 }, (_, index) => `k${index}`);
    const text = JSON.stringify({ strings, code: 'say "hi" \\ \\\\" '.repeat(50) });
    for (const size of [1, 2, 3, 7, 64, 65_536]) assert.equal(accepts(text, size), true, `pieces of ${size}`);
  });

  test('one string more than bodyStringsMax is refused, in any pieces', () => {
    // Keys and values: two strings per comma, so the strings' bound is the one reached.
    const pairs = Object.fromEntries(Array.from({ length: bodyStringsMax / 2 }, (_, index) => [`"${index}\\`, `\\${index}"`]));
    const text = JSON.stringify([pairs, 'one more']);
    for (const size of [1, 5, 65_536]) {
      const counter = new StringCounter();
      const bytes = Buffer.from(text);
      let accepted = true;
      for (let at = 0; at < bytes.length && accepted; at += size) accepted = counter.add(bytes.subarray(at, at + size));
      assert.equal(accepted, false, `pieces of ${size}`);
      assert.match(counter.refusal!.message, new RegExp(`more than ${bodyStringsMax} strings`));
    }
    assert.equal(accepts(JSON.stringify([pairs]), 3), true);
  });

  test('values outside strings past bodyValuesMax are refused, in any pieces; commas, brackets and braces inside strings are not values', () => {
    // A 2.4 MB [1,1,…] took the main thread ≈ 100 ms to parse, with no string in it.
    const numbers = (count: number) => JSON.stringify({ code: '1', x: Array.from({ length: count }, () => 1) });
    // The object's '{', the array's '[', the comma between the members: 3; the items: count − 1 commas.
    assert.equal(accepts(numbers(bodyValuesMax - 2), 65_536), true);
    for (const size of [1, 3, 65_536]) assert.equal(accepts(numbers(bodyValuesMax - 1), size), false, `pieces of ${size}`);
    assert.equal(accepts(JSON.stringify(Array.from({ length: bodyValuesMax + 1 }, () => ({}))), 4096), false, 'empty objects');
    assert.equal(accepts('['.repeat(bodyValuesMax + 1), 4096), false, 'nesting');
    const code = JSON.stringify({ code: `const a = [${'{x:[1,2]},'.repeat(50_000)}]; "\\",[{` });
    for (const size of [1, 7, 65_536]) assert.equal(accepts(code, size), true, `code full of , [ { in pieces of ${size}`);
  });

  test('random strings of quotes, backslashes and letters, short and long, in random pieces: counted as JSON.parse sees them', () => {
    // A seeded generator: the same cases on every run.
    let seed = 18;
    const random = (below: number) => { seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31; return seed % below; };
    const alphabet = ['\\', '"', 'a', '\\\\', 'é', ',', '[', '{'];
    const text = (length: number) => Array.from({ length }, () => alphabet[random(alphabet.length)]).join('');
    for (let round = 0; round < 6; round++) {
      // Keys and values: bodyStringsMax strings; a pair more passes the bound by strings, not values.
      const pairs = Array.from({ length: bodyStringsMax / 2 }, () => [text(random(3) === 0 ? 40 + random(200) : random(40)), text(random(40))] as const);
      const exact = JSON.stringify(Object.fromEntries(pairs.map(([key, value], index) => [`${index}${key}`, value])));
      assert.equal(Object.keys(JSON.parse(exact) as object).length * 2, bodyStringsMax);
      const over = `${exact.slice(0, -1)},"x":"y"}`;
      const bytes = Buffer.from(over);
      const size = 1 + random(100);
      assert.equal(accepts(exact, size), true, `round ${round}: pieces of ${size}`);
      const counter = new StringCounter();
      let accepted = true;
      for (let at = 0; at < bytes.length && accepted; at += size) accepted = counter.add(bytes.subarray(at, at + size));
      assert.equal(accepted, false, `round ${round}: two strings more, pieces of ${size}`);
      assert.match(counter.refusal!.message, /strings/);
    }
  });

  test('a body read whole (a cluster peer\'s) is counted the same, with a message naming the bound', () => {
    const body = Buffer.from(JSON.stringify({ code: '1', x: Array.from({ length: bodyValuesMax }, () => 0) }));
    assert.throws(() => parseJsonBody(body), new RegExp(`request body holds more than ${bodyValuesMax} values`));
    assert.deepEqual(parseJsonBody(Buffer.from('{"code":"[1,2,3]"}')), { code: '[1,2,3]' });
  });
});

describe('StringCounter with a tool\'s shape (the first key a tool does not take refuses the body as it arrives)', () => {
  const tool = defineTool({
    name: 'try_it',
    title: 'Try it',
    description: 'A tool of the test.',
    input: { code: z.string(), wait_ms: z.number().int().optional(), tags: tagMapArgument.optional(), keys: z.union([z.string(), z.array(z.string())]).optional(), hidden: z.string().optional() },
    output: {},
    annotations: {},
    unadvertised: ['hidden'],
    handler: async () => ({}),
  });
  const shape = bodyShapeOf(tool as unknown as ToolDefinition);

  /** The counter's answer for `text` in pieces of `size` bytes: null if accepted, else its refusal and the bytes given until then. */
  function shaped(text: string, size: number): { message: string; bytes: number } | null {
    const counter = new StringCounter(shape, requestBounds);
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += size) {
      if (!counter.add(bytes.subarray(at, at + size))) return { message: counter.refusal!.message, bytes: Math.min(at + size, bytes.length) };
    }
    return null;
  }
  /** zod's message for the same body (what the tool's schema says once the body is parsed). */
  const zodSays = (text: string) => assert.throws(() => parseToolArguments(tool as unknown as ToolDefinition, JSON.parse(text)), (error: Error) => { said = error.message; return true; });
  let said = '';

  test('200,000 unknown keys are refused at the first, in its first bytes, with zod\'s message', () => {
    const text = JSON.stringify(Object.fromEntries([['code', '1'], ...Array.from({ length: 200_000 }, (_, index) => [`k${index}`, 1])]));
    zodSays('{"code":"1","k0":1}');
    for (const size of [1, 2, 5, 16, 65_536]) {
      const refused = shaped(text, size);
      assert.ok(refused !== null, `pieces of ${size}`);
      assert.equal(refused.message, said);
      assert.ok(refused.bytes <= Math.max(size, 20), `pieces of ${size}: refused after ${refused.bytes} bytes`);
    }
    // One unknown key holding 1,200,000 numbers: refused at its name, before the numbers.
    assert.match(shaped(JSON.stringify({ code: '1', x: Array.from({ length: 1_200_000 }, () => 1) }), 65_536)!.message, /^try_it: input: Unrecognized key: "x"$/);
  });

  test('an array or object where the tool takes neither is refused at its bracket with zod\'s message; where it takes one, it is read', () => {
    for (const text of ['{"code":[1,2,3]}', '{"code":{"a":1}}', '{"code":"1","wait_ms":[5]}', '{"code":"1","tags":["a"]}', '{"code":"1","keys":{"a":"b"}}']) {
      zodSays(text);
      for (const size of [1, 3, 65_536]) assert.equal(shaped(text, size)?.message, said, `${text} in pieces of ${size}`);
    }
    for (const text of ['{"code":"1","tags":{"a":"[","b":"{"}}', '{"keys":["a","b"],"code":"x"}', '{ "code" : "{[,:\\"]}" , "wait_ms" : 5 , "hidden" : "h" }', '{"code":"1","tags":{"k0":{"x":[1]}}}']) {
      for (const size of [1, 2, 65_536]) assert.equal(shaped(text, size), null, `${text} in pieces of ${size}`);
    }
  });

  test('keys are read as JSON.parse reads them: escapes, split pieces, long and repeated keys', () => {
    // "\u0063ode" is `code`; a key given twice is read (JSON.parse keeps the last, as over MCP).
    assert.equal(shaped('{"\\u0063ode":"1","wait\\u005fms":1}', 1), null);
    assert.equal(shaped('{"code":"1","code":"2"}', 3), null);
    const long = `c${'o'.repeat(5_000)}de`;
    assert.equal(shaped(JSON.stringify({ [long]: 1 }), 7)?.message, `try_it: input: Unrecognized key: ${JSON.stringify(`${long.slice(0, 40)}…`)}`);
    assert.match(shaped('{"__proto__":{}}', 4)!.message, /Unrecognized key: "__proto__"/);
    // A top-level array or scalar is no tool's arguments: the schema says so once parsed; only the counts apply here.
    assert.equal(shaped('["a","b",{"c":1}]', 2), null);
    assert.equal(shaped('"k0"', 1), null);
  });

  test('the counts a client\'s body may hold are requestBounds: tags with 200,000 members are refused by the count', () => {
    const tags = JSON.stringify({ code: '1', tags: Object.fromEntries(Array.from({ length: 200_000 }, (_, index) => [`t${index}`, '1'])) });
    const refused = shaped(tags, 65_536)!;
    assert.match(refused.message, new RegExp(`request body holds more than ${requestStringsMax} strings`));
    assert.ok(refused.bytes <= 65_536, `${refused.bytes} bytes read`);
    assert.match(shaped(JSON.stringify({ code: '1', tags: { a: Array.from({ length: requestValuesMax }, () => 1) } }), 4096)!.message, new RegExp(`more than ${requestValuesMax} values`));
  });
});
