// Heap records: canonical bytes (same run, same id), a strict decoder that names what is wrong.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { McpV8Error } from '../../src/errors.ts';
import { decodeHeapRecord, encodeHeapRecord, heapRecordOf } from '../../src/storage/heap-record.ts';
import { heapIdOf } from '../../src/storage/heap-store.ts';

const record = heapRecordOf({
  parent: null,
  code: 'var x = Math.random(); x',
  limits: { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 },
  observed: { seed: 42, clockReadingsMs: [1_700_000_000_000], events: [{ kind: 'timer', timerId: 1, atMs: 1_700_000_000_010 }], complete: true },
  outcome: { status: 'completed', result: '0.5', error: null },
});

function corrupt(pattern: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof McpV8Error && error.code === 'HEAP_CORRUPT' && pattern.test(error.message);
}

describe('heap records', () => {
  test('round trip, and the same record always encodes to the same bytes and id', () => {
    const bytes = encodeHeapRecord(record);
    const reordered = Object.fromEntries(Object.entries(record).reverse()) as typeof record;
    assert.equal(heapIdOf(encodeHeapRecord(reordered)), heapIdOf(bytes));
    assert.deepEqual(decodeHeapRecord(heapIdOf(bytes), bytes), record);
  });

  test('damaged or foreign bytes are HEAP_CORRUPT with the reason', () => {
    const id = 'a'.repeat(64);
    assert.throws(() => decodeHeapRecord(id, Buffer.from('{"format": "mcp-v8/heap@1"')), corrupt(/not JSON/));
    assert.throws(() => decodeHeapRecord(id, Buffer.from(JSON.stringify({ ...record, format: 'v8-snapshot' }))), corrupt(/format/));
    assert.throws(() => decodeHeapRecord(id, Buffer.from(JSON.stringify({ ...record, parent: 'xyz' }))), corrupt(/parent/));
    assert.throws(() => decodeHeapRecord(id, Buffer.from(JSON.stringify({ ...record, extra: 1 }))), corrupt(/record/));
  });

  test('a run\'s imports are recorded; a run without imports has no modules key (its id is as before)', () => {
    const { format: _format, ...options } = record;
    assert.equal(Object.hasOwn(heapRecordOf({ ...options, modules: { imports: [], entries: [] } }), 'modules'), false);
    const modules = {
      imports: [{ specifier: 'npm:a@1', dynamic: false }],
      entries: [{ specifier: 'npm:a@1', base: '', url: 'https://esm.sh/a@1', sha256: 'b'.repeat(64) }, { specifier: './c.js', base: 'https://esm.sh/a@1', error: 'Error: Fetching module https://esm.sh/c.js failed: HTTP 404' }],
    };
    const importing = heapRecordOf({ ...options, modules });
    const bytes = encodeHeapRecord(importing);
    assert.deepEqual(decodeHeapRecord(heapIdOf(bytes), bytes).modules, modules);
    const bad = { ...importing, modules: { ...modules, entries: [{ specifier: 'x', base: '', sha256: 'not-a-hash' }] } };
    assert.throws(() => decodeHeapRecord('a'.repeat(64), Buffer.from(JSON.stringify(bad))), corrupt(/modules\.entries\.0\.sha256/));
  });

  test('a run whose observation log was cut short cannot become a heap', () => {
    assert.throws(() => heapRecordOf({ ...record, observed: { ...record.observed, complete: false } }), /cannot be saved as a heap/);
  });
});
