// Issue 18, items 2 and 3: the console path between the sandbox and the host.
// 2. The sandbox's console buffer called the user-replaceable Array.prototype.push: with it
//    replaced, `null` lines reached the shared execution-store batch, every batch then failed,
//    other clients got HTTP 500 and a victim run stayed `running` for ever. Now the sandbox calls
//    only what it captured, sends a batch as one string, the host checks type and size, and the
//    store checks each line before it joins the shared batch.
// 3. A console flood froze the server (3e6 lines: a neighbour's `1+1` waited 13.4 s). Output is
//    now bounded per execution in bytes and in lines (engine.ts consoleLinesMax), by the sandbox
//    and again by the host. Real server processes; the neighbours' bound is event order: each
//    neighbour completes while the attacker still runs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { droppedBatchesLine } from '../../src/exec/console-queue.ts';
import { consoleLinesMax, consoleTruncatedLine } from '../../src/exec/outcome.ts';
import { exec, execution, firstOutput, health, output, serverForSuite, submit } from '../support/hostile.ts';

const replacedBuiltins = [
  'Array.prototype.push = function () { this[this.length] = null; return this.length }',
  "String.prototype.split = function () { return [null, {}, 42] }; String.prototype[Symbol.split] = function () { return [null] }",
  'Map.prototype.get = Map.prototype.set = Map.prototype.has = Map.prototype.delete = function () { throw new Error("replaced") }; Map.prototype.forEach = function () {}',
  "Object.defineProperty(Array.prototype, '0', { set(value) {}, get() { return null }, configurable: true })",
  'String.prototype.slice = String.prototype.indexOf = function () { return null }; Reflect.apply = function () { return null }',
];

describe('sandbox code that replaces builtins the console relies on', () => {
  const server = serverForSuite('host-console', 'stateless', ['--max-concurrent-executions', '2']);

  for (const replaced of replacedBuiltins) {
    test(replaced.slice(0, 60), async () => {
      // A victim accepted first prints and finishes while the attacker runs.
      const victim = await submit(server(), { code: "console.log('victim line'); await new Promise((resolve) => setTimeout(resolve, 300)); 'victim done'", execution_timeout_secs: 30 });
      const attacker = await submit(server(), { code: `${replaced}; setInterval(() => console.log(1), 5); 'x'`, execution_timeout_secs: 3 });
      await firstOutput(server(), attacker);
      const others = await Promise.all(Array.from({ length: 40 }, () => exec(server(), { code: '1+1', execution_timeout_secs: 30 })));
      assert.deepEqual(new Set(others.map((other) => `${other.status} ${other.result}`)), new Set(['completed 2']));
      assert.equal((await execution(server(), attacker, 0)).status, 'running', 'the neighbours finished while the attacker ran');
      const victimDone = await execution(server(), victim);
      assert.deepEqual([victimDone.status, victimDone.result], ['completed', 'victim done']);
      assert.equal((await output(server(), victim)).data, 'victim line\n');
      const attackerDone = await execution(server(), attacker);
      assert.equal(attackerDone.status, 'timed_out');
      const printed = (await output(server(), attacker, { line_limit: 1000 })).data.split('\n').slice(0, -1);
      // Stopped with batches still queued on the host (console-queue.ts), its output ends saying so.
      const last = printed.at(-1) ?? '';
      const dropped = /before (\d+) more batch/.exec(last);
      const own = dropped !== null && last === droppedBatchesLine(Number(dropped[1])) ? printed.slice(0, -1) : printed;
      assert.ok(own.length > 0 && own.every((line) => line === '1'), `the attacker's own lines: ${own.slice(0, 5).join('|')} … ${own.slice(-3).join('|')}`);
      assert.equal((await health(server())).status, 'ok');
    });
  }
});

const floods = [
  { name: '3e6 numbered lines', code: "for (let i = 0; i < 3e6; i++) console.log(i); 'done'", lines: consoleLinesMax + 1 },
  { name: '8e6 empty lines', code: "for (let i = 0; i < 8e6; i++) console.log(); 'done'", lines: consoleLinesMax + 1 },
  { name: '100 lines of 1 MB', code: "const mb = 'x'.repeat(1e6); for (let i = 0; i < 100; i++) console.log(mb); 'done'", lines: 34 },
];

describe('console floods', () => {
  const server = serverForSuite('host-flood', 'stateless', ['--max-concurrent-executions', '2']);

  for (const flood of floods) {
    test(`${flood.name}: cut at the bound; a neighbour's 1+1 completes while it floods`, async () => {
      const attacker = await submit(server(), { code: `${flood.code}; await new Promise((resolve) => setTimeout(resolve, 2000)); 'done'`, execution_timeout_secs: 30, heap_memory_max_mb: 64 });
      await firstOutput(server(), attacker);
      const neighbour = await exec(server(), { code: '1+1', execution_timeout_secs: 30 });
      assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2']);
      // The flood ends with a 2 s wait: the neighbour must have come back well before that.
      assert.equal((await execution(server(), attacker, 0)).status, 'running', 'the neighbour did not wait for the flood');
      const done = await execution(server(), attacker);
      assert.deepEqual([done.status, done.result], ['completed', 'done']);
      const last = await output(server(), attacker, { line_offset: flood.lines, line_limit: 10 });
      assert.equal(last.total_lines, flood.lines);
      assert.equal(last.data, `${consoleTruncatedLine}\n`);
      assert.ok(last.total_bytes <= 32 * 1024 * 1024 + 200, `${last.total_bytes} bytes`);
    });
  }
});
