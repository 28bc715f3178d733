// A simulated cluster: Raft cores with storage and key-value machines, joined by SimNetwork.
// Each tick every live node takes its due messages, ticks, and (usually) handles its Ready in the
// order the contract requires: persist, send, apply, advance. A crash discards everything a node
// holds in memory, including a Ready it has not handled: only what storage saved survives.
// Storage is MemoryStorage (synchronous), or the real LevelStorage over CrashStore, a model of
// LevelDB on a disk that loses unsynced writes at a crash (`useLevelStorage`). LevelStorage is
// asynchronous: a node whose save is under way is busy until `settle()`, which the run awaits
// after every tick; a crash can fall while the save is in flight.
import { assert } from '../../../src/errors.ts';
import { KvMachine } from './kv-machine.ts';
import type { KvCommand, KvResult } from './kv-machine.ts';
import { ProposalTracker } from '../../../src/raft/proposals.ts';
import type { ProposalOutcome } from '../../../src/raft/proposals.ts';
import { Raft } from '../../../src/raft/raft.ts';
import { isApplicable } from '../../../src/raft/state-machine.ts';
import type { Config, Entry, Message, NodeId, RaftOptions, Ready, Snapshot } from '../../../src/raft/types.ts';
import { defaultRaftOptions, sendableBeforePersist } from '../../../src/raft/types.ts';
import { decodeRecord, entryKey, LevelStorage } from '../../../src/raft/level-storage.ts';
import type { HardState, RaftBoot } from '../../../src/raft/types.ts';
import { CrashStore } from './crash-store.ts';
import { SafetyChecker } from './invariants.ts';
import type { DurableView } from './invariants.ts';
import { MemoryStorage } from './memory-storage.ts';
import { ReadReleaseChecker } from './read-rule.ts';
import type { NetworkFaults } from './network.ts';
import { SimNetwork } from './network.ts';
import type { SeededRandom } from './random.ts';

export type CommandOutcome = ProposalOutcome<number, KvResult>;
export type ReadOutcome = { readonly ok: true; readonly value: string | null } | { readonly ok: false };

export const proposalsPerNodeMax = 10_000;
export const waitingReadsPerNodeMax = 10_000;

/** A confirmed read whose index this node does not reach in this many ticks fails (a removed node never will). */
export const readWaitTicksMax = 40;

interface WaitingRead {
  readonly key: string;
  readonly startTick: number;
  /** The highest index committed anywhere when the read was requested: its index may not be lower. */
  readonly committedAtRequest: number;
  /** The term the node led when the read was requested, or -1: then the node serves it itself. */
  readonly leaderTerm: number;
  readonly done: (outcome: ReadOutcome) => void;
  index: number;
}

export interface SimNode {
  readonly id: NodeId;
  raft: Raft;
  storage: SimStorage;
  machine: KvMachine;
  alive: boolean;
  /** A LevelStorage write or reopen under way: the node takes no input until it settles. */
  busy: Promise<void> | null;
  /**
   * A leader's Ready whose write lasts until `doneAtTick` (writeSpanProbability): meanwhile its
   * acknowledgements are stepped and what they commit applied (RaftDriver.stepDuringWrite); other
   * messages wait, its ticks are owed (RaftDriver queues them), proposals are taken (appended
   * after the entries being written, their appends sent at once), and it takes no reads
   * until the write completes, or it crashes first (then the write never happened).
   */
  writing: { readonly ready: Ready; readonly crashAt: ReadyCrashPoint | null; readonly doneAtTick: number } | null;
  /** Ticks of this node's clock per cluster tick (clock skew), and the fraction owed. */
  readonly clockRate: number;
  clockOwed: number;
  /**
   * A stalled process (a busy or stopped event loop) until this tick: it takes no input, its
   * messages wait (held by the network), and its timer's ticks are lost, not owed; the real time
   * they stood for (`stallOwed`, in its own ticks) is paid to its lease clock when it wakes
   * (Raft.elapseLeaseClock), as ClusterNode.catchUpTicks pays what the monotonic clock counted.
   */
  stalledUntilTick: number;
  stallOwed: number;
  proposals: ProposalTracker<number, KvResult>;
  reads: Map<number, WaitingRead>;
  /** A compaction whose view was taken at `index` and is stored once `dueApplied` is applied (as RaftDriver serialises in the background). */
  deferredSnapshot: { index: number; config: Config; data: string; dueApplied: number } | null;
}

