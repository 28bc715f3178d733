// Raft messages as they cross the cluster port: `{ messages: [...] }`, checked field by field
// before the core sees them (a peer's bytes are not trusted for type or size). A hand-written
// check rather than zod: it runs on every append and every answer, thousands a second, and
// zod's generic walk cost as much as the rest of the route (profile, bench/RESULTS.md).
import { McpV8Error } from '../errors.ts';
import { entryJson } from '../raft/level-storage.ts';
import type { Entry, Message, MessageType, Snapshot } from '../raft/types.ts';
import { version } from '../version.ts';
import { snapshotChunkFormat, type SnapshotChunk } from './snapshot-transfer.ts';

/** Messages in one body, at most. */
export const messagesPerBodyMax = 100_000;

const messageTypes: ReadonlySet<string> = new Set<MessageType>([
  'preVote', 'preVoteResponse', 'vote', 'voteResponse', 'append', 'appendResponse', 'heartbeat', 'heartbeatResponse', 'snapshot', 'timeoutNow', 'readIndex', 'readIndexResponse',
]);

class WireError extends Error {}

function fail(path: string, what: string): never {
  throw new WireError(`${path}: ${what}`);
}

function count(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) fail(path, 'expected a non-negative integer');
  return value as number;
}

function nodeId(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) fail(path, 'expected a positive integer');
  return value as number;
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'expected an object');
  return value as Record<string, unknown>;
}

function list(value: unknown, path: string, lengthMax = Number.MAX_SAFE_INTEGER): unknown[] {
  if (!Array.isArray(value)) fail(path, 'expected an array');
  if (value.length > lengthMax) fail(path, `at most ${lengthMax} items`);
  return value;
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, 'expected a string');
  return value;
}

function entryOf(value: unknown, path: string): Entry {
  const raw = record(value, path);
  const kind = raw.kind;
  if (kind !== 'normal' && kind !== 'config') fail(`${path}.kind`, "expected 'normal' or 'config'");
  return { term: count(raw.term, `${path}.term`), index: count(raw.index, `${path}.index`), kind, data: text(raw.data, `${path}.data`) };
}

function snapshotOf(value: unknown, path: string): Snapshot | null {
  if (value === null) return null;
  const raw = record(value, path);
  const config = record(raw.config, `${path}.config`);
  const ids = (key: 'voters' | 'learners') => list(config[key], `${path}.config.${key}`).map((id, i) => nodeId(id, `${path}.config.${key}.${i}`));
  return { index: count(raw.index, `${path}.index`), term: count(raw.term, `${path}.term`), config: { voters: ids('voters'), learners: ids('learners') }, data: text(raw.data, `${path}.data`) };
}

function messageOf(value: unknown, path: string): Message {
  const raw = record(value, path);
  if (typeof raw.type !== 'string' || !messageTypes.has(raw.type)) fail(`${path}.type`, 'expected a Raft message type');
  const field = (name: string) => count(raw[name], `${path}.${name}`);
  const flag = (name: string) => (typeof raw[name] === 'boolean' ? raw[name] : fail(`${path}.${name}`, 'expected a boolean'));
  // Fields in the order of Message, so the first bad one is named first.
  return {
    type: raw.type as MessageType, from: nodeId(raw.from, `${path}.from`), to: nodeId(raw.to, `${path}.to`),
    term: field('term'), logTerm: field('logTerm'), index: field('index'),
    entries: list(raw.entries, `${path}.entries`).map((entry, i) => entryOf(entry, `${path}.entries.${i}`)),
    commit: field('commit'), reject: flag('reject'), rejectHintIndex: field('rejectHintIndex'), rejectHintTerm: field('rejectHintTerm'),
    readContext: field('readContext'), heartbeatTick: field('heartbeatTick'), transfer: flag('transfer'), snapshot: snapshotOf(raw.snapshot, `${path}.snapshot`),
  };
}

/** The messages of a body (parsed JSON), each checked; INVALID_ARGUMENT naming the first bad field. */
export function parseMessages(body: unknown, what: string): Message[] {
  try {
    return list(record(body, 'body').messages, 'messages', messagesPerBodyMax).map((message, i) => messageOf(message, `messages.${i}`));
  } catch (error) {
    if (error instanceof WireError) throw new McpV8Error('INVALID_ARGUMENT', `${what}: ${error.message}`);
    throw error;
  }
}

/**
 * One message as JSON text, fields in the order of Message (what JSON.stringify gave, so the
 * receiver's parseMessages reads it as before). Entries go as their cached JSON text (entryJson):
 * encoded once on the leader for its log record and every follower's body, however many followers
 * and retries, instead of once per body. A message carrying a snapshot goes through JSON.stringify.
 */
function encodeMessage(message: Message): string {
  if (message.snapshot !== null) return JSON.stringify(message);
  let entries = '';
  for (let i = 0; i < message.entries.length; i++) entries += (i === 0 ? '' : ',') + entryJson(message.entries[i]!);
  return `{"type":"${message.type}","from":${message.from},"to":${message.to},"term":${message.term},"logTerm":${message.logTerm},"index":${message.index},"entries":[${entries}],"commit":${message.commit},"reject":${message.reject},"rejectHintIndex":${message.rejectHintIndex},"rejectHintTerm":${message.rejectHintTerm},"readContext":${message.readContext},"heartbeatTick":${message.heartbeatTick},"transfer":${message.transfer},"snapshot":null}`;
}

/** A body already encoded as JSON text: sent and answered as it is (PeerClient.request, the hot routes). */
export class JsonText {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }
}

/** A body of Raft messages (`{ messages: [...] }`) as JSON text: what parseMessages reads. */
export function encodeMessages(messages: readonly Message[]): string {
  let text = '{"messages":[';
  for (let i = 0; i < messages.length; i++) text += (i === 0 ? '' : ',') + encodeMessage(messages[i]!);
  return `${text}]}`;
}

/** One chunk of a snapshot transfer (`{ chunk: {message, total, offset, data} }`), checked like messages. */
/**
 * A chunk without `sha256` comes from a sender older than the snapshot digests (chunk format 1):
 * refused, not installed unchecked. What this node answers, for the old sender's log and this one's.
 */
export function chunkWithoutDigest(from: number): string {
  return `raft snapshot chunk from node ${from} has no sha256: the sender runs an mcp-v8 older than the snapshot digests (chunk format 1), and this node (mcp-v8 ${version}, chunk format ${snapshotChunkFormat}) installs only snapshots it can check. During a rolling upgrade an upgraded node catches up from a snapshot only once an upgraded node leads: upgrade the leader next (stopped with SIGTERM, it hands leadership over), see docs/cluster.md "Rolling upgrades"`;
}

export function parseSnapshotChunk(body: unknown, what: string): SnapshotChunk {
  try {
    const chunk = record(record(body, 'body').chunk, 'chunk');
    const message = messageOf(chunk.message, 'chunk.message');
    if (chunk.sha256 === undefined) throw new McpV8Error('NOT_SUPPORTED', chunkWithoutDigest(message.from));
    return {
      message, total: count(chunk.total, 'chunk.total'),
      offset: count(chunk.offset, 'chunk.offset'), data: text(chunk.data, 'chunk.data'), sha256: text(chunk.sha256, 'chunk.sha256'),
      format: count(chunk.format ?? snapshotChunkFormat, 'chunk.format'),
    };
  } catch (error) {
    if (error instanceof WireError) throw new McpV8Error('INVALID_ARGUMENT', `${what}: ${error.message}`);
    throw error;
  }
}
