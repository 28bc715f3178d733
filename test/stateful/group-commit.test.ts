// The heap directory's group commit (src/storage/heap-journal.ts) under kill -9: runs of many
// sessions finish together, so their heaps share fdatasyncs; the server is killed right after
// the last answer. Every heap it answered must be on disk and resume with the state it answered.
//
// A power cut cannot be made here. Its stand-in, named so: after the kill, every heap file that
// a journal segment lists (those are written without a sync, after their frame was synced) is
// deleted behind the server's back, the most a power cut could take. The restarted server must
// write them again from the journal.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { framesOf } from '../../src/storage/heap-journal.ts';
import { startServerProcess, tempDir } from '../support/server-process.ts';

async function exec(baseUrl: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`${baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, wait_ms: 50_000 }) });
  return (await response.json()) as Record<string, unknown>;
}

const sessions = 12;
const runsPerSession = 3;

describe('heap group commit under kill -9', () => {
  test('every answered heap is on disk and resumes with its state, even with its unsynced file gone', async () => {
    const root = tempDir('group-commit-kill');
    const heaps = join(root, 'heaps');
    const args = ['--http-port', '0', '--directory-path', heaps, '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')];
    const first = await startServerProcess(args);
    const answered: Array<{ heap: string; session: string; count: number }> = [];
    let metrics: string;
    try {
      await Promise.all(Array.from({ length: sessions }, async (_, index) => {
        const session = `s${index}`;
        for (let run = 1; run <= runsPerSession; run++) {
          const reply = await exec(first.baseUrl, { code: `var c = (typeof c === 'undefined' ? 0 : c) + 1; '${session}:' + c`, session });
          assert.equal(reply.status, 'completed', String(reply.error ?? reply.message));
          assert.equal(reply.result, `${session}:${run}`);
          answered.push({ heap: String(reply.heap), session, count: run });
        }
      }));
      metrics = await (await fetch(`${first.baseUrl}/metrics`)).text();
    } finally {
      assert.equal(await first.stop('SIGKILL'), 'SIGKILL');
    }
    const syncs = Number(/^mcp_v8_heap_journal_syncs_total (\d+)$/m.exec(metrics)![1]);
    const journaled = Number(/^mcp_v8_heap_journal_heaps_total (\d+)$/m.exec(metrics)![1]);
    assert.equal(journaled, sessions * runsPerSession, 'each heap was saved through the journal');
    assert.ok(syncs >= 1 && syncs <= journaled);

    // The stand-in for the power cut (see the top of this file).
    const listed = new Set<string>();
    for (const name of readdirSync(heaps).filter((entry) => entry.startsWith('journal-'))) {
      for (const { id } of framesOf(readFileSync(join(heaps, name)))) listed.add(id);
    }
    for (const { heap } of answered) assert.ok(listed.has(heap), `answered heap ${heap} is in a synced journal segment`);
    for (const id of listed) rmSync(join(heaps, id.slice(0, 2), id), { force: true });

    const second = await startServerProcess(args);
    try {
      for (const { heap, session, count } of answered) {
        const resumed = await exec(second.baseUrl, { code: 'c', heap });
        assert.equal(resumed.status, 'completed', `${session} run ${count}: ${String(resumed.error)}`);
        assert.equal(resumed.result, String(count), `${session} run ${count} resumes with its own state`);
      }
      for (let index = 0; index < sessions; index++) {
        const latest = await exec(second.baseUrl, { code: 'c', session: `s${index}` });
        assert.equal(latest.result, String(runsPerSession), `session s${index} continues from its latest heap`);
      }
    } finally {
      await second.stop();
    }
  });
});
