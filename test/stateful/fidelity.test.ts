// Fidelity of stateful mode (issue 3): what a run built is there when its heap is resumed, exactly
// as it was left: resumed live (the context kept in memory) and after a restart (rebuilt from the
// heap store by replaying the recorded history). Real engine, real heap directory, real LevelDB.
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isMcpV8Error } from '../../src/errors.ts';
import { heapOf, openStack, type Stack } from './stack.ts';

const wasmBytes = '0,97,115,109,1,0,0,0,1,5,1,96,0,1,127,3,2,1,0,5,3,1,0,1,7,13,2,3,109,101,109,2,0,3,105,110,99,0,0,10,22,1,20,0,65,0,65,0,40,2,0,65,1,106,54,2,0,65,0,40,2,0,11';

/** Each case: code that builds some state, a probe, and what the probe must answer. */
const cases: Array<{ name: string; build: string; probe: string; expected: string | ((built: string | null) => string) }> = [
  {
    name: 'var, functions, classes and top-level let/const',
    build: "var v = 1; function twice(x) { return x * 2 } class Animal { constructor(n) { this.n = n } speak() { return this.n + '!' } } let l = 'let'; const c = 'const';",
    probe: "[v, twice(21), new Animal('rex').speak(), l, c].join()",
    expected: '1,42,rex!,let,const',
  },
  {
    name: 'closures with their private state',
    build: 'const counter = (() => { let count = 0; return { inc: () => ++count, get: () => count } })(); counter.inc(); counter.inc();',
    probe: "counter.inc() + ':' + counter.get()",
    expected: '3:3',
  },
  {
    name: 'class instances with private fields and prototypes',
    build: 'class Account { #balance = 0; deposit(n) { this.#balance += n; return this } get balance() { return this.#balance } } const account = new Account().deposit(5).deposit(7);',
    probe: '[account instanceof Account, account.balance, Object.getPrototypeOf(account) === Account.prototype].join()',
    expected: 'true,12,true',
  },
  {
    name: 'Map and Set',
    build: "const m = new Map([[1, 'one'], ['k', { deep: [1, 2] }]]); const s = new Set([1, 'two', m]);",
    probe: "[m.get(1), m.get('k').deep[1], s.has(m), s.size].join()",
    expected: 'one,2,true,3',
  },
  {
    name: 'typed arrays and ArrayBuffers, views sharing one buffer',
    build: 'const buf = new ArrayBuffer(16); const view = new DataView(buf); view.setFloat64(0, Math.PI); const u8 = new Uint8Array(buf, 8); u8.set([1, 2, 3]); const f64 = new Float64Array([1.5, -2]);',
    probe: "[view.getFloat64(0) === Math.PI, Array.from(new Uint8Array(buf).slice(8, 11)).join('-'), f64[1], u8.buffer === buf].join()",
    expected: 'true,1-2-3,-2,true',
  },
  {
    name: 'Dates, including the current time it read',
    build: 'const fixed = new Date(Date.UTC(2020, 1, 29)); const now = new Date(); now.toISOString()',
    probe: "fixed.toISOString() + ' ' + now.toISOString()",
    expected: (built) => `2020-02-29T00:00:00.000Z ${built}`,
  },
  {
    name: 'cycles and shared references',
    build: "const a = { name: 'a' }; const b = { name: 'b', a }; a.b = b; const shared = { v: 1 }; const pair = [shared, shared];",
    probe: '[a.b.a === a, pair[0] === pair[1], (pair[0].v = 2, pair[1].v)].join()',
    expected: 'true,true,2',
  },
  {
    name: 'getters and setters',
    build: 'const temp = { _c: 0, get f() { return this._c * 9 / 5 + 32 }, set f(v) { this._c = (v - 32) * 5 / 9 } }; temp.f = 212;',
    probe: "[temp._c, temp.f, typeof Object.getOwnPropertyDescriptor(temp, 'f').get].join()",
    expected: '100,212,function',
  },
  {
    name: 'Symbols as keys',
    build: "const secret = Symbol('secret'); const holder = { [secret]: 'hidden', [Symbol.for('g')]: 'global' };",
    probe: "[holder[secret], holder[Symbol.for('g')], Object.getOwnPropertySymbols(holder).length].join()",
    expected: 'hidden,global,2',
  },
  {
    name: 'WebAssembly instances with their memory (async and sync APIs)',
    build: `const wasmBytes = new Uint8Array([${wasmBytes}]); const { instance: counterWasm } = await WebAssembly.instantiate(wasmBytes); counterWasm.exports.inc(); counterWasm.exports.inc(); const syncWasm = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes)); syncWasm.exports.inc();`,
    probe: '[counterWasm.exports.inc(), new Uint32Array(counterWasm.exports.mem.buffer)[0], syncWasm.exports.inc()].join()',
    expected: '3,3,2',
  },
  {
    // Counted outside the heap (docs/exec.md, "Limits"): a replay takes the same decisions.
    name: 'Intl objects, a resizable buffer and a JS-made WebAssembly memory, with what they count',
    build: "const money = new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }); const words = new Intl.Segmenter('en', { granularity: 'word' }); const grows = new ArrayBuffer(1, { maxByteLength: 1024 }); grows.resize(16); const memory = new WebAssembly.Memory({ initial: 1 }); new Uint8Array(memory.buffer)[0] = 7;",
    probe: "let refused; try { new WebAssembly.Memory({ initial: 129 }); } catch (error) { refused = error.name; } [money.format(1234.5), [...words.segment('a b')].length, grows.byteLength, grows.maxByteLength, new Uint8Array(memory.buffer)[0], memory.grow(1), refused].join()",
    expected: '1.234,50\u00a0€,3,16,1024,7,1,RangeError',
  },
  {
    name: 'what it observed: Math.random, Date.now, performance.now, crypto, timer order',
    build: "const seen = [Math.random(), Date.now(), performance.now(), crypto.getRandomValues(new Uint32Array(2)).join('-'), crypto.randomUUID()]; const order = []; setTimeout(() => order.push('late'), 20); setTimeout(() => order.push('early'), 5); await new Promise((done) => setTimeout(done, 30)); JSON.stringify([seen, order])",
    probe: 'JSON.stringify([seen, order])',
    expected: (built) => built!,
  },
];

