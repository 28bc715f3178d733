// The fs gate on real temporary directories: every operation of the README, each checked by the
// policy, and the escapes a hostile script would try (`..`, symlinks to files, directories and
// not-yet-existing targets, renames and copies across the boundary).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LocalRegoDecider, type PolicyDecider } from '../../src/policy/decider.ts';
import { FsGate, FsGateError } from '../../src/policy/fs-gate.ts';

function setup(t: TestContext): { root: string; allowed: string; outside: string; gate: FsGate; inputs: unknown[] } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'mcp-v8-fs-gate-')));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const allowed = join(root, 'allowed');
  const outside = join(root, 'outside');
  mkdirSync(allowed);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'top secret');
  const rego = new LocalRegoDecider([{ file: 'fs.rego', source: `package mcp.filesystem
default allow := false
allowed_path(p) if startswith(p, ${JSON.stringify(`${allowed}/`)})
allowed_path(p) if p == ${JSON.stringify(allowed)}
allow if {
  allowed_path(input.path)
  not input.destination
}
allow if {
  allowed_path(input.path)
  allowed_path(input.destination)
}
` }], 'data.mcp.filesystem.allow');
  const inputs: unknown[] = [];
  const decider: PolicyDecider = { description: rego.description, decide: (input) => { inputs.push(input); return rego.decide(input); } };
  return { root, allowed, outside, gate: new FsGate({ decider, readBytesMax: 1024 * 1024 }), inputs };
}

const denied = (e: unknown) => e instanceof FsGateError && e.kind === 'denied' && /denied by policy: rego data\.mcp\.filesystem\.allow \(fs\.rego\) is false/.test(e.message);

test('every README operation works inside the allowed folder and sends the documented input', async (t) => {
  const { allowed, gate, inputs } = setup(t);
  const f = join(allowed, 'a.txt');
  await gate.writeFile(f, 'hello');
  await gate.appendFile(f, ' world');
  assert.equal(await gate.readFile(f), 'hello world');
  assert.deepEqual(await gate.readFile(f, 'buffer'), new Uint8Array(Buffer.from('hello world')));
  await gate.writeFile(join(allowed, 'b.bin'), new Uint8Array([1, 2, 3]));
  assert.deepEqual([...(await gate.readFile(join(allowed, 'b.bin'), 'buffer') as Uint8Array)], [1, 2, 3]);
  await gate.mkdir(join(allowed, 'd/e/f'), { recursive: true });
  assert.deepEqual(await gate.readdir(allowed), ['a.txt', 'b.bin', 'd']);
  const st = await gate.stat(f);
  assert.deepEqual([st.size, st.isFile, st.isDirectory], [11, true, false]);
  await gate.rename(f, join(allowed, 'c.txt'));
  await gate.copyFile(join(allowed, 'c.txt'), join(allowed, 'd', 'c2.txt'));
  assert.equal(readFileSync(join(allowed, 'd', 'c2.txt'), 'utf8'), 'hello world');
  assert.equal(await gate.exists(f), false);
  assert.equal(await gate.exists(join(allowed, 'c.txt')), true);
  await gate.rm(join(allowed, 'c.txt'));
  await assert.rejects(gate.rm(join(allowed, 'd')), (e: FsGateError) => e.kind === 'io' && e.code === 'ENOTEMPTY');
  await gate.rm(join(allowed, 'd'), { recursive: true });
  assert.deepEqual(await gate.readdir(allowed), ['b.bin']);
  assert.ok(inputs.some((i) => JSON.stringify(i) === JSON.stringify({ operation: 'readFile', path: join(allowed, 'a.txt'), encoding: 'buffer' })));
  assert.ok(inputs.some((i) => JSON.stringify(i) === JSON.stringify({ operation: 'mkdir', path: join(allowed, 'd/e/f'), recursive: true })));
  assert.ok(inputs.some((i) => JSON.stringify(i) === JSON.stringify({ operation: 'rename', path: join(allowed, 'a.txt'), destination: join(allowed, 'c.txt') })));
  await assert.rejects(gate.readFile(join(allowed, 'missing')), (e: FsGateError) => e.kind === 'io' && e.code === 'ENOENT' && e.message.startsWith(`fs.readFile ${join(allowed, 'missing')}: ENOENT`));
});

test('`..` and relative paths cannot leave the allowed folder', async (t) => {
  const { allowed, outside, gate } = setup(t);
  await assert.rejects(gate.readFile(`${allowed}/../outside/secret.txt`), denied);
  await assert.rejects(gate.readFile(`${allowed}/x/../../outside/secret.txt`), denied);
  await assert.rejects(gate.writeFile(`${allowed}/../outside/new.txt`, 'x'), denied);
  await assert.rejects(gate.readFile('outside/secret.txt'), /path must be absolute/);
  await assert.rejects(gate.readFile(`${allowed}/a\0b`), /invalid path/);
  assert.equal(existsSync(join(outside, 'new.txt')), false);
});

