// One cluster node: the Raft core (src/raft) run by its RaftDriver on LevelStorage, ticked by a
// timer, talking to its peers through PeerClient, with the replicated ClusterMachine as its state.
// It offers what the rest of the server needs: `write` (a command applied once, on whichever node
// leads, within a deadline), `read` (a ReadIndex barrier, then the local machine), membership
// (join, leave, promotion of caught-up learners) and a status report.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';
import { nodeHash } from '../exec/ids.ts';
import { RaftDriver, type DriverTimings, type ProposeOutcome, type ReadOutcome } from '../raft/driver.ts';
import { LevelStorage } from '../raft/level-storage.ts';
import { Raft } from '../raft/raft.ts';
import { defaultRaftOptions, type ConfigChange, type Message, type NodeId, type RandomSource } from '../raft/types.ts';
import type { ClusterConfig } from '../config.ts';
import { clusterTicks } from './ticks.ts';
import { SnapshotReceiver } from './snapshot-transfer.ts';
import { PeerClient, isRetryableAcrossNodes } from './client.ts';
import { ProposalBatcher } from './propose-batch.ts';
import { ClusterMachine, type ApplyResult, type MachineCommand, type Member } from './machine.ts';

/** Inputs waiting for the driver, and proposals (or reads) awaiting their outcome, at most. */
const inputsQueuedMax = 16_384;
const proposalsMax = 8_192;
/** How long a peer's Raft request waits for the answers to it before it is answered empty (receiveAndReply). */
const replyWaitMaxMs = 1_000;
/** How long a starting node waits for peers named by host:port alone to say who they are, or for its join to be accepted. */
const bootWaitMs = 120_000;

export interface JoinAnswer {
  voters: number[];
  members: Array<[number, Member]>;
}

const bootstrapSchema = z.object({ voters: z.array(z.number().int().positive()), members: z.array(z.tuple([z.number().int(), z.object({ name: z.string(), addr: z.string() })])) });

