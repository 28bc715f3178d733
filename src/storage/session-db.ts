// The session log and the heap tag index, in one LevelDB at --session-db-path.
//
// Every write is a command object applied by one function, `apply`, in one order: on a single
// node the tool service calls it directly; in a cluster (a later issue) the same commands go
// through the Raft log and every node applies them, so the replicas cannot drift apart.
// `snapshot()`/`restore()` carry the whole state for Raft's log compaction.
//
// Keys:
//   n!<session>                       number of entries of the session
//   s!<session>\0<index:12>           one entry (JSON), index 0-based
//   h!<heap>                          the heap's tags (JSON object)
//   t!<key>\0<value>\0<heap>          index: heaps by tag pair, so a query never scans all heaps
import type { Level } from 'level';
import { openLevel } from './level.ts';
import { McpV8Error } from '../errors.ts';
import { checkHeapId } from './heap-store.ts';

export interface SessionEntry {
  index: number;
  input_heap: string | null;
  output_heap: string;
  code: string;
  timestamp: string;
}

export type Tags = Record<string, string>;

export type SessionCommand =
  | { type: 'session.append'; session: string; entry: Omit<SessionEntry, 'index'> }
  | { type: 'tags.set'; heap: string; tags: Tags }
  | { type: 'tags.delete'; heap: string; keys: string[] | null }
  /** A stateful run's output heap: its session entry (if any) and its tags (if any), in one batch. */
  | { type: 'heap.commit'; heap: string; session: string | null; entry: Omit<SessionEntry, 'index'> | null; tags: Tags | null };

export const sessionNameCharsMax = 256;
export const tagKeyCharsMax = 128;
export const tagValueCharsMax = 1024;
export const tagsPerHeapMax = 64;
export const queryResultsMax = 1_000;
const indexDigits = 12;
const separator = '\u0000';
const controlCharacters = /[\u0000-\u001f\u007f]/;

function checkText(what: string, text: unknown, charsMax: number, allowEmpty = false): string {
  if (typeof text !== 'string' || (!allowEmpty && text.length === 0) || text.length > charsMax || controlCharacters.test(text)) {
    throw new McpV8Error('INVALID_ARGUMENT', `${what} must be ${allowEmpty ? '' : 'a non-empty '}text of at most ${charsMax} characters without control characters`);
  }
  return text;
}

export function checkSessionName(session: unknown): string {
  return checkText('session', session, sessionNameCharsMax);
}

export function checkTags(tags: unknown): Tags {
  if (tags === null || typeof tags !== 'object' || Array.isArray(tags)) throw new McpV8Error('INVALID_ARGUMENT', 'tags must be an object of string keys and string values');
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > tagsPerHeapMax) throw new McpV8Error('INVALID_ARGUMENT', `at most ${tagsPerHeapMax} tags per heap, got ${entries.length}`);
  for (const [key, value] of entries) {
    checkText('a tag key', key, tagKeyCharsMax);
    checkText(`tag '${key}'`, value, tagValueCharsMax, true);
  }
  return Object.fromEntries(entries) as Tags;
}

type Operation = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };
const tagKey = (key: string, value: string, heap: string) => `t!${key}${separator}${value}${separator}${heap}`;

export class SessionDb {
  private readonly db: Level<string, string>;
  /** Writes are applied one at a time, in the order they were asked for. */
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(db: Level<string, string>) {
    this.db = db;
  }

  static async open(path: string): Promise<SessionDb> {
    const db = await openLevel(path, { what: 'session database', flag: '--session-db-path' });
    return new SessionDb(db);
  }

  /** Applies one command; the answer is the appended entry's index for session.append. */
  apply(command: SessionCommand): Promise<number | null> {
    const result = this.writes.then(() => this.applyNow(command));
    this.writes = result.catch(() => undefined);
    return result;
  }

  private async applyNow(command: SessionCommand): Promise<number | null> {
    switch (command.type) {
      case 'session.append': {
        const { operations, index } = await this.appendOperations(command.session, command.entry);
        await this.db.batch(operations);
        return index;
      }
      case 'heap.commit': {
        const heap = checkHeapId(command.heap);
        const operations: Operation[] = [];
        let index: number | null = null;
        if (command.session !== null) {
          if (command.entry === null || command.entry.output_heap !== heap) throw new McpV8Error('INVALID_ARGUMENT', 'a session entry of a committed heap names that heap as its output');
          const appended = await this.appendOperations(command.session, command.entry);
          operations.push(...appended.operations);
          index = appended.index;
        }
        if (command.tags !== null) operations.push(...(await this.replaceTags(heap, checkTags(command.tags))));
        // One batch: a crash leaves the entry and the tags, or neither.
        if (operations.length > 0) await this.db.batch(operations);
        return index;
      }
      case 'tags.set':
        await this.db.batch(await this.replaceTags(checkHeapId(command.heap), checkTags(command.tags)));
        return null;
      case 'tags.delete': {
        const heap = checkHeapId(command.heap);
        const current = await this.getTags(heap);
        const remaining = command.keys === null ? {} : Object.fromEntries(Object.entries(current).filter(([key]) => !command.keys!.includes(key)));
        await this.db.batch(await this.replaceTags(heap, remaining));
        return null;
      }
    }
  }

