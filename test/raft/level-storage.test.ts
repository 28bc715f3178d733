// LevelStorage: the persistence contract on a real LevelDB, a torn tail truncated on open, and a
// real child process killed with SIGKILL while it appends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeRecord, entryKey, LevelStorage } from '../../src/raft/level-storage.ts';
import { KvMachine } from './sim/kv-machine.ts';
import { isApplicable } from '../../src/raft/state-machine.ts';
import type { Entry, Snapshot } from '../../src/raft/types.ts';
import { expectedData } from './fixtures/append-data.ts';

const bootstrap: Snapshot = { index: 0, term: 0, config: { voters: [1], learners: [] }, data: '' };

async function withDirectory(run: (path: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'raft-level-'));
  try {
    await run(join(directory, 'log'));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function entries(from: number, to: number, term: number): Entry[] {
  const list: Entry[] = [];
  for (let index = from; index <= to; index++) list.push({ index, term, kind: 'normal', data: `d${index}.${term}` });
  return list;
}

test('hard state, entries and snapshot survive a reopen; appends replace a conflicting suffix', async () => {
  await withDirectory(async (path) => {
    const storage = await LevelStorage.open(path, bootstrap);
    await storage.save({ hardState: { term: 1, vote: 1, commit: 3 }, entries: entries(1, 10, 1), snapshot: null });
    await storage.save({ hardState: { term: 2, vote: 2, commit: 5 }, entries: entries(6, 7, 2), snapshot: null });
    await storage.close();
    const reopened = await LevelStorage.open(path, bootstrap);
    const boot = reopened.boot();
    assert.deepEqual(boot.hardState, { term: 2, vote: 2, commit: 5 });
    assert.deepEqual(boot.entries, [...entries(1, 5, 1), ...entries(6, 7, 2)]);
    assert.equal(reopened.truncatedRecordCount, 0);
    const snapshot: Snapshot = { index: 4, term: 1, config: bootstrap.config, data: 'state@4' };
    await reopened.compact(snapshot);
    await reopened.close();
    const compacted = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(compacted.boot().snapshot, snapshot);
    assert.deepEqual(compacted.boot().entries.map((entry) => entry.index), [5, 6, 7]);
    // A leader's snapshot replaces the whole log.
    const installed: Snapshot = { index: 20, term: 3, config: bootstrap.config, data: 'state@20' };
    await compacted.save({ hardState: { term: 3, vote: 0, commit: 20 }, entries: [], snapshot: installed });
    await compacted.close();
    const afterInstall = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(afterInstall.boot().entries, []);
    assert.equal(afterInstall.lastIndex(), 20);
    await afterInstall.close();
  });
});

test('a torn tail (a record failing its checksum, and everything after it) is truncated, never read as data', async () => {
  await withDirectory(async (path) => {
    const storage = await LevelStorage.open(path, bootstrap);
    await storage.save({ hardState: { term: 1, vote: 1, commit: 4 }, entries: entries(1, 6, 1), snapshot: null });
    const torn = encodeRecord(entries(7, 7, 1)[0]);
    await storage.writeRawForTest(entryKey(7), torn.slice(0, torn.length - 5));
    await storage.writeRawForTest(entryKey(8), encodeRecord(entries(8, 8, 1)[0]));
    await storage.close();
    const reopened = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(reopened.boot().entries, entries(1, 6, 1));
    assert.equal(reopened.truncatedRecordCount, 2);
    await reopened.close();
    const again = await LevelStorage.open(path, bootstrap);
    assert.equal(again.truncatedRecordCount, 0, 'the truncation itself was durable');
    await again.close();
  });
});

test('a torn tail that would cut below the durable commit index is reported, not silently accepted', async () => {
  await withDirectory(async (path) => {
    const storage = await LevelStorage.open(path, bootstrap);
    await storage.save({ hardState: { term: 1, vote: 1, commit: 6 }, entries: entries(1, 6, 1), snapshot: null });
    await storage.writeRawForTest(entryKey(5), 'deadbeef{"garbage":true}');
    await storage.close();
    await assert.rejects(LevelStorage.open(path, bootstrap), /acknowledged entries are missing/);
  });
});

interface ChildRun {
  readonly lastAcked: number;
}

/** Start a child, let it print `acksWanted` lines `<ackWord> <n>`, then SIGKILL it mid-write. */
function runUntilKilled(options: { script: string; args: string[]; ackWord: string; acksWanted: number }): Promise<ChildRun> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', options.script), ...options.args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { ackWord, acksWanted } = options;
  return new Promise((resolve, reject) => {
    let lastAcked = -1;
    let acks = 0;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [word, value] = line.split(' ');
        if (word === ackWord) {
          lastAcked = Number(value);
          acks++;
        }
        if (acks === acksWanted) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`append child exited with ${code} before it was killed`));
      else resolve({ lastAcked });
    });
  });
}

test('kill -9 while appending: the reopened log is a valid prefix holding everything acknowledged', async () => {
  await withDirectory(async (path) => {
    let acknowledged = 0;
    for (const acksWanted of [40, 25, 60]) {
      const run = await runUntilKilled({ script: 'append-child.ts', args: [path], ackWord: 'ack', acksWanted });
      assert.ok(run.lastAcked > acknowledged, 'the child made progress');
      acknowledged = run.lastAcked;
      const storage = await LevelStorage.open(path, bootstrap);
      const boot = storage.boot();
      assert.ok(storage.lastIndex() >= acknowledged, `log ends at ${storage.lastIndex()}, acknowledged ${acknowledged}`);
      boot.entries.forEach((entry, position) => {
        assert.equal(entry.index, position + 1);
        assert.equal(entry.data, expectedData(entry.index));
      });
      assert.ok(boot.hardState.commit >= acknowledged && boot.hardState.commit <= storage.lastIndex());
      acknowledged = storage.lastIndex();
      await storage.close();
    }
  });
});

test('kill -9 under a whole Raft node: every put reported applied is in the recovered state machine', async () => {
  await withDirectory(async (path) => {
    let nextPut = 1;
    for (const acksWanted of [30, 50]) {
      const run = await runUntilKilled({ script: 'driver-child.ts', args: [path, String(nextPut)], ackWord: 'applied', acksWanted });
      const storage = await LevelStorage.open(path, bootstrap);
      const boot = storage.boot();
      const machine = new KvMachine();
      machine.restore(boot.snapshot.data);
      for (const entry of boot.entries) if (entry.index <= boot.hardState.commit && isApplicable(entry)) machine.apply(entry);
      for (let put = 1; put <= run.lastAcked; put++) assert.equal(machine.get(`k${put}`), `v${put}`, `put ${put} survived`);
      assert.ok(boot.snapshot.index > 0, 'compaction ran in the child');
      await storage.close();
      nextPut = run.lastAcked + 1;
    }
  });
});
