// LevelStorage: the persistence contract on a real LevelDB, a torn tail truncated on open, and a
// real child process killed with SIGKILL while it appends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeRecord, entryKey, LevelStorage } from '../../src/raft/level-storage.ts';
import { KvMachine } from './sim/kv-machine.ts';
import type { KvResult } from './sim/kv-machine.ts';
import { SeededRandom } from './sim/random.ts';
import { RaftDriver } from '../../src/raft/driver.ts';
import { Raft } from '../../src/raft/raft.ts';
import { defaultRaftOptions } from '../../src/raft/types.ts';
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

test('a staged snapshot is stored as a file the record names (checked on open); installs, restarts and replaced compactions leave no stray file', async () => {
  await withDirectory(async (path) => {
    const files = async () => (await readdir(`${path}-snapshots`)).sort();
    const storage = await LevelStorage.open(path, bootstrap);
    await storage.save({ hardState: { term: 1, vote: 1, commit: 8 }, entries: entries(1, 10, 1), snapshot: null });
    // Data with quotes, a surrogate pair across the 1 MiB slice boundary and multi-byte text.
    const data = `${'"'.repeat(1024 * 1024 - 1)}\u{1F600}é${'x'.repeat(10)}`;
    const first: Snapshot = { index: 4, term: 1, config: bootstrap.config, data };
    await storage.stageSnapshot(first);
    await storage.compact(first);
    assert.deepEqual(await files(), ['snapshot-4-1.json']);
    // A staged snapshot no compaction names (its index was passed by another) is removed by the next compaction.
    await storage.stageSnapshot({ index: 6, term: 1, config: bootstrap.config, data: 'state@6' });
    const eighth: Snapshot = { index: 8, term: 1, config: bootstrap.config, data: 'state@8' };
    await storage.stageSnapshot(eighth);
    await storage.compact(eighth);
    assert.deepEqual(await files(), ['snapshot-8-1.json']);
    await storage.close();
    const reopened = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(reopened.boot().snapshot, eighth);
    assert.deepEqual(reopened.boot().entries.map((entry) => entry.index), [9, 10]);
    // A crash between staging and compacting leaves a file the next open removes.
    await reopened.stageSnapshot({ index: 9, term: 1, config: bootstrap.config, data: 'state@9' });
    await reopened.close();
    let again = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(await files(), ['snapshot-8-1.json']);
    // An installed snapshot is stored in a file of its own too, and the file it replaced is removed.
    const installed: Snapshot = { index: 20, term: 3, config: bootstrap.config, data: `state@20 ${data}` };
    await again.save({ hardState: { term: 3, vote: 0, commit: 20 }, entries: [], snapshot: installed });
    assert.deepEqual(await files(), ['snapshot-20-3.json']);
    await again.close();
    const afterInstall = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(afterInstall.boot().snapshot, installed);
    // An install that replaces the log with no entry to delete and no new term still writes its record.
    const second: Snapshot = { index: 21, term: 3, config: bootstrap.config, data: 'state@21' };
    await afterInstall.save({ hardState: null, entries: [], snapshot: second });
    await afterInstall.close();
    const again2 = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(again2.boot().snapshot, second);
    assert.deepEqual(await files(), ['snapshot-21-3.json']);
    await again2.close();
    again = await LevelStorage.open(path, bootstrap);
    await again.save({ hardState: { term: 3, vote: 0, commit: 23 }, entries: entries(22, 23, 3), snapshot: null });
    const last: Snapshot = { index: 22, term: 3, config: bootstrap.config, data };
    await again.stageSnapshot(last);
    await again.compact(last);
    await again.close();
    const withFile = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(withFile.boot().snapshot, last);
    await withFile.close();
    // A damaged file stops the open with a clear error instead of booting from wrong data.
    await writeFile(join(`${path}-snapshots`, 'snapshot-22-3.json'), data.slice(0, -1) + 'y');
    await assert.rejects(LevelStorage.open(path, bootstrap), /raft snapshot file .*snapshot-22-3\.json is damaged/);
    await rm(join(`${path}-snapshots`, 'snapshot-22-3.json'));
    await assert.rejects(LevelStorage.open(path, bootstrap), /raft snapshot 22 names its data file .*cannot be read/);
  });
});

