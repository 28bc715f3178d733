// The check of a cluster snapshot's parsed JSON before ClusterMachine.restore builds its maps from
// it. It walks the parsed value in place and hands it back as typed, copying nothing: a snapshot
// installed from the leader is up to 512 Mi characters, and a schema library's parse builds a
// second copy of every array and object in it (a 133 MB snapshot: +200 MiB peak and 5.2 s to
// restore with zod, +50 MiB and 3.2 s for JSON.parse and the maps alone; bench/snapshot-install.ts).
// The first bad field is named by its path, like the Raft messages' wire check (src/cluster/wire.ts).
import { ErrorCodes, McpV8Error } from '../errors.ts';
import type { SessionEntry, Tags } from '../storage/session-db.ts';
import type { ApplyResult, Member } from './machine.ts';

export interface SnapshotState {
  format: string;
  sessions: Array<[string, SessionEntry[]]>;
  tags: Array<[string, Tags]>;
  heaps: Array<[string, string]>;
  creators: Array<[string, string]>;
  members: Array<[number, Member]>;
  /** [rid, result, index applied at]; snapshots written before the index was kept have pairs. */
  requests: Array<[string, ApplyResult, number?]>;
  /** The highest log index whose request id was forgotten (absent in older snapshots: 0). */
  forgotten_through?: number;
  /** MCP session records, oldest first, checked as they are applied (absent in older snapshots: none). */
  mcp_sessions?: unknown[];
}

class SnapshotFieldError extends Error {}

function fail(path: string, what: string): never {
  throw new SnapshotFieldError(`${path}: ${what}`);
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'expected an object');
  return value as Record<string, unknown>;
}

function array(value: unknown, path: string, length?: number): unknown[] {
  if (!Array.isArray(value)) fail(path, 'expected an array');
  if (length !== undefined && value.length !== length) fail(path, `expected ${length} items`);
  return value;
}

function string(value: unknown, path: string): void {
  if (typeof value !== 'string') fail(path, 'expected a string');
}

function integer(value: unknown, path: string, min = 0): void {
  if (!Number.isSafeInteger(value) || (value as number) < min) fail(path, `expected an integer ≥ ${min}`);
}

/** Every item of `value` (an array) is a [string, string] pair. */
function stringPairs(value: unknown, path: string): void {
  const pairs = array(value, path);
  for (let i = 0; i < pairs.length; i++) {
    const pair = array(pairs[i], `${path}.${i}`, 2);
    string(pair[0], `${path}.${i}.0`);
    string(pair[1], `${path}.${i}.1`);
  }
}

function sessionEntries(value: unknown, path: string): void {
  const entries = array(value, path);
  for (let i = 0; i < entries.length; i++) {
    const entry = object(entries[i], `${path}.${i}`);
    integer(entry.index, `${path}.${i}.index`);
    if (entry.input_heap !== null) string(entry.input_heap, `${path}.${i}.input_heap`);
    for (const key of ['output_heap', 'code', 'timestamp']) string(entry[key], `${path}.${i}.${key}`);
  }
}

function applyResult(value: unknown, path: string): void {
  const result = object(value, path);
  if (result.ok === true) {
    if (result.value !== null && typeof result.value !== 'number') fail(`${path}.value`, 'expected a number or null');
  } else if (result.ok === false) {
    if (typeof result.code !== 'string' || !Object.hasOwn(ErrorCodes, result.code)) fail(`${path}.code`, 'expected an error code');
    string(result.message, `${path}.message`);
  } else {
    fail(`${path}.ok`, 'expected a boolean');
  }
}

function lists(state: Record<string, unknown>): void {
  const sessions = array(state.sessions, 'sessions');
  for (let i = 0; i < sessions.length; i++) {
    const session = array(sessions[i], `sessions.${i}`, 2);
    string(session[0], `sessions.${i}.0`);
    sessionEntries(session[1], `sessions.${i}.1`);
  }
  const tags = array(state.tags, 'tags');
  for (let i = 0; i < tags.length; i++) {
    const pair = array(tags[i], `tags.${i}`, 2);
    string(pair[0], `tags.${i}.0`);
    const values = object(pair[1], `tags.${i}.1`);
    for (const key of Object.keys(values)) string(values[key], `tags.${i}.1.${key}`);
  }
  stringPairs(state.heaps, 'heaps');
  stringPairs(state.creators, 'creators');
  const members = array(state.members, 'members');
  for (let i = 0; i < members.length; i++) {
    const member = array(members[i], `members.${i}`, 2);
    integer(member[0], `members.${i}.0`, Number.MIN_SAFE_INTEGER);
    const named = object(member[1], `members.${i}.1`);
    string(named.name, `members.${i}.1.name`);
    string(named.addr, `members.${i}.1.addr`);
  }
  const requests = array(state.requests, 'requests');
  for (let i = 0; i < requests.length; i++) {
    const request = array(requests[i], `requests.${i}`);
    if (request.length !== 2 && request.length !== 3) fail(`requests.${i}`, 'expected 2 or 3 items');
    string(request[0], `requests.${i}.0`);
    applyResult(request[1], `requests.${i}.1`);
    if (request.length === 3) integer(request[2], `requests.${i}.2`);
  }
}

/** `value` (a snapshot's parsed JSON) as a SnapshotState, unchanged; STORED_DATA_DAMAGED naming the first bad field. */
export function checkSnapshotState(value: unknown, format: string): SnapshotState {
  try {
    const state = object(value, 'snapshot');
    if (state.format !== format) fail('format', `expected ${JSON.stringify(format)}`);
    lists(state);
    if (state.forgotten_through !== undefined) integer(state.forgotten_through, 'forgotten_through');
    if (state.mcp_sessions !== undefined) array(state.mcp_sessions, 'mcp_sessions');
    return state as unknown as SnapshotState;
  } catch (error) {
    if (!(error instanceof SnapshotFieldError)) throw error;
    // A snapshot is checksummed by LevelStorage (or by its transfer's SHA-256) and written by us: failing here is a bug, not input.
    throw new McpV8Error('STORED_DATA_DAMAGED', `a cluster snapshot is not a ${format} (${error.message})`);
  }
}
