// Membership changes as log entries, one server at a time (Raft thesis §4.1). A change takes
// effect on each node when it applies the entry; the leader allows one unapplied change at a time,
// and a learner is promoted only once it has caught up (checked in Raft.proposeConfigChange).
import { assert } from '../errors.ts';
import { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import { broadcastAppend, maybeCommit } from './replication.ts';
import type { Config, ConfigChange, NodeId } from './types.ts';
import { nodeNone } from './types.ts';

export function applyChange(config: Config, change: ConfigChange): Config {
  const voters = config.voters.filter((id) => id !== change.nodeId);
  const learners = config.learners.filter((id) => id !== change.nodeId);
  if (change.kind === 'addVoter' || change.kind === 'promoteLearner') voters.push(change.nodeId);
  else if (change.kind === 'addLearner') learners.push(change.nodeId);
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners };
}

function members(config: Config): NodeId[] {
  return [...config.voters, ...config.learners];
}

/** A new leader tracks every other member, starting optimistic (next = last + 1) and probing. */
export function resetProgress(raft: Raft): void {
  raft.progress.clear();
  for (const id of members(raft.config)) {
    if (id === raft.id) continue;
    raft.progress.set(id, newProgress(raft, id));
  }
}

function newProgress(raft: Raft, id: NodeId): Progress {
  return new Progress({
    next: raft.log.lastIndex() + 1,
    isLearner: raft.config.learners.includes(id),
    inflightAppendsMax: raft.options.inflightAppendsMax,
  });
}

export function applyConfigChange(raft: Raft, change: ConfigChange): void {
  assert(change.nodeId !== nodeNone, 'a config change names a node');
  raft.config = applyChange(raft.config, change);
  if (raft.role !== 'leader') return;
  if (!raft.config.voters.includes(raft.id)) {
    // A leader removed from the voters steps down; the remaining voters elect a successor.
    raft.becomeFollower(raft.term, nodeNone);
    return;
  }
  const wanted = new Set(members(raft.config));
  for (const id of raft.progress.keys()) if (!wanted.has(id)) raft.progress.delete(id);
  for (const id of wanted) {
    if (id === raft.id) continue;
    const existing = raft.progress.get(id);
    const isLearner = raft.config.learners.includes(id);
    if (existing === undefined || existing.isLearner !== isLearner) {
      const progress = newProgress(raft, id);
      if (existing !== undefined) progress.maybeUpdate(existing.match);
      raft.progress.set(id, progress);
    }
  }
  if (raft.leadTransferee !== nodeNone && !raft.config.voters.includes(raft.leadTransferee)) raft.leadTransferee = nodeNone;
  // The quorum may have shrunk: entries may be committed now.
  maybeCommit(raft);
  broadcastAppend(raft);
}
