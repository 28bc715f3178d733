// Lowers the initial size of sqlite3.wasm's memory (build.sh). sql.js's build starts with 338
// pages (21.1 MiB) although its data and its 5 MiB stack end at 5.1 MiB, and the memory grows as
// SQLite allocates; a WebAssembly memory may be at most an execution's memory limit, so at 21.1 MiB
// SQLite needed heap_memory_max_mb of 22 or more. Starting at the stack's top plus 1 MiB, it runs
// under the default 8 MiB and grows up to whatever limit the run has. The minimum is rewritten in
// place, in as many bytes as before, so nothing else in the file moves.
//   node shrink-memory.mjs sqlite3.wasm
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2];
const bytes = readFileSync(file);
const pageBytes = 65536;
const leb = (at, signed = false) => {
  let value = 0, shift = 0, byte;
  do { byte = bytes[at++]; value |= (byte & 0x7f) << shift; shift += 7; } while (byte & 0x80);
  if (signed && shift < 32 && (byte & 0x40)) value |= -1 << shift;
  return [value, at];
};
let memoryAt = -1;
let stackTop = 0;
for (let at = 8; at < bytes.length;) {
  const id = bytes[at];
  const [size, start] = leb(at + 1);
  if (id === 5) memoryAt = start;
  // The first global is emscripten's __stack_pointer, an i32 whose constant is the stack's top.
  if (id === 6 && stackTop === 0) {
    const [, first] = leb(start);
    if (bytes[first] === 0x7f && bytes[first + 2] === 0x41) stackTop = leb(first + 3, true)[0];
  }
  at = start + size;
}
if (memoryAt < 0 || stackTop <= 0) throw new Error(`${file}: no memory section or no stack pointer found; left as it is`);
const [count, flagsAt] = leb(memoryAt);
if (count !== 1 || (bytes[flagsAt] & ~1) !== 0) throw new Error(`${file}: not one plain 32-bit memory; left as it is`);
const [minimum, after] = leb(flagsAt + 1);
const width = after - (flagsAt + 1);
const pages = Math.ceil(stackTop / pageBytes) + 16;
if (pages >= minimum) { console.log(`${file}: memory starts at ${minimum} pages already`); process.exit(0); }
if (width < 2 || pages >= 1 << (7 * width)) throw new Error(`${file}: cannot rewrite a ${width}-byte minimum; left as it is`);
for (let index = 0; index < width; index++) bytes[flagsAt + 1 + index] = ((pages >> (7 * index)) & 0x7f) | (index < width - 1 ? 0x80 : 0);
new WebAssembly.Module(bytes);
writeFileSync(file, bytes);
console.log(`${file}: memory starts at ${pages} pages (${(pages * pageBytes / 1048576).toFixed(1)} MiB) instead of ${minimum}`);