/** What the cluster needs from a node's storage; MemoryStorage is synchronous, LevelStorage not. */
export interface SimStorage extends DurableView {
  save(ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): void | Promise<void>;
  compact(snapshot: Snapshot): void | Promise<void>;
  boot(): RaftBoot;
}

/** The real LevelStorage on a CrashStore; its durable view is what the store has synced. */
class LevelSimStorage implements SimStorage {
  readonly storage: LevelStorage;
  readonly store: CrashStore;
  constructor(storage: LevelStorage, store: CrashStore) {
    this.storage = storage;
    this.store = store;
  }

  save(ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> {
    return this.storage.save(ready);
  }

  compact(snapshot: Snapshot): Promise<void> {
    return this.storage.compact(snapshot);
  }

  boot(): RaftBoot {
    return this.storage.boot();
  }

  durableHardState(): HardState {
    const record = this.store.durableValue('h');
    return record === undefined ? { term: 0, vote: 0, commit: 0 } : decodeRecord(record) as HardState;
  }

  /**
   * The last index a crash now would keep: the durable snapshot's, then the durable entries after
   * it in sequence. (Not "is every write synced": LevelStorage leaves a batch that only moves the
   * commit index unsynced, as Raft allows; entries, term and vote must be durable, and the checker
   * compares what was sent with exactly this durable view.)
   */
  durableLastIndex(): number {
    const snapshot = this.store.durableValue('s');
    let last = snapshot === undefined ? 0 : (decodeRecord(snapshot) as Snapshot).index;
    while (this.store.durableValue(entryKey(last + 1)) !== undefined) last++;
    assert(last <= this.storage.lastIndex(), 'persistence: LevelStorage acknowledged a truncation of the log that is not durable (a crash now would bring the entries back)');
    return last;
  }
}

/** Rounds of the event loop `settle` waits for LevelStorage writes before deciding they hang. */
const settleRoundsMax = 100;

export interface ClusterOptions {
  readonly random: SeededRandom;
  readonly voters: readonly NodeId[];
  /** Every node that may ever take part; the ones not in `voters` start idle, outside the config. */
  readonly nodeIds: readonly NodeId[];
  readonly faults: NetworkFaults;
  readonly raft?: Partial<Omit<RaftOptions, 'id' | 'random'>>;
  /** Compact once this many applied entries sit after the last snapshot. */
  readonly compactEntriesThreshold: number;
  /** Probability that a live node handles its Ready in a given tick. */
  readonly readyProbability: number;
  /** Node clock rates are drawn from [1 - clockSkew, 1 + clockSkew] ticks per cluster tick. */
  readonly clockSkew?: number;
  /** Probability that a node crashes while handling a Ready: before its save, after it, or after sending. */
  readonly readyCrashProbability?: number;
  /** Probability that a leader's Ready with entries is written over 1-3 ticks, acknowledgements stepped meanwhile (see SimNode.writing). */
  readonly writeSpanProbability?: number;
  /**
   * The transport's sign of a dead peer (Raft.leaderLooksGone): a crashed node's peers are told
   * 1-3 ticks later, as a killed process's sockets close; run.ts adds wrong hints about live nodes.
   */
  readonly leaderHints?: boolean;
}

/** Hints waiting for their node (a busy, stalled or writing node takes them later, as RaftDriver queues input), at most. */
const hintsPendingMax = 64;

/** Where in the handling of a Ready a crash falls (the persistence windows). */
export type ReadyCrashPoint = 'beforeSave' | 'duringSave' | 'afterSave' | 'afterSend';
const readyCrashPoints: readonly ReadyCrashPoint[] = ['beforeSave', 'duringSave', 'afterSave', 'afterSend'];

export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: SimNetwork;
  readonly safety = new SafetyChecker();
  readonly readRule = new ReadReleaseChecker();
  readonly random: SeededRandom;
  nowTick = 0;
  /** Crashes that fell inside a Ready's handling, by where. */
  readonly readyCrashes = { beforeSave: 0, duringSave: 0, afterSave: 0, afterSend: 0 };
  private readonly options: ClusterOptions;
  readyProbability: number;
  readyCrashProbability: number;
  private readonly bootstrap: Snapshot;
  /** The first error thrown after a LevelStorage write settled, rethrown by settleStorage. */
  private storageFailure: unknown = null;
  private readonly commandOutcomes = new Map<number, (outcome: CommandOutcome) => void>();
  /** Leader-gone hints on their way (leaderHints). */
  private hints: Array<{ readonly to: NodeId; readonly suspect: NodeId; readonly atTick: number }> = [];
  /** Hints a node acted on (it started a pre-vote): the sweep shows the path is taken. */
  hintCampaigns = 0;
  private nextToken = 1;

