// How a caller learns what became of its proposal. Raft.propose returns the (index, term) the entry
// was given; when the entry at that index is applied, the proposal was applied if the terms match
// and was certainly dropped if they do not (only one entry is ever committed at an index). A
// snapshot that jumps over the index leaves the outcome unknown to this node.
import { assert } from '../errors.ts';
import type { Entry } from './types.ts';

export type ProposalOutcome<Token, Result> =
  | { readonly token: Token; readonly outcome: 'applied'; readonly result: Result }
  | { readonly token: Token; readonly outcome: 'dropped' }
  | { readonly token: Token; readonly outcome: 'unknown' };

interface Tracked<Token> {
  readonly term: number;
  readonly token: Token;
}

export class ProposalTracker<Token, Result> {
  private readonly proposalsMax: number;
  private readonly byIndex = new Map<number, Tracked<Token>>();

  constructor(proposalsMax: number) {
    assert(proposalsMax >= 1, 'at least one proposal may be tracked');
    this.proposalsMax = proposalsMax;
  }

  get size(): number {
    return this.byIndex.size;
  }

  /** Returns false when the tracker is full: the caller must refuse the proposal instead. */
  hasRoom(): boolean {
    return this.byIndex.size < this.proposalsMax;
  }

  track(index: number, term: number, token: Token): void {
    assert(this.hasRoom(), 'tracked proposals within proposalsMax');
    const previous = this.byIndex.get(index);
    assert(previous === undefined || previous.term < term, 'one proposal per (index, term)');
    this.byIndex.set(index, { term, token });
  }

  /**
   * Track a proposal at an index an earlier proposal of this node held. The earlier one is not
   * certainly dropped (a later leader may still hold and commit it), so its outcome is unknown.
   */
  replace(index: number, term: number, token: Token): ProposalOutcome<Token, Result> | null {
    const previous = this.byIndex.get(index);
    this.byIndex.delete(index);
    this.track(index, term, token);
    return previous === undefined ? null : { token: previous.token, outcome: 'unknown' };
  }

  applied(entry: Entry, result: Result | null): ProposalOutcome<Token, Result> | null {
    const tracked = this.byIndex.get(entry.index);
    if (tracked === undefined) return null;
    this.byIndex.delete(entry.index);
    if (tracked.term === entry.term && result !== null) return { token: tracked.token, outcome: 'applied', result };
    return { token: tracked.token, outcome: 'dropped' };
  }

  snapshotRestored(snapshotIndex: number): ProposalOutcome<Token, Result>[] {
    const outcomes: ProposalOutcome<Token, Result>[] = [];
    for (const [index, tracked] of this.byIndex) {
      if (index > snapshotIndex) continue;
      this.byIndex.delete(index);
      outcomes.push({ token: tracked.token, outcome: 'unknown' });
    }
    return outcomes;
  }
}