describe('stateful fidelity', () => {
  let stack: Stack & { root: string };
  const built = new Map<string, { heap: string; result: string | null }>();
  before(async () => { stack = await openStack(); });
  after(() => stack.close());

  for (const [index, item] of cases.entries()) {
    test(`resumed live: ${item.name}`, async () => {
      // In a session: a cheap fresh heap outside one is not kept live (service/heaps.ts, `keptLive`).
      const made = await heapOf(stack, item.build, { session: `fidelity-${index}` });
      built.set(item.name, made);
      assert.ok(stack.live.has(made.heap), 'the context is kept live');
      const probed = await heapOf(stack, item.probe, { heap: made.heap });
      assert.equal(probed.result, typeof item.expected === 'function' ? item.expected(made.result) : item.expected);
    });
  }

  test('after a restart every heap is rebuilt from storage, the same', async () => {
    await stack.close();
    stack = await openStack(stack.root);
    for (const item of cases) {
      const made = built.get(item.name)!;
      assert.equal(stack.live.has(made.heap), false);
      const probed = await heapOf(stack, item.probe, { heap: made.heap });
      assert.equal(probed.result, typeof item.expected === 'function' ? item.expected(made.result) : item.expected, item.name);
    }
  });
});

describe('stateful heaps', () => {
  let stack: Stack & { root: string };
  before(async () => { stack = await openStack(); });
  after(() => stack.close());

  test('a heap resumes many times; forks are independent; no heap starts fresh', async () => {
    const base = await heapOf(stack, 'var x = 1; x');
    const forkA = await heapOf(stack, 'x += 10; x', { heap: base.heap });
    const forkB = await heapOf(stack, 'x += 100; x', { heap: base.heap });
    assert.deepEqual([forkA.result, forkB.result], ['11', '101']);
    assert.equal((await heapOf(stack, 'x', { heap: base.heap })).result, '1');
    assert.equal((await heapOf(stack, 'x', { heap: forkA.heap })).result, '11');
    assert.equal((await heapOf(stack, 'typeof x')).result, 'undefined');
  });

  test('a run that throws leaves a heap with its partial state; timeouts and cancels leave none', async () => {
    const thrown = await stack.run("var partial = 1; throw new Error('stop'); var never = 2");
    assert.equal(thrown.status, 'failed');
    assert.match(thrown.heap ?? '', /^[0-9a-f]{64}$/);
    assert.equal((await heapOf(stack, '[partial, typeof never].join()', { heap: thrown.heap! })).result, '1,undefined');

    const base = await heapOf(stack, 'var kept = "yes"');
    const timedOut = await stack.run('kept = "changed"; while (true) {}', { heap: base.heap, executionTimeoutSecs: 1 });
    assert.equal(timedOut.status, 'timed_out');
    assert.equal(timedOut.heap, null);
    const id = await stack.service.submit({ code: 'kept = "changed"; await new Promise(() => setTimeout(() => {}, 60_000))', heapMemoryMaxMb: 8, executionTimeoutSecs: 60, stateful: { heap: base.heap } });
    assert.deepEqual(await stack.service.cancel(id), { ok: true });
    assert.equal((await stack.service.get(id)).heap, null);
    assert.equal((await heapOf(stack, 'kept', { heap: base.heap })).result, 'yes', 'the parent stays resumable, unchanged');
  });

  test('an unknown or malformed heap id is refused at once; a corrupt heap fails its run with a clear error', async () => {
    await assert.rejects(stack.service.submit({ code: '1', heapMemoryMaxMb: 8, executionTimeoutSecs: 5, stateful: { heap: 'a'.repeat(64) } }),
      (error) => isMcpV8Error(error) && error.code === 'HEAP_NOT_FOUND' && /No heap a{64}/.test(error.message));
    await assert.rejects(stack.service.submit({ code: '1', heapMemoryMaxMb: 8, executionTimeoutSecs: 5, stateful: { heap: 'not-a-hash' } }),
      (error) => isMcpV8Error(error) && error.code === 'INVALID_ARGUMENT' && /64-character lowercase hex/.test(error.message));

    const made = await heapOf(stack, 'var precious = 42');
    const base = await heapOf(stack, 'var lost = 1');
    const child = await heapOf(stack, 'lost + 1', { heap: base.heap });
    await stack.close();
    // Opened once more first: that replays and deletes the heap journal (heap-journal.ts), which
    // would otherwise write the damaged files below again from its synced copy.
    stack = await openStack(stack.root);
    await stack.close();
    const fileOf = (heap: string) => join(stack.root, 'heaps', heap.slice(0, 2), heap);
    assert.ok(readdirSync(join(stack.root, 'heaps', made.heap.slice(0, 2))).includes(made.heap));
    writeFileSync(fileOf(made.heap), '{"format":"mcp-v8/heap@1","tampered":true}');
    rmSync(fileOf(base.heap));
    stack = await openStack(stack.root);
    const resumed = await stack.run('precious', { heap: made.heap });
    assert.equal(resumed.status, 'failed');
    assert.match(resumed.error!, new RegExp(`heap ${made.heap} is corrupt`));
    assert.equal(resumed.heap, null);
    const orphan = await stack.run('lost', { heap: child.heap });
    assert.equal(orphan.status, 'failed');
    assert.match(orphan.error!, new RegExp(`^Could not resume heap ${child.heap}: No heap ${base.heap}`));
  });

  test('a heap needs the memory of its history: resuming with less fails clearly, with more works', async () => {
    const big = await heapOf(stack, 'var blocks = []; for (let i = 0; i < 30; i++) blocks.push(new Array(100_000).fill(i)); blocks.length', { heapMemoryMaxMb: 64 });
    stack.live.clear();
    const small = await stack.run('blocks.length', { heap: big.heap, heapMemoryMaxMb: 8 });
    assert.equal(small.status, 'failed');
    assert.match(small.error!, /ran out of memory: V8 heap limit exceeded \(heap_memory_max_mb: 8 MiB\)\. Resume it with a larger heap_memory_max_mb \(at most 64\)\./);
    assert.equal((await heapOf(stack, 'blocks.length', { heap: big.heap, heapMemoryMaxMb: 64 })).result, '30');
  });

  test('a session run cancelled while it waits for its turn ends at once; the next still waits for the running one', async () => {
    const submit = (code: string) => stack.service.submit({ code, heapMemoryMaxMb: 8, executionTimeoutSecs: 60, stateful: { session: 'queue' } });
    const running = await submit('var step = "first"; await new Promise((done) => { globalThis.finish = done; setTimeout(done, 60_000); })');
    const waiting = await submit('step = "never"');
    const after = await submit('typeof step');
    assert.deepEqual(await stack.service.cancel(waiting), { ok: true });
    assert.equal((await stack.service.get(waiting)).status, 'cancelled');
    assert.equal((await stack.service.get(after)).status, 'running', 'the next run waits for the first, not for the cancelled one');
    assert.deepEqual(await stack.service.cancel(running), { ok: true });
    const last = await stack.service.wait(after, 30_000);
    assert.equal(last.status, 'completed', last.error ?? '');
    assert.equal(last.result, 'undefined', 'the first run was cancelled, so the session has no heap yet');
  });

  test('unref\'d timers pending at the end are dropped, and the output says so', async () => {
    const ran = await stack.run("var fired = false; setTimeout(() => { fired = true }, 60_000).unref(); 'done'");
    assert.equal(ran.status, 'completed');
    assert.deepEqual(ran.lines, ["[WARN] mcp-v8: 1 unref'd timer was still pending when the run ended; a heap does not carry pending timers over"]);
    assert.equal((await heapOf(stack, 'fired', { heap: ran.heap! })).result, 'false');
  });

  test('console output is printed once: a replay is silent', async () => {
    const first = await stack.run("console.log('hello once'); var y = 1");
    assert.deepEqual(first.lines, ['hello once']);
    stack.live.clear();
    const resumed = await stack.run("console.log('second'); y", { heap: first.heap! });
    assert.deepEqual(resumed.lines, ['second']);
  });
});
