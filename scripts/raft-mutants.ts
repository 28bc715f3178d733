// `npm run raft:mutants`: our own small mutation harness for the Raft core. Each mutant is one
// realistic bug written as an exact source edit (a string that must occur exactly once, and its
// replacement). The harness copies the repository's src/ and test/ into a temporary directory
// once, applies one mutant at a time there (the worktree is never edited), and runs the raft test
// files that `npm test` runs, cheapest first, stopping at the first one that fails: the mutant is
// caught by that file. A file that does not finish within its time limit also counts as caught
// (a hang is a failure `npm test` would report), and is named so. Exits 1 if any mutant survives
// or no longer applies (its text is gone from the source: update the list).
//   --only a,b          run only these mutants (by id)
//   --files x,y         run only these test files (paths under test/raft), e.g. to check that a
//                       new unit test alone catches its mutant
//   --list              print the list and exit
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export interface Mutant {
  readonly id: string;
  readonly file: string;
  readonly find: string;
  readonly replace: string;
  /** The rule the edit breaks, in a few words. */
  readonly breaks: string;
}

export const mutants: readonly Mutant[] = [
  {
    id: 'leader-counts-unwritten-entries',
    file: 'src/raft/replication.ts',
    find: 'matches.push(voter === raft.id ? raft.log.stableIndex : (raft.progress.get(voter)?.match ?? 0));',
    replace: 'matches.push(voter === raft.id ? raft.log.lastIndex() : (raft.progress.get(voter)?.match ?? 0));',
    breaks: 'a leader counts itself towards a commit only up to what it has written (its acknowledgements are stepped while it writes)',
  },
  {
    id: 'ack-during-config-apply',
    file: 'src/raft/raft.ts',
    find: "return this.readyOutstanding && !this.readyChangesConfig && this.role === 'leader' && message.term",
    replace: "return this.readyOutstanding && this.role === 'leader' && message.term",
    breaks: 'nothing is stepped while a Ready applies a membership change (a read confirmed under the old one)',
  },
  {
    id: 'apply-past-own-log-during-write',
    file: 'src/raft/raft.ts',
    find: 'const through = Math.min(this.log.committed, this.writingThroughIndex);',
    replace: 'const through = this.log.committed;',
    breaks: 'a leader applies during its write only entries it holds once that write ends (a compaction at the applied index stays within its log; seed 749)',
  },
  {
    id: 'config-entry-applied-during-write',
    file: 'src/raft/raft.ts',
    find: 'const committedEntries = configAt === -1 ? committed : committed.slice(0, configAt);',
    replace: 'const committedEntries = committed;',
    breaks: 'entries handed out while the leader writes stop before a config entry (advance applies it to the membership)',
  },
  {
    id: 'follower-commit-past-last-new',
    file: 'src/raft/replication.ts',
    find: 'log.commitTo(Math.min(message.commit, lastNewIndex));',
    replace: 'log.commitTo(Math.min(message.commit, log.lastIndex()));',
    breaks: 'a follower commits only up to the last entry the leader sent (figure 2, AppendEntries 5)',
  },
  {
    id: 'vote-only-change-not-persisted',
    file: 'src/raft/raft.ts',
    find: 'const changed = hardState.term !== persisted.term || hardState.vote !== persisted.vote || hardState.commit !== persisted.commit;',
    replace: 'const changed = hardState.term !== persisted.term || hardState.commit !== persisted.commit;',
    breaks: 'a vote is durable before the grant leaves the node (figure 2, persistent state)',
  },
  {
    id: 'pre-vote-raises-term',
    file: 'src/raft/raft.ts',
    find: "const keepsTerm = message.type === 'preVote' || (message.type === 'preVoteResponse' && !message.reject);",
    replace: "const keepsTerm = message.type === 'preVoteResponse' && !message.reject;",
    breaks: 'a pre-vote request does not change the receiver\'s term (thesis §9.6)',
  },
  {
    id: 'lease-read-without-check-quorum',
    file: 'src/raft/reads.ts',
    find: 'raft.options.readLease && raft.options.checkQuorum && leaseHolds(raft)',
    replace: 'raft.options.readLease && leaseHolds(raft)',
    breaks: 'a lease read needs check-quorum, or a deposed leader keeps serving (thesis §6.4.1)',
  },
  {
    id: 'level-storage-unsynced',
    file: 'src/raft/level-storage.ts',
    find: 'await this.db.batch(this.withHardState(operations), { sync: true });',
    replace: 'await this.db.batch(this.withHardState(operations), { sync: false });',
    breaks: 'a Ready is on disk (fsync) before anything depends on it',
  },
  {
    id: 'level-storage-entries-unsynced',
    file: 'src/raft/level-storage.ts',
    find: 'let sync = operations.length > 0 || installed !== null;',
    replace: 'let sync = installed !== null;',
    breaks: 'new entries are on disk (fsync) before they are acknowledged; only a commit-index-only Ready may skip the write',
  },
  {
    id: 'level-storage-vote-unsynced',
    file: 'src/raft/level-storage.ts',
    find: 'sync ||= ready.hardState.term !== this.hardState.term || ready.hardState.vote !== this.hardState.vote;',
    replace: 'sync ||= ready.hardState.term !== this.hardState.term;',
    breaks: 'a vote is on disk (fsync) before it is granted',
  },
  {
    id: 'one-ack-releases-every-read',
    file: 'src/raft/reads.ts',
    find: 'this.pending.splice(0, position + 1)',
    replace: 'this.pending.splice(0)',
    breaks: 'a heartbeat quorum releases only the reads issued before that heartbeat (thesis §6.4)',
  },
  {
    id: 'figure-8-commit-by-counting',
    file: 'src/raft/replication.ts',
    find: 'if (quorumIndex <= raft.log.committed || raft.log.term(quorumIndex) !== raft.term) return false;',
    replace: 'if (quorumIndex <= raft.log.committed) return false;',
    breaks: 'entries of earlier terms are never committed by counting replicas (§5.4.2, figure 8)',
  },
  {
    id: 'two-config-changes-in-flight',
    file: 'src/raft/raft.ts',
    find: 'if (this.pendingConfigIndex > this.log.applied) return',
    replace: 'if (this.pendingConfigIndex > this.log.committed) return',
    breaks: 'one membership change at a time: the next waits until the previous is applied (thesis §4.1)',
  },
  {
    id: 'snapshot-keeps-old-membership',
    file: 'src/raft/replication.ts',
    find: '    log.restore(snapshot);\n    raft.config = snapshot.config;',
    replace: '    log.restore(snapshot);',
    breaks: 'an installed snapshot brings its membership (§7)',
  },
  {
    id: 'stale-term-append-accepted',
    file: 'src/raft/raft.ts',
    find: '} else if (message.term < this.term) {',
    replace: "} else if (message.term < this.term && message.type !== 'append') {",
    breaks: 'a follower rejects appends of an older term (figure 2, AppendEntries 1)',
  },
  {
    id: 'vote-without-up-to-date-check',
    file: 'src/raft/election.ts',
    find: 'if (canVote && raft.log.isUpToDate(request.index, request.logTerm)) {',
    replace: 'if (canVote) {',
    breaks: 'a vote only for a log at least as up-to-date (§5.4.1)',
  },
  {
    id: 'read-before-commit-in-term',
    file: 'src/raft/reads.ts',
    find: 'if (raft.log.term(raft.log.committed) !== raft.term) {\n      this.awaitingCommit.push(request);',
    replace: 'if (raft.log.committed < 0) {\n      this.awaitingCommit.push(request);',
    breaks: 'a new leader serves no read before it commits an entry of its term (§8)',
  },
  {
    id: 'second-vote-in-a-term',
    file: 'src/raft/election.ts',
    find: '|| (raft.vote === nodeNone && raft.lead === nodeNone)',
    replace: '|| raft.lead === nodeNone',
    breaks: 'one vote per term (§5.2)',
  },
  {
    id: 'check-quorum-never-resets',
    file: 'src/raft/replication.ts',
    find: '    progress.recentActive = false;\n',
    replace: '',
    breaks: 'a leader that cannot hear a majority for an election timeout steps down (thesis §6.2)',
  },
  {
    id: 'heartbeat-commit-past-match',
    file: 'src/raft/replication.ts',
    find: 'const commit = Math.min(progress.match, raft.log.committed);',
    replace: 'const commit = raft.log.committed;',
    breaks: 'a heartbeat never tells a follower to commit entries it may not hold in the leader\'s form',
  },
  {
    id: 'append-without-truncating-conflicts',
    file: 'src/raft/log.ts',
    find: 'if (!this.matchTerm(entry.index, entry.term)) {',
    replace: 'if (entry.index > this.lastIndex()) {',
    breaks: 'a conflicting entry and all after it are deleted (figure 2, AppendEntries 3)',
  },
  {
    id: 'dropped-proposal-reported-applied',
    file: 'src/raft/proposals.ts',
    find: 'if (tracked.term === entry.term && result !== null)',
    replace: 'if (result !== null)',
    breaks: 'a proposal is applied only if the entry at its index has its term',
  },
  {
    id: 'follower-reads-own-commit',
    file: 'src/raft/reads.ts',
    find: 'else this.readStates.push({ readContext: message.readContext, index: message.index });',
    replace: 'else this.readStates.push({ readContext: message.readContext, index: raft.log.committed });',
    breaks: 'a follower read waits for the leader\'s read index (thesis §6.4.1)',
  },
  {
    id: 'stale-leader-keeps-reads',
    file: 'src/raft/raft.ts',
    find: '    if (lead !== this.lead || term !== this.term) this.reads.rejectAll(this, lead);\n',
    replace: '',
    breaks: 'a node that stops leading refuses the reads it was confirming',
  },
  {
    id: 'torn-tail-accepted',
    file: 'src/raft/level-storage.ts',
    find: 'if (isEntry(value, snapshot.index + entries.length + 1) && value.term >= previousTerm && value.term <= termMax) {',
    replace: 'if (value !== null) {',
    breaks: 'a record failing its checksum starts a torn tail that is never read as data',
  },
  {
    id: 'ack-of-removed-entries-sent',
    file: 'src/raft/raft.ts',
    find: 'if (this.log.truncations !== truncations) this.dropAcksOfRemovedEntries();',
    replace: '',
    breaks: 'an acknowledgement leaves only for entries the Ready persists (found by the widened simulation)',
  },
  {
    id: 'lease-never-expires',
    file: 'src/raft/reads.ts',
    find: 'return quorumSentTick >= 0 && raft.leaderTicks - quorumSentTick < leaseTicks(raft.options);',
    replace: 'return quorumSentTick >= 0;',
    breaks: 'a lease lasts less than an election timeout from a heartbeat a quorum answered (found by the simulation)',
  },
  {
    id: 'lease-clock-ignores-stalls',
    file: 'src/raft/raft.ts',
    find: '    this.leaderTicks += ticks;\n',
    replace: '',
    breaks: 'the lease clock counts the real time a late or lost timer missed (a stalled leader wakes with its lease run out)',
  },
  {
    id: 'lease-from-receipt',
    file: 'src/raft/replication.ts',
    find: 'progress.heartbeatAnswered(message.heartbeatTick);',
    replace: 'progress.heartbeatAnswered(raft.leaderTicks);',
    breaks: 'a lease runs from when the heartbeat a quorum answered was sent, not from when its answers arrived',
  },
  {
    id: 'lease-without-drift-margin',
    file: 'src/raft/reads.ts',
    find: 'return Math.floor((options.electionTimeoutTicks - 1) / options.clockRateRatioMax) - 1;',
    replace: 'return options.electionTimeoutTicks - 2;',
    breaks: 'a lease leaves room for voters whose clocks run up to clockRateRatioMax faster',
  },
  {
    id: 'lease-as-long-as-election-timeout',
    file: 'src/raft/reads.ts',
    find: 'return Math.floor((options.electionTimeoutTicks - 1) / options.clockRateRatioMax) - 1;',
    replace: 'return options.electionTimeoutTicks;',
    breaks: 'a lease is shorter than the election timeout a voter waits before it votes for another',
  },
  {
    id: 'lease-survives-transfer',
    file: 'src/raft/reads.ts',
    find: 'if (raft.leadTransferee !== nodeNone || raft.transferStarted) return false;',
    replace: 'if (raft.leadTransferee !== nodeNone) return false;',
    breaks: 'a leader that sent TimeoutNow serves no lease reads (the target skips the voters\' leases)',
  },
  {
    id: 'restarted-node-votes-in-lease',
    file: 'src/raft/raft.ts',
    find: 'this.leaseAfterBoot = options.readLease && options.checkQuorum;',
    replace: 'this.leaseAfterBoot = false;',
    breaks: 'with lease reads, a restarted node refuses votes for its first election timeout',
  },
  {
    id: 'ready-never-drains',
    file: 'src/raft/raft.ts',
    find: 'broadcastAppend(this);\n    this.appendPending = false;',
    replace: 'broadcastAppend(this);',
    breaks: 'a handled Ready is not offered again (a driver would loop on it forever)',
  },
  {
    id: 'ack-before-write',
    file: 'src/raft/types.ts',
    find: "return message.type === 'append' || message.type === 'heartbeat';",
    replace: "return message.type === 'append' || message.type === 'heartbeat' || message.type === 'appendResponse';",
    breaks: 'only a leader\'s appends and heartbeats leave before the write of their Ready',
  },
  {
    id: 'lease-needs-check-quorum',
    file: 'src/raft/raft.ts',
    find: "    if (this.role === 'leader') return this.leaderQuorumHeard;\n    return (this.lead !== nodeNone",
    replace: '    return this.options.checkQuorum && (this.lead !== nodeNone',
    breaks: 'a node that heard from a leader within the election timeout ignores vote requests, with or without check-quorum (thesis §4.2.3)',
  },
  {
    id: 'removed-voter-answer-deposes',
    file: 'src/raft/raft.ts',
    find: '      if (this.isNonMemberAnswer(message)) return;\n',
    replace: '',
    breaks: 'a leader takes no higher term from the answer of a node outside its configuration (sweep seed 12864)',
  },
  {
    id: 'leader-lease-never-lapses',
    file: 'src/raft/replication.ts',
    find: 'raft.leaderQuorumHeard = quorumActive(raft);',
    replace: 'raft.leaderQuorumHeard ||= quorumActive(raft);',
    breaks: 'a leader that heard no quorum for an election timeout takes a vote request\'s term again',
  },
  {
    id: 'lease-blocks-transfer',
    file: 'src/raft/raft.ts',
    find: 'if (isVoteRequest && !message.transfer && this.inLease()) return;',
    replace: 'if (isVoteRequest && this.inLease()) return;',
    breaks: 'a transfer\'s vote request bypasses the leader lease (thesis §3.10)',
  },
  {
    id: 'stale-leader-not-told',
    file: 'src/raft/raft.ts',
    find: "    if (message.type === 'append' || message.type === 'heartbeat') {\n      this.send(this.message('appendResponse', message.from));",
    replace: "    if (message.type === 'append' || message.type === 'heartbeat') {\n      if (this.options.checkQuorum || this.options.preVote) this.send(this.message('appendResponse', message.from));",
    breaks: 'a stale leader is told the higher term of a member that moved on (votes are ignored in the lease)',
  },
  {
    id: 'pre-vote-never-asked-again',
    file: 'src/raft/raft.ts',
    find: "} else if (this.role === 'preCandidate' && !this.grantedPreVoteAsPreCandidate && this.electionElapsedTicks % this.options.heartbeatIntervalTicks === 0) {",
    replace: "} else if (this.role === 'preCandidate' && !this.grantedPreVoteAsPreCandidate && this.electionElapsedTicks % this.options.heartbeatIntervalTicks === 0 && this.term < 0) {",
    breaks: 'a pre-candidate asks an unanswered voter again every heartbeat interval (one that ignored it in its lease grants once the lease ran out)',
  },
  {
    id: 'pre-vote-asked-again-of-refusers',
    file: 'src/raft/election.ts',
    find: 'if (voter !== raft.id && !raft.votes.has(voter)) requestVote(',
    replace: 'if (voter !== raft.id && raft.votes.get(voter) !== true) requestVote(',
    breaks: 'only voters that have not answered are asked again (a refusal stands for the round)',
  },
  {
    id: 'stale-rejection-demotes-pipeline',
    file: 'src/raft/progress.ts',
    find: '      if (rejectedIndex <= this.match) return false;',
    replace: '      if (rejectedIndex < 0) return false;',
    breaks: 'a rejection of a pipelined append the follower has since caught up past is stale: progress stays (replicate, same match and next)',
  },
  {
    id: 'pre-candidate-that-granted-asks-again',
    file: 'src/raft/election.ts',
    find: "if (isPreVote && raft.role === 'preCandidate') raft.grantedPreVoteAsPreCandidate = true;",
    replace: '',
    breaks: 'a pre-candidate that granted another\'s pre-vote asks no one again in its round (both would stand, a split vote)',
  },
  {
    id: 'leader-gone-without-pre-vote',
    file: 'src/raft/raft.ts',
    find: 'if (!this.options.preVote || this.options.readLease) return false;',
    replace: 'if (this.options.readLease) return false;',
    breaks: 'a leader-gone hint starts nothing without pre-vote (a campaign would raise the term and depose a live leader)',
  },
  {
    id: 'leader-gone-under-lease-reads',
    file: 'src/raft/raft.ts',
    find: 'if (!this.options.preVote || this.options.readLease) return false;',
    replace: 'if (!this.options.preVote) return false;',
    breaks: 'with lease reads a leader-gone hint is ignored (the follower promised its leader no vote for an election timeout)',
  },
  {
    id: 'leader-gone-about-any-node',
    file: 'src/raft/raft.ts',
    find: "if (this.role !== 'follower' || suspect === nodeNone || this.lead !== suspect) return false;",
    replace: "if (this.role !== 'follower' || suspect === nodeNone) return false;",
    breaks: 'only a hint about this follower\'s own leader starts a pre-vote',
  },
  {
    id: 'leader-gone-round-not-marked',
    file: 'src/raft/raft.ts',
    find: "if ((this.role as Role) === 'preCandidate') this.preVoteOnLeaderGone = true;",
    replace: '',
    breaks: 'a round started on a hint refuses a lower id\'s pre-vote (two survivors told at once would both stand: a split vote)',
  },
  {
    id: 'leader-gone-lower-id-wins',
    file: 'src/raft/election.ts',
    find: 'request.term === raft.term + 1 && request.from < raft.id',
    replace: 'request.term === raft.term + 1 && request.from > raft.id',
    breaks: 'in a hint round the higher id is granted, the lower refused (flipped, both refuse each other until a timer fires)',
  },
  {
    id: 'leader-gone-refusal-without-asking-again',
    file: 'src/raft/election.ts',
    find: "if (!raft.votes.has(request.from) && !raft.grantedPreVoteAsPreCandidate) requestVote(raft, 'preVote', request.from, raft.term + 1, false);",
    replace: '',
    breaks: 'a hint round\'s pre-candidate that refuses a lower pre-candidate asks it again at once (it grants now)',
  },
  {
    id: 'leader-gone-rule-in-timer-rounds',
    file: 'src/raft/election.ts',
    find: "return raft.role === 'preCandidate' && raft.preVoteOnLeaderGone && request.term",
    replace: "return raft.role === 'preCandidate' && request.term",
    breaks: 'a round the election timer started grants a lower id\'s pre-vote as usual (an odd partition where only it can win would last)',
  },
];

