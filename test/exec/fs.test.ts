// The sandbox's fs global with a filesystem policy: the README's promise API on real files in a
// temporary folder, every operation checked with the README's input document, `..` and symlink
// escapes attempted through the sandbox API, and hostile arguments.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildPolicyCapabilities } from '../../src/policy/capabilities.ts';
import { engineWith, regoFile, tempFolder } from './effects-harness.ts';

const root = tempFolder('fs');
const allowed = join(root, 'allowed');
const outside = join(root, 'outside');
mkdirSync(allowed);
mkdirSync(outside);
writeFileSync(join(outside, 'secret.txt'), 'SECRET');
writeFileSync(join(allowed, 'data.txt'), 'héllo');
writeFileSync(join(allowed, 'data.bin'), Buffer.from([0, 1, 2, 255]));
symlinkSync(join(outside, 'secret.txt'), join(allowed, 'link-out.txt'));
symlinkSync(outside, join(allowed, 'dir-out'));
symlinkSync(join(outside, 'created-through-link.txt'), join(allowed, 'dangling.txt'));

const policies = join(root, 'policies');
mkdirSync(policies);
const fsPolicy = regoFile(policies, 'fs.rego', `package mcp.filesystem
default allow = false
allowed_prefix := ${JSON.stringify(`${allowed}/`)}
allow if {
  startswith(input.path, allowed_prefix)
  not input.destination
  not denied_read
}
allow if {
  startswith(input.path, allowed_prefix)
  startswith(input.destination, allowed_prefix)
}
allow if {
  input.path == ${JSON.stringify(allowed)}
  input.operation in ["readdir", "stat", "exists"]
}
denied_read if {
  input.operation == "readFile"
  endswith(input.path, ".private")
}
`);
const capabilities = buildPolicyCapabilities({ policiesJson: JSON.stringify({ filesystem: { policies: [{ url: fsPolicy }] } }) });
const { run } = await engineWith(capabilities);

async function value(code: string): Promise<unknown> {
  const ran = await run(code, { memoryMb: 64 });
  assert.equal(ran.status, 'completed', ran.error ?? '');
  return JSON.parse(ran.result!);
}

