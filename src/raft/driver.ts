// RaftDriver: the loop that runs one Raft core against real storage, a state machine and a
// transport, in the order the Ready contract requires (persist, send, apply, advance). Inputs
// (ticks, messages, proposals, reads) that arrive while a Ready is being persisted wait in a
// bounded queue, so the core never sees input between ready() and advance(). Callers get a
// promise per proposal that settles when the entry is applied (with the machine's result), or at
// once when it is refused (with the leader hint to forward to).
import { assert } from '../errors.ts';
import { ProposalTracker } from './proposals.ts';
import type { ProposalOutcome } from './proposals.ts';
import type { Raft } from './raft.ts';
import type { StateMachine } from './state-machine.ts';
import { isApplicable } from './state-machine.ts';
import { sendableBeforePersist } from './types.ts';
import type { Config, ConfigChange, Entry, Message, NodeId, ProposalRejectReason, ProposalResult, Ready, Snapshot } from './types.ts';

/** What the driver needs from storage; LevelStorage and MemoryStorage-like stores provide it. */
export interface DurableLog {
  save(ready: Pick<Ready, 'hardState' | 'entries' | 'snapshot'>): Promise<void> | void;
  compact(snapshot: Snapshot): Promise<void> | void;
  /** Optional: make a snapshot's data durable ahead of the compact() that stores it (LevelStorage writes its file), off the driver's pass. */
  stageSnapshot?(snapshot: Snapshot): Promise<void>;
}

export type ProposeOutcome<Result> =
  | { readonly status: 'applied'; readonly result: Result }
  | { readonly status: 'rejected'; readonly reason: ProposalRejectReason | 'queueFull'; readonly leaderHint: NodeId }
  /** Certainly not applied (another entry was committed at its index): safe to retry. */
  | { readonly status: 'dropped' }
  /** This node cannot tell (snapshot over it, or leadership changed): the caller must check. */
  | { readonly status: 'unknown' };

export type ReadOutcome = { readonly ok: true } | { readonly ok: false; readonly leaderHint: NodeId };

export interface DriverOptions<Result> {
  readonly raft: Raft;
  readonly storage: DurableLog;
  readonly machine: StateMachine<Result>;
  readonly send: (messages: readonly Message[]) => void;
  readonly inputsQueuedMax: number;
  /** Proposals awaiting their outcome, and (separately) reads awaiting theirs, at most. */
  readonly proposalsMax: number;
  /** Compact once this many applied entries follow the last snapshot. */
  readonly compactEntriesThreshold: number;
}

/**
 * A compaction waits, past `compactEntriesThreshold`, until the entries applied since the last
 * snapshot hold at least this share of that snapshot's characters: each compaction serialises the
 * whole machine, so with a fixed count the work per entry would grow with the machine; this way a
 * snapshot costs at most 1 / share characters serialised per character of log, and the log held
 * (in memory and on disk) is at most that share of the snapshot past the entry threshold.
 */
export const compactLogShareMin = 0.5;
/** Characters of a snapshot serialised between two turns of the event loop (snapshotParts). */
export const snapshotCharsPerTurn = 256 * 1024;

/** Upper bounds (ms) of the buckets of DriverTimings' histograms; the last is unbounded. */
export const timingBucketsMs = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256, Infinity] as const;

/** Counts of durations by timingBucketsMs; cumulative since start, so two readings subtract. */
export class TimingHistogram {
  readonly counts: number[] = timingBucketsMs.map(() => 0);
  totalMs = 0;