  constructor(options: ClusterOptions) {
    this.options = options;
    this.random = options.random;
    this.readyProbability = options.readyProbability;
    this.readyCrashProbability = options.readyCrashProbability ?? 0;
    this.network = new SimNetwork(options.random.fork(), options.faults);
    const config: Config = { voters: [...options.voters], learners: [] };
    this.bootstrap = { index: 0, term: 0, config, data: '' };
    for (const id of options.nodeIds) {
      const storage = new MemoryStorage(this.bootstrap);
      const node: SimNode = { id, raft: this.makeRaft(id, storage), storage, machine: new KvMachine(), alive: true, busy: null, writing: null, clockRate: this.clockRate(), clockOwed: 0, stalledUntilTick: 0, stallOwed: 0, proposals: new ProposalTracker(proposalsPerNodeMax), reads: new Map(), deferredSnapshot: null };
      this.nodes.set(id, node);
    }
  }

  private clockRate(): number {
    const skew = this.options.clockSkew ?? 0;
    return skew === 0 ? 1 : 1 - skew + 2 * skew * (this.random.nextUint32() / 4294967296);
  }

  /** Give every node the real LevelStorage on its own CrashStore; call before the first tick. */
  async useLevelStorage(): Promise<void> {
    assert(this.nowTick === 0, 'storage is chosen before the run starts');
    for (const node of this.nodes.values()) {
      const store = new CrashStore(this.random.fork());
      node.storage = new LevelSimStorage(await LevelStorage.open(`node-${node.id}`, this.bootstrap, store), store);
      node.raft = this.makeRaft(node.id, node.storage);
    }
  }

  /** No more crashes inside a Ready, including those drawn for writes still under way (SimNode.writing). */
  disableReadyCrashes(): void {
    this.readyCrashProbability = 0;
    for (const node of this.nodes.values()) if (node.writing !== null) node.writing = { ...node.writing, crashAt: null };
  }

  /** Wait for every LevelStorage write and reopen under way (none with MemoryStorage). */
  async settleStorage(): Promise<void> {
    if (this.isBusy()) {
      for (let round = 0; round < settleRoundsMax && this.isBusy(); round++) await new Promise((resolve) => setImmediate(resolve));
      assert(!this.isBusy(), `storage writes settle within ${settleRoundsMax} event-loop rounds`);
    }
    if (this.storageFailure !== null) throw this.storageFailure;
  }

  private isBusy(): boolean {
    for (const node of this.nodes.values()) if (node.busy !== null) return true;
    return false;
  }

