// Execution ids are RFC 9562 UUIDs (version 8, custom) that carry the node that ran them, so
// that in a cluster any node can tell where an execution lives without a lookup:
//   48 bits  milliseconds since the epoch (ids sort by creation time, like UUIDv7)
//    4 bits  version 8
//   12 bits  random
//    2 bits  variant 10
//   30 bits  random
//   32 bits  FNV-1a hash of the node id
import { randomFillSync } from 'node:crypto';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function nodeHash(nodeId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(nodeId, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** Random bytes drawn in blocks: one draw from the CSPRNG per 256 ids instead of one per id. */
const randomBlock = Buffer.alloc(4096);
let randomOffset = randomBlock.length;
const nodeHashes = new Map<string, number>();

/** The last clock-made id's milliseconds and 12-bit sequence (see `clockStamp`). */
let lastMs = 0;
let lastSequence = 0;

/**
 * The time and 12-bit field of an id made from the clock: ids one process makes sort in the order
 * they were made, also within one millisecond (list_executions is newest first by id; two runs
 * made in one millisecond came back in random order). RFC 9562 §6.2, method 1: the 12 bits are a
 * counter, seeded at random below half its range each new millisecond; past 4095 the time moves on
 * by one (ids run at most that far ahead of the clock while > 2,000 a millisecond are made).
 */
function clockStamp(nowMs: number, seed: number): { ms: number; sequence: number } {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    lastSequence = seed & 0x7ff;
  } else if (lastSequence < 0xfff) {
    lastSequence++;
  } else {
    lastMs++;
    lastSequence = seed & 0x7ff;
  }
  return { ms: lastMs, sequence: lastSequence };
}

/** A new id; without `nowMs` from the clock, in order (`clockStamp`); with it, at that time (tests). */
export function newExecutionId(nodeId: string, nowMs?: number): string {
  if (randomOffset === randomBlock.length) {
    randomFillSync(randomBlock);
    randomOffset = 0;
  }
  const bytes = Buffer.from(randomBlock.subarray(randomOffset, randomOffset + 16));
  randomOffset += 16;
  let hash = nodeHashes.get(nodeId);
  if (hash === undefined) {
    hash = nodeHash(nodeId);
    if (nodeHashes.size < 64) nodeHashes.set(nodeId, hash);
  }
  if (nowMs === undefined) {
    const stamp = clockStamp(Date.now(), bytes.readUInt16BE(6));
    bytes.writeUIntBE(stamp.ms, 0, 6);
    bytes[6] = 0x80 | (stamp.sequence >> 8);
    bytes[7] = stamp.sequence & 0xff;
  } else {
    bytes.writeUIntBE(nowMs, 0, 6);
    bytes[6] = 0x80 | (bytes[6]! & 0x0f);
  }
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  bytes.writeUInt32BE(hash, 12);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function isExecutionId(text: string): boolean {
  return uuidPattern.test(text);
}

/** The node hash an id carries, or null for ids minted by other software (plain v4 UUIDs). */
export function executionNodeHash(id: string): number | null {
  if (!isExecutionId(id) || id[14] !== '8') return null;
  return Number.parseInt(id.slice(28), 16) >>> 0;
}