describe('fs with a filesystem policy', () => {
  test('the README operations on real files', async () => {
    const a = JSON.stringify(allowed);
    const got = await value(`const dir = ${a};
      const text = await fs.readFile(dir + '/data.txt');
      const bin = await fs.readFile(dir + '/data.bin', 'buffer');
      await fs.writeFile(dir + '/out.txt', 'hello');
      await fs.appendFile(dir + '/out.txt', ' world');
      await fs.writeFile(dir + '/out.bin', new Uint8Array([7, 8]));
      await fs.mkdir(dir + '/new/deep', { recursive: true });
      await fs.copyFile(dir + '/out.txt', dir + '/new/copy.txt');
      await fs.rename(dir + '/new/copy.txt', dir + '/new/moved.txt');
      const st = await fs.stat(dir + '/out.txt');
      const entries = await fs.readdir(dir + '/new');
      const existed = await fs.exists(dir + '/new/moved.txt');
      await fs.rm(dir + '/new', { recursive: true });
      await fs.rm(dir + '/out.bin');
      JSON.stringify({ text, bin: [...bin], isU8: bin instanceof Uint8Array, out: await fs.readFile(dir + '/out.txt', { encoding: 'utf8' }), size: st.size, isFile: st.isFile, isDirectory: st.isDirectory,
        entries, existed, gone: await fs.exists(dir + '/new'), viaPromises: typeof fs.promises.readFile })`);
    assert.deepEqual(got, { text: 'héllo', bin: [0, 1, 2, 255], isU8: true, out: 'hello world', size: 11, isFile: true, isDirectory: false, entries: ['deep', 'moved.txt'], existed: true, gone: false, viaPromises: 'function' });
    assert.equal(readFileSync(join(allowed, 'out.txt'), 'utf8'), 'hello world', 'the file is really there');
    assert.equal(existsSync(join(allowed, 'new')), false);
  });

  test('denials name the decision; errors carry a code', async () => {
    const got = await value(`const out = [];
      const attempt = async (f) => { try { await f(); out.push('done'); } catch (e) { out.push([e.code, e.message]); } };
      await attempt(() => fs.readFile(${JSON.stringify(join(outside, 'secret.txt'))}));
      await attempt(() => fs.readFile(${JSON.stringify(join(allowed, 'missing.txt'))}));
      await attempt(() => fs.readFile(${JSON.stringify(join(allowed, 'x.private'))}));
      await attempt(() => fs.rename(${JSON.stringify(join(allowed, 'data.txt'))}, ${JSON.stringify(join(outside, 'stolen.txt'))}));
      JSON.stringify(out)`) as [string, string][];
    assert.equal(got[0]![0], 'denied');
    assert.match(got[0]![1], new RegExp(`^fs\\.readFile ${join(outside, 'secret.txt')} denied by policy: rego data\\.mcp\\.filesystem\\.allow \\(.*fs\\.rego\\) is false$`));
    assert.equal(got[1]![0], 'ENOENT');
    assert.match(got[1]![1], /^fs\.readFile .*missing\.txt: ENOENT/);
    assert.equal(got[2]![0], 'denied');
    assert.equal(got[3]![0], 'denied');
    assert.match(got[3]![1], /→ .*stolen\.txt denied by policy/);
    assert.equal(existsSync(join(outside, 'stolen.txt')), false);
  });

  test('escapes through .. and symlinks are resolved before the check, and denied', async () => {
    const got = await value(`const dir = ${JSON.stringify(allowed)}; const out = [];
      const attempt = async (f) => { try { const v = await f(); out.push(typeof v === 'string' ? v : 'done'); } catch (e) { out.push(e.code); } };
      await attempt(() => fs.readFile(dir + '/../outside/secret.txt'));
      await attempt(() => fs.readFile(dir + '/link-out.txt'));
      await attempt(() => fs.readFile(dir + '/dir-out/secret.txt'));
      await attempt(() => fs.writeFile(dir + '/dir-out/planted.txt', 'x'));
      await attempt(() => fs.writeFile(dir + '/dangling.txt', 'x'));
      await attempt(() => fs.copyFile(dir + '/link-out.txt', dir + '/copy-of-secret.txt'));
      await attempt(() => fs.readFile('relative.txt'));
      await attempt(() => fs.readFile(dir + '/data.txt\\u0000.png'));
      JSON.stringify(out)`);
    assert.deepEqual(got, ['denied', 'denied', 'denied', 'denied', 'denied', 'denied', 'invalid_request', 'invalid_request']);
    assert.equal(existsSync(join(outside, 'planted.txt')), false);
    assert.equal(existsSync(join(outside, 'created-through-link.txt')), false);
    assert.equal(existsSync(join(allowed, 'copy-of-secret.txt')), false);
  });

  test('hostile arguments are refused before the host: wrong types, huge data, getters', async () => {
    const got = await value(`const dir = ${JSON.stringify(allowed)}; const out = [];
      const attempt = async (f) => { try { await f(); out.push('done'); } catch (e) { out.push(e.name + ':' + (e.code ?? '')); } };
      await attempt(() => fs.readFile(123));
      await attempt(() => fs.readFile({ toString() { return dir + '/data.txt'; } }));
      await attempt(() => fs.writeFile(dir + '/o.txt', { length: 5 }));
      await attempt(() => fs.writeFile(dir + '/o.txt', new Uint8Array(11 * 1024 * 1024)));
      await attempt(() => fs.readFile(dir + '/data.txt', 'latin1'));
      await attempt(() => fs.mkdir(dir + '/g', { get recursive() { throw new Error('getter'); } }));
      Uint8Array.prototype.set = () => { throw new Error('hijacked'); };
      await attempt(() => fs.writeFile(dir + '/o.bin', new Uint8Array([1])));
      JSON.stringify(out)`);
    assert.deepEqual(got, ['TypeError:', 'TypeError:', 'TypeError:', 'Error:too_large', 'TypeError:', 'Error:', 'done']);
    assert.deepEqual([...readFileSync(join(allowed, 'o.bin'))], [1]);
  });
});
