// Memory V8 keeps outside its heap: WebAssembly memories, resizable ArrayBuffers and growable
// SharedArrayBuffers. Neither isolated-vm's memory limit nor the heap statistics count them, so
// without the prelude's accounting one run with an 8 MiB limit filled gigabytes of the host's
// memory (measured: 2 GiB per buffer, 6 GiB across three runs). Now each may be at most as large
// as the run's memory limit, and together they may reserve 16 times it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { run } = await engineForFile();

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const name = (text: string) => [...leb(text.length), ...Buffer.from(text)];
const body = (code: number[]) => [...leb(code.length), ...code];
/** A module whose only content is one memory (`limits`), exported as "mem". */
const bare = (limits: number[]) => `new Uint8Array([${[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...section(5, [0x01, ...limits]), ...section(7, [0x01, ...name('mem'), 0x02, 0x00])].join(',')}])`;

/**
 * A module that defines its own memory (`limits`: the memory section's entry, flags first) and
 * exports it as "mem", with grow(pages) -> old size or -1 and fill(bytes) writing every byte.
 */
function memoryModule(limits: number[]): string {
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f]), // (i32) -> i32
    ...section(3, [0x02, 0x00, 0x00]),
    ...section(5, [0x01, ...limits]),
    ...section(7, [0x03, ...name('mem'), 0x02, 0x00, ...name('grow'), 0x00, 0x00, ...name('fill'), 0x00, 0x01]),
    ...section(10, [0x02,
      ...body([0x00, 0x20, 0x00, 0x40, 0x00, 0x0b]), // local.get 0; memory.grow 0
      ...body([0x00, 0x41, 0x00, 0x41, 0x01, 0x20, 0x00, 0xfc, 0x0b, 0x00, 0x20, 0x00, 0x0b]), // memory.fill(0, 1, n); n
    ]),
  ];
  return `new Uint8Array([${bytes.join(',')}])`;
}
const growable = memoryModule([0x00, 0x01]); // 1 page, no maximum
const pageBytes = 64 * 1024;

