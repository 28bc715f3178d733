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

export function newExecutionId(nodeId: string, nowMs: number = Date.now()): string {
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
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = 0x80 | (bytes[6]! & 0x0f);
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
