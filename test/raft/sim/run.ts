// One seeded simulation run: a safety phase with faults (lossy, duplicating, reordering network;
// symmetric and one-way partitions; crashes that lose unsynced state; compaction; membership
// changes; leadership transfers) while clients record a history, then a liveness phase in which
// every fault heals and a leader must commit a proposal on every member within a bound, then the
// linearizability check of the history. Every choice comes from the seed: a seed replays exactly.
import { assert } from '../../../src/errors.ts';
import { checkOperations } from './linearizability.ts';
import type { CheckResult } from './linearizability.ts';
import { kvModel } from './kv-model.ts';
import type { ConfigChange, NodeId, RaftOptions } from '../../../src/raft/types.ts';
import { defaultRaftOptions } from '../../../src/raft/types.ts';
import { ClientFleet } from './clients.ts';
import { SimCluster } from './cluster.ts';
import { reliableNetwork } from './network.ts';
import { SeededRandom } from './random.ts';

export interface RunOptions {
  readonly faultTicks: number;
  /** `level`: every node runs the real LevelStorage on a CrashStore (slower, asynchronous). */
  readonly storage: 'memory' | 'level';
  /** Protocol options forced over the seed's own choice (a sweep of lease reads only, say). */
  readonly raft?: Partial<Omit<RaftOptions, 'id' | 'random'>>;
  /** After healing, a leader must have committed and spread a proposal within this many ticks. */
  readonly livenessTicksMax: number;
  /** Leader-gone hints (SimCluster's leaderHints) in every seed, or in none; default: leaderHintsOf(seed). */
  readonly leaderHints?: boolean;
}

export const defaultRunOptions: RunOptions = { faultTicks: 500, livenessTicksMax: 400, storage: 'memory' };

export interface RunReport {
  readonly seed: number;
  readonly ok: boolean;
  readonly error: string | null;
  readonly clusterSize: number;
  readonly ticks: number;
  readonly committedIndex: number;
  readonly historyOperations: number;
  /** Entries a majority had stored, overwritten later (figure 8 (d)); see SafetyChecker. */
  readonly figure8Overwrites: number;
  readonly linearizability: CheckResult | 'skipped';
  /** Leader-gone hints that started a pre-vote (0 in a seed without hints). */
  readonly hintCampaigns: number;
}

interface Scenario {
  readonly leaderHints: boolean;
  readonly cluster: SimCluster;
  readonly clients: ClientFleet;
  readonly random: SeededRandom;
  readonly allIds: readonly NodeId[];
  readonly baseVoterCount: number;
}

export async function runSeed(seed: number, options: RunOptions = defaultRunOptions): Promise<RunReport> {
  const random = new SeededRandom(seed);
  const clusterSize = random.chance(0.5) ? 3 : 5;
  let scenario: Scenario | null = null;
  try {
    scenario = buildScenario(random, clusterSize, options, writeSpanProbabilityOf(seed), options.leaderHints ?? leaderHintsOf(seed));
    if (options.storage === 'level') await scenario.cluster.useLevelStorage();
    await runFaultPhase(scenario, options.faultTicks);
    await runLivenessPhase(scenario, options.livenessTicksMax);
    await runServicePhase(scenario);
    scenario.clients.finish();
    const linearizability = checkOperations(kvModel, scenario.clients.history);
    assert(linearizability !== 'illegal', 'linearizability: the client history has no legal order');
    return report(seed, clusterSize, scenario, null, linearizability);
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return report(seed, clusterSize, scenario, message, 'skipped');
  }
}

function report(seed: number, clusterSize: number, scenario: Scenario | null, error: string | null, linearizability: CheckResult | 'skipped'): RunReport {
  return {
    seed, ok: error === null, error, clusterSize,
    ticks: scenario?.cluster.nowTick ?? 0,
    committedIndex: scenario?.cluster.safety.committedIndexMax() ?? 0,
    historyOperations: scenario?.clients.history.length ?? 0,
    figure8Overwrites: scenario?.cluster.safety.figure8Overwrites ?? 0,
    linearizability,
    hintCampaigns: scenario?.cluster.hintCampaigns ?? 0,
  };
}

/**
 * How often a leader's write spans a tick with its acknowledgements stepped meanwhile (pipelined
 * Readies, RaftDriver.stepDuringWrite): taken from the seed, not drawn, so a seed with 0 replays
 * the draws it made before pipelining was modelled.
 */
export function writeSpanProbabilityOf(seed: number): number {
  return [0, 0.5, 0.9][seed % 3]!;
}

/**
 * Whether a seed's nodes are told of dead peers (Raft.leaderLooksGone), truly after a crash and
 * wrongly now and then: from the seed, not drawn, so the other seeds replay the draws they made
 * before hints were modelled (seeds 134 and 749, which mutants are caught by, among them).
 */