describe('memory outside the V8 heap counts against the memory limit', () => {
  test('each memory stops at the limit; together they may reserve 16 times it', async () => {
    const ran = await run(`
      const { instance } = await WebAssembly.instantiate(${growable});
      const grown = instance.exports.grow(127);        // 8 MiB: the limit
      const past = instance.exports.grow(1);           // -1: the maximum it was given
      instance.exports.fill(8 * 1024 * 1024);          // every byte can be written
      for (let index = 0; index < 14; index++) new WebAssembly.Instance(new WebAssembly.Module(${growable}));
      const buffer = new ArrayBuffer(0, { maxByteLength: 8 * 1024 * 1024 }); // 16 × 8 MiB reserved now
      let more;
      try { new ArrayBuffer(0, { maxByteLength: 1 }); more = 'made'; } catch (error) { more = error.message; }
      [grown, past, instance.exports.mem.buffer.byteLength, more].join(' | ')`, { memoryMb: 8 });
    assert.equal(ran.status, 'completed', ran.error ?? '');
    const [grown, past, length, more] = ran.result!.split(' | ');
    assert.equal(grown, '1');
    assert.equal(past, '-1');
    assert.equal(length, String(8 * 1024 * 1024));
    assert.equal(more, "new ArrayBuffer with a maxByteLength of 1 needs 1 byte, more than the 0 bytes left of what an execution may reserve for WebAssembly memories and resizable buffers (16 times its memory limit of 8 MiB); heap_memory_max_mb raises it (up to 64)");
  });

  test('a memory whose initial size is past the limit is refused, with what to change', async () => {
    const ran = await run(`new WebAssembly.Instance(new WebAssembly.Module(${memoryModule([0x00, ...leb(256)])}))`, { memoryMb: 8 });
    assert.equal(ran.status, 'failed');
    assert.match(ran.error!, /^RangeError: instantiating a WebAssembly module needs 16 MiB, more than this execution's memory limit of 8 MiB; heap_memory_max_mb raises it \(up to 64\)/);
  });

  test('a declared maximum above the limit is lowered to it, one below it is kept', async () => {
    const declared = memoryModule([0x01, 0x01, ...leb(65536)]); // maximum 4 GiB
    const small = memoryModule([0x01, 0x01, 0x02]); // maximum 2 pages
    const ran = await run(`
      const a = new WebAssembly.Instance(new WebAssembly.Module(${small})).exports;
      const b = new WebAssembly.Instance(new WebAssembly.Module(${declared})).exports;
      [a.grow(1), a.grow(1), b.grow(100), b.grow(1000), b.grow(155), b.grow(1)].join(' ')`, { memoryMb: 16 });
    assert.equal(ran.status, 'completed', ran.error ?? '');
    // a: 2 pages at most; b: 16 MiB (256 pages).
    assert.equal(ran.result, '1 -1 1 -1 101 -1');
  });

  test('memory64 and shared memories, from modules and from the JS API, stop at the limit', async () => {
    const pages = (8 * 1024 * 1024) / pageBytes;
    const cases = [
      [`new WebAssembly.Instance(new WebAssembly.Module(${bare([0x04, 0x01])})).exports.mem`, 'BigInt'], // memory64, no maximum
      [`new WebAssembly.Instance(new WebAssembly.Module(${bare([0x03, 0x01, ...leb(65536)])})).exports.mem`, 'Number'], // shared, 4 GiB maximum
      ["new WebAssembly.Memory({ initial: 1n, address: 'i64' })", 'BigInt'],
      ['new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true })', 'Number'],
    ];
    for (const [make, n] of cases) {
      const ran = await run(`
        const m = ${make};
        let past;
        try { m.grow(${n}(${pages})); } catch (error) { past = error.name; }
        [m.grow(${n}(${pages - 1})), m.buffer.byteLength, past].join(' ')`);
      assert.equal(ran.result, `1 ${8 * 1024 * 1024} RangeError`, `${make}: ${ran.error}`);
    }
    // A shared memory must declare a maximum: V8's own error, not a maximum made up for it.
    const invalid = await run('new WebAssembly.Memory({ initial: 1, shared: true })');
    assert.match(invalid.error!, /^TypeError: WebAssembly.Memory\(\): If shared is true, maximum property should be defined/);
  });

  test('resizable and growable buffers: a maxByteLength past the limit is refused, one within it works', async () => {
    const ran = await run(`
      const refused = [];
      for (const make of [() => new ArrayBuffer(1, { maxByteLength: 2 ** 31 }), () => new SharedArrayBuffer(1, { maxByteLength: 2 ** 31 })]) {
        try { make(); refused.push('made'); } catch (error) { refused.push(error.name); }
      }
      const buffer = new ArrayBuffer(0, { maxByteLength: 4 * 1024 * 1024 });
      buffer.resize(4 * 1024 * 1024);
      new Uint8Array(buffer).fill(7);
      let beyond;
      try { buffer.resize(4 * 1024 * 1024 + 1); } catch (error) { beyond = error.name; }
      [...refused, buffer.byteLength, buffer.maxByteLength, beyond].join(' ')`, { memoryMb: 8 });
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, `RangeError RangeError ${4 * 1024 * 1024} ${4 * 1024 * 1024} RangeError`);
  });

  test('at most 16 WebAssembly memories, even of no pages (each takes 8 GiB of address space)', async () => {
    const ran = await run(`
      const memories = [];
      let error;
      try { for (;;) memories.push(new WebAssembly.Memory({ initial: 0, maximum: 0 })); } catch (caught) { error = caught.message; }
      memories.length + ' ' + error`);
    assert.equal(ran.result, '16 new WebAssembly.Memory of 0 pages: an execution can have at most 16 WebAssembly memories');
  });

  test('replacing built-ins, lying getters and the prototype constructors do not get past the count', async () => {
    const ran = await run(`
      WeakMap.prototype.get = () => undefined;
      Math.min = () => 1e9; Math.max = () => 0; Math.floor = () => 1e9; Reflect.construct = () => ({});
      let reads = 0;
      const options = { get maxByteLength() { return reads++ === 0 ? 16 : 2 ** 31; } };
      const tricked = new ArrayBuffer(1, options);
      const results = [tricked.maxByteLength];
      for (const make of [
        () => new ArrayBuffer.prototype.constructor(1, { maxByteLength: 2 ** 31 }),
        () => new (new Uint8Array(1).buffer.constructor)(1, { maxByteLength: 2 ** 31 }),
        () => new WebAssembly.Memory.prototype.constructor({ initial: 1024 }),
        () => new (class extends ArrayBuffer {})(1, { maxByteLength: 2 ** 31 }),
        () => new WebAssembly.Instance(new WebAssembly.Module.prototype.constructor(${memoryModule([0x00, ...leb(1024)])})),
      ]) {
        try { make(); results.push('made'); } catch (error) { results.push(error.name); }
      }
      [ArrayBuffer.prototype.constructor === ArrayBuffer, WebAssembly.Module.prototype.constructor === WebAssembly.Module, ...results].join(' ')`, { memoryMb: 8 });
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, 'true true 16 RangeError RangeError RangeError RangeError RangeError');
  });

  test('runs that fill memory outside the heap leave the host as they found it (their isolates are disposed)', async () => {
    const before = process.memoryUsage().rss;
    for (let index = 0; index < 24; index++) {
      const ran = await run(`const m = new WebAssembly.Memory({ initial: ${(60 * 1024 * 1024) / pageBytes} }); new Uint8Array(m.buffer).fill(1); m.buffer.byteLength`, { memoryMb: 64 });
      assert.equal(ran.result, String(60 * 1024 * 1024), ran.error ?? '');
    }
    // 24 runs × 60 MiB = 1.4 GiB if nothing were freed between them.
    const grownMiB = (process.memoryUsage().rss - before) / (1024 * 1024);
    assert.ok(grownMiB < 600, `RSS grew by ${Math.round(grownMiB)} MiB`);
  });
});

