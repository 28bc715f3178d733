// The effects journal: a stateful run's fetch/fs answers recorded with its heap and answered from
// there on replay, so a resume repeats no side effect (counted at a real server and on disk) and
// sees the world the run saw; a replay that calls otherwise diverges; the journal's bound.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EffectsJournal, ReplayedEffects, effectDigest, liveEffects } from '../../src/exec/effects.ts';
import type { ReplayStep } from '../../src/exec/types.ts';
import { buildPolicyCapabilities } from '../../src/policy/capabilities.ts';
import { decodeHeapRecord, encodeHeapRecord, heapRecordOf } from '../../src/storage/heap-record.ts';
import { engineWith, loopbackServer, regoFile, tempFolder } from './effects-harness.ts';
import { textFormatCurrent } from '../../src/model.ts';

const dir = tempFolder('effects');
let served = 0;
const server = await loopbackServer((_req, res) => {
  served++;
  res.writeHead(200, { 'content-type': 'text/plain' }).end(`answer ${served}`);
});
const allowAll = (pkg: string) => regoFile(dir, `${pkg}.rego`, `package mcp.${pkg}\nallow := true\n`);
const capabilities = buildPolicyCapabilities({ policiesJson: JSON.stringify({ fetch: { policies: [{ url: allowAll('fetch') }] }, filesystem: { policies: [{ url: allowAll('filesystem') }] } }) });
const { run } = await engineWith(capabilities);
const limits = { heapMemoryMaxMb: 16, executionTimeoutMs: 10_000 };

function stepOf(ran: Awaited<ReturnType<typeof run>>, n: number): ReplayStep {
  assert.ok(ran.record && ran.source, `run ${n} keeps a record: ${ran.error}`);
  return { heap: String(n).padStart(64, '0'), code: ran.source, limits, observed: ran.record, outcome: { status: ran.status as 'completed', result: ran.result, error: ran.error }, textFormat: textFormatCurrent };
}