test('a snapshot stored inside its record (the format before snapshot files, installs until 2026-12-07) still loads', async () => {
  await withDirectory(async (path) => {
    const storage = await LevelStorage.open(path, bootstrap);
    await storage.save({ hardState: { term: 2, vote: 1, commit: 12 }, entries: entries(1, 12, 2), snapshot: null });
    const inline: Snapshot = { index: 10, term: 2, config: bootstrap.config, data: '{"quoted":"\\"x\\"","é":1}' };
    await storage.writeRawForTest('s', encodeRecord(inline));
    await storage.close();
    const reopened = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(reopened.boot().snapshot, inline);
    assert.deepEqual(reopened.boot().entries.map((entry) => entry.index), [11, 12]);
    assert.deepEqual(await readdir(`${path}-snapshots`), []);
    await reopened.close();
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

test('a record with a valid checksum that breaks the sequence (a gap, a term going back or beyond the durable term) starts the torn tail', async () => {
  const cases: { name: string; records: Entry[] }[] = [
    { name: 'a gap', records: entries(8, 9, 1) },
    { name: 'a term below its predecessor', records: [...entries(7, 7, 2), ...entries(8, 8, 1)] },
    { name: 'a term above the durable term', records: entries(7, 8, 3) },
  ];
  for (const { name, records } of cases) {
    await withDirectory(async (path) => {
      const storage = await LevelStorage.open(path, bootstrap);
      await storage.save({ hardState: { term: 2, vote: 1, commit: 4 }, entries: entries(1, 6, 1), snapshot: null });
      for (const record of records) await storage.writeRawForTest(entryKey(record.index), encodeRecord(record));
      await storage.close();
      const reopened = await LevelStorage.open(path, bootstrap);
      const kept = records[0]!.index === 7 && records[0]!.term === 2 ? [...entries(1, 6, 1), ...entries(7, 7, 2)] : entries(1, 6, 1);
      assert.deepEqual(reopened.boot().entries, kept, name);
      await reopened.close();
    });
  }
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

/** A child that has printed nothing new for this long is hung: the test fails instead of waiting forever. */
const childSilenceMsMax = 120_000;

function childPath(script: string): string {
  return join(import.meta.dirname, 'fixtures', script);
}

/**
 * Start a child, let it print `acksWanted` lines `<ackWord> <n>`, then SIGKILL it mid-write. Its
 * stdin is a pipe we never write: if this process dies, the child sees it close and exits
 * (fixtures/guarded.ts), so no child outlives the test.
 */
function runUntilKilled(options: { script: string; args: string[]; ackWord: string; acksWanted: number }): Promise<ChildRun> {
  const child = spawn(process.execPath, [childPath(options.script), ...options.args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const { ackWord, acksWanted } = options;
  return new Promise((resolve, reject) => {
    let lastAcked = -1;
    let acks = 0;
    let buffered = '';
    let hung = false;
    let silence = setTimeout(onSilence, childSilenceMsMax);
    function onSilence(): void {
      hung = true;
      child.kill('SIGKILL');
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      clearTimeout(silence);
      silence = setTimeout(onSilence, childSilenceMsMax);
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
      clearTimeout(silence);
      if (hung) reject(new Error(`${options.script} printed nothing for ${childSilenceMsMax} ms after ${acks} acks: hung, killed`));
      else if (signal !== 'SIGKILL') reject(new Error(`${options.script} exited with ${code} before it was killed`));
      else resolve({ lastAcked });
    });
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a test child stuck in a loop that never yields exits when its parent dies (no orphan)', async () => {
  // A stand-in parent starts the child (whose worker spins forever), reports its pid, and is
  // killed with SIGKILL, as a test runner killing a hung test file would.
  const parentScript = `const child = require('node:child_process').spawn(process.execPath, [${JSON.stringify(childPath('driver-child.ts'))}, '/nonexistent', '1'], { stdio: ['pipe', 'inherit', 'inherit'], env: { ...process.env, RAFT_CHILD_SPIN: '1' } }); setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  parent.stdout.setEncoding('utf8');
  let output = '';
  const childPid = await new Promise<number>((resolve, reject) => {
    parent.stdout.on('data', (chunk: string) => {
      output += chunk;
      const match = /pid (\d+)\n/.exec(output);
      if (match !== null) resolve(Number(match[1]));
    });
    parent.on('exit', () => reject(new Error('the stand-in parent exited early')));
  });
  assert.ok(isRunning(childPid), 'the child runs while its parent lives');
  const parentGone = new Promise((resolve) => parent.on('exit', resolve));
  parent.kill('SIGKILL');
  await parentGone;
  // The child is not ours to wait for (it was the stand-in's): look until it is gone, within a bound.
  const pollsMax = 600;
  let polls = 0;
  while (isRunning(childPid) && polls < pollsMax) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    polls++;
  }
  const orphaned = isRunning(childPid);
  if (orphaned) process.kill(childPid, 'SIGKILL');
  assert.equal(orphaned, false, 'the child exited after its parent died');
});

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

/**
 * The state machine a single-voter node recovers from the log at `path`, the way a restarted node
 * does: it elects itself, commits its stored log with an entry of its new term, and applies it.
 * (The stored commit index may lag: a Ready that only moves it is not written, see save().)
 */
async function recoverSingleVoter(path: string): Promise<{ machine: KvMachine; snapshotIndex: number; storedCommit: number; lastIndex: number }> {
  const storage = await LevelStorage.open(path, bootstrap);
  const boot = storage.boot();
  const machine = new KvMachine();
  const raft = new Raft({ ...defaultRaftOptions, id: 1, random: new SeededRandom(1) }, boot);
  const driver = new RaftDriver<KvResult>({ raft, storage, machine, send: () => {}, inputsQueuedMax: 10_000, proposalsMax: 1000, compactEntriesThreshold: 1_000_000 });
  const lastIndex = storage.lastIndex();
  for (let ticks = 0; raft.role !== 'leader'; ticks++) {
    assert.ok(ticks < 10_000, `the restarted node did not elect itself (${raft.role}, term ${raft.term})`);
    driver.tick();
    await new Promise((resolve) => setImmediate(resolve)); // lets the vote's write land
  }
  // Applied once everything before it in the log is: the recovered log, committed in the new term.
  const marker = await driver.propose(JSON.stringify({ op: 'put', key: 'recovered', value: 'yes' }));
  assert.equal(marker.status, 'applied', `a put on the restarted node: ${JSON.stringify(marker)}`);
  assert.ok(raft.log.applied > lastIndex, 'the restarted node applied its whole stored log');
  await storage.close();
  return { machine, snapshotIndex: boot.snapshot.index, storedCommit: boot.hardState.commit, lastIndex };
}

test('kill -9 under a whole Raft node: every put reported applied is in the state machine the restarted node recovers', async () => {
  await withDirectory(async (path) => {
    let nextPut = 1;
    for (const acksWanted of [30, 50]) {
      const run = await runUntilKilled({ script: 'driver-child.ts', args: [path, String(nextPut)], ackWord: 'applied', acksWanted });
      const recovered = await recoverSingleVoter(path);
      for (let put = 1; put <= run.lastAcked; put++) assert.equal(recovered.machine.get(`k${put}`), `v${put}`, `put ${put} survived`);
      assert.ok(recovered.snapshotIndex > 0, 'compaction ran in the child');
      assert.ok(recovered.storedCommit <= recovered.lastIndex, 'the stored commit index is within the stored log');
      nextPut = run.lastAcked + 1;
    }
  });
});

test('a Ready that only moves the commit index is not written: the next batch carries it', async () => {
  await withDirectory(async (path) => {
    const storage = await LevelStorage.open(path, bootstrap);
    await storage.save({ hardState: { term: 1, vote: 1, commit: 0 }, entries: entries(1, 3, 1), snapshot: null });
    await storage.save({ hardState: { term: 1, vote: 1, commit: 3 }, entries: [], snapshot: null });
    await storage.close();
    const reopened = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(reopened.boot().hardState, { term: 1, vote: 1, commit: 0 }, 'a commit-only Ready left no write');
    assert.equal(reopened.lastIndex(), 3, 'the entries are kept');
    await reopened.save({ hardState: { term: 1, vote: 1, commit: 3 }, entries: [], snapshot: null });
    await reopened.save({ hardState: null, entries: entries(4, 4, 1), snapshot: null });
    await reopened.close();
    const again = await LevelStorage.open(path, bootstrap);
    assert.deepEqual(again.boot().hardState, { term: 1, vote: 1, commit: 3 }, 'the next batch wrote the moved commit index');
    assert.equal(again.lastIndex(), 4);
    await again.close();
  });
});