  /** Run `next` once `pending` resolves, with the node busy until then; a crash in between cancels it. */
  private whenSettled(node: SimNode, pending: Promise<void>, next: () => void): void {
    const raft = node.raft;
    const busy: Promise<void> = pending.then(() => {
      if (node.busy !== busy) return; // crashed meanwhile
      node.busy = null;
      if (node.raft === raft) next();
    }).catch((error: unknown) => {
      // A failed check (or a storage error) after a save: the run fails with it at settleStorage.
      if (node.busy === busy) node.busy = null;
      this.storageFailure ??= error;
    });
    node.busy = busy;
  }

  private makeRaft(id: NodeId, storage: SimStorage): Raft {
    const options: RaftOptions = { ...defaultRaftOptions, ...this.options.raft, id, random: this.random.fork() };
    return new Raft(options, storage.boot());
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    assert(node !== undefined, `node ${id} exists`);
    return node;
  }

  /** The live leader with the highest term that takes input (is not stalled), if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const node of this.nodes.values()) {
      if (node.alive && node.stalledUntilTick <= this.nowTick && node.raft.role === 'leader' && (best === null || node.raft.term > best.raft.term)) best = node;
    }
    return best;
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    // Its peers see its sockets close (a live peer's connections to it reset) a little later.
    if (this.options.leaderHints === true && node.alive) {
      for (const other of this.nodes.values()) if (other.id !== id && other.alive) this.hint(other.id, id, this.nowTick + 1 + this.random.nextInt(3));
    }
    node.alive = false;
    node.busy = null; // a write in flight never completes: the process is gone
    node.writing = null;
    node.stalledUntilTick = 0;
    node.stallOwed = 0;
    if (node.storage instanceof LevelSimStorage) node.storage.store.crash();
    for (const read of node.reads.values()) read.done({ ok: false });
    node.reads.clear();
  }

  /** `to` will be told at `atTick` that `suspect` looks gone (true after a crash, or a wrong hint). */
  hint(to: NodeId, suspect: NodeId, atTick: number): void {
    if (this.hints.length < hintsPendingMax) this.hints.push({ to, suspect, atTick });
  }

  /** Hints due now, to every node that takes input; the rest wait (a dead node's are dropped). */
  private deliverHints(): void {
    const waiting: typeof this.hints = [];
    for (const hint of this.hints) {
      const node = this.node(hint.to);
      if (!node.alive) continue;
      if (hint.atTick > this.nowTick || node.busy !== null || node.writing !== null || node.stalledUntilTick > this.nowTick) {
        waiting.push(hint);
        continue;
      }
      if (node.raft.leaderLooksGone(hint.suspect)) this.hintCampaigns++;
      this.safety.check(node.raft);
    }
    this.hints = waiting;
  }

  /** Stall a live node's process for `ticks` cluster ticks (SimNode.stalledUntilTick). */
  stall(id: NodeId, ticks: number): void {
    const node = this.node(id);
    if (node.alive) node.stalledUntilTick = Math.max(node.stalledUntilTick, this.nowTick + ticks);
  }

  /** A stall ends this tick: the lease clock is paid the real time the lost timer ticks stood for. */
  private wakeStalled(): void {
    for (const node of this.nodes.values()) {
      if (!node.alive || node.stalledUntilTick !== this.nowTick) continue;
      const ticks = Math.floor(node.stallOwed);
      node.clockOwed += node.stallOwed - ticks;
      node.stallOwed = 0;
      node.raft.elapseLeaseClock(ticks);
    }
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    assert(!node.alive, 'only a crashed node restarts');
    if (node.busy !== null) return; // already reopening
    const storage = node.storage;
    if (storage instanceof LevelSimStorage) {
      // The real reopen: LevelStorage reads back what the crash left on the store.
      this.whenSettled(node, LevelStorage.open(`node-${id}`, this.bootstrap, storage.store).then((reopened) => {
        node.storage = new LevelSimStorage(reopened, storage.store);
      }), () => this.revive(node));
      return;
    }
    this.revive(node);
  }

