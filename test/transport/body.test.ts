// The streaming count of a JSON body's strings (src/transport/body.ts, StringCounter): whatever
// the chunks the body arrives in, escapes across their boundaries included, it counts what
// JSON.parse would see, and refuses past bodyStringsMax.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StringCounter, bodyStringsMax } from '../../src/transport/body.ts';

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
    const text = JSON.stringify(Array.from({ length: bodyStringsMax + 1 }, (_, index) => `"${index}\\`));
    for (const size of [1, 5, 65_536]) assert.equal(accepts(text, size), false, `pieces of ${size}`);
    assert.equal(accepts(JSON.stringify(Array.from({ length: bodyStringsMax }, (_, index) => `"${index}\\`)), 3), true);
  });
});
