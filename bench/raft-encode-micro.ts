// `node bench/raft-encode-micro.ts`: two leader-side cuts tried for issue 21's CPU per append, each against
// the code it replaced, on one thread (CPU time from process.cpuUsage, so a busy machine slows
// both the same), in turns A B A B, median of the rounds and the ratio:
//   1. encoding: a Ready of 64 fresh entries (bench:cluster's session.append envelopes) written
//      as log records and sent to two followers. A: encodeRecord per entry and JSON.stringify of
//      each body (what main did); B: the entry's JSON made once (entryJson) for the record and
//      both bodies (encodeMessages). CPU µs per entry.
//   2. write deadlines: 64 writes in flight, each raced against what is left of its own deadline
//      (5,000 or 4,999 ms, as proposeHere's are), settled a turn later. A: a setTimeout per write,
//      Promise.race, clearTimeout (src/cluster/node.ts withinMs, kept); B: one shared deadline timer (tried and
//      dropped: it cost as much or more, see withinMsShared). CPU µs per write.
// Options: --rounds N (default 7).
import { randomUUID } from 'node:crypto';
import { withinMs as withinMsBefore } from '../src/cluster/node.ts';
import { encodeMessages } from '../src/cluster/wire.ts';
import { encodeEntryRecord, encodeRecord } from '../src/raft/level-storage.ts';
import type { Entry, Message } from '../src/raft/types.ts';

const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt === -1 ? 7 : Number(process.argv[roundsAt + 1]);
const entriesPerReady = 64;

function cpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function freshEntries(firstIndex: number): Entry[] {
  return Array.from({ length: entriesPerReady }, (_, i) => ({
    term: 3, index: firstIndex + i, kind: 'normal' as const,
    data: JSON.stringify({ rid: randomUUID(), since: firstIndex, command: { type: 'session.append', session: `bench-${i}`, entry: { input_heap: null, output_heap: 'a'.repeat(64), code: `step ${firstIndex + i}`, timestamp: new Date().toISOString() } } }),
  }));
}

function append(entries: Entry[], to: number): Message {
  return { type: 'append', from: 1, to, term: 3, logTerm: 3, index: entries[0]!.index - 1, entries, commit: entries[0]!.index - 1, reject: false, rejectHintIndex: 0, rejectHintTerm: 0, readContext: 0, heartbeatTick: 0, transfer: false, snapshot: null };
}

/** CPU µs per entry to write and send `readies` Readies the old way (A) or the new (B); the entries are made outside the timed part. */
function encodeRound(useNew: boolean, readies: number): number {
  const batches = Array.from({ length: readies }, (_, r) => freshEntries(1 + r * entriesPerReady));
  let sink = 0;
  const started = cpuUs();
  for (const entries of batches) {
    for (const entry of entries) sink += (useNew ? encodeEntryRecord(entry) : encodeRecord(entry)).length;
    for (const to of [2, 3]) sink += (useNew ? encodeMessages([append(entries, to)]) : JSON.stringify({ messages: [append(entries, to)] })).length;
  }
  const used = cpuUs() - started;
  if (sink === 0) throw new Error('nothing encoded');
  return used / (readies * entriesPerReady);
}

/**
 * The shared deadline timer tried on wip/raftcpu (one timer for every write in flight, armed for
 * the earliest deadline, a Set of races) and dropped: this comparison showed it costs more per
 * write than a timer each (below), though the leader's profile showed timer insert/unenroll.
 */
const races = new Set<{ deadlineMs: number; expire: () => void }>();
let raceTimer: NodeJS.Timeout | null = null;
let raceTimerAtMs = Infinity;

function armRaceTimer(atMs: number): void {
  if (atMs >= raceTimerAtMs) return;
  if (raceTimer !== null) clearTimeout(raceTimer);
  raceTimerAtMs = atMs;
  raceTimer = setTimeout(expireRaces, Math.max(1, Math.ceil(atMs - performance.now())));
}

function expireRaces(): void {
  raceTimer = null;
  raceTimerAtMs = Infinity;
  const nowMs = performance.now();
  let nextMs = Infinity;
  for (const race of races) {
    if (race.deadlineMs > nowMs) nextMs = Math.min(nextMs, race.deadlineMs);
    else {
      races.delete(race);
      race.expire();
    }
  }
  if (nextMs !== Infinity) armRaceTimer(nextMs);
}

function endRace(race: { deadlineMs: number; expire: () => void }): boolean {
  if (!races.delete(race)) return false;
  if (races.size === 0 && raceTimer !== null) {
    clearTimeout(raceTimer);
    raceTimer = null;
    raceTimerAtMs = Infinity;
  }
  return true;
}

function withinMsShared<Value>(promise: Promise<Value>, timeoutMs: number): Promise<Value | 'timeout'> {
  return new Promise((resolve, reject) => {
    const race = { deadlineMs: performance.now() + timeoutMs, expire: () => resolve('timeout') };
    races.add(race);
    armRaceTimer(race.deadlineMs);
    promise.then((value) => {
      if (endRace(race)) resolve(value);
    }, (error: unknown) => {
      if (endRace(race)) reject(error);
    });
  });
}

/** CPU µs per write: `waves` of 64 writes raced against a 5 s deadline, each settled on the next turn of the loop. */
async function deadlineRound(useNew: boolean, waves: number): Promise<number> {
  const race = useNew ? withinMsShared : withinMsBefore;
  const started = cpuUs();
  for (let wave = 0; wave < waves; wave++) {
    const settles: Array<() => void> = [];
    // Deadlines as proposeHere computes them (what is left of the write's own, taken from the ms clock): 5,000 or 4,999 ms.
    const waits = Array.from({ length: 64 }, (_, i) => race(new Promise<number>((resolve) => settles.push(() => resolve(1))), 5_000 - ((wave + i) % 2)));
    await new Promise((resolve) => setImmediate(resolve));
    for (const settle of settles) settle();
    await Promise.all(waits);
  }
  return (cpuUs() - started) / (waves * 64);
}

const encodeA: number[] = [];
const encodeB: number[] = [];
const deadlineA: number[] = [];
const deadlineB: number[] = [];
encodeRound(false, 200);
encodeRound(true, 200);
await deadlineRound(false, 500);
await deadlineRound(true, 500);
for (let round = 0; round < rounds; round++) {
  encodeA.push(encodeRound(false, 400));
  encodeB.push(encodeRound(true, 400));
  deadlineA.push(await deadlineRound(false, 2000));
  deadlineB.push(await deadlineRound(true, 2000));
  process.stdout.write(`round ${round + 1}: encode A ${encodeA.at(-1)!.toFixed(2)} B ${encodeB.at(-1)!.toFixed(2)} µs/entry; deadline A ${deadlineA.at(-1)!.toFixed(2)} B ${deadlineB.at(-1)!.toFixed(2)} µs/write\n`);
}
const line = (name: string, unit: string, a: number[], b: number[]) => `${name}: A ${median(a).toFixed(2)}, B ${median(b).toFixed(2)} ${unit} (median of ${rounds}), B/A ${(median(b) / median(a)).toFixed(2)}\n`;
process.stdout.write(line('records + two bodies per entry', 'µs CPU per entry', encodeA, encodeB));
process.stdout.write(line('a write raced against its deadline', 'µs CPU per write', deadlineA, deadlineB));