describe('Intl objects count their ICU memory against the memory limit', () => {
  test('Intl objects kept in a loop stop at the limit with a RangeError that names heap_memory_max_mb', async () => {
    const ran = await run('const kept = []; for (;;) kept.push(new Intl.DateTimeFormat("en-US", { timeZone: "Europe/Paris", hour: "numeric" }));', { memoryMb: 8 });
    assert.equal(ran.status, 'failed');
    assert.match(ran.error!, /^RangeError: Intl.DateTimeFormat: this execution's memory limit is reached \(an Intl object counts 32 KiB for the memory V8 keeps outside its heap\); heap_memory_max_mb raises it \(up to 64\)/);
    const segments = await run('const kept = []; const segmenter = new Intl.Segmenter("en"); for (;;) kept.push(segmenter.segment("words to split " + kept.length));', { memoryMb: 8 });
    // Each kept result holds its string on the heap too: whichever limit comes first ends it.
    assert.match(segments.error!, /^(RangeError: Intl.Segmenter.prototype.segment: this execution's memory limit is reached|Out of memory: V8 heap limit exceeded)/);
  });

  test('Intl objects that are dropped are collected: 20,000 formatters made one at a time fit in 8 MiB', async () => {
    const ran = await run('let text = ""; for (let i = 0; i < 20000; i++) text = new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }).format(i); text', { memoryMb: 8, timeoutMs: 30_000 });
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, '19.999,00\u00a0€');
  });

  test('Intl behaves as before: formatting, calls without new, instanceof, constructors, segments, locales', async () => {
    const ran = await run(`[
      new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'medium' }).format(0),
      Intl.NumberFormat('en-US').format(1234.5),
      new Intl.Collator('de').compare('ä', 'z'),
      Intl.DateTimeFormat() instanceof Intl.DateTimeFormat,
      Intl.DateTimeFormat.prototype.constructor === Intl.DateTimeFormat,
      Intl.DateTimeFormat.name + '/' + Intl.DateTimeFormat.length,
      [...new Intl.Segmenter('en', { granularity: 'word' }).segment('two words')].filter((s) => s.isWordLike).map((s) => s.segment).join('+'),
      new Intl.Locale('en').maximize().toString(),
      new Intl.PluralRules('en').select(1),
    ].join(' | ')`);
    assert.equal(ran.result, 'Jan 1, 1970 | 1,234.5 | -1 | true | true | DateTimeFormat/0 | two+words | en-Latn-US | one');
  });

  test('the ballast of each Intl constructor (one handler for all, by target) is charged after the vandal', async () => {
    const vandal = `Array.prototype[Symbol.iterator] = function () { throw new Error('vandal: iterator'); };
      WeakMap.prototype.get = function () { throw new Error('vandal: WeakMap get'); };`;
    // Counted, and let go before the run ends: kept to its end, 8 MiB of ballast leaves no room
    // for V8's next collection, and the run may end out of memory instead (a race the count shows).
    const made = (make: string) => `${vandal}\nconst kept = []; let made = 0; try { for (;;) { kept.push(${make}); made++; } } catch (error) { kept.length = 0; made + ' ' + error.message }`;
    const constructed = await run(made("new Intl.RelativeTimeFormat('en')"), { memoryMb: 8 });
    assert.match(constructed.result!, /^(\d+) Intl.RelativeTimeFormat: this execution's memory limit is reached \(an Intl object counts 12 KiB/);
    // Unbounded (no ballast), the loop would make tens of thousands: stopped near the limit, it made at most 10 MiB's worth.
    assert.ok(Number(/^\d+/.exec(constructed.result!)![0]) <= (10 * 1024) / 12, constructed.result!);
    const called = await run(made("Intl.NumberFormat('en')"), { memoryMb: 8 });
    assert.match(called.result!, /^(\d+) Intl.NumberFormat: this execution's memory limit is reached \(an Intl object counts 4 KiB/);
    assert.ok(Number(/^\d+/.exec(called.result!)![0]) <= (10 * 1024) / 4, called.result!);
  });
});

describe('compiled WebAssembly and suspended calls count the memory V8 keeps for them', () => {
  // (import "env" "f" (func (result i32))) (func (export "g") (result i32) call 0)
  const suspending = '[0,97,115,109,1,0,0,0, 1,5,1,96,0,1,127, 2,9,1,3,101,110,118,1,102,0,0, 3,2,1,0, 7,5,1,1,103,0,1, 10,6,1,4,0,16,0,11]';

  test('distinct modules kept in a loop stop at the limit (each is ≈ 15 KiB of machine code behind ≈ 200 bytes of heap)', async () => {
    const ran = await run('const kept = []; for (let i = 0; ; i++) kept.push(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,1,5,1,96,0,1,127,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,65,i & 63,65,(i >> 6) & 63,106,11])));', { memoryMb: 8 });
    // At 8 MiB the modules' count and the V8 heap (the array that keeps them, and the sandbox's
    // own code, a little larger since issues 18 and 24) come to their limits close together:
    // either ends the loop, and neither lets the machine code grow past the limit.
    assert.match(ran.error!, /^RangeError: compiling a WebAssembly module: this execution's memory limit is reached \(a compiled WebAssembly module counts 16 KiB for the memory V8 keeps outside its heap\); heap_memory_max_mb raises it \(up to 64\)|^Out of memory: V8 heap limit exceeded/);
  });

  test('suspended WebAssembly.promising calls kept in a loop stop at the limit; one that resumes gives its value', async () => {
    const kept = await run(`const mod = new WebAssembly.Module(new Uint8Array(${suspending})); const instance = new WebAssembly.Instance(mod, { env: { f: new WebAssembly.Suspending(() => new Promise(() => {})) } }); const g = WebAssembly.promising(instance.exports.g); const kept = []; for (;;) kept.push(g());`, { memoryMb: 8 });
    // At 8 MiB the count of the suspensions' stacks and the V8 heap come to their limits close
    // together (the sandbox's own code takes a little more heap since issue 18): either ends the
    // loop, and neither lets the stacks V8 keeps outside its heap grow past the limit.
    assert.match(kept.error!, /^RangeError: (suspending a WebAssembly call|calling a WebAssembly.promising function): this execution's memory limit is reached|^Out of memory: V8 heap limit exceeded/);
    const resumed = await run(`const mod = new WebAssembly.Module(new Uint8Array(${suspending})); const instance = new WebAssembly.Instance(mod, { env: { f: new WebAssembly.Suspending(async () => 41) } }); (await WebAssembly.promising(instance.exports.g)()) + 1`);
    assert.equal(resumed.result, '42', resumed.error ?? '');
  });
});