test('symlinks to files, folders and not-yet-existing targets cannot escape', async (t) => {
  const { allowed, outside, gate } = setup(t);
  symlinkSync(join(outside, 'secret.txt'), join(allowed, 'file-link'));
  symlinkSync(outside, join(allowed, 'dir-link'));
  symlinkSync(join(outside, 'created-through-link.txt'), join(allowed, 'dangling'));
  symlinkSync(join(allowed, 'loop'), join(allowed, 'loop'));
  symlinkSync(join(allowed, 'chain2'), join(allowed, 'chain1'));
  symlinkSync(join(outside, 'chain-target.txt'), join(allowed, 'chain2'));
  await assert.rejects(gate.writeFile(join(allowed, 'chain1'), 'x'), denied);
  assert.equal(existsSync(join(outside, 'chain-target.txt')), false);
  await assert.rejects(gate.readFile(join(allowed, 'file-link')), (e: FsGateError) => denied(e) && e.message.includes(`(resolved to ${join(outside, 'secret.txt')})`));
  await assert.rejects(gate.readFile(join(allowed, 'dir-link', 'secret.txt')), denied);
  await assert.rejects(gate.writeFile(join(allowed, 'dir-link', 'new.txt'), 'x'), denied);
  await assert.rejects(gate.mkdir(join(allowed, 'dir-link', 'a', 'b'), { recursive: true }), denied);
  await assert.rejects(gate.writeFile(join(allowed, 'dangling'), 'x'), denied);
  await assert.rejects(gate.appendFile(join(allowed, 'file-link'), 'x'), denied);
  await assert.rejects(gate.readdir(join(allowed, 'dir-link')), denied);
  await assert.rejects(gate.stat(join(allowed, 'dir-link')), denied);
  await assert.rejects(gate.exists(join(allowed, 'dir-link', 'secret.txt')), denied);
  await assert.rejects(gate.writeFile(join(allowed, 'loop'), 'x'), /too many levels of symbolic links|denied/);
  assert.equal(existsSync(join(outside, 'created-through-link.txt')), false);
  assert.equal(existsSync(join(outside, 'new.txt')), false);
  assert.equal(existsSync(join(outside, 'a')), false);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'top secret');
});

test('renames and copies across the boundary are denied; a recursive rm removes links, not their targets', async (t) => {
  const { allowed, outside, gate } = setup(t);
  await gate.writeFile(join(allowed, 'mine.txt'), 'mine');
  await assert.rejects(gate.rename(join(allowed, 'mine.txt'), join(outside, 'stolen.txt')), denied);
  await assert.rejects(gate.copyFile(join(outside, 'secret.txt'), join(allowed, 'copy.txt')), denied);
  await assert.rejects(gate.rename(join(outside, 'secret.txt'), join(allowed, 'moved.txt')), denied);
  await assert.rejects(gate.rm(join(outside, 'secret.txt')), denied);
  mkdirSync(join(allowed, 'tree'));
  symlinkSync(outside, join(allowed, 'tree', 'link-to-outside'));
  await gate.rm(join(allowed, 'tree'), { recursive: true });
  assert.equal(existsSync(join(allowed, 'tree')), false);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'top secret');
  symlinkSync(outside, join(allowed, 'link'));
  await assert.rejects(gate.rm(join(allowed, 'link'), { recursive: true }), denied);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'top secret');
});

test('size bounds on reading and writing', async (t) => {
  const { allowed, gate } = setup(t);
  writeFileSync(join(allowed, 'big'), Buffer.alloc(1024 * 1024 + 1));
  await assert.rejects(gate.readFile(join(allowed, 'big')), (e: FsGateError) => e.kind === 'too_large' && /larger than 1048576 bytes/.test(e.message));
  await assert.rejects(gate.writeFile(join(allowed, 'x'), 'y'.repeat(11 * 1024 * 1024)), (e: FsGateError) => e.kind === 'too_large');
  await assert.rejects(gate.writeFile(join(allowed, 'x'), 42 as unknown as string), /data must be a string or a Uint8Array/);
  await assert.rejects(gate.readFile(allowed), (e: FsGateError) => e.kind === 'io' && e.code === 'EISDIR');
});

test('a FIFO cannot hang a read or a write', async (t) => {
  const { allowed, gate } = setup(t);
  const fifo = join(allowed, 'pipe');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(gate.readFile(fifo), (e: FsGateError) => e.kind === 'invalid_request' && /not a regular file/.test(e.message));
  await assert.rejects(gate.writeFile(fifo, 'x'), (e: FsGateError) => e.kind === 'invalid_request' || e.code === 'ENXIO');
});

test('fs operations in flight are bounded', async (t) => {
  const { allowed } = setup(t);
  let release: () => void = () => {};
  let called: () => void = () => {};
  const decided = new Promise<void>((r) => { called = r; });
  const gate = new FsGate({ decider: { description: 'held', decide: () => new Promise((r) => { release = () => r({ allow: true, reason: 'ok' }); called(); }) }, concurrentMax: 1 });
  const first = gate.exists(join(allowed, 'x'));
  await assert.rejects(gate.exists(join(allowed, 'y')), (e: FsGateError) => e.kind === 'busy' && /1 operations are already in flight/.test(e.message));
  await decided;
  release();
  assert.equal(await first, false);
  assert.equal(await new FsGate({ decider: { description: 'yes', decide: async () => ({ allow: true, reason: 'ok' }) }, concurrentMax: 1 }).exists(allowed), true);
});
