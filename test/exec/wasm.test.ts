// WebAssembly, sync and async, with the README's add module; async compiles finish on a V8
// background thread, outside microtasks, and the event loop must wait for them, not give up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { result } = await engineForFile();

/** The add module of the reference README: (i32, i32) -> i32, exported as "add". */
const readmeModule = `new Uint8Array([
  0x00,0x61,0x73,0x6d, 0x01,0x00,0x00,0x00,
  0x01,0x07,0x01,0x60,0x02,0x7f,0x7f,0x01,0x7f,
  0x03,0x02,0x01,0x00,
  0x07,0x07,0x01,0x03,0x61,0x64,0x64,0x00,0x00,
  0x0a,0x09,0x01,0x07,0x00,0x20,0x00,0x20,0x01,0x6a,0x0b
])`;

describe('WebAssembly', () => {
  test('the README example: new WebAssembly.Module and Instance', async () => {
    assert.equal(await result(`const wasmBytes = ${readmeModule};\nconst mod = new WebAssembly.Module(wasmBytes);\nconst inst = new WebAssembly.Instance(mod);\ninst.exports.add(21, 21);`), '42');
  });

  test('WebAssembly.compile and instantiate, awaited at the top level and in a promise chain', async () => {
    for (let round = 0; round < 10; round++) {
      assert.equal(await result(`const module = await WebAssembly.compile(${readmeModule}); (await WebAssembly.instantiate(module)).exports.add(2, 3)`), '5');
      assert.equal(await result(`WebAssembly.instantiate(${readmeModule}).then(({ instance }) => instance.exports.add(${round}, 1))`), String(round + 1));
    }
  });

  test('an async compile does not wait for an unrelated far timer', async () => {
    // Completed within the harness's 5 s timeout, so well before the 60 s timer.
    assert.equal(await result(`setTimeout(() => {}, 60_000).unref(); const { instance } = await WebAssembly.instantiate(${readmeModule}); instance.exports.add(1, 1)`), '2');
  });

  test('a bad module rejects with the CompileError, as in Node', async () => {
    assert.equal(await result("WebAssembly.compile(new Uint8Array([1, 2, 3])).catch((error) => error.name)"), 'CompileError');
  });
});