/** The raft files `npm test` runs, cheapest first; a mutant stops at the first that fails. */
const testFiles = [
  'log.test.ts', 'progress.test.ts', 'proposals.test.ts', 'election.test.ts', 'replication.test.ts', 'rules.test.ts', 'pipelined.test.ts',
  'interaction.test.ts', 'linearizability.test.ts', 'storage-contract.test.ts', 'level-storage.test.ts',
  'driver.test.ts', 'driver-reply.test.ts', 'simulation.test.ts',
].map((name) => `test/raft/${name}`);

/** A test file that runs longer than this under a mutant is reported as a hang (caught). */
const fileTimeoutMs = 600_000;

interface Verdict {
  readonly mutant: Mutant;
  readonly result: 'caught' | 'survived' | 'stale';
  readonly by: string;
  readonly seconds: number;
}

function runFile(directory: string, file: string): 'pass' | 'fail' | 'hang' {
  const run = spawnSync(process.execPath, ['--no-node-snapshot', '--test', '--test-reporter=dot', `--test-timeout=${fileTimeoutMs}`, file], {
    cwd: directory, timeout: fileTimeoutMs + 30_000, killSignal: 'SIGKILL', stdio: 'ignore',
  });
  if (run.error !== undefined || run.signal !== null) return 'hang';
  return run.status === 0 ? 'pass' : 'fail';
}