  private revive(node: SimNode): void {
    const id = node.id;
    node.raft = this.makeRaft(id, node.storage);
    node.machine = new KvMachine();
    node.machine.restore(node.raft.log.snapshot.data);
    node.deferredSnapshot = null;
    // Whatever this node was tracking is unknown now: its clients time out.
    node.proposals = new ProposalTracker(proposalsPerNodeMax);
    node.alive = true;
    this.safety.nodeRestarted(id);
    this.safety.check(node.raft);
  }

  propose(id: NodeId, command: KvCommand, done: (outcome: CommandOutcome) => void): { accepted: boolean; leaderHint: NodeId } {
    const node = this.node(id);
    const duringWrite = node.writing !== null;
    if (!node.alive || node.busy !== null || node.stalledUntilTick > this.nowTick || (duringWrite && !node.raft.proposableDuringWrite()) || !node.proposals.hasRoom()) return { accepted: false, leaderHint: 0 };
    const result = node.raft.propose(JSON.stringify(command));
    this.safety.check(node.raft);
    if (!result.accepted) return { accepted: false, leaderHint: result.leaderHint };
    const token = this.nextToken++;
    this.commandOutcomes.set(token, done);
    const superseded = node.proposals.replace(result.index, result.term, token);
    if (superseded !== null) this.settle(superseded);
    if (duringWrite) this.flushDuringWrite(node); // RaftDriver batches a turn's proposals; one at a time is the harder case
    return { accepted: true, leaderHint: id };
  }

  read(id: NodeId, key: string, done: (outcome: ReadOutcome) => void): void {
    const node = this.node(id);
    if (!node.alive || node.busy !== null || node.stalledUntilTick > this.nowTick || node.writing !== null || node.reads.size >= waitingReadsPerNodeMax) {
      done({ ok: false });
      return;
    }
    const readContext = this.nextToken++;
    const leaderTerm = node.raft.role === 'leader' ? node.raft.term : -1;
    node.reads.set(readContext, { key, done, index: -1, startTick: this.nowTick, committedAtRequest: this.safety.committedIndexMax(), leaderTerm });
    this.readRule.requested(node.raft, readContext);
    node.raft.requestRead(readContext);
  }

  private settle(outcome: CommandOutcome): void {
    const done = this.commandOutcomes.get(outcome.token);
    this.commandOutcomes.delete(outcome.token);
    done?.(outcome);
  }

  tick(): void {
    this.nowTick++;
    this.wakeStalled();
    for (const message of this.network.deliver(this.nowTick)) {
      const node = this.node(message.to);
      if (!node.alive || node.busy !== null) continue;
      if (node.stalledUntilTick + 1 >= this.nowTick) {
        // Waits in its socket; for two ticks after it wakes, clients' requests are taken before it (a delay, as the network may add).
        this.network.hold(message, this.nowTick);
        continue;
      }
      if (node.writing !== null) {
        this.stepDuringWrite(node, message);
        continue;
      }
      this.readRule.delivered(node.raft, message);
      node.raft.step(message);
      this.safety.check(node.raft);
    }
    if (this.hints.length > 0) this.deliverHints();
    for (const node of this.nodes.values()) {
      if (!node.alive || node.busy !== null) continue;
      if (node.stalledUntilTick > this.nowTick) {
        node.stallOwed += node.clockRate;
        continue;
      }
      if (node.writing !== null) {
        const { ready, crashAt, doneAtTick } = node.writing;
        if (this.nowTick < doneAtTick) {
          node.clockOwed += node.clockRate;
          continue;
        }
        node.writing = null;
        // A crash before the save falls after the acknowledgements stepped during the write.
        if (crashAt === 'beforeSave') {
          this.crashInReady(node, crashAt);
          continue;
        }
        this.saveAndFinish(node, ready, crashAt);
        if (!node.alive || node.busy !== null) continue;
      }
      this.expireReads(node);
      node.clockOwed += node.clockRate;
      for (; node.clockOwed >= 1; node.clockOwed--) node.raft.tick();
      this.safety.check(node.raft);
      if (this.random.chance(this.readyProbability)) this.handleReady(node);
    }
  }

