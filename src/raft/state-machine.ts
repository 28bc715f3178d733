// The state machine a Raft group replicates. The core hands committed entries out in log order;
// the caller applies each normal, non-empty entry (an empty entry is a new leader's no-op, a
// config entry is membership and is applied by the core itself).
import type { Entry } from './types.ts';

export interface StateMachine<Result> {
  /** Apply one committed entry; must be deterministic: every replica computes the same result. */
  apply(entry: Entry): Result;
  /** A serialisation of everything applied so far, for log compaction and InstallSnapshot. */
  snapshot(): string;
  /**
   * Optional: the same serialisation in parts, of a view taken when this is called (cheap: the
   * state's containers, not their contents, are copied) and read lazily, so the caller can yield
   * to the event loop between parts while later entries are applied. The parts joined are a
   * snapshot that restore() takes, of the state as it was at the call.
   */
  snapshotParts?(): Iterable<string>;
  /** Replace the whole state by a snapshot (after a restart, or one installed from the leader). */
  restore(data: string): void;
}

/** Whether the caller should hand `entry` to StateMachine.apply. */
export function isApplicable(entry: Entry): boolean {
  return entry.kind === 'normal' && entry.data !== '';
}