function judge(directory: string, mutant: Mutant, files: readonly string[]): Verdict {
  const path = join(directory, mutant.file);
  const original = readFileSync(path, 'utf8');
  const occurrences = original.split(mutant.find).length - 1;
  if (occurrences !== 1) return { mutant, result: 'stale', by: `its text occurs ${occurrences} times`, seconds: 0 };
  const startedMs = performance.now();
  writeFileSync(path, original.replace(mutant.find, () => mutant.replace));
  try {
    for (const file of files) {
      const outcome = runFile(directory, file);
      if (outcome !== 'pass') {
        return { mutant, result: 'caught', by: outcome === 'hang' ? `${file} (hung)` : file, seconds: (performance.now() - startedMs) / 1000 };
      }
    }
    return { mutant, result: 'survived', by: '', seconds: (performance.now() - startedMs) / 1000 };
  } finally {
    writeFileSync(path, original);
  }
}

function main(): void {
  const { values } = parseArgs({ options: { only: { type: 'string' }, files: { type: 'string' }, list: { type: 'boolean', default: false } } });
  if (values.list) {
    for (const mutant of mutants) process.stdout.write(`${mutant.id}\t${mutant.file}\t${mutant.breaks}\n`);
    return;
  }
  const only = values.only?.split(',');
  const unknown = only?.filter((id) => !mutants.some((mutant) => mutant.id === id)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`unknown mutant: ${unknown.join(', ')} (see --list)\n`);
    process.exit(2);
  }
  const files = values.files?.split(',').map((file) => (file.startsWith('test/') ? file : `test/raft/${file}`)) ?? testFiles;
  const selected = mutants.filter((mutant) => only === undefined || only.includes(mutant.id));
  const root = join(import.meta.dirname, '..');
  const directory = mkdtempSync(join(tmpdir(), 'raft-mutants-'));
  try {
    for (const entry of ['src', 'test', 'package.json', 'tsconfig.json']) cpSync(join(root, entry), join(directory, entry), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(directory, 'node_modules'));
    const baseline = files.filter((file) => runFile(directory, file) !== 'pass');
    if (baseline.length > 0) {
      process.stderr.write(`the unmutated tests fail: ${baseline.join(', ')}\n`);
      process.exit(2);
    }
    const verdicts: Verdict[] = [];
    for (const mutant of selected) {
      const verdict = judge(directory, mutant, files);
      verdicts.push(verdict);
      process.stdout.write(`${verdict.result.padEnd(8)} ${mutant.id.padEnd(36)} ${verdict.by} (${verdict.seconds.toFixed(0)} s)\n`);
    }
    const caught = verdicts.filter((verdict) => verdict.result === 'caught').length;
    process.stdout.write(`${caught} of ${verdicts.length} mutants caught by ${files.length} test files\n`);
    process.exitCode = caught === verdicts.length ? 0 : 1;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

if (import.meta.main) main();