  private async appendOperations(sessionName: string, fields: Omit<SessionEntry, 'index'>): Promise<{ operations: Operation[]; index: number }> {
    const session = checkSessionName(sessionName);
    const index = Number((await this.db.get(`n!${session}`)) ?? '0');
    const entry: SessionEntry = { index, ...fields };
    return {
      index,
      operations: [
        { type: 'put', key: `s!${session}${separator}${String(index).padStart(indexDigits, '0')}`, value: JSON.stringify(entry) },
        { type: 'put', key: `n!${session}`, value: String(index + 1) },
      ],
    };
  }

  private async replaceTags(heap: string, tags: Tags): Promise<Operation[]> {
    const operations: Operation[] = Object.entries(await this.getTags(heap)).map(([key, value]) => ({ type: 'del', key: tagKey(key, value, heap) }));
    if (Object.keys(tags).length === 0) {
      operations.push({ type: 'del', key: `h!${heap}` });
      return operations;
    }
    operations.push({ type: 'put', key: `h!${heap}`, value: JSON.stringify(tags) });
    for (const [key, value] of Object.entries(tags)) operations.push({ type: 'put', key: tagKey(key, value, heap), value: '' });
    return operations;
  }

  async getTags(heap: string): Promise<Tags> {
    const text = await this.db.get(`h!${checkHeapId(heap)}`);
    return text === undefined ? {} : (JSON.parse(text) as Tags);
  }

  /** Heaps whose tags contain every given pair; with no pairs, every tagged heap. */
  async queryTags(wanted: Tags): Promise<Array<{ heap: string; tags: Tags }>> {
    const pairs = Object.entries(checkTags(wanted));
    const results: Array<{ heap: string; tags: Tags }> = [];
    if (pairs.length === 0) {
      for await (const [key, value] of this.db.iterator({ gt: 'h!', lt: 'h~', limit: queryResultsMax })) results.push({ heap: key.slice(2), tags: JSON.parse(value) as Tags });
      return results;
    }
    const [firstKey, firstValue] = pairs[0]!;
    const prefix = `t!${firstKey}${separator}${firstValue}${separator}`;
    for await (const key of this.db.keys({ gt: prefix, lt: prefix + '\uffff' })) {
      const heap = key.slice(prefix.length);
      const tags = await this.getTags(heap);
      if (pairs.every(([name, value]) => tags[name] === value)) results.push({ heap, tags });
      if (results.length >= queryResultsMax) break;
    }
    return results;
  }

  async listSessions(): Promise<string[]> {
    const sessions: string[] = [];
    for await (const key of this.db.keys({ gt: 'n!', lt: 'n~' })) sessions.push(key.slice(2));
    return sessions;
  }

  async entries(session: string): Promise<SessionEntry[]> {
    const prefix = `s!${checkSessionName(session)}${separator}`;
    const entries: SessionEntry[] = [];
    for await (const value of this.db.values({ gt: prefix, lt: prefix + '\uffff' })) entries.push(JSON.parse(value) as SessionEntry);
    return entries;
  }

  async latestHeap(session: string): Promise<string | undefined> {
    const prefix = `s!${checkSessionName(session)}${separator}`;
    for await (const value of this.db.values({ gt: prefix, lt: prefix + '\uffff', reverse: true, limit: 1 })) return (JSON.parse(value) as SessionEntry).output_heap;
    return undefined;
  }

  /** The whole state, for Raft's snapshots. */
  async snapshot(): Promise<string> {
    const pairs: Array<[string, string]> = [];
    await this.writes;
    for await (const pair of this.db.iterator()) pairs.push(pair);
    return JSON.stringify(pairs);
  }

  async restore(snapshot: string): Promise<void> {
    const pairs = JSON.parse(snapshot) as Array<[string, string]>;
    await this.writes;
    // One batch: a crash leaves the old state or the new one, never an empty database.
    const incoming = new Set(pairs.map(([key]) => key));
    const operations: Operation[] = [];
    for await (const key of this.db.keys()) if (!incoming.has(key)) operations.push({ type: 'del', key });
    for (const [key, value] of pairs) operations.push({ type: 'put', key, value });
    await this.db.batch(operations);
  }

  async close(): Promise<void> {
    await this.writes;
    await this.db.close();
  }
}
