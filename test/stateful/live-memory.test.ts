// The live heaps bounded by memory, through a real server process: with --live-heaps-memory-mb
// small, sessions past the bound leave the cache least recently used first (the server's /metrics
// say how many are live, the bytes they hold and how many were evicted), the most recent still
// resumes live, an evicted one resumes from storage (counted) to the same state, and after many
// fresh heaps the process's resident memory stays within the bound docs/stateful.md states.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exec } from '../support/hostile.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

const boundMb = 24;
/** docs/stateful.md, "Live heaps and memory": RSS stays within the live bound plus ≈ 0.5 GiB. */
const restOfProcessMb = 512;
const root = tempDir('live-memory');
const server: ServerProcess = await startServerProcess(['--http-port', '0', '--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'),
  '--execution-db-path', join(root, 'executions'), '--live-heaps-memory-mb', String(boundMb)]);
after(() => server.stop('SIGKILL'));

/** One POST /api/exec answered with its result (test/support/hostile.ts); asserts it completed. */
async function completed(body: Record<string, unknown>): Promise<{ heap: string; result: string }> {
  const answer = await exec(server, body);
  assert.equal(answer.status, 'completed', `${String(body.code)}: ${JSON.stringify(answer)}`);
  return { heap: answer.heap as string, result: answer.result as string };
}

/** What /metrics says of the live heaps, the resumes from storage and the process's memory. */
async function stats(): Promise<{ live: number; bytes: number; bytesMax: number; evictions: number; fromStorage: number; rss: number }> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const value = (pattern: RegExp): number => {
    const match = pattern.exec(text);
    assert.ok(match !== null, `/metrics has ${pattern}`);
    return Number(match[1]);
  };
  return {
    live: value(/^mcp_v8_live_heaps (\d+)$/m),
    bytes: value(/^mcp_v8_live_heap_bytes (\d+)$/m),
    bytesMax: value(/^mcp_v8_live_heap_bytes_max (\d+)$/m),
    evictions: value(/^mcp_v8_live_heap_evictions_total (\d+)$/m),
    fromStorage: value(/^mcp_v8_heap_resumes_from_storage_total\{from="checkpoint"\} (\d+)$/m) + value(/^mcp_v8_heap_resumes_from_storage_total\{from="history"\} (\d+)$/m),
    rss: value(/^process_resident_memory_bytes (\d+)$/m),
  };
}

const sessions = 12;
const step = (session: number, run: number): string => `var log = [...(globalThis.log ?? []), '${session}.${run}']; var total = (globalThis.total ?? 0) + ${session + run}; log.length`;
const probe = 'JSON.stringify([log, total])';
const expected = (session: number): string => JSON.stringify([[0, 1, 2].map((run) => `${session}.${run}`), [0, 1, 2].reduce((sum, run) => sum + session + run, 0)]);

describe('live heaps bounded by memory (a real server, --live-heaps-memory-mb 24)', () => {
  test('sessions past the bound are evicted least recently used first; the newest resumes live, an evicted one from storage to the same state', async () => {
    for (let session = 0; session < sessions; session++) {
      for (let run = 0; run < 3; run++) await completed({ code: step(session, run), session: `s${session}` });
    }
    const filled = await stats();
    assert.equal(filled.bytesMax, boundMb * 2 ** 20);
    assert.ok(filled.bytes <= filled.bytesMax, `live heaps hold ${filled.bytes} bytes, within the bound`);
    assert.ok(filled.live >= 1 && filled.live < sessions, `some sessions live, not all ${sessions}: ${filled.live}`);
    assert.ok(filled.evictions >= sessions - filled.live, `evictions counted: ${filled.evictions}`);
    assert.equal(filled.fromStorage, 0, 'every run so far resumed its session live');

    const newest = await completed({ code: probe, session: `s${sessions - 1}` });
    assert.equal(newest.result, expected(sessions - 1));
    assert.equal((await stats()).fromStorage, 0, 'the most recently used session was still live');

    const oldest = await completed({ code: probe, session: 's0' });
    assert.equal(oldest.result, expected(0), 'an evicted session resumes to the state it had');
    assert.equal((await stats()).fromStorage, 1, 'the least recently used session was evicted: rebuilt from storage');
  });

  test('after 300 heaps made from another the live heaps stay within their bound and the process within the stated one', async () => {
    const heaps = 300;
    const parallel = 6;
    // Each made from a base heap, so each is kept live (a cheap fresh heap is not: below).
    const base = await completed({ code: 'var base = 1' });
    for (let index = 0; index < heaps; index += parallel) {
      await Promise.all(Array.from({ length: parallel }, (_, offset) => completed({ code: `var made = ${index + offset}; [made, Math.random() < 2].join()`, heap: base.heap })));
    }
    const after = await stats();
    assert.ok(after.bytes <= boundMb * 2 ** 20, `live heaps hold ${after.bytes} bytes, within ${boundMb} MiB`);
    assert.ok(after.evictions >= heaps - after.live, `the older heaps were evicted: ${after.evictions}`);
    // Generous: a reused isolate per live heap pinned ≈ 12 MiB, and 128 of them were ≈ 1.9 GB.
    assert.ok(after.rss <= (boundMb + restOfProcessMb) * 2 ** 20, `RSS ${Math.round(after.rss / 2 ** 20)} MiB within ${boundMb} + ${restOfProcessMb} MiB`);
  });

  test('cheap fresh heaps are not kept live: the live heaps and evictions do not move, and each resumes by replay to its state', async () => {
    const before = await stats();
    const made: Array<{ heap: string }> = [];
    for (let index = 0; index < 30; index++) made.push(await completed({ code: `var fresh = ${index}; fresh` }));
    const after = await stats();
    assert.equal(after.live, before.live, 'no fresh heap joined the live heaps');
    assert.equal(after.evictions, before.evictions, 'and none was evicted for one');
    const resumed = await completed({ code: 'fresh * 2', heap: made[7]!.heap });
    assert.equal(resumed.result, '14');
    assert.equal((await stats()).fromStorage, after.fromStorage + 1, 'rebuilt from its record');
  });
});
