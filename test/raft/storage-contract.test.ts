// One contract, two implementations: MemoryStorage (what the simulation trusts) and LevelStorage
// (what the server will run) must recover the same boot state after the same random sequence of
// Ready writes, conflicting suffixes, compactions and snapshot installs, LevelStorage across a
// close and reopen each time. If they drift apart, the simulation would prove the wrong thing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LevelStorage } from '../../src/raft/level-storage.ts';
import { MemoryStorage } from './sim/memory-storage.ts';
import { SeededRandom } from './sim/random.ts';
import type { Entry, HardState, RaftBoot, Ready, Snapshot } from '../../src/raft/types.ts';

const bootstrap: Snapshot = { index: 0, term: 0, config: { voters: [1, 2, 3], learners: [] }, data: '' };
const operationsPerSeed = 60;

type Write = { kind: 'save'; ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'> } | { kind: 'compact'; snapshot: Snapshot };

/** A random but valid sequence of writes, following the core's rules (no overwriting committed entries). */
function randomWrites(seed: number): Write[] {
  const random = new SeededRandom(seed);
  const writes: Write[] = [];
  let snapshot = bootstrap;
  let log: Entry[] = [];
  let hard: HardState = { term: 1, vote: 1, commit: 0 };
  const lastIndex = (): number => snapshot.index + log.length;
  const termAt = (index: number): number => (index === snapshot.index ? snapshot.term : log[index - snapshot.index - 1]!.term);
  for (let step = 0; step < operationsPerSeed; step++) {
    const roll = random.nextInt(10);
    if (roll < 6) {
      const from = Math.max(hard.commit + 1, lastIndex() + 1 - random.nextInt(4));
      if (random.chance(0.3)) hard = { term: hard.term + 1, vote: 1 + random.nextInt(3), commit: hard.commit };
      const entries: Entry[] = [];
      for (let index = from; index < from + 1 + random.nextInt(5); index++) entries.push({ index, term: hard.term, kind: random.chance(0.1) ? 'config' : 'normal', data: `s${seed}.${step}.${index}` });
      log = [...log.slice(0, from - snapshot.index - 1), ...entries];
      hard = { ...hard, commit: Math.min(lastIndex(), hard.commit + random.nextInt(4)) };
      writes.push({ kind: 'save', ready: { hardState: hard, entries, snapshot: null } });
    } else if (roll < 8 && hard.commit > snapshot.index) {
      const index = snapshot.index + 1 + random.nextInt(hard.commit - snapshot.index);
      const compacted: Snapshot = { index, term: termAt(index), config: bootstrap.config, data: `state@${index}` };
      log = log.slice(index - snapshot.index);
      snapshot = compacted;
      writes.push({ kind: 'compact', snapshot: compacted });
    } else if (roll === 9) {
      const index = lastIndex() + 1 + random.nextInt(10);
      snapshot = { index, term: hard.term, config: bootstrap.config, data: `installed@${index}` };
      log = [];
      hard = { ...hard, commit: index };
      writes.push({ kind: 'save', ready: { hardState: hard, entries: [], snapshot } });
    }
  }
  return writes;
}

function normalized(boot: RaftBoot): RaftBoot {
  return structuredClone({ hardState: boot.hardState, snapshot: boot.snapshot, entries: [...boot.entries] });
}

test('MemoryStorage and LevelStorage recover the same state after the same writes (40 random sequences)', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'raft-contract-'));
  try {
    for (let seed = 1; seed <= 40; seed++) {
      const memory = new MemoryStorage(bootstrap);
      const path = join(directory, `seed-${seed}`);
      let level = await LevelStorage.open(path, bootstrap);
      for (const [position, write] of randomWrites(seed).entries()) {
        if (write.kind === 'save') {
          memory.save(write.ready);
          await level.save(write.ready);
        } else {
          memory.compact(write.snapshot);
          await level.compact(write.snapshot);
        }
        if (position % 7 === 0) {
          await level.close();
          level = await LevelStorage.open(path, bootstrap);
          assert.equal(level.truncatedRecordCount, 0);
        }
        assert.deepEqual(normalized(level.boot()), normalized(memory.boot()), `seed ${seed} after write ${position}`);
      }
      await level.close();
      const reopened = await LevelStorage.open(path, bootstrap);
      assert.deepEqual(normalized(reopened.boot()), normalized(memory.boot()), `seed ${seed} after the final reopen`);
      await reopened.close();
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});
