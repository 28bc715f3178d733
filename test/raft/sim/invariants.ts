// Raft's safety properties (Raft paper, figure 3), checked after every step of the simulation:
// - Election Safety: at most one leader per term.
// - Log Matching: an (index, term) pair names one entry, with one predecessor term; by induction,
//   two logs holding the same (index, term) hold the same prefix.
// - Leader Append-Only: a leader never overwrites or deletes entries in its log during its term.
// - Leader Completeness: a leader's log holds every entry committed before its term.
// - State Machine Safety: no two nodes apply different entries at one index.
// And two rules of ours, checked at every Ready and every read:
// - Persistence contract: whatever a Ready's messages promise (a vote, an acknowledged entry, a
//   term) is covered by what storage holds once the Ready is saved, before they are sent.
// - Read release: a read is served at an index at least as high as every index committed before
//   the read was requested (what makes ReadIndex linearizable).
import { assert } from '../../../src/errors.ts';
import type { Raft } from '../../../src/raft/raft.ts';
import type { Entry, HardState, NodeId, Ready } from '../../../src/raft/types.ts';

/** What a storage holds durably: what a restart would recover. */
export interface DurableView {
  durableHardState(): HardState;
  durableLastIndex(): number;
}

interface EntryIdentity {
  readonly data: string;
  readonly previousTerm: number;
}

export class SafetyChecker {
  private readonly leaderByTerm = new Map<number, NodeId>();
  private readonly entryByIndexTerm = new Map<string, EntryIdentity>();
  /** committedTermByIndex[i]: the term of the entry committed at index i, as first observed. */
  private readonly committedTermByIndex: number[] = [0];
  private readonly committedDataByIndex: string[] = [''];
  /**
   * committedInTermByIndex[i]: the term of the node that first observed index i committed, which is
   * the term of the leader that committed it (the commit index travels only in that leader's
   * messages, and a node takes their term before it takes their commit).
   */
  private readonly committedInTermByIndex: number[] = [0];
  /** The highest commit index checked per node, reset when the node restarts. */
  private readonly checkedCommitByNode = new Map<NodeId, number>();
  private readonly leaderTermChecked = new Map<NodeId, number>();
  /** Per leader: the term it leads in and the last (index, term) of its log seen in that term. */
  private readonly leaderLastEntry = new Map<NodeId, { leaderTerm: number; index: number; term: number }>();

  /** node → index → the term of the entry it last stored there. */
  private readonly storedTerm = new Map<NodeId, Map<number, number>>();
  /** `${index}:${term}` → the nodes that ever stored that entry. */
  private readonly storers = new Map<string, Set<NodeId>>();
  /**
   * Figure 8 (d): an entry a majority had stored (uncommitted, of an earlier term) overwritten by
   * a later leader's entry. Counted, not asserted: it is legal, and it is what makes the commit
   * rule of §5.4.2 matter, so a sweep should reach it.
   */
  figure8Overwrites = 0;

  committedIndexMax(): number {
    return this.committedTermByIndex.length - 1;
  }

  nodeRestarted(id: NodeId): void {
    this.checkedCommitByNode.delete(id);
  }

  /** Check one node after it stepped, ticked or handled a Ready. */
  check(raft: Raft): void {
    if (raft.role === 'leader') this.checkLeader(raft);
    this.checkCommitted(raft);
  }

  private checkLeader(raft: Raft): void {
    const leader = this.leaderByTerm.get(raft.term);
    assert(leader === undefined || leader === raft.id, `election safety: term ${raft.term} has leaders ${leader} and ${raft.id}`);
    this.leaderByTerm.set(raft.term, raft.id);
    this.checkAppendOnly(raft);
    if (this.leaderTermChecked.get(raft.id) === raft.term) return;
    this.leaderTermChecked.set(raft.id, raft.term);
    // Leader completeness: every entry committed before its term is in the new leader's log. Not
    // those committed in a later term: a candidate stalled in an older term may win with the votes
    // it finds waiting when it wakes, after a later leader committed (it then commits nothing).
    const log = raft.log;
    let committedMax = this.committedIndexMax();
    while (committedMax > 0 && this.committedInTermByIndex[committedMax]! >= raft.term) committedMax--;
    assert(log.lastIndex() >= committedMax, `leader completeness: leader ${raft.id} of term ${raft.term} ends at ${log.lastIndex()} < committed ${committedMax}`);
    for (let index = log.snapshot.index + 1; index <= committedMax; index++) {
      assert(log.term(index) === this.committedTermByIndex[index], `leader completeness: leader ${raft.id} term ${raft.term} index ${index}`);
    }
  }