export function leaderHintsOf(seed: number): boolean {
  return seed % 4 === 0;
}

function buildScenario(random: SeededRandom, clusterSize: number, options: RunOptions, writeSpanProbability: number, leaderHints: boolean): Scenario {
  const spareCount = 2;
  const allIds = Array.from({ length: clusterSize + spareCount }, (_, i) => i + 1);
  const faults = {
    dropProbability: random.pick([0, 0.01, 0.05, 0.1]),
    duplicateProbability: random.pick([0, 0.01, 0.05]),
    delayTicksMax: 1 + random.nextInt(4),
    // Now and then a message is held past an election timeout: a heartbeat answered after the
    // leader was replaced, a vote arriving in a later term.
    longDelayProbability: random.pick([0, 0.005, 0.02]),
    longDelayTicksMax: 3 * defaultRaftOptions.electionTimeoutTicks,
  };
  // Node clocks run at different rates: up to ±clockSkew of a tick per tick. Lease reads are told
  // the resulting bound on the ratio of two clock rates.
  const clockSkew = random.pick([0, 0.05, 0.2]);
  const cluster = new SimCluster({
    random: random.fork(),
    voters: allIds.slice(0, clusterSize),
    nodeIds: allIds,
    faults,
    raft: {
      entriesPerAppendMax: random.pick([1, 4, 64]), inflightAppendsMax: random.pick([1, 2, 8]),
      // Mostly both; sometimes pre-vote or check-quorum alone (never neither: then a removed
      // voter that never learns of its removal disrupts the group forever, thesis §4.2.3), and
      // lease reads (which without check-quorum must fall back to a heartbeat round).
      ...random.pick([{ preVote: true, checkQuorum: true }, { preVote: true, checkQuorum: true }, { preVote: true, checkQuorum: false }, { preVote: false, checkQuorum: true }]),
      readLease: random.chance(0.3),
      clockRateRatioMax: (1 + clockSkew) / (1 - clockSkew),
      ...options.raft,
    },
    clockSkew,
    compactEntriesThreshold: random.pick([5, 20, 100]),
    readyProbability: random.pick([0.5, 0.8, 1]),
    readyCrashProbability: random.pick([0, 0.001, 0.004]),
    writeSpanProbability,
    leaderHints,
  });
  const clients = new ClientFleet({ cluster, random: random.fork(), clientCount: 3, callTimeoutTicks: 60 });
  return { leaderHints, cluster, clients, random: random.fork(), allIds, baseVoterCount: clusterSize };
}

/** One tick of the cluster, then every storage write it started settles. */
async function tickAndSettle(cluster: SimCluster): Promise<void> {
  cluster.tick();
  await cluster.settleStorage();
}

async function runFaultPhase(scenario: Scenario, faultTicks: number): Promise<void> {
  const { cluster, clients } = scenario;
  for (let tick = 0; tick < faultTicks; tick++) {
    injectFault(scenario);
    clients.tick(0.3);
    await tickAndSettle(cluster);
  }
}

function injectFault(scenario: Scenario): void {
  const { cluster, random, allIds } = scenario;
  if (scenario.leaderHints && random.chance(0.02)) wrongHint(scenario);
  const roll = random.nextInt(1000);
  if (roll < 4) {
    const alive = allIds.filter((id) => cluster.node(id).alive);
    if (alive.length > 0) cluster.crash(random.pick(alive));
  } else if (roll < 7) {
    // Leaders are where the interesting histories (figure 8) start: crash them more often.
    const leader = cluster.leader();
    if (leader !== null) cluster.crash(leader.id);
  } else if (roll < 27) {
    const crashed = allIds.filter((id) => !cluster.node(id).alive);
    if (crashed.length > 0) cluster.restart(random.pick(crashed));
  } else if (roll < 30) {
    const group = allIds.filter(() => random.chance(0.4));
    cluster.network.partition(group, allIds);
  } else if (roll < 33) {
    const leader = cluster.leader();
    if (leader !== null) cluster.network.partition([leader.id], allIds);
  } else if (roll < 36) {
    cluster.network.block(random.pick(allIds), random.pick(allIds));
  } else if (roll < 46) {
    cluster.network.heal();
  } else if (roll < 50) {
    proposeMembershipChange(scenario);
  } else if (roll < 52) {
    const leader = cluster.leader();
    if (leader !== null && leader.writing === null) leader.raft.transferLeadership(random.pick(leader.raft.config.voters));
  } else if (roll < 60) {
    // A stalled process (a busy or stopped event loop), the leader more often: its timer loses
    // ticks while real time runs, now and then past an election timeout (lease reads must end).
    const leader = cluster.leader();
    const id = leader !== null && random.chance(0.8) ? leader.id : random.pick(allIds);
    cluster.stall(id, 1 + random.nextInt(3 * defaultRaftOptions.electionTimeoutTicks));
  }
}

