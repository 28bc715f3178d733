// TextEncoder/TextDecoder, atob/btoa, structuredClone and crypto (src/exec/sandbox/web.js) answer
// a run that first replaced every builtin they could call as they answer a clean run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';
import { vandalSource } from './vandal.ts';

const { run } = await engineForFile(1);

/** Made before the vandal runs (the run's own `new Uint8Array([…])` and such iterate its arrays), used after. */
const setup = `const sample = 'aé€😀\\ud800z';
const source = { n: 1, list: [1, { x: 2 }, , 4], when: new Date(0), re: /a.b/gimsuy, map: new Map([['k', new Set([1, 'two'])]]), bytes: new Int16Array([1, -2]), buffer: new Uint8Array([7, 8]).buffer, error: new RangeError('bad') };
source.self = source;
const invalid = new Uint8Array([0xff, 0x61, 0xe2, 0x82, 0xf0, 0x9f, 0x98, 0xed, 0xa0, 0x80, 0xc3]);
const big = new Uint8Array(20000).fill(0x61);
big[19999] = 0xc3;
const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x41]);
const bomBuffer = bom.buffer;
const fn = { f() {} };
const viewBuffer = new TextEncoder().encode(sample).buffer;
`;

/** Uses each global and gives one array literal of what it saw, printed by inspect. */
const scenario = `(() => {
  const encoded = new TextEncoder().encode(sample);
  const target = new Uint8Array(5);
  const into = new TextEncoder().encodeInto(sample, target);
  const decoder = new TextDecoder(' UTF8 ', { fatal: false });
  let fatal = 'none';
  try { new TextDecoder('unicode-1-1-utf-8', { fatal: true }).decode(invalid); } catch (error) { fatal = error.name + ': ' + error.message; }
  let label = 'none';
  try { new TextDecoder('latin1'); } catch (error) { label = error.name; }
  const copy = structuredClone(source);
  let refused = 'none';
  try { structuredClone(fn); } catch (error) { refused = error.name + ': ' + error.message; }
  let badBase64 = 'none';
  try { atob('ab!c'); } catch (error) { badBase64 = error.name; }
  let wide = 'none';
  try { btoa('€'); } catch (error) { wide = error.name; }
  const random = crypto.getRandomValues(new Uint32Array(3));
  let float = 'none';
  try { crypto.getRandomValues(new Float64Array(2)); } catch (error) { float = error.name; }
  const uuid = crypto.randomUUID();
  const decodedBig = new TextDecoder().decode(big);
  return [encoded, into.read + '/' + into.written, target, decoder.decode(encoded), decoder.decode(invalid), decoder.decode(new DataView(viewBuffer, 1, 2)), fatal, label,
    new TextDecoder().decode(bomBuffer), new TextDecoder('utf-8', { ignoreBOM: true }).decode(bom).length,
    btoa('hello world\\u00ff'), atob(' aGVs bG8=\\n'), atob('YQ'), badBase64, wide,
    copy, copy !== source, copy.self === copy, copy.list[1] !== source.list[1], copy.error.name, copy.error.message, refused,
    typeof random[2] + typeof random[3], float, uuid.length + ':' + uuid[8] + uuid[14] + uuid[23], decodedBig.length, decodedBig[19999]];
})()`;

describe('web.js with every builtin it uses replaced by the run', () => {
  test('TextEncoder/TextDecoder, atob/btoa, structuredClone and crypto answer as in a clean run', async () => {
    const clean = await run(setup + scenario);
    assert.equal(clean.status, 'completed', clean.error ?? '');
    assert.match(String(clean.result), /Map\(1\) \{ 'k' => Set\(2\) \{ 1, 'two' \} \}/);
    assert.match(String(clean.result), /'aGVsbG8gd29ybGT\/',\n  'hello',/);
    const ran = await run(setup + vandalSource + scenario);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, clean.result);
  });
});