  /** Send the leader's appends, apply what is committed, persist, send the rest, advance (RaftDriver's order). */
  handleReady(node: SimNode): void {
    const raft = node.raft;
    if (!raft.hasReady()) return;
    const ready = raft.ready();
    this.safety.checkEntries(raft, ready.entries);
    const crashAt = this.pickReadyCrash();
    // As RaftDriver does: a leader's appends and heartbeats leave before its write, so a crash
    // before or during the save falls after they were sent (what the leader had not written is lost).
    for (const message of ready.messages) if (sendableBeforePersist(message)) this.sendMessage(raft, message);
    // As RaftDriver does: committed entries are applied (their writers answered) before the write.
    if (ready.snapshot === null) this.applyEntries(node, ready.committedEntries);
    const spanProbability = this.options.writeSpanProbability ?? 0;
    if (spanProbability > 0 && raft.role === 'leader' && ready.entries.length > 0 && this.random.chance(spanProbability)) {
      node.writing = { ready, crashAt, doneAtTick: this.nowTick + 1 + this.random.nextInt(3) };
      return;
    }
    if (crashAt === 'beforeSave') return this.crashInReady(node, crashAt);
    this.saveAndFinish(node, ready, crashAt);
  }

  /** A leader's acknowledgement stepped while its write is under way, or any other message held until it completes. */
  private stepDuringWrite(node: SimNode, message: Message): void {
    const raft = node.raft;
    if (!raft.steppableDuringWrite(message)) return this.network.hold(message, this.nowTick);
    this.readRule.delivered(raft, message);
    raft.step(message);
    this.safety.check(raft);
    this.flushDuringWrite(node);
  }

  /** What stepping or proposing during a write left: its appends sent, its committed entries applied (RaftDriver.stepDuringWrite). */
  private flushDuringWrite(node: SimNode): void {
    const raft = node.raft;
    const early = raft.readyDuringWrite();
    for (const sent of early.messages) this.sendMessage(raft, sent);
    this.applyEntries(node, early.committedEntries);
  }

  private saveAndFinish(node: SimNode, ready: Ready, crashAt: ReadyCrashPoint | null): void {
    const saved = node.storage.save(ready);
    if (crashAt === 'duringSave') return this.crashInReady(node, crashAt);
    if (saved instanceof Promise) this.whenSettled(node, saved, () => this.finishReady(node, ready, crashAt));
    else this.finishReady(node, ready, crashAt);
  }

  /** The Ready is saved: check the contract, then send, apply, advance. */
  private finishReady(node: SimNode, ready: Ready, crashAt: ReadyCrashPoint | null): void {
    const raft = node.raft;
    this.safety.checkPersisted(node.id, ready, node.storage);
    if (crashAt === 'afterSave') return this.crashInReady(node, crashAt);
    for (const message of ready.messages) if (!sendableBeforePersist(message)) this.sendMessage(raft, message);
    if (crashAt === 'afterSend') return this.crashInReady(node, crashAt);
    if (ready.snapshot !== null) {
      node.machine.restore(ready.snapshot.data);
      for (const outcome of node.proposals.snapshotRestored(ready.snapshot.index)) this.settle(outcome);
      this.applyEntries(node, ready.committedEntries);
    }
    this.applyReady(node, ready);
    raft.advance(ready);
    this.safety.check(raft);
    this.serveReads(node);
    this.maybeCompact(node);
  }

