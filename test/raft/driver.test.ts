// RaftDriver on real LevelDB storage: three in-process nodes joined by an asynchronous transport
// elect a leader, apply proposals with results, refuse proposals at followers with a leader hint,
// serve linearizable read barriers, and a node reopened from its LevelDB log replays its state.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { RaftDriver } from '../../src/raft/driver.ts';
import { KvMachine } from './sim/kv-machine.ts';
import type { KvResult } from './sim/kv-machine.ts';
import { LevelStorage } from '../../src/raft/level-storage.ts';
import { Raft } from '../../src/raft/raft.ts';
import { SeededRandom } from './sim/random.ts';
import type { Message, NodeId, Snapshot } from '../../src/raft/types.ts';
import { defaultRaftOptions } from '../../src/raft/types.ts';

const bootstrap: Snapshot = { index: 0, term: 0, config: { voters: [1, 2, 3], learners: [] }, data: '' };

interface LiveNode {
  driver: RaftDriver<KvResult>;
  raft: Raft;
  machine: KvMachine;
  storage: LevelStorage;
}

class LocalCluster {
  readonly nodes = new Map<NodeId, LiveNode>();
  readonly directory: string;
  constructor(directory: string) {
    this.directory = directory;
  }

  async start(id: NodeId): Promise<LiveNode> {
    const storage = await LevelStorage.open(join(this.directory, `node-${id}`), bootstrap);
    // 30 ticks of 5 ms: an election timeout well above an fsync even on a loaded machine.
    const raft = new Raft({ ...defaultRaftOptions, electionTimeoutTicks: 30, id, random: new SeededRandom(id) }, storage.boot());
    const machine = new KvMachine();
    const send = (messages: readonly Message[]): void => {
      for (const message of messages) setImmediate(() => this.nodes.get(message.to)?.driver.receive(message));
    };
    const driver = new RaftDriver<KvResult>({ raft, storage, machine, send, inputsQueuedMax: 10_000, proposalsMax: 1000, compactEntriesThreshold: 50 });
    const node = { driver, raft, machine, storage };
    this.nodes.set(id, node);
    return node;
  }

  async stop(id: NodeId): Promise<void> {
    const node = this.nodes.get(id);
    assert.ok(node !== undefined);
    this.nodes.delete(id);
    await node.driver.settled();
    await node.storage.close();
  }

  /**
   * Tick every node every `tickMs` until `done` holds. A tick must be long against an fsync, or
   * followers answer heartbeats too late and leaders churn, as they would with a too-short timeout.
   */
  async runUntil(done: () => boolean, ticksMax = 500): Promise<void> {
    const tickMs = 5;
    for (let tick = 0; tick < ticksMax && !done(); tick++) {
      for (const node of this.nodes.values()) node.driver.tick();
      await delay(tickMs);
    }
    assert.ok(done(), 'condition reached within the tick budget');
  }

  leader(): LiveNode | undefined {
    return [...this.nodes.values()].find((node) => node.raft.role === 'leader');
  }
}

test('three drivers on LevelDB: proposals apply with results, followers refuse with a hint, reads are linearizable, restarts replay', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'raft-driver-'));
  const cluster = new LocalCluster(directory);
  try {
    for (const id of [1, 2, 3]) await cluster.start(id);
    const allFollow = (): boolean => {
      const leaderId = cluster.leader()?.raft.id;
      return leaderId !== undefined && [...cluster.nodes.values()].every((node) => node.raft.lead === leaderId);
    };
    await cluster.runUntil(allFollow);
    const leader = cluster.leader()!;
    const follower = [...cluster.nodes.values()].find((node) => node !== leader)!;

    const refused = await follower.driver.propose(JSON.stringify({ op: 'put', key: 'k', value: 'v' }));
    assert.deepEqual(refused, { status: 'rejected', reason: 'notLeader', leaderHint: leader.raft.id });

    const pending = [];
    for (let i = 0; i < 120; i++) pending.push(leader.driver.propose(JSON.stringify({ op: 'put', key: `k${i % 3}`, value: `v${i}` })));
    pending.push(leader.driver.propose(JSON.stringify({ op: 'cas', key: 'k0', expected: 'v117', value: 'swapped' })));
    let settled = false;
    const outcomes = Promise.all(pending).then((all) => {
      settled = true;
      return all;
    });
    await cluster.runUntil(() => settled);
    const results = await outcomes;
    assert.ok(results.every((outcome) => outcome.status === 'applied'));
    assert.deepEqual(results.at(-1), { status: 'applied', result: { ok: true, value: 'swapped' } });

    let read: unknown = null;
    void leader.driver.readBarrier().then((outcome) => { read = outcome; });
    await cluster.runUntil(() => read !== null);
    assert.deepEqual(read, { ok: true });
    assert.equal(leader.machine.get('k0'), 'swapped');
    assert.ok(leader.raft.log.snapshot.index > 0, 'the log was compacted on the way');

    // A follower restarted from its LevelDB log catches up to the same state.
    const followerId = follower.raft.id;
    await cluster.stop(followerId);
    const restarted = await cluster.start(followerId);
    await cluster.runUntil(() => restarted.machine.get('k0') === 'swapped');
    assert.equal(restarted.machine.snapshot(), leader.machine.snapshot());
  } finally {
    for (const id of [...cluster.nodes.keys()]) await cluster.stop(id);
    await rm(directory, { recursive: true, force: true });
  }
});
