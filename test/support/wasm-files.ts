// Tiny hand-assembled WebAssembly modules, written to a fresh temporary folder, for the
// --wasm-module tests (test/exec/wasm-preload.test.ts, test/server/wasm-modules.test.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/** The reference README's add: (i32, i32) -> i32, exported as "add"; no imports. */
export const addModule = new Uint8Array([
  ...header,
  0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00,
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b,
]);
/** The same with "add" subtracting instead: another file under the same name (a changed module). */
export const subModule = new Uint8Array([...addModule.slice(0, addModule.length - 2), 0x6b, 0x0b]);
/** Imports env.f: () -> i32 and exports g() = f() + 1. */
export const importingModule = new Uint8Array([
  ...header,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
  0x02, 0x09, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00,
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x05, 0x01, 0x01, 0x67, 0x00, 0x01,
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x10, 0x00, 0x41, 0x01, 0x6a, 0x0b,
]);
/** A memory of 1 page that declares no maximum, exported as "memory" (the bound lowers it). */
export const memoryModule = new Uint8Array([
  ...header,
  0x05, 0x03, 0x01, 0x00, 0x01,
  0x07, 0x0a, 0x01, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
]);

/** The reference README's SQLite example (examples/sqlite-wasm); its result is [{"id":1,"name":"Alice","age":30}]. */
export const readmeSqlite = `var db = new SQLite();
db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
db.exec("INSERT INTO users (name, age) VALUES ('Alice', 30)");
var result = db.query("SELECT * FROM users");
db.close();
JSON.stringify(result.rows);`;

/** Writes each module as <name>.wasm in a fresh temporary folder; answers the folder. */
export function writeWasmFiles(files: Record<string, Uint8Array | string>): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'mcp-v8-wasm-'));
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(folder, name), bytes);
  return folder;
}