  private sendMessage(raft: Raft, message: Message): void {
    this.readRule.sent(raft, message);
    this.network.send(message, this.nowTick);
  }

  private pickReadyCrash(): ReadyCrashPoint | null {
    if (this.readyCrashProbability === 0 || !this.random.chance(this.readyCrashProbability)) return null;
    return this.random.pick(readyCrashPoints);
  }

  /** The node dies in the middle of a Ready: what it had not saved (or sent) is gone. */
  private crashInReady(node: SimNode, point: ReadyCrashPoint): void {
    this.readyCrashes[point]++;
    this.crash(node.id);
  }

  private applyEntries(node: SimNode, entries: readonly Entry[]): void {
    for (const entry of entries) {
      this.safety.checkApplied(entry);
      const result = isApplicable(entry) ? node.machine.apply(entry) : null;
      const outcome = node.proposals.applied(entry, result);
      if (outcome !== null) this.settle(outcome);
    }
  }

  private applyReady(node: SimNode, ready: Ready): void {
    for (const state of ready.readStates) {
      const read = node.reads.get(state.readContext);
      if (read === undefined) continue;
      this.safety.checkReadIndex(node.id, read.committedAtRequest, state.index);
      if (read.leaderTerm >= 0) this.readRule.releasedLocally(node.raft, state.readContext, read.leaderTerm);
      read.index = state.index;
    }
    for (const rejection of ready.readRejections) {
      const read = node.reads.get(rejection.readContext);
      node.reads.delete(rejection.readContext);
      read?.done({ ok: false });
    }
  }

  /** A confirmed read is served once the machine has applied its read index. */
  private serveReads(node: SimNode): void {
    for (const [readContext, read] of node.reads) {
      if (read.index < 0 || read.index > node.raft.log.applied) continue;
      node.reads.delete(readContext);
      read.done({ ok: true, value: node.machine.get(read.key) });
    }
  }

  private expireReads(node: SimNode): void {
    for (const [readContext, read] of node.reads) {
      if (this.nowTick - read.startTick < readWaitTicksMax) continue;
      node.reads.delete(readContext);
      read.done({ ok: false });
    }
  }

  /**
   * As RaftDriver does: a compaction at the applied index, or (RaftDriver with a machine that
   * serialises in parts) a view taken now and stored as a compaction at that index a few applied
   * entries later (Raft.compactAt), with entries applied, snapshots installed and crashes in
   * between. Which one is decided by the applied index, not a draw, so seeds keep their draws.
   */
  private maybeCompact(node: SimNode): void {
    const log = node.raft.log;
    const deferred = node.deferredSnapshot;
    if (deferred !== null) {
      if (log.applied < deferred.dueApplied) return;
      node.deferredSnapshot = null;
      if (deferred.index > log.snapshot.index) this.storeCompaction(node, node.raft.compactAt(deferred.index, deferred.config, deferred.data));
      return;
    }
    if (log.applied - log.snapshot.index < this.options.compactEntriesThreshold) return;
    if (log.applied % 2 === 0) {
      node.deferredSnapshot = { index: log.applied, config: node.raft.config, data: node.machine.snapshot(), dueApplied: log.applied + 1 + (log.applied % 5) };
      return;
    }
    this.storeCompaction(node, node.raft.compact(log.applied, node.machine.snapshot()));
  }

  private storeCompaction(node: SimNode, snapshot: Snapshot): void {
    const compacted = node.storage.compact(snapshot);
    if (compacted instanceof Promise) this.whenSettled(node, compacted, () => {});
  }

  /** Members of the configuration the leader (or, failing that, any live node) knows. */
  memberIds(): NodeId[] {
    const reference = this.leader() ?? [...this.nodes.values()].find((node) => node.alive);
    if (reference === undefined) return [];
    return [...reference.raft.config.voters, ...reference.raft.config.learners];
  }
}
