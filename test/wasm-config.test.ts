// --wasm-module and --wasm-config: parsed, merged and checked at start-up (src/wasm-config.ts),
// every refusal an INVALID_FLAG naming the flag and the module.
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { McpV8Error } from '../src/errors.ts';
import { wasmModuleBytesMax } from '../src/wasm-config.ts';
import { addModule, importingModule, writeWasmFiles } from './support/wasm-files.ts';

const folder = writeWasmFiles({ 'add.wasm': addModule, 'imports.wasm': importingModule, 'bad.wasm': new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff]), 'wrapper.js': 'globalThis.Thing = 1;' });
const file = (name: string) => path.join(folder, name);
const config = (json: unknown, name = 'config.json') => { writeFileSync(file(name), typeof json === 'string' ? json : JSON.stringify(json)); return file(name); };

function modulesOf(argv: string[]) {
  const parsed = parseConfig(['--stateless', ...argv], {});
  assert.equal(parsed.action, 'run');
  return parsed.action === 'run' ? parsed.config.wasmModules : [];
}

function refused(argv: string[], message: RegExp): void {
  assert.throws(() => parseConfig(['--stateless', ...argv], {}), (error: unknown) => {
    assert.ok(error instanceof McpV8Error);
    assert.equal(error.code, 'INVALID_FLAG');
    assert.match(error.message, message);
    return true;
  });
}

describe('--wasm-module and --wasm-config', () => {
  test('no flag: no modules', () => {
    assert.deepEqual(modulesOf([]), []);
  });

  test('repeated --wasm-module and a config file merge, in that order, with hashes and whether each is instantiated', () => {
    const json = config({ needs: 'imports.wasm', thing: { path: file('add.wasm'), wrapper: 'wrapper.js', globals: ['Thing'] } });
    const modules = modulesOf(['--wasm-module', `math=${file('add.wasm')}`, '--wasm-module', `plus=${file('add.wasm')}`, '--wasm-config', json]);
    assert.deepEqual(modules.map((module) => [module.name, module.origin, module.instantiate, module.wrapper?.globals ?? null]), [
      ['math', '--wasm-module', true, null], ['plus', '--wasm-module', true, null], ['needs', '--wasm-config', false, null], ['thing', '--wasm-config', true, ['Thing']],
    ]);
    assert.equal(modules[0]!.sha256, modules[1]!.sha256);
    assert.match(modules[0]!.sha256, /^[0-9a-f]{64}$/);
    assert.equal(modules[2]!.path, file('imports.wasm'), 'relative to the config file');
    assert.equal(modules[3]!.wrapper?.source, 'globalThis.Thing = 1;');
  });

  test('a duplicate name, within or across the flags', () => {
    refused(['--wasm-module', `math=${file('add.wasm')}`, '--wasm-module', `math=${file('add.wasm')}`], /^--wasm-module math: the name is given twice \(also by --wasm-module\)/);
    refused(['--wasm-module', `math=${file('add.wasm')}`, '--wasm-config', config({ math: 'add.wasm' })], /^--wasm-config math: the name is given twice \(also by --wasm-module\)/);
  });

  test('a name that is not an identifier, a reserved word, or ours', () => {
    refused(['--wasm-module', `1math=${file('add.wasm')}`], /^--wasm-module 1math: '1math' is not a JavaScript identifier/);
    refused(['--wasm-module', `my-math=${file('add.wasm')}`], /^--wasm-module my-math: 'my-math' is not a JavaScript identifier/);
    refused(['--wasm-module', `class=${file('add.wasm')}`], /^--wasm-module class: 'class' is a reserved word/);
    refused(['--wasm-module', `__proto__=${file('add.wasm')}`], /^--wasm-module __proto__: '__proto__' is a reserved word/);
    refused(['--wasm-module', `__mcpv8_x=${file('add.wasm')}`], /^--wasm-module __mcpv8_x: .*keeps for itself/);
    refused(['--wasm-config', config({ 'a b': 'add.wasm' })], /^--wasm-config a b: 'a b' is not a JavaScript identifier/);
  });

  test('not name=path', () => {
    refused(['--wasm-module', 'math'], /^--wasm-module must be name=path, got 'math'/);
    refused(['--wasm-module', '=x.wasm'], /^--wasm-module must be name=path/);
    refused(['--wasm-module', 'math='], /^--wasm-module must be name=path/);
  });

  test('a missing, unreadable or oversize file', () => {
    refused(['--wasm-module', `math=${file('missing.wasm')}`], /^--wasm-module math: cannot read the file .*missing\.wasm: ENOENT/);
    refused(['--wasm-module', `math=${folder}`], /^--wasm-module math: the file .* is not a regular file/);
    writeFileSync(file('huge.wasm'), '');
    truncateSync(file('huge.wasm'), wasmModuleBytesMax + 1);
    refused(['--wasm-module', `math=${file('huge.wasm')}`], new RegExp(`^--wasm-module math: the file .*huge\\.wasm is ${wasmModuleBytesMax + 1} bytes, more than the ${wasmModuleBytesMax} allowed`));
  });

  test('bytes that are not WebAssembly', () => {
    refused(['--wasm-module', `math=${file('bad.wasm')}`], /^--wasm-module math: .*bad\.wasm is not a valid WebAssembly module: WebAssembly\.Module\(\)/);
    refused(['--wasm-module', `math=${file('wrapper.js')}`], /^--wasm-module math: .*wrapper\.js is not a valid WebAssembly module/);
  });

  test('a config file that is missing, not JSON, not an object, or with a bad entry', () => {
    refused(['--wasm-config', file('nothing.json')], /^--wasm-config .*nothing\.json: cannot read the config file/);
    refused(['--wasm-config', config('{"math": ', 'broken.json')], /^--wasm-config .*broken\.json: not JSON/);
    refused(['--wasm-config', config(['add.wasm'])], /must be a JSON object mapping global names to \.wasm paths/);
    refused(['--wasm-config', config({ math: 7 })], /^--wasm-config math: must be a path or \{"path", "wrapper", "globals"\}/);
    refused(['--wasm-config', config({ math: { path: 'add.wasm', extra: 1 } })], /^--wasm-config math: unknown key extra/);
    refused(['--wasm-config', config({ math: { path: 'add.wasm', wrapper: 'wrapper.js' } })], /^--wasm-config math: "globals" must list 1-16 names/);
    refused(['--wasm-config', config({ math: { path: 'add.wasm', wrapper: 'gone.js', globals: ['X'] } })], /^--wasm-config math: cannot read the wrapper .*gone\.js/);
    refused(['--wasm-config', config({ math: { path: 'add.wasm', wrapper: 'wrapper.js', globals: ['math'] } })], /^--wasm-config math: wrapper global math is already a pre-loaded name/);
  });

  test('--help lists both flags as supported', () => {
    const parsed = parseConfig(['--help'], {});
    assert.equal(parsed.action, 'help');
    if (parsed.action !== 'help') return;
    for (const flag of ['--wasm-module', '--wasm-config']) {
      const line = parsed.text.split('\n').find((candidate) => candidate.includes(flag));
      assert.ok(line !== undefined && !line.includes('not supported yet'), line);
    }
  });
});