  private checkAppendOnly(raft: Raft): void {
    const log = raft.log;
    const seen = this.leaderLastEntry.get(raft.id);
    if (seen !== undefined && seen.leaderTerm === raft.term) {
      assert(log.lastIndex() >= seen.index, `leader append-only: leader ${raft.id} of term ${raft.term} shrank its log below ${seen.index}`);
      const termNow = log.term(seen.index);
      assert(termNow === -1 || termNow === seen.term, `leader append-only: leader ${raft.id} of term ${raft.term} rewrote index ${seen.index}`);
    }
    this.leaderLastEntry.set(raft.id, { leaderTerm: raft.term, index: log.lastIndex(), term: log.lastTerm() });
  }

  private checkCommitted(raft: Raft): void {
    const log = raft.log;
    const from = Math.max(this.checkedCommitByNode.get(raft.id) ?? 0, log.snapshot.index) + 1;
    for (let index = from; index <= log.committed; index++) {
      const entry = log.entry(index);
      const knownTerm = this.committedTermByIndex[index];
      if (knownTerm === undefined) {
        assert(index === this.committedTermByIndex.length, `commit index ${index} leaves no gap`);
        this.committedTermByIndex.push(entry.term);
        this.committedDataByIndex.push(entry.data);
        this.committedInTermByIndex.push(raft.term);
      } else {
        assert(knownTerm === entry.term && this.committedDataByIndex[index] === entry.data, `state machine safety: node ${raft.id} committed a different entry at ${index}`);
      }
    }
    this.checkedCommitByNode.set(raft.id, Math.max(log.committed, from - 1));
  }

  /** Log matching, for entries a node is about to persist. */
  checkEntries(raft: Raft, entries: readonly Entry[]): void {
    for (const entry of entries) {
      const previousTerm = raft.log.term(entry.index - 1);
      const key = `${entry.index}:${entry.term}`;
      this.countOverwrite(raft, entry, key);
      const known = this.entryByIndexTerm.get(key);
      if (known === undefined) {
        this.entryByIndexTerm.set(key, { data: entry.data, previousTerm });
        continue;
      }
      assert(known.data === entry.data, `log matching: two entries at index ${entry.index} term ${entry.term}`);
      assert(previousTerm === -1 || known.previousTerm === -1 || known.previousTerm === previousTerm, `log matching: entry ${key} follows different terms`);
    }
  }

  private countOverwrite(raft: Raft, entry: Entry, key: string): void {
    let stored = this.storedTerm.get(raft.id);
    if (stored === undefined) {
      stored = new Map();
      this.storedTerm.set(raft.id, stored);
    }
    const overwrittenTerm = stored.get(entry.index);
    if (overwrittenTerm !== undefined && overwrittenTerm !== entry.term && (this.storers.get(`${entry.index}:${overwrittenTerm}`)?.size ?? 0) >= raft.quorum()) this.figure8Overwrites++;
    stored.set(entry.index, entry.term);
    let storers = this.storers.get(key);
    if (storers === undefined) {
      storers = new Set();
      this.storers.set(key, storers);
    }
    storers.add(raft.id);
  }

  /** State machine safety at apply time: the applied entry is the committed one. */
  checkApplied(entry: Entry): void {
    assert(this.committedTermByIndex[entry.index] === entry.term, `state machine safety: applied ${entry.index}:${entry.term} is not the committed entry`);
  }

  /** Persistence contract: run after the Ready was saved and before its messages are sent. */
  checkPersisted(id: NodeId, ready: Ready, storage: DurableView): void {
    const hardState = storage.durableHardState();
    const lastIndex = storage.durableLastIndex();
    for (const message of ready.messages) {
      // A pre-vote (and its grant) asks about the next term without taking it: nothing to persist.
      if (message.type === 'preVote' || message.type === 'preVoteResponse') continue;
      assert(message.term <= hardState.term, `persistence: node ${id} sent ${message.type} of term ${message.term} with term ${hardState.term} stored`);
      if (message.type === 'voteResponse' && !message.reject) {
        assert(hardState.term > message.term || hardState.vote === message.to, `persistence: node ${id} granted its term ${message.term} vote to ${message.to} with vote ${hardState.vote} stored`);
      }
      if (message.type === 'appendResponse' && !message.reject) {
        assert(message.index <= lastIndex, `persistence: node ${id} acknowledged index ${message.index} with ${lastIndex} stored`);
      }
    }
  }

  /** Read release: `index` serves a read requested when `committedAtRequest` was committed. */
  checkReadIndex(id: NodeId, committedAtRequest: number, index: number): void {
    assert(index >= committedAtRequest, `read release: node ${id} served a read at ${index}, below ${committedAtRequest} committed before the read began`);
  }
}
