// Execution ids are UUIDs that sort by creation time and carry the node that made them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { executionNodeHash, isExecutionId, newExecutionId, nodeHash } from '../../src/exec/ids.ts';

describe('execution ids', () => {
  test('are RFC 9562 version 8 UUIDs with the variant bits set', () => {
    for (let i = 0; i < 1000; i++) {
      const id = newExecutionId('node1');
      assert.ok(isExecutionId(id), id);
      assert.equal(id[14], '8');
      assert.match(id[19]!, /[89ab]/);
    }
  });

  test('carry the hash of the node id, so a cluster can route by id alone', () => {
    const id = newExecutionId('node-b');
    assert.equal(executionNodeHash(id), nodeHash('node-b'));
    assert.notEqual(executionNodeHash(id), nodeHash('node-a'));
    assert.equal(executionNodeHash('0f8fad5b-d9cb-469f-a165-70867728950e'), null, 'a v4 UUID carries no node');
  });

  test('sort by creation time across milliseconds and are unique within one', () => {
    const earlier = newExecutionId('n', 1_700_000_000_000);
    const later = newExecutionId('n', 1_700_000_000_001);
    assert.ok(earlier < later);
    const many = new Set(Array.from({ length: 10_000 }, () => newExecutionId('n', 1_700_000_000_000)));
    assert.equal(many.size, 10_000);
  });

  test('made from the clock, they sort in the order they were made, also within one millisecond', () => {
    // 20,000 ids in a tight loop: many share a millisecond, and more than 4,096 may (the counter's
    // range), so both the counter and its carry into the time are passed through.
    const made = Array.from({ length: 20_000 }, () => newExecutionId('n'));
    const sorted = [...made].sort();
    assert.deepEqual(sorted, made);
    assert.equal(new Set(made).size, made.length);
    for (const id of made.slice(0, 100)) assert.ok(isExecutionId(id) && id[14] === '8' && /[89ab]/.test(id[19]!), id);
    const stamp = Number.parseInt(made.at(-1)!.replaceAll('-', '').slice(0, 12), 16);
    assert.ok(stamp <= Date.now() + 10, 'ids run at most a few milliseconds ahead of the clock');
  });

  test('malformed ids are recognised', () => {
    for (const bad of ['', 'abc', '0F8FAD5B-D9CB-469F-A165-70867728950E', '0f8fad5b-d9cb-469f-a165-70867728950e0']) assert.equal(isExecutionId(bad), false, bad);
  });
});