/** `promise`, or 'timeout' after `timeoutMs`; the timer is cleared either way (thousands of writes a second each race one). */
export async function withinMs<Value>(promise: Promise<Value>, timeoutMs: number): Promise<Value | 'timeout'> {
  // A plain timer, not timers/promises' delay with an AbortSignal: aborting that builds an
  // AbortError (a DOMException with a stack) per write, 2-4 % of a busy leader's CPU (profile).
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout'); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Node ids in Raft are numbers: the FNV-1a hash of the --node-id, the same hash execution ids carry. */
export function raftIdOf(nodeName: string): NodeId {
  const id = nodeHash(nodeName);
  if (id === 0) throw new McpV8Error('INVALID_FLAG', `--node-id ${nodeName} hashes to 0, which Raft reserves; choose another`);
  return id;
}

/** The core's election jitter, capped so the timeout stays within --election-timeout-min..max. */
function jitter(jitterTicks: number): RandomSource {
  return { nextInt: (bound) => Math.floor(Math.random() * Math.min(bound, jitterTicks)) };
}

export interface NodeStatus {
  node_id: string;
  id: number;
  addr: string;
  role: string;
  suffrage: 'voter' | 'learner' | 'none';
  term: number;
  leader: { node_id: string | null; id: number; addr: string | null } | null;
  commit: number;
  applied: number;
  snapshot_index: number;
  last_index: number;
  members: Array<{ node_id: string | null; id: number; addr: string | null; suffrage: 'voter' | 'learner'; match: number | null }>;
  failure: string | null;
  /** Characters of a snapshot this node is receiving in chunks (0: none in assembly). */
  snapshot_receiving_chars: number;
  /** Where writes spend their time here (RaftDriver.timings; histograms by timingBucketsMs), null while starting. */
  timings?: DriverTimings | null;
  /**
   * Campaigns this node started since it started, by cause: its election timer, or a sign that its
   * leader is gone (leaderGoneHint); `leader_gone_hints`: such signs seen about its leader.
   */
  elections?: { on_timeout: number; on_leader_gone: number; leader_gone_hints: number };
}

export class ClusterNode {
  readonly name: string;
  readonly id: NodeId;
  /** host:port the peers reach this node at. */
  addr: string;
  readonly config: ClusterConfig;
  readonly machine = new ClusterMachine();
  readonly client: PeerClient;
  private readonly logger: Logger;
  private readonly ticks: ReturnType<typeof clusterTicks>;
  /** Members known from the flags or the join answer, before (or beside) the replicated address book. */
  private readonly staticMembers = new Map<number, Member>();
  private bootstrapVoters: number[] = [];
  private raft: Raft | null = null;
  private driver: RaftDriver<ApplyResult> | null = null;
  private storage: LevelStorage | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private closed = false;
  private failureLogged = false;
  /**
   * Peers with requests open on this node, oldest first, and the messages to answer each with
   * (receiveAndReply). A leader pipelines appends (client.ts), so several may be open at once.
   */
  private readonly replyTo = new Map<NodeId, Message[][]>();
  /** Signs that this node's leader is gone, seen since start (leaderGoneHint). */
  private leaderGoneHints = 0;
  /** Sockets a leader's appends arrive on, by the leader's id (watchLeaderSocket). */
  private readonly leaderSockets = new WeakMap<Socket, NodeId>();

  constructor(options: { name: string; config: ClusterConfig; addr: string; logger: Logger }) {
    this.name = options.name;
    this.id = raftIdOf(options.name);
    this.config = options.config;
    this.addr = options.addr;
    this.logger = options.logger.child({ component: 'cluster' });
    this.client = new PeerClient(
      this.logger, { node: this.name, secret: options.config.secret },
      (messages) => this.receive(messages), options.config.snapshotChunkBytes,
    );
    this.ticks = clusterTicks(options.config);
    this.client.onPeerGone = (addr, why) => this.peerAtAddrLooksGone(addr, why);
  }

  /** Snapshots arriving in chunks (/raft/snapshot), handed to the core whole. */
  readonly snapshots = new SnapshotReceiver((message) => this.receive([message]));

  // ---- start ----

  /** Finds the initial membership (stored, from --peers, or by joining), opens the log and starts ticking. */
  async boot(): Promise<void> {
    mkdirSync(this.config.raftDbPath, { recursive: true });
    const bootstrapPath = join(this.config.raftDbPath, 'cluster.json');
    let bootstrap = this.readBootstrap(bootstrapPath);
    if (bootstrap === null) {
      bootstrap = this.config.join !== null ? await this.joinThrough(this.config.join) : await this.bootstrapFromPeers();
      const temporary = `${bootstrapPath}.tmp`;
      writeFileSync(temporary, JSON.stringify(bootstrap));
      renameSync(temporary, bootstrapPath);
    }
    this.bootstrapVoters = bootstrap.voters;
    for (const [id, member] of bootstrap.members) this.staticMembers.set(id, member);
    // Addresses given on this start win over stored ones (a peer moved).
    for (const peer of this.config.peers) if (peer.nodeId !== null) this.staticMembers.set(raftIdOf(peer.nodeId), { name: peer.nodeId, addr: peer.addr });
    this.staticMembers.set(this.id, { name: this.name, addr: this.addr });
    this.storage = await LevelStorage.open(join(this.config.raftDbPath, 'log'), { index: 0, term: 0, config: { voters: bootstrap.voters, learners: [] }, data: '' });
    // Under the log's lock: snapshots arriving in chunks are written here, not held in memory.
    this.snapshots.start(join(this.config.raftDbPath, 'snapshot-incoming'));
    const { heartbeatTicks, electionTicks, jitterTicks } = this.ticks;
    this.raft = new Raft({ ...defaultRaftOptions, id: this.id, electionTimeoutTicks: electionTicks, heartbeatIntervalTicks: heartbeatTicks, random: jitter(jitterTicks), readLease: this.config.leaseReads }, this.storage.boot());
    this.driver = new RaftDriver({
      raft: this.raft, storage: this.storage, machine: this.machine, send: (messages) => this.send(messages),
      inputsQueuedMax, proposalsMax, compactEntriesThreshold: this.config.snapshotEntries,
    });
    this.tickedAtMs = performance.now();
    this.ticker = setInterval(() => this.tick(), this.ticks.tickMs);
    this.logger.info({ nodeId: this.name, raftId: this.id, addr: this.addr, voters: bootstrap.voters, tickMs: this.ticks.tickMs }, 'raft node started');
  }

  private readBootstrap(path: string): { voters: number[]; members: Array<[number, Member]> } | null {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return null;
    }
    const parsed = bootstrapSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new McpV8Error('STORED_DATA_DAMAGED', `${path} is not a cluster bootstrap record; move the --raft-db-path aside to start this node afresh`);
    return parsed.data;
  }

  /** --peers: every initial voter, with ids learnt from peers given as host:port only. */
  private async bootstrapFromPeers(): Promise<JoinAnswer> {
    const members: Array<[number, Member]> = [[this.id, { name: this.name, addr: this.addr }]];
    for (const peer of this.config.peers) {
      const name = peer.nodeId ?? (await this.askName(peer.addr));
      members.push([raftIdOf(name), { name, addr: peer.addr }]);
    }
    const voters = members.map(([id]) => id).sort((a, b) => a - b);
    if (new Set(voters).size !== voters.length) throw new McpV8Error('INVALID_FLAG', `two cluster members have the same node id (or node-id hash): ${members.map(([, m]) => m.name).join(', ')}`);
    return { voters, members };
  }

  private async askName(addr: string): Promise<string> {
    const deadline = Date.now() + bootWaitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.client.get<{ node_id: string }>(addr, '/raft/status', 2_000)).node_id;
      } catch (error) {
        if (Date.now() > deadline || this.closed) throw new McpV8Error('NO_QUORUM', `--peers ${addr}: no node answered there within ${bootWaitMs} ms (${(error as Error).message})`);
        if (attempt === 0) this.logger.info({ peer: addr }, 'waiting for a peer to start, to learn its node id');
        await delay(200);
      }
    }
  }

  /** --join: ask the seed (which forwards to the leader) to add this node as a learner. */
  private async joinThrough(seed: string): Promise<JoinAnswer> {
    const deadline = Date.now() + bootWaitMs;
    for (;;) {
      try {
        const answer = await this.client.post<JoinAnswer>(seed, '/raft/join', { node_id: this.name, addr: this.addr }, Math.min(this.config.writeTimeoutMs * 2, Math.max(1, deadline - Date.now())));
        this.logger.info({ seed, voters: answer.voters }, 'joined the cluster as a learner');
        return answer;
      } catch (error) {
        if (!isRetryableAcrossNodes(error) || Date.now() > deadline || this.closed) throw error;
        await delay(200);
      }
    }
  }

  // ---- the loop ----

  private tick(): void {
    const driver = this.driver!;
    if (driver.failure !== null) {
      if (!this.failureLogged) this.logger.fatal({ err: driver.failure }, 'the Raft log cannot be written: this node stops taking part in the cluster');
      this.failureLogged = true;
      return;
    }
    driver.tick();
    this.logRoleChange();
    // A leader's late ticks are owed, and paid by catchUpTicks; a follower's are not counted.
    if (this.config.leaseReads && this.raft!.role === 'leader') this.tickedAtMs += this.ticks.tickMs;
    else this.tickedAtMs = performance.now();
    if (this.raft!.role === 'leader' && this.raft!.config.learners.length > 0) this.promoteLearners();
  }

  private loggedRole = '';

  /** An election's steps in the log (seen at tick granularity): what a failover's time went to (bench/cluster.ts). */
  private logRoleChange(): void {
    const raft = this.raft!;
    const role = `${raft.role}@${raft.term}`;
    if (role === this.loggedRole) return;
    this.loggedRole = role;
    this.logger.info({ role: raft.role, term: raft.term, leader: this.memberOf(raft.lead)?.name ?? null }, 'raft role changed');
  }

  /** performance.now() of the last tick counted (lease reads: catchUpTicks). */
  private tickedAtMs = 0;

  /**
   * Lease reads, on the leader: the ticks the monotonic clock owes the core's lease clock. A busy or
   * stalled event loop fires setInterval late and never twice, so a leader counting its lease in
   * timer callbacks would serve reads past it in real time while its followers, whose timers run on
   * other loops, may already have elected another (a leader stopped with SIGSTOP for seconds woke
   * with its lease a tick older: test/cluster/lease.test.ts). Paid before every read barrier and
   * every forwarded read (readIndex), the lease is the stated number of ticks of real time. Only the
   * lease's clock is paid (Raft.elapseLeaseClock), however long the stall: elections, heartbeats and
   * check-quorum stay one tick per timer callback, so a stall feeds check-quorum no silence (ticking
   * the whole core instead deposed leaders whose followers, on the same loaded machine, had not
   * timed out: bench/RESULTS.md). A follower's ticks stay one per timer callback: late ticks only
   * make its election timeout longer, the safe side of the lease.
   */
  private catchUpTicks(): void {
    if (!this.config.leaseReads || this.driver === null || this.raft?.role !== 'leader') return;
    const due = Math.floor((performance.now() - this.tickedAtMs) / this.ticks.tickMs);
    if (due <= 0) return;
    this.tickedAtMs += due * this.ticks.tickMs;
    this.raft.elapseLeaseClock(due);
  }

  /** Raft messages from a peer (the answers a peer sent back on a request of ours), stepped in one pass. */
  receive(messages: readonly Message[]): void {
    if (this.driver === null) return; // still starting: Raft retries
    const mine = messages.filter((message) => message.to === this.id);
    this.catchUpTicks();
    void this.driver.receiveAll(mine);
  }

  /**
   * Raft messages from a peer (the /raft/vote, /append and /snapshot routes), answered on the same
   * request: what this node then has to tell the sender (a vote, an append's answer, after the
   * write it depends on) rides back in the response, so a replication round is one HTTP exchange
   * per follower rather than a post each way. After replyWaitMaxMs (a long write, a snapshot) the
   * request is answered empty and later answers travel as posts of their own. With several
   * requests from one peer open, answers ride on the oldest: the requests before it were answered
   * by earlier passes, so it is the one whose messages the current pass handled.
   */
  async receiveAndReply(messages: readonly Message[]): Promise<Message[]> {
    const mine = messages.filter((message) => message.to === this.id);
    const from = mine[0]?.from;
    if (this.driver === null || from === undefined) return []; // still starting: Raft retries
    if (mine.some((message) => message.from !== from)) {
      this.receive(mine);
      return [];
    }
    const replies: Message[] = [];
    let open = this.replyTo.get(from);
    if (open === undefined) this.replyTo.set(from, (open = []));
    open.push(replies);
    try {
      this.catchUpTicks();
      const handled = this.driver.receiveAll(mine);
      await withinMs(handled, replyWaitMaxMs);
    } finally {
      open.splice(open.indexOf(replies), 1);
      if (open.length === 0 && this.replyTo.get(from) === open) this.replyTo.delete(from);
    }
    return replies;
  }

  private send(messages: readonly Message[]): void {
    const byPeer = new Map<string, Message[]>();
    for (const message of messages) {
      // An answer to a peer whose request is still open goes back on it; this node's own appends
      // and heartbeats leave on its own requests at once (they must not wait for that pass).
      const reply = message.type.endsWith('Response') ? this.replyTo.get(message.to)?.[0] : undefined;
      if (reply !== undefined) {
        reply.push(message);
        continue;
      }
      const addr = this.memberOf(message.to)?.addr;
      if (addr === undefined) continue; // an address not known yet; Raft retries
      let list = byPeer.get(addr);
      if (list === undefined) byPeer.set(addr, (list = []));
      list.push(message);
    }
    for (const [addr, list] of byPeer) this.client.sendMessages(addr, list);
  }

  memberOf(id: number): Member | undefined {
    return this.machine.members.get(id) ?? this.staticMembers.get(id);
  }

  /** The node an execution id names (by its node hash), when it is another member than this one. */
  peerOfHash(hash: number): Member | undefined {
    return hash === this.id ? undefined : this.memberOf(hash);
  }

  private get leaderAddr(): string | undefined {
    const lead = this.raft?.lead ?? 0;
    return lead === 0 || lead === this.id ? undefined : this.memberOf(lead)?.addr;
  }

  get isLeader(): boolean {
    return this.raft?.role === 'leader';
  }

  // ---- a dead leader noticed before the election timeout (issue 21) ----

  /**
   * A sign that member `id` is gone: when it is this follower's leader, the core starts a pre-vote
   * at once (Raft.leaderLooksGone) instead of waiting out its election timeout, 300-500 ms plus
   * late ticks by default. A SIGKILLed process's sockets are closed by the kernel, so its followers
   * see that within a turn of their event loops. A wrong sign (a connection closed for another
   * reason) costs a pre-vote round that a live leader's voters ignore.
   */
  leaderGoneHint(id: NodeId, why: string): void {
    const raft = this.raft;
    const driver = this.driver;
    if (raft === null || driver === null || this.closed || id === this.id || raft.role !== 'follower' || raft.lead !== id) return;
    this.leaderGoneHints++;
    void driver.leaderLooksGone(id).then((started) => {
      if (started) this.logger.info({ leader: this.memberOf(id)?.name ?? id, why }, 'the leader looks gone: pre-vote started without waiting for the election timeout');
    });
  }

  /** A request of ours to `addr` failed as one to a dead process does (PeerClient.onPeerGone). */
  private peerAtAddrLooksGone(addr: string, why: string): void {
    const lead = this.raft?.lead ?? 0;
    if (lead !== 0 && this.memberOf(lead)?.addr === addr) this.leaderGoneHint(lead, why);
  }

  /**
   * The connection a leader's appends and heartbeats arrive on (the /raft/append route): when the
   * leader's end closes it (FIN) or resets it, the leader looks gone. Only append connections, which
   * carry a heartbeat every interval and so are never closed idle by a live leader's pool; this
   * node's own closes (destroy) emit neither 'end' nor an error.
   */
  watchLeaderSocket(socket: Socket, messages: readonly Message[]): void {
    const leader = messages.find((message) => message.type === 'append' || message.type === 'heartbeat')?.from;
    if (leader === undefined || this.leaderSockets.get(socket) === leader) return;
    const first = !this.leaderSockets.has(socket);
    this.leaderSockets.set(socket, leader);
    if (!first) return;
    const gone = (why: string) => {
      const id = this.leaderSockets.get(socket);
      if (id !== undefined) this.leaderGoneHint(id, why);
    };
    socket.once('end', () => gone('its append connection was closed by its end'));
    socket.once('error', (error: Error & { code?: string }) => gone(`its append connection failed (${error.code ?? error.message})`));
  }

  // ---- writes and reads ----

  /** Applies `command` once on every replica; answers its result, or fails with NO_QUORUM by the deadline. */
  async write(command: MachineCommand, timeoutMs = this.config.writeTimeoutMs): Promise<number | null> {
    // `since`: what this node had applied, so a retry the machine may have forgotten is refused, not applied twice.
    const data = JSON.stringify({ rid: randomUUID(), since: this.raft?.log.applied ?? 0, command });
    return this.onLeader(timeoutMs, (remainingMs) => this.proposeHere(data, remainingMs), (leader, remainingMs) => this.forwarded.propose(leader, data, remainingMs));
  }

  /**
   * Runs `here` when this node leads, else `forward` to the leader (`toLeader`: posts `body` to its
   * `path`); retries (through elections, lost answers) until `timeoutMs`. Safe because what it
   * carries is idempotent.
   */
  async onLeader<Answer>(timeoutMs: number, here: (remainingMs: number) => Promise<Answer>, forward: (leader: string, remainingMs: number) => Promise<Answer>): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    for (;;) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      this.checkRunning();
      try {
        if (this.isLeader) return await here(remainingMs);
        const leader = this.leaderAddr;
        if (leader !== undefined) return await forward(leader, remainingMs);
      } catch (error) {
        if (!isRetryableAcrossNodes(error)) throw error;
        lastError = error;
      }
      await delay(Math.min(this.ticks.tickMs * this.ticks.heartbeatTicks, Math.max(1, deadline - Date.now())));
    }
    throw new McpV8Error('NO_QUORUM', `this cluster node cannot reach a quorum: no leader committed the write within ${timeoutMs} ms${lastError === null ? '' : ` (${(lastError as Error).message})`}; stateless runs still work here, retry writes later`);
  }

  /** `onLeader`'s forward of a call: `body` posted to the leader's `path`. */
  private toLeader<Answer>(path: string, body: unknown): (leader: string, remainingMs: number) => Promise<Answer> {
    return (leader, remainingMs) => this.client.post<Answer>(leader, path, body, remainingMs);
  }

  /** Writes this node forwards to the leader, batched per turn of the event loop (propose-batch.ts). */
  private readonly forwarded = new ProposalBatcher((leader, batch, remainingMs) => this.client.post(leader, '/raft/propose', { batch }, remainingMs));

  /** On the leader (or a node that believes it leads): propose and wait for the outcome. */
  async proposeHere(data: string, timeoutMs: number): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkRunning();
      const remainingMs = deadline - Date.now();
      const outcome = remainingMs <= 0 ? 'timeout' : await withinMs(this.driver!.propose(data), remainingMs);
      if (outcome === 'timeout') throw new McpV8Error('NO_QUORUM', `the write was not committed within ${timeoutMs} ms: this node cannot reach a quorum`);
      const settled = outcome as ProposeOutcome<ApplyResult>;
      if (settled.status === 'applied') {
        if (settled.result.ok) return settled.result.value;
        throw new McpV8Error(settled.result.code, settled.result.message);
      }
      if (settled.status === 'rejected' && (settled.reason === 'notLeader' || settled.reason === 'transferring')) {
        throw new McpV8Error('NOT_LEADER', `node ${this.name} is not the leader`);
      }
      // dropped, unknown, or a full queue: propose again; the request id makes a second apply a no-op.
      await delay(Math.min(this.ticks.tickMs, Math.max(1, deadline - Date.now())));
    }
  }

  /** `read` after a ReadIndex barrier: it sees every write acknowledged before it was called. */
  async read<Value>(read: () => Value, timeoutMs = this.config.writeTimeoutMs): Promise<Value> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.checkRunning();
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      const outcome = await withinMs(this.sharedBarrier(), remainingMs);
      if (outcome === 'timeout') break;
      if (outcome.ok) return read();
      await delay(Math.min(this.ticks.tickMs * this.ticks.heartbeatTicks, Math.max(1, deadline - Date.now())));
    }
    throw new McpV8Error('NO_QUORUM', `this cluster node cannot reach a quorum: a linearizable read was not confirmed within ${timeoutMs} ms; stateless runs still work here, retry later`);
  }

  /** The read barrier the reads called in this turn of the event loop share (sharedBarrier). */
  private turnBarrier: Promise<ReadOutcome> | null = null;

  /**
   * One ReadIndex barrier for every read called in this turn of the event loop, asked for at the
   * turn's end: it is asked after each of them was called, so each sees every write acknowledged
   * before it was (what a barrier of its own would give), and a heartbeat round (or a forwarded
   * readIndex) serves them all instead of one each. Under load a session's runs each read their
   * latest heap, and a round per read was most of the followers' Raft requests (bench/RESULTS.md).
   */
  private sharedBarrier(): Promise<ReadOutcome> {
    if (this.turnBarrier === null) {
      this.turnBarrier = new Promise((resolve) => {
        setImmediate(() => {
          this.turnBarrier = null;
          if (this.driver === null) resolve({ ok: false, leaderHint: 0 });
          else {
            this.catchUpTicks();
            void this.driver.readBarrier().then(resolve);
          }
        });
      });
    }
    return this.turnBarrier;
  }

  private checkRunning(): void {
    if (this.closed) throw new McpV8Error('STOPPING', `node ${this.name} is stopping`);
    if (this.driver === null) throw new McpV8Error('NO_QUORUM', `node ${this.name} has not joined its cluster yet`);
    if (this.driver.failure !== null) throw new McpV8Error('STORAGE_UNAVAILABLE', `node ${this.name} cannot write its Raft log (${(this.driver.failure as Error).message}); it takes no writes until restarted`);
  }

  // ---- membership ----

  /** POST /raft/join on the leader: record the address, add a learner; it is promoted once caught up. */
  async join(name: string, addr: string, timeoutMs = this.config.writeTimeoutMs * 2): Promise<JoinAnswer> {
    return this.onLeader(timeoutMs, async (remainingMs) => {
      const id = raftIdOf(name);
      const raft = this.raft!;
      const existing = this.memberOf(id);
      if (existing !== undefined && existing.addr !== addr && (raft.config.voters.includes(id) || raft.config.learners.includes(id))) {
        throw new McpV8Error('INVALID_ARGUMENT', `node id ${name} is already a member of the cluster, at ${existing.addr}; give the new node another --node-id (or remove ${name} first: POST /raft/leave)`);
      }
      if (!raft.config.voters.includes(id) && !raft.config.learners.includes(id)) {
        await this.write({ type: 'member.add', id, name, addr }, remainingMs);
        await this.changeConfig({ kind: 'addLearner', nodeId: id }, Date.now() + remainingMs);
        this.logger.info({ nodeId: name, raftId: id, addr }, 'a node joined as a learner');
      }
      return { voters: this.bootstrapVoters, members: this.knownMembers() };
    }, this.toLeader('/raft/join', { node_id: name, addr }));
  }

  /** POST /raft/leave on the leader: remove the member (voter or learner), then its address. */
  async leave(name: string, timeoutMs = this.config.writeTimeoutMs * 2): Promise<{ removed: boolean }> {
    const id = raftIdOf(name);
    const removed = await this.onLeader(timeoutMs, async (remainingMs) => {
      const raft = this.raft!;
      if (!raft.config.voters.includes(id) && !raft.config.learners.includes(id)) return { removed: false };
      await this.changeConfig({ kind: 'removeVoter', nodeId: id }, Date.now() + remainingMs);
      this.logger.info({ nodeId: name, raftId: id }, 'a node left the cluster');
      return { removed: true };
    }, this.toLeader('/raft/leave', { node_id: name }));
    // Its address goes once it is out (the leader may have been the one leaving: write through the new one).
    if (removed.removed) await this.write({ type: 'member.remove', id }, timeoutMs);
    return removed;
  }

  /** Proposes a change and waits until this node has applied it (config changes are one at a time). */
  private async changeConfig(change: ConfigChange, deadline: number): Promise<void> {
    const done = () => {
      const { voters, learners } = this.raft!.config;
      if (change.kind === 'removeVoter') return !voters.includes(change.nodeId) && !learners.includes(change.nodeId);
      if (change.kind === 'addLearner') return learners.includes(change.nodeId) || voters.includes(change.nodeId);
      return voters.includes(change.nodeId);
    };
    let proposed = false;
    while (!done()) {
      if (Date.now() > deadline) throw new McpV8Error('NO_QUORUM', `the membership change ${change.kind} ${change.nodeId} was not applied in time`);
      this.checkRunning();
      if (!proposed) {
        const result = await this.driver!.proposeConfigChange(change);
        if (result.accepted) proposed = true;
        else if (result.reason === 'notLeader' || result.reason === 'transferring') throw new McpV8Error('NOT_LEADER', `node ${this.name} is not the leader`);
        else if (result.reason === 'invalidConfigChange') return;
      }
      await delay(this.ticks.tickMs);
      // A leader that lost its place before the entry committed: propose again on the next leader.
      if (proposed && !this.isLeader) throw new McpV8Error('NOT_LEADER', `node ${this.name} lost leadership during a membership change`);
    }
  }

  private promoting = false;

  private promoteLearners(): void {
    if (this.promoting) return;
    this.promoting = true;
    const learner = this.raft!.config.learners[0]!;
    void this.driver!.proposeConfigChange({ kind: 'promoteLearner', nodeId: learner }).then((result) => {
      if (result.accepted) this.logger.info({ raftId: learner, nodeId: this.memberOf(learner)?.name }, 'a learner caught up and is promoted to voter');
    }).finally(() => { this.promoting = false; });
  }

  /** The voters whose address this node knows (every voter, once the log is applied). */
  voters(): Member[] {
    return (this.raft?.config.voters ?? []).flatMap((id) => {
      const member = this.memberOf(id);
      return member === undefined ? [] : [member];
    });
  }

  /** Voters and learners with their addresses: every node that holds executions. */
  members(): Member[] {
    const config = this.raft?.config;
    return [...(config?.voters ?? []), ...(config?.learners ?? [])].flatMap((id) => {
      const member = this.memberOf(id);
      return member === undefined ? [] : [member];
    });
  }

  knownMembers(): Array<[number, Member]> {
    const all = new Map(this.staticMembers);
    for (const [id, member] of this.machine.members) all.set(id, member);
    return [...all];
  }

  /**
   * A leader that stops hands leadership to its most caught-up voter first (TimeoutNow), so the
   * cluster does not wait an election timeout; bounded by the maximum election timeout.
   */
  private async handOverLeadership(): Promise<void> {
    const raft = this.raft;
    if (raft === null || raft.role !== 'leader' || this.driver?.failure !== null) return;
    let target: { id: number; match: number } | null = null;
    for (const id of raft.config.voters) {
      const match = raft.progress.get(id)?.match ?? -1;
      if (id !== this.id && (target === null || match > target.match)) target = { id, match };
    }
    if (target === null) return;
    this.driver!.transferLeadership(target.id);
    const deadline = Date.now() + this.config.electionTimeoutMaxMs;
    while (raft.role === 'leader' && Date.now() < deadline) await delay(this.ticks.tickMs);
    if (raft.role !== 'leader') this.logger.info({ to: this.memberOf(target.id)?.name ?? target.id }, 'stopping: handed leadership over');
  }

  // ---- status ----

  status(): NodeStatus {
    const raft = this.raft;
    if (raft === null) {
      return { node_id: this.name, id: this.id, addr: this.addr, role: 'starting', suffrage: 'none', term: 0, leader: null, commit: 0, applied: 0, snapshot_index: 0, last_index: 0, members: [], failure: null, snapshot_receiving_chars: this.snapshots.heldChars() };
    }
    const { voters, learners } = raft.config;
    const member = (id: number, suffrage: 'voter' | 'learner') => ({
      node_id: this.memberOf(id)?.name ?? null, id, addr: this.memberOf(id)?.addr ?? null, suffrage,
      match: raft.role !== 'leader' ? null : id === this.id ? raft.log.lastIndex() : raft.progress.get(id)?.match ?? null,
    });
    const lead = raft.lead;
    return {
      node_id: this.name, id: this.id, addr: this.addr,
      role: raft.role,
      suffrage: voters.includes(this.id) ? 'voter' : learners.includes(this.id) ? 'learner' : 'none',
      term: raft.term,
      leader: lead === 0 ? null : { node_id: this.memberOf(lead)?.name ?? null, id: lead, addr: this.memberOf(lead)?.addr ?? null },
      commit: raft.log.committed,
      applied: raft.log.applied,
      snapshot_index: raft.log.snapshot.index,
      last_index: raft.log.lastIndex(),
      members: [...voters.map((id) => member(id, 'voter')), ...learners.map((id) => member(id, 'learner'))],
      failure: this.driver?.failure === null || this.driver === null ? null : String((this.driver.failure as Error).message),
      snapshot_receiving_chars: this.snapshots.heldChars(),
      timings: this.driver?.timings ?? null,
      elections: { on_timeout: raft.campaigns.electionTimeout, on_leader_gone: raft.campaigns.leaderGone, leader_gone_hints: this.leaderGoneHints },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.handOverLeadership();
    this.closed = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    await this.client.close();
    if (this.driver !== null) await this.driver.settled();
    await this.snapshots.close();
    await this.storage?.close();
  }
}