  add(ms: number): void {
    let bucket = 0;
    while (ms > timingBucketsMs[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.totalMs += ms;
  }
}

/**
 * Where a write's time goes on this node (bench/cluster.ts reads them through GET /raft/status):
 * each storage.save (the fsync'd LevelDB batch) on every node; on a leader, a proposal's wait in
 * the input queue (propose() called -> appended to the core's log) and from there until it is
 * applied (replicated to a quorum, durable, committed, applied). Counts of acknowledgements stepped
 * and entries applied while a write ran (pipelined Readies).
 */
export interface DriverTimings {
  readonly saveMs: TimingHistogram;
  readonly queuedMs: TimingHistogram;
  readonly appendedToAppliedMs: TimingHistogram;
  stepsDuringWrite: number;
  appliedDuringWrite: number;
}

/** A machine's snapshot serialised in the background, to be stored as the log's at `index`. */
type SerialisedSnapshot = { readonly index: number; readonly config: Config; readonly data: string; readonly charsAt: number } | { readonly error: unknown };

interface PendingRead {
  index: number;
  readonly resolve: (outcome: ReadOutcome) => void;
}

export class RaftDriver<Result> {
  private readonly options: DriverOptions<Result>;
  private readonly raft: Raft;
  private readonly proposals: ProposalTracker<number, Result>;
  private readonly waiting = new Map<number, (outcome: ProposeOutcome<Result>) => void>();
  /** performance.now() when each waiting proposal was appended to the core's log (DriverTimings). */
  private readonly appendedAtMs = new Map<number, number>();
  readonly timings: DriverTimings = { saveMs: new TimingHistogram(), queuedMs: new TimingHistogram(), appendedToAppliedMs: new TimingHistogram(), stepsDuringWrite: 0, appliedDuringWrite: 0 };
  private readonly reads = new Map<number, PendingRead>();
  private inputs: (() => void)[] = [];
  /** Resolved when the pass that takes the queued inputs has handled its Ready (receiveAll); one per queued request. */
  private passWaiters: (() => void)[] = [];
  private nextToken = 1;
  private running = false;
  /** A Ready's storage.save is under way (acknowledgements may be stepped meanwhile: stepDuringWrite). */
  private writing = false;
  /** Characters of entry data applied since start, and that count when the last snapshot's view was taken. */
  private appliedChars = 0;
  private appliedCharsAtSnapshot = 0;
  /** A snapshot being serialised in the background (snapshotParts), and the finished one the pump stores next. */
  private serialising: Promise<void> | null = null;
  private serialised: SerialisedSnapshot | null = null;
  /** settled() callers waiting for the running pump to stop. */
  private pumpStopped: (() => void)[] = [];
  /** Set when storage failed: the node stops rather than run on an unknown durable state. */
  failure: unknown = null;

  constructor(options: DriverOptions<Result>) {
    assert(options.inputsQueuedMax >= 1 && options.proposalsMax >= 1, 'driver bounds are positive');
    this.options = options;
    this.raft = options.raft;
    this.proposals = new ProposalTracker(options.proposalsMax);
    options.machine.restore(options.raft.log.snapshot.data);
  }

  /** Resolves once every queued input and Ready has been handled. */
  async settled(): Promise<void> {
    await this.pump();
    // A pass already under way (started by an input) is waited for too: returning at once would
    // let a caller that loops on tick() + settled() spin on microtasks and starve that pass's I/O.
    while (this.running || this.serialising !== null) {
      if (this.running) await new Promise<void>((resolve) => this.pumpStopped.push(resolve));
      else await this.serialising;
      await this.pump();
    }
  }

  tick(): void {
    this.enqueue(() => this.raft.tick());
  }

  receive(message: Message): void {
    this.enqueue(() => this.raft.step(message)); // a full queue drops it: Raft tolerates loss
  }

  /**
   * Steps `messages` in one pass and resolves once the Ready they led to is handled (persisted,
   * its messages sent), so a transport can carry the answers back on the request that brought
   * them. Messages a full queue refuses are dropped, as receive() drops them.
   */
  receiveAll(messages: readonly Message[]): Promise<void> {
    return new Promise((resolve) => {
      if (this.failure !== null) return resolve();
      const queued = this.stepDuringWrite(messages);
      if (queued.length === 0) return resolve(); // all stepped: what they led to is sent already
      for (const message of queued) {
        if (this.inputs.length >= this.options.inputsQueuedMax) break;
        this.inputs.push(() => this.raft.step(message));
      }
      this.passWaiters.push(resolve);
      void this.pump();
    });
  }

  /**
   * While this node (a leader) writes a Ready, its followers' acknowledgements are stepped at once
   * rather than after the write (Raft.steppableDuringWrite): an entry a quorum of followers holds,
   * written here by an earlier Ready, commits and is applied (its writer answered) without waiting
   * for this write, and the next appends leave as soon as a follower has answered. Returns the
   * messages that must wait for the pass.
   */
  private stepDuringWrite(messages: readonly Message[]): readonly Message[] {
    if (!this.writing) return messages;
    const queued = messages.filter((message) => !this.raft.steppableDuringWrite(message));
    if (queued.length === messages.length && messages.length > 0) return messages;
    try {
      for (const message of messages) if (this.raft.steppableDuringWrite(message)) this.raft.step(message);
      const early = this.raft.readyDuringWrite();
      if (early.messages.length > 0) this.options.send(early.messages);
      this.applyEntries(early.committedEntries);
      this.timings.stepsDuringWrite += messages.length - queued.length;
      this.timings.appliedDuringWrite += early.committedEntries.length;
    } catch (error) {
      this.failure = error; // as a failed pass: the node stops
      return [];
    }
    return queued;
  }

  propose(data: string): Promise<ProposeOutcome<Result>> {
    const calledAtMs = performance.now();
    return new Promise((resolve) => {
      const take = () => {
        const result = this.proposals.hasRoom() ? this.raft.propose(data) : { accepted: false as const, reason: 'overloaded' as const, leaderHint: this.raft.id };
        if (!result.accepted) {
          resolve({ status: 'rejected', reason: result.reason, leaderHint: result.leaderHint });
          return;
        }
        const token = this.nextToken++;
        this.waiting.set(token, resolve);
        const appendedAtMs = performance.now();
        this.timings.queuedMs.add(appendedAtMs - calledAtMs);
        this.appendedAtMs.set(token, appendedAtMs);
        const superseded = this.proposals.replace(result.index, result.term, token);
        if (superseded !== null) this.settle(superseded);
      };
      // A leader writing a Ready takes the proposal now (Raft.proposableDuringWrite), unless inputs
      // wait before it; its appends leave at the end of this turn of the loop, with those of every
      // proposal taken in the same turn (one batch, as a Ready's).
      if (this.writing && this.inputs.length === 0 && this.failure === null && this.raft.proposableDuringWrite()) {
        take();
        this.flushSoon();
        return;
      }
      if (!this.enqueue(take)) resolve({ status: 'rejected', reason: 'queueFull', leaderHint: this.raft.lead });
    });
  }

  private flushScheduled = false;

  /** readyDuringWrite() once this turn's proposals are in the log, if the write still runs (else the pass's next Ready sends them). */
  private flushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.writing && this.failure === null) this.stepDuringWrite([]);
    });
  }

  /**
   * A membership change, through the input queue. Resolves with the core's answer only (accepted:
   * the entry is in the leader's log); the caller watches the applied config for the outcome.
   */
  proposeConfigChange(change: ConfigChange): Promise<ProposalResult> {
    return new Promise((resolve) => {
      const queued = this.enqueue(() => resolve(this.raft.proposeConfigChange(change)));
      if (!queued) resolve({ accepted: false, reason: 'overloaded', leaderHint: this.raft.lead });
    });
  }

  /**
   * The transport's sign that `suspect` is gone (Raft.leaderLooksGone), through the input queue;
   * resolves with whether this node started a pre-vote on it (false too when the queue is full).
   */
  leaderLooksGone(suspect: NodeId): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.enqueue(() => resolve(this.raft.leaderLooksGone(suspect)))) resolve(false);
    });
  }

  /** Hand leadership to `target`, through the input queue (a leader leaving does this first). */
  transferLeadership(target: NodeId): void {
    this.enqueue(() => this.raft.transferLeadership(target));
  }

  /** A linearizable read barrier (ReadIndex): resolves ok once this node's machine may be read. */
  readBarrier(): Promise<ReadOutcome> {
    return new Promise((resolve) => {
      const queued = this.enqueue(() => {
        if (this.reads.size >= this.options.proposalsMax) {
          resolve({ ok: false, leaderHint: this.raft.lead });
          return;
        }
        const readContext = this.nextToken++;
        this.reads.set(readContext, { index: -1, resolve });
        this.raft.requestRead(readContext);
      });
      if (!queued) resolve({ ok: false, leaderHint: this.raft.lead });
    });
  }

  private enqueue(input: () => void): boolean {
    if (this.failure !== null || this.inputs.length >= this.options.inputsQueuedMax) return false;
    this.inputs.push(input);
    void this.pump();
    return true;
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let waiters: (() => void)[] = [];
    try {
      for (;;) { // until no input and no Ready remain; each pass handles one Ready
        const inputs = this.inputs;
        waiters = this.passWaiters;
        this.inputs = [];
        this.passWaiters = [];
        for (const input of inputs) input();
        if (this.raft.hasReady()) await this.handleReady(this.raft.ready());
        for (const resolve of waiters.splice(0)) resolve();
        if (this.serialised !== null) await this.storeSerialised();
        if (!this.raft.hasReady() && this.inputs.length === 0 && this.passWaiters.length === 0) break;
      }
    } catch (error) {
      this.failure = error;
      this.inputs = [];
    } finally {
      this.running = false;
      for (const resolve of this.pumpStopped.splice(0)) resolve();
      // A failed pass leaves nothing to wait for: every waiter is answered (the node stops).
      if (this.failure !== null) for (const resolve of [...waiters.splice(0), ...this.passWaiters.splice(0)]) resolve();
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    // A leader's appends leave first, so the followers write while this node does (see sendableBeforePersist).
    const early = ready.messages.filter(sendableBeforePersist);
    if (early.length > 0) this.options.send(early);
    // Committed entries are already durable on a quorum (a leader counts itself only up to what it
    // has written), so they are applied, and their writers answered, before this Ready's own write
    // rather than one fsync later: that write holds new entries, which these do not depend on.
    // Applying changes nothing durable (the machine is rebuilt from the log after a crash), and a
    // read waits for the read index to be applied either way. After a snapshot, the order stays.
    if (ready.snapshot === null) this.applyEntries(ready.committedEntries);
    this.writing = true;
    const saveStartedMs = performance.now();
    try {
      await this.options.storage.save(ready);
    } finally {
      this.writing = false;
    }
    this.timings.saveMs.add(performance.now() - saveStartedMs);
    if (early.length < ready.messages.length) this.options.send(early.length === 0 ? ready.messages : ready.messages.filter((message) => !sendableBeforePersist(message)));
    if (ready.snapshot !== null) {
      this.options.machine.restore(ready.snapshot.data);
      this.appliedCharsAtSnapshot = this.appliedChars;
      for (const outcome of this.proposals.snapshotRestored(ready.snapshot.index)) this.settle(outcome);
      this.applyEntries(ready.committedEntries);
    }
    for (const state of ready.readStates) {
      const read = this.reads.get(state.readContext);
      if (read !== undefined) read.index = state.index;
    }
    for (const rejection of ready.readRejections) {
      this.reads.get(rejection.readContext)?.resolve({ ok: false, leaderHint: rejection.leaderHint });
      this.reads.delete(rejection.readContext);
    }
    this.raft.advance(ready);
    this.serveReads();
    await this.maybeCompact();
  }

  private applyEntries(entries: readonly Entry[]): void {
    for (const entry of entries) {
      const result = isApplicable(entry) ? this.options.machine.apply(entry) : null;
      this.appliedChars += entry.data.length;
      const outcome = this.proposals.applied(entry, result);
      if (outcome !== null) this.settle(outcome);
    }
  }

  private serveReads(): void {
    for (const [readContext, read] of this.reads) {
      if (read.index < 0 || read.index > this.raft.log.applied) continue;
      this.reads.delete(readContext);
      read.resolve({ ok: true });
    }
  }

  private async maybeCompact(): Promise<void> {
    const log = this.raft.log;
    if (this.serialising !== null || this.serialised !== null) return;
    if (log.applied - log.snapshot.index < this.options.compactEntriesThreshold) return;
    if (this.appliedChars - this.appliedCharsAtSnapshot < log.snapshot.data.length * compactLogShareMin) return;
    const parts = this.options.machine.snapshotParts?.();
    if (parts === undefined) {
      this.appliedCharsAtSnapshot = this.appliedChars;
      const snapshot = this.raft.compact(log.applied, this.options.machine.snapshot());
      await this.options.storage.compact(snapshot);
      return;
    }
    // The view is taken here, at the applied index, and serialised while the pump goes on; the
    // pump stores it between two Readies (storeSerialised), as one compaction at that index.
    const view = { index: log.applied, term: log.term(log.applied), config: this.raft.config, charsAt: this.appliedChars };
    this.serialising = joinInTurns(parts).then(async (data) => {
      await this.options.storage.stageSnapshot?.({ index: view.index, term: view.term, config: view.config, data });
      this.serialised = { ...view, data };
    }).catch((error: unknown) => void (this.serialised = { error })).finally(() => {
      this.serialising = null;
      void this.pump();
    });
  }

  /** Stores a snapshot serialised in the background, unless the log moved past its index (a leader's snapshot was installed). */
  private async storeSerialised(): Promise<void> {
    const done = this.serialised!;
    this.serialised = null;
    if (this.failure !== null) return; // the node stopped: nothing more is written
    if ('error' in done) throw done.error;
    if (done.index <= this.raft.log.snapshot.index) return;
    const snapshot = this.raft.compactAt(done.index, done.config, done.data);
    this.appliedCharsAtSnapshot = done.charsAt;
    await this.options.storage.compact(snapshot);
  }

  private settle(outcome: ProposalOutcome<number, Result>): void {
    const resolve = this.waiting.get(outcome.token);
    this.waiting.delete(outcome.token);
    const appendedAtMs = this.appendedAtMs.get(outcome.token);
    this.appendedAtMs.delete(outcome.token);
    if (appendedAtMs !== undefined && outcome.outcome === 'applied') this.timings.appendedToAppliedMs.add(performance.now() - appendedAtMs);
    if (resolve === undefined) return;
    if (outcome.outcome === 'applied') resolve({ status: 'applied', result: outcome.result });
    else resolve({ status: outcome.outcome });
  }
}

/** `parts` joined, read `snapshotCharsPerTurn` characters at a time with a turn of the event loop between. */
async function joinInTurns(parts: Iterable<string>): Promise<string> {
  const pieces: string[] = [];
  let charsThisTurn = 0;
  for (const part of parts) {
    pieces.push(part);
    charsThisTurn += part.length;
    if (charsThisTurn < snapshotCharsPerTurn) continue;
    charsThisTurn = 0;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return pieces.join('');
}