describe('stateful replay answers fetch and fs from the record', () => {
  test('a resumed heap neither re-fetches nor re-writes, and sees what the run saw', async () => {
    const file = join(dir, 'written.txt');
    const first = await run(`globalThis.got = await (await fetch('${server.origin}/x')).text();
      await fs.writeFile(${JSON.stringify(file)}, 'written once');
      globalThis.read = await fs.readFile(${JSON.stringify(file)});
      got`, { stateful: { replay: [] } });
    assert.equal(first.result, 'answer 1');
    assert.deepEqual(first.record?.effects?.map((e) => e.kind), ['fetch', 'fs', 'fs']);
    assert.equal(served, 1);
    rmSync(file);
    // The heap is rebuilt by replay (no live context): the record answers, nothing is repeated.
    const resumed = await run('JSON.stringify([got, read])', { stateful: { replay: [stepOf(first, 1)] } });
    assert.equal(resumed.status, 'completed', resumed.error ?? '');
    assert.equal(resumed.result, '["answer 1","written once"]');
    assert.equal(served, 1, 'the server was not asked again');
    assert.equal(existsSync(file), false, 'the write was not repeated');
    // A live run after the replay does reach the world.
    const again = await run(`await (await fetch('${server.origin}/y')).text()`, { stateful: { replay: [stepOf(first, 1)] } });
    assert.equal(again.result, 'answer 2');
  });

  test('a replay whose calls differ from the record diverges: the heap cannot be rebuilt', async () => {
    const first = await run(`globalThis.got = await (await fetch('${server.origin}/z')).text(); got`, { stateful: { replay: [] } });
    const step = stepOf(first, 2);
    const tampered: ReplayStep = { ...step, observed: { ...step.observed, effects: step.observed.effects!.map((e) => ({ ...e, digest: '0'.repeat(64) })) } };
    const before = served;
    const resumed = await run('got', { stateful: { replay: [tampered] } });
    assert.equal(resumed.status, 'failed');
    assert.match(resumed.error!, /Could not resume heap 0+2: replaying run 1 of 1 .*diverged from its record: its fetch\/fs call #1 differs from the recorded one \(fetch\)/);
    assert.equal(served, before, 'a divergent replay performs nothing either');
    const missing: ReplayStep = { ...step, observed: { ...step.observed, effects: [] } };
    assert.match((await run('got', { stateful: { replay: [missing] } })).error!, /the run made a fetch\/fs call \(#1\) the recorded run did not make/);
  });

  test('a fetch the code did not await: the run waits for it, and the replay delivers it at its recorded turn', async () => {
    const first = await run(`fetch('${server.origin}/late').then((r) => r.text()).then((t) => { globalThis.late = t; }); globalThis.late = 'not yet'; 1`, { stateful: { replay: [] } });
    assert.equal(first.status, 'completed', first.error ?? '');
    const before = served;
    const resumed = await run('late', { stateful: { replay: [stepOf(first, 3)] } });
    assert.match(resumed.result ?? String(resumed.error), /^answer \d+$/);
    assert.equal(served, before);
  });

  test('a stateless run records nothing', async () => {
    const ran = await run(`await (await fetch('${server.origin}/s')).text()`);
    assert.equal(ran.status, 'completed');
    assert.equal(ran.record?.effects, undefined);
  });
});

describe('the journal', () => {
  test('its byte bound: the answer past it is an error naming the bound, recorded as such', async () => {
    const journal = new EffectsJournal(100);
    const ok = journal.open('fs', effectDigest('fs', { op: 'exists' }));
    assert.ok(typeof ok === 'function');
    assert.deepEqual(ok({ ok: true, value: true }), { ok: true, value: true });
    const big = journal.open('fs', effectDigest('fs', { op: 'readFile' }));
    assert.ok(typeof big === 'function');
    const answer = big({ ok: true, value: new Uint8Array(200) });
    assert.equal(answer.ok, false);
    assert.match((answer as { error: string }).error, /would pass the 100-byte bound on what one stateful run records/);
    assert.deepEqual(journal.entries[1]!.response, answer, 'the replay gets the same error');
    const replayed = new ReplayedEffects(journal.entries);
    assert.deepEqual(await replayed.handler('fs', { op: 'exists' }), { ok: true, value: true });
    assert.deepEqual(await replayed.handler('fs', { op: 'readFile' }), answer);
    assert.equal(replayed.issue, null);
  });

  test('bytes survive the heap record (base64 in canonical JSON); a record without calls is unchanged', async () => {
    const journal = new EffectsJournal();
    const handler = liveEffects(capabilities, journal, (e) => { throw e; });
    const file = join(dir, 'bytes.bin');
    await handler('fs', { op: 'writeFile', path: file, data: new Uint8Array([0, 200, 255]) });
    const read = await handler('fs', { op: 'readFile', path: file, encoding: 'buffer' });
    assert.deepEqual(read, { ok: true, value: new Uint8Array([0, 200, 255]) });
    const observed = { seed: 1, clockReadingsMs: [], events: [], complete: true };
    const record = heapRecordOf({ parent: null, code: 'x', limits, observed: { ...observed, effects: journal.entries }, outcome: { status: 'completed', result: null, error: null } });
    const decoded = decodeHeapRecord('f'.repeat(64), encodeHeapRecord(record));
    const replayed = new ReplayedEffects(decoded.observed.effects!);
    await replayed.handler('fs', { op: 'writeFile', path: file, data: new Uint8Array([0, 200, 255]) });
    assert.deepEqual(await replayed.handler('fs', { op: 'readFile', path: file, encoding: 'buffer' }), { ok: true, value: new Uint8Array([0, 200, 255]) });
    assert.deepEqual([...readFileSync(file)], [0, 200, 255]);
    const plain = encodeHeapRecord(heapRecordOf({ parent: null, code: 'x', limits, observed, outcome: { status: 'completed', result: null, error: null } }));
    assert.ok(!Buffer.from(plain).toString().includes('effects'), 'heap ids of runs without calls stay as they were');
  });

  test('a malformed request from the sandbox is refused, never passed on', async () => {
    const handler = liveEffects(capabilities, null, (e) => { throw e; });
    assert.deepEqual(await handler('exec', {}), { ok: false, error: 'unknown host call' });
    assert.deepEqual(await handler('fetch', 'http://x'), { ok: false, error: 'fetch: malformed request' });
    assert.deepEqual(await handler('fetch', { url: 'http://x', headers: [['a', 1]] }), { ok: false, error: 'fetch: malformed request headers' });
    assert.deepEqual(await handler('fetch', { url: 'http://x', headers: [], body: { a: 1 } }), { ok: false, error: 'fetch: the body must be a string or a Uint8Array' });
    assert.deepEqual(await handler('fs', { op: 'chmod', path: '/' }), { ok: false, error: 'fs: unknown operation' });
    assert.equal(((await handler('fs', { op: 'readFile', path: { toString: 1 } })) as { code: string }).code, 'invalid_request');
  });
});