/**
 * A hint about a node that may well be alive (a connection closed by a timeout, a refused
 * connection during a restart, a partition): mostly about the node's leader, the case it acts on.
 */
function wrongHint(scenario: Scenario): void {
  const { cluster, random, allIds } = scenario;
  const to = random.pick(allIds);
  const lead = cluster.node(to).raft.lead;
  cluster.hint(to, lead !== 0 && random.chance(0.8) ? lead : random.pick(allIds), cluster.nowTick + 1 + random.nextInt(3));
}

/** Keep the voter count near the base: add a learner (or a voter outright), promote or drop it, remove a voter. */
function proposeMembershipChange(scenario: Scenario): void {
  const { cluster, random, allIds, baseVoterCount } = scenario;
  const leader = cluster.leader();
  if (leader === null || leader.writing !== null) return;
  const { voters, learners } = leader.raft.config;
  const outsiders = allIds.filter((id) => !voters.includes(id) && !learners.includes(id));
  let change: ConfigChange | null = null;
  if (learners.length > 0) change = { kind: random.chance(0.8) ? 'promoteLearner' : 'removeVoter', nodeId: random.pick(learners) };
  else if (voters.length > baseVoterCount) change = { kind: 'removeVoter', nodeId: random.pick(voters) };
  else if (outsiders.length > 0) change = { kind: random.chance(0.8) ? 'addLearner' : 'addVoter', nodeId: random.pick(outsiders) };
  if (change !== null) leader.raft.proposeConfigChange(change);
  cluster.safety.check(leader.raft);
}

async function runLivenessPhase(scenario: Scenario, livenessTicksMax: number): Promise<void> {
  const { cluster, clients, allIds } = scenario;
  cluster.network.heal();
  cluster.network.faults = reliableNetwork;
  cluster.readyProbability = 1;
  cluster.disableReadyCrashes();
  for (const id of allIds) if (!cluster.node(id).alive) cluster.restart(id);
  let markerIndex = 0;
  let markerTerm = 0;
  for (let tick = 0; tick < livenessTicksMax; tick++) {
    clients.tick(0);
    await tickAndSettle(cluster);
    const leader = cluster.leader();
    if (leader === null) continue;
    if (markerTerm !== leader.raft.term) {
      if (leader.writing !== null) continue; // it takes no input until its write completes
      const proposal = leader.raft.propose(JSON.stringify({ op: 'put', key: 'liveness', value: String(tick) }));
      cluster.safety.check(leader.raft);
      if (!proposal.accepted) continue;
      markerIndex = proposal.index;
      markerTerm = proposal.term;
    }
    if (everyMemberApplied(scenario, markerIndex, markerTerm)) return;
  }
  throw new Error(`liveness: no proposal committed on every member within ${livenessTicksMax} ticks after healing`);
}

/** Ticks of client traffic after healing, and the most ticks any call may then take. */
const serviceTicks = 100;
const serviceCallTicksMax = 40;

/**
 * With every fault healed and a leader in place, every client call must complete: none may time
 * out (abandoned), and the clients must go idle within serviceCallTicksMax once they stop.
 */
async function runServicePhase(scenario: Scenario): Promise<void> {
  const { cluster, clients } = scenario;
  const serviceStartTick = cluster.nowTick;
  const completedBefore = clients.completedCount;
  for (let tick = 0; tick < serviceTicks; tick++) {
    clients.tick(0.5);
    await tickAndSettle(cluster);
  }
  for (let tick = 0; tick < serviceCallTicksMax && !clients.isIdle(); tick++) {
    clients.tick(0);
    await tickAndSettle(cluster);
  }
  assert(clients.isIdle(), `liveness: client calls still open ${serviceCallTicksMax} ticks after traffic stopped`);
  assert(clients.latestAbandonedCallStartTick < serviceStartTick, 'liveness: a client call made after the cluster healed timed out');
  assert(clients.completedCount > completedBefore, 'liveness: clients completed calls after the cluster healed');
}

function everyMemberApplied(scenario: Scenario, index: number, term: number): boolean {
  const { cluster } = scenario;
  const leader = cluster.leader();
  if (leader === null) return false;
  for (const id of [...leader.raft.config.voters, ...leader.raft.config.learners]) {
    const log = cluster.node(id).raft.log;
    if (log.applied < index) return false;
    const appliedTerm = log.term(index);
    if (appliedTerm !== -1 && appliedTerm !== term) return false;
  }
  return true;
}
