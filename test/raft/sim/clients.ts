// Simulated clients: each runs one put/get/cas at a time against the node it believes leads, and
// records a history for the linearizability checker. Times are a logical event counter, so a call
// that starts after another returned is ordered after it even within one tick. A call that fails
// for certain (not leader, proposal dropped, read refused) had no effect and leaves no record; a
// call whose outcome is unknown (timeout, crash) stays open forever, as Porcupine expects.
import type { KvCommand, KvResult } from './kv-machine.ts';
import type { KvOperation } from './kv-model.ts';
import type { NodeId } from '../../../src/raft/types.ts';
import type { CommandOutcome, ReadOutcome, SimCluster } from './cluster.ts';
import type { SeededRandom } from './random.ts';

export const simKeys = ['a', 'b', 'c'] as const;
/** Operations one simulation records at most; the checker's cost grows with it. */
export const historyOperationsMax = 4_000;

interface Call {
  readonly command: KvCommand;
  readonly callTime: number;
  readonly startTick: number;
  settled: boolean;
}

class SimClient {
  readonly id: number;
  target: NodeId;
  call: Call | null = null;
  constructor(id: number, target: NodeId) {
    this.id = id;
    this.target = target;
  }
}

export class ClientFleet {
  readonly history: KvOperation[] = [];
  private readonly clients: SimClient[] = [];
  private readonly cluster: SimCluster;
  private readonly random: SeededRandom;
  private readonly callTimeoutTicks: number;
  private eventTime = 0;
  private valueCounter = 0;
  completedCount = 0;
  /** The start tick of the latest call abandoned (timed out or unknown outcome); -1 if none. */
  latestAbandonedCallStartTick = -1;

  constructor(options: { cluster: SimCluster; random: SeededRandom; clientCount: number; callTimeoutTicks: number }) {
    this.cluster = options.cluster;
    this.random = options.random;
    this.callTimeoutTicks = options.callTimeoutTicks;
    const ids = [...options.cluster.nodes.keys()];
    for (let id = 0; id < options.clientCount; id++) this.clients.push(new SimClient(id, this.random.pick(ids)));
  }

  /** Start new calls and time out stale ones; `issueProbability` is per idle client per tick. */
  tick(issueProbability: number): void {
    for (const client of this.clients) {
      const call = client.call;
      if (call !== null && !call.settled && this.cluster.nowTick - call.startTick > this.callTimeoutTicks) {
        this.abandon(client, call);
      }
      if (client.call === null && this.history.length < historyOperationsMax && this.random.chance(issueProbability)) {
        this.start(client);
      }
    }
  }

  isIdle(): boolean {
    return this.clients.every((client) => client.call === null);
  }

  /** The run is over: calls still in flight have an unknown outcome and stay open in the history. */
  finish(): void {
    for (const client of this.clients) {
      const call = client.call;
      if (call !== null && !call.settled) this.abandon(client, call);
    }
  }

  private nextCommand(): KvCommand {
    const key = this.random.pick(simKeys);
    const choice = this.random.nextInt(3);
    if (choice === 0) return { op: 'get', key };
    const value = `v${++this.valueCounter}`;
    if (choice === 1) return { op: 'put', key, value };
    const expected = this.random.chance(0.3) ? null : `v${1 + this.random.nextInt(this.valueCounter)}`;
    return { op: 'cas', key, expected, value };
  }

  private start(client: SimClient): void {
    const call: Call = { command: this.nextCommand(), callTime: ++this.eventTime, startTick: this.cluster.nowTick, settled: false };
    client.call = call;
    if (call.command.op === 'get') {
      const key = call.command.key;
      this.cluster.read(client.target, key, (outcome) => this.readDone(client, call, outcome));
      return;
    }
    const proposal = this.cluster.propose(client.target, call.command, (outcome) => this.commandDone(client, call, outcome));
    if (!proposal.accepted) this.fail(client, call, proposal.leaderHint);
  }

  private readDone(client: SimClient, call: Call, outcome: ReadOutcome): void {
    if (call.settled) return;
    if (!outcome.ok) {
      this.fail(client, call, 0);
      return;
    }
    this.respond(client, call, { ok: true, value: outcome.value });
  }

  private commandDone(client: SimClient, call: Call, outcome: CommandOutcome): void {
    if (call.settled) return;
    if (outcome.outcome === 'applied') this.respond(client, call, outcome.result);
    else if (outcome.outcome === 'dropped') this.fail(client, call, 0);
    else this.abandon(client, call);
  }

  private respond(client: SimClient, call: Call, output: KvResult): void {
    call.settled = true;
    this.history.push({ clientId: client.id, input: call.command, output, callTime: call.callTime, returnTime: ++this.eventTime });
    this.completedCount++;
    client.call = null;
  }

  /** Certainly no effect: no record; try the hinted leader (or another node) next. */
  private fail(client: SimClient, call: Call, leaderHint: NodeId): void {
    call.settled = true;
    client.call = null;
    client.target = leaderHint !== 0 && this.cluster.nodes.has(leaderHint) ? leaderHint : this.random.pick([...this.cluster.nodes.keys()]);
  }

  /** Outcome unknown: the call stays open in the history; the client moves on. */
  private abandon(client: SimClient, call: Call): void {
    call.settled = true;
    this.latestAbandonedCallStartTick = Math.max(this.latestAbandonedCallStartTick, call.startTick);
    if (call.command.op !== 'get') {
      this.history.push({ clientId: client.id, input: call.command, output: null, callTime: call.callTime, returnTime: Infinity });
    }
    client.call = null;
    client.target = this.random.pick([...this.cluster.nodes.keys()]);
  }
}
