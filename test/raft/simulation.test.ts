// The quick sweep: thousands of seeded simulations of 3- and 5-node clusters under faults, with
// the safety properties asserted after every step, liveness after healing and linearizability of
// the client history. A failure names its seed; `npm run raft:sweep -- --seed N` replays it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Raft } from '../../src/raft/raft.ts';
import { SafetyChecker } from './sim/invariants.ts';
import { SeededRandom } from './sim/random.ts';
import { defaultRunOptions, runSeed } from './sim/run.ts';
import { defaultRaftOptions } from '../../src/raft/types.ts';

const quickSweepSeeds = 3000;
const levelSweepSeeds = 100;

test(`quick sweep: ${quickSweepSeeds} seeds keep election safety, log matching, leader completeness, state machine safety, liveness and linearizability`, async () => {
  const failures: string[] = [];
  let operationCount = 0;
  let fiveNodeCount = 0;
  let hintCampaigns = 0;
  for (let seed = 1; seed <= quickSweepSeeds; seed++) {
    const report = await runSeed(seed);
    operationCount += report.historyOperations;
    hintCampaigns += report.hintCampaigns;
    if (report.clusterSize === 5) fiveNodeCount++;
    if (!report.ok) failures.push(`seed ${seed}: ${report.error}\nreplay: npm run raft:sweep -- --seed ${seed}`);
  }
  assert.deepEqual(failures, []);
  assert.ok(fiveNodeCount > quickSweepSeeds / 4 && fiveNodeCount < (quickSweepSeeds * 3) / 4, 'both cluster sizes are swept');
  assert.ok(operationCount > quickSweepSeeds * 50, 'clients completed operations that the checker verified');
  // Every fourth seed tells nodes of dead (and, wrongly, of live) peers: those hints start pre-votes.
  assert.ok(hintCampaigns > quickSweepSeeds / 4, `leader-gone hints started pre-votes (${hintCampaigns})`);
});

test(`${levelSweepSeeds} seeds with every node on the real LevelStorage over CrashStore (unsynced writes lost at a crash)`, async () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= levelSweepSeeds; seed++) {
    const report = await runSeed(seed, { ...defaultRunOptions, storage: 'level' });
    if (!report.ok) failures.push(`seed ${seed}: ${report.error}\nreplay: npm run raft:sweep -- --seed ${seed} --storage level`);
  }
  assert.deepEqual(failures, []);
});

test('a seed replays exactly: the same seed gives the same run', async () => {
  for (const seed of [3, 77, 1234]) assert.deepEqual(await runSeed(seed), await runSeed(seed));
  assert.notDeepEqual(await runSeed(3), await runSeed(4));
  assert.deepEqual(await runSeed(5, { ...defaultRunOptions, storage: 'level' }), await runSeed(5, { ...defaultRunOptions, storage: 'level' }));
});

function leaderAt(id: number, term: number): Raft {
  const raft = new Raft({ ...defaultRaftOptions, id, random: new SeededRandom(id) }, {
    hardState: { term: 0, vote: 0, commit: 0 },
    snapshot: { index: 0, term: 0, config: { voters: [1, 2, 3], learners: [] }, data: '' },
    entries: [],
  });
  raft.term = term;
  raft.role = 'leader';
  return raft;
}

test('the safety checker itself fails on two leaders in one term', () => {
  const checker = new SafetyChecker();
  checker.check(leaderAt(1, 5));
  assert.throws(() => checker.check(leaderAt(2, 5)), /election safety/);
});

test('the safety checker itself fails on two different entries at one (index, term)', () => {
  const checker = new SafetyChecker();
  const raft = leaderAt(1, 1);
  checker.checkEntries(raft, [{ index: 1, term: 1, kind: 'normal', data: 'a' }]);
  assert.throws(() => checker.checkEntries(raft, [{ index: 1, term: 1, kind: 'normal', data: 'b' }]), /log matching/);
});

test('the safety checker itself fails on a leader that rewrites its own log', () => {
  const checker = new SafetyChecker();
  const raft = leaderAt(1, 2);
  raft.log.append([{ index: 1, term: 2, kind: 'normal', data: 'a' }, { index: 2, term: 2, kind: 'normal', data: 'b' }]);
  checker.check(raft);
  raft.log.entries.length = 1;
  assert.throws(() => checker.check(raft), /leader append-only/);
});
