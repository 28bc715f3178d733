// The streaming count of a JSON body's strings (src/transport/body.ts, StringCounter): whatever
// the chunks the body arrives in, escapes across their boundaries included, it counts what
// JSON.parse would see, and refuses past bodyStringsMax; and its values (commas, '[' and '{'
// outside strings), refused past bodyValuesMax.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StringCounter, bodyStringsMax, bodyValuesMax, parseJsonBody } from '../../src/transport/body.ts';

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
