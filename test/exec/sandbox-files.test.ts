// The sandbox code is the security boundary: every file of it runs in the prelude, and every file
// of it is type-checked (tsconfig.sandbox.json, in npm test). A file added to src/exec/sandbox but
// left out of the prelude's lists would never run; one without `// @ts-check` would be skipped.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { preludeParts, sandboxFiles } from '../../src/exec/isolate-pool.ts';

const sandbox = new URL('../../src/exec/sandbox/', import.meta.url);
const scripts = (folder: URL): string[] => readdirSync(folder).filter((name) => name.endsWith('.js')).sort();

describe('sandbox files', () => {
  test('every sandbox script runs in the prelude, each once', () => {
    assert.deepEqual(scripts(sandbox), sandboxFiles.filter((name) => name !== 'prelude').sort());
    assert.deepEqual(scripts(new URL('prelude/', sandbox)), [...preludeParts].sort());
    assert.equal(new Set(preludeParts).size, preludeParts.length);
  });

  test('every sandbox script is type-checked, by the program that npm test checks', () => {
    const files = [...scripts(sandbox), ...scripts(new URL('prelude/', sandbox)).map((name) => `prelude/${name}`)];
    for (const name of files) assert.ok(readFileSync(new URL(name, sandbox), 'utf8').startsWith('// @ts-check\n'), `${name} starts with // @ts-check`);
    const config = JSON.parse(readFileSync(new URL('../../tsconfig.sandbox.json', import.meta.url), 'utf8')) as { compilerOptions: Record<string, unknown>; include: string[]; exclude?: string[] };
    assert.deepEqual(config.include, ['src/exec/sandbox']);
    assert.deepEqual(config.exclude ?? [], [], 'no sandbox file is left out');
    assert.equal(config.compilerOptions.checkJs, true);
    assert.equal(config.compilerOptions.strict, true);
    assert.equal(config.compilerOptions.noImplicitAny, true, 'every parameter of the sandbox has a JSDoc type');
    const testScript = readFileSync(new URL('../../scripts/test.ts', import.meta.url), 'utf8');
    assert.ok(testScript.includes("'tsconfig.sandbox.json'"), 'scripts/test.ts runs the sandbox type check');
  });
});
