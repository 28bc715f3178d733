// A hand-driven cluster for scenario tests: messages wait in one queue until the test delivers
// them, links can be cut, and every node's Ready is handled in contract order (persist, send,
// apply, advance). Deterministic: node random sources are seeded by id.
import assert from 'node:assert/strict';
import { KvMachine } from './sim/kv-machine.ts';
import { Raft } from '../../src/raft/raft.ts';
import { SeededRandom } from './sim/random.ts';
import { MemoryStorage } from './sim/memory-storage.ts';
import { isApplicable } from '../../src/raft/state-machine.ts';
import type { Message, NodeId, RaftOptions, Ready, Snapshot } from '../../src/raft/types.ts';
import { defaultRaftOptions } from '../../src/raft/types.ts';

export interface HarnessNode {
  raft: Raft;
  storage: MemoryStorage;
  machine: KvMachine;
  readies: Ready[];
}

/** Rounds of delivery `stabilize` runs before it decides the cluster will not settle. */
const stabilizeRoundsMax = 1000;

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  queue: Message[] = [];
  readonly sent: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly options: Partial<RaftOptions>;

  constructor(options: { voters: NodeId[]; others?: NodeId[]; raft?: Partial<RaftOptions> }) {
    this.options = options.raft ?? {};
    const bootstrap: Snapshot = { index: 0, term: 0, config: { voters: options.voters, learners: [] }, data: '' };
    for (const id of [...options.voters, ...(options.others ?? [])]) {
      const storage = new MemoryStorage(bootstrap);
      this.nodes.set(id, { raft: this.makeRaft(id, storage), storage, machine: new KvMachine(), readies: [] });
    }
  }

  private makeRaft(id: NodeId, storage: MemoryStorage): Raft {
    return new Raft({ ...defaultRaftOptions, ...this.options, id, random: new SeededRandom(id) }, storage.boot());
  }

  node(id: NodeId): HarnessNode {
    const node = this.nodes.get(id);
    assert.ok(node !== undefined, `node ${id}`);
    return node;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  /** Cut both directions between `a` and each of `others`. */
  isolate(a: NodeId, others: NodeId[] = [...this.nodes.keys()]): void {
    for (const b of others) {
      if (b === a) continue;
      this.cut.add(`${a}>${b}`);
      this.cut.add(`${b}>${a}`);
    }
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Crash and restart from storage: unsynced state is lost. */
  restart(id: NodeId): void {
    const node = this.node(id);
    node.raft = this.makeRaft(id, node.storage);
    node.machine = new KvMachine();
    node.machine.restore(node.raft.log.snapshot.data);
  }

  process(id: NodeId): void {
    const node = this.node(id);
    if (!node.raft.hasReady()) return;
    const ready = node.raft.ready();
    node.storage.save(ready);
    for (const message of ready.messages) {
      this.sent.push(message);
      if (!this.cut.has(`${message.from}>${message.to}`)) this.queue.push(message);
    }
    if (ready.snapshot !== null) node.machine.restore(ready.snapshot.data);
    for (const entry of ready.committedEntries) if (isApplicable(entry)) node.machine.apply(entry);
    node.readies.push(ready);
    node.raft.advance(ready);
  }

  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  /** Deliver one round: every queued message, then every node's Ready. */
  deliverRound(filter: (message: Message) => boolean = () => true): number {
    const messages = this.queue;
    this.queue = [];
    let delivered = 0;
    for (const message of messages) {
      if (!filter(message) || this.cut.has(`${message.from}>${message.to}`)) continue;
      this.node(message.to).raft.step(message);
      delivered++;
    }
    this.processAll();
    return delivered;
  }

  /** Deliver until nothing is in flight; `afterRound` sees the cluster between rounds. */
  stabilize(afterRound: () => void = () => {}): void {
    this.processAll();
    for (let round = 0; round < stabilizeRoundsMax; round++) {
      if (this.queue.length === 0) return;
      this.deliverRound();
      afterRound();
    }
    assert.fail('cluster did not stabilize');
  }

  /** Tick every node (except the excluded) `ticks` times, handling Readies and delivering each tick. */
  tick(ticks: number, excluded: NodeId[] = []): void {
    for (let tick = 0; tick < ticks; tick++) {
      for (const [id, node] of this.nodes) if (!excluded.includes(id)) node.raft.tick();
      this.processAll();
      this.deliverRound();
    }
  }

  /**
   * Make `id` campaign (tick only it until its election timer fires) and deliver until the cluster
   * is quiet; a campaign refused for a stale term is retried, up to `attemptsMax` times.
   */
  campaign(id: NodeId, options: { attemptsMax: number; filter?: (message: Message) => boolean; afterRound?: () => void } = { attemptsMax: 3 }): void {
    for (let attempt = 0; attempt < options.attemptsMax && this.raft(id).role !== 'leader'; attempt++) {
      const raft = this.raft(id);
      const ticksMax = raft.options.electionTimeoutTicks * 2;
      for (let tick = 0; tick < ticksMax && raft.role === 'follower'; tick++) raft.tick();
      this.processAll();
      for (let round = 0; round < stabilizeRoundsMax && this.queue.length > 0; round++) {
        this.deliverRound(options.filter);
        options.afterRound?.();
      }
    }
  }

  leaderId(): NodeId | null {
    let best: Raft | null = null;
    for (const node of this.nodes.values()) {
      if (node.raft.role === 'leader' && (best === null || node.raft.term > best.term)) best = node.raft;
    }
    return best?.id ?? null;
  }

  put(leader: NodeId, key: string, value: string): void {
    const result = this.raft(leader).propose(JSON.stringify({ op: 'put', key, value }));
    assert.ok(result.accepted, `proposal accepted by ${leader}`);
  }
}
