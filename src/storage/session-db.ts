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
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import { openLevel } from './level.ts';
import { parseStored } from './stored-json.ts';
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';
import { heapIdPattern } from '../model.ts';
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
  /**
   * A stateful run's output heap: its session entry (if any) and its tags (if any), in one batch.
   * `after`: the session's latest heap as the run found it (a run that continued its session and
   * named no heap); the entry is refused (SESSION_CONFLICT) if another was appended since, so a
   * session's history never forks however its runs were routed.
   */
  | { type: 'heap.commit'; heap: string; session: string | null; entry: Omit<SessionEntry, 'index'> | null; tags: Tags | null; after?: string | null };

export const sessionNameCharsMax = 256;
export const tagKeyCharsMax = 128;
export const tagValueCharsMax = 1024;
export const tagsPerHeapMax = 64;
export const queryResultsMax = 1_000;
/** Sessions whose entry count and latest heap are kept in memory (`SessionDb.tails`). */
export const sessionTailsCachedMax = 10_000;
const indexDigits = 12;
const separator = '\u0000';
const controlCharacters = /[\u0000-\u001f\u007f]/;

function checkText(what: string, text: unknown, charsMax: number, allowEmpty = false): string {
  if (typeof text !== 'string' || (!allowEmpty && text.length === 0) || text.length > charsMax || controlCharacters.test(text)) {
    throw new McpV8Error('INVALID_ARGUMENT', `${what} must be ${allowEmpty ? '' : 'a non-empty '}text of at most ${charsMax} characters without control characters`);
  }
  return text;
}

/** heap.commit's `after`: the session's latest heap must still be the one the run continued. */
export function checkStillLatest(session: string, after: string | null, latest: string | null): void {
  if (latest === after) return;
  throw new McpV8Error(
    'SESSION_CONFLICT',
    `another run of session '${session}' was saved first (its latest heap is now ${latest ?? 'none'}, this run continued ${after ?? 'none'}): this run's state was not saved, so the session's history stays one line; submit the run again to continue from the latest heap`,
  );
}

export function checkSessionName(session: unknown): string {
  return checkText('session', session, sessionNameCharsMax);
}

export function checkTags(tags: unknown): Tags {
  if (tags === null || typeof tags !== 'object' || Array.isArray(tags)) throw new McpV8Error('INVALID_ARGUMENT', 'tags must be an object of string keys and string values');
  // `__proto__` never arrives here as data through the tools (tags-argument.ts); refused all the same.
  if (Object.hasOwn(tags, '__proto__')) throw new McpV8Error('INVALID_ARGUMENT', "the tag key '__proto__' is reserved: JavaScript objects cannot hold it as data; choose another key");
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
/** Where a session's entries start: every entry key is this plus its zero-padded index. */
const entryPrefix = (session: string) => `s!${session}${separator}`;
const entryKey = (session: string, index: number) => entryPrefix(session) + String(index).padStart(indexDigits, '0');
const countShape = /^(0|[1-9][0-9]{0,11})$/;

// Damaged values. LevelDB checksums what it stores, so only a bug or a hand edit makes one; it
// must cost the one entry or tag set it is, never a session's other entries, other heaps' tags,
// or a write that trusts it (a count read as NaN would file every later entry under "NaN").

const heapId = z.string().regex(heapIdPattern);
const storedEntrySchema = z.object({
  index: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  input_heap: heapId.nullable(),
  output_heap: heapId,
  code: z.string(),
  timestamp: z.string(),
});
const storedTagsSchema = z.record(z.string(), z.string());
const snapshotSchema = z.array(z.tuple([z.string(), z.string()]));

/** A stored session entry, or null when it cannot be read. */
function parseEntry(text: string): SessionEntry | null {
  return parseStored(storedEntrySchema, text);
}

/** A heap's stored tags, or null when they cannot be read. */
function parseTags(text: string): Tags | null {
  return parseStored(storedTagsSchema, text);
}

const indexOfEntryKey = (key: string) => Number(key.slice(key.lastIndexOf(separator) + 1));

/** What the service layer needs of a session store: SessionDb on one node, the Raft log in a cluster (src/cluster). */
export type SessionStore = Pick<SessionDb, 'apply' | 'getTags' | 'queryTags' | 'listSessions' | 'entries' | 'latestHeap' | 'close'>;

export class SessionDb {
  private readonly db: Level<string, string>;
  private readonly logger: Logger | undefined;
  /** Writes are applied one at a time, in the order they were asked for. */
  private writes: Promise<unknown> = Promise.resolve();
  /**
   * Each recently written session's entry count and latest heap, as this process last wrote
   * them: a stateful run reads its session's latest heap twice (its parent, then the check that
   * it is still the latest) and its count once, three LevelDB trips that this answers from
   * memory. Set only in the write chain, after the batch, so it never runs ahead of the disk;
   * this process is the database's only writer (a cluster keeps sessions in the Raft log).
   */
  private readonly tails = new LRUCache<string, { count: number; latest: string }>({ max: sessionTailsCachedMax });

  private constructor(db: Level<string, string>, logger: Logger | undefined) {
    this.db = db;
    this.logger = logger;
  }

  static async open(path: string, logger?: Logger): Promise<SessionDb> {
    const db = await openLevel(path, { what: 'session database', flag: '--session-db-path' });
    return new SessionDb(db, logger);
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
        this.tails.set(command.session, { count: index + 1, latest: command.entry.output_heap });
        return index;
      }
      case 'heap.commit': {
        const heap = checkHeapId(command.heap);
        const operations: Operation[] = [];
        let index: number | null = null;
        if (command.session !== null) {
          if (command.entry === null || command.entry.output_heap !== heap) throw new McpV8Error('INVALID_ARGUMENT', 'a session entry of a committed heap names that heap as its output');
          if (command.after !== undefined) checkStillLatest(command.session, command.after, (await this.latestHeap(command.session)) ?? null);
          const appended = await this.appendOperations(command.session, command.entry);
          operations.push(...appended.operations);
          index = appended.index;
        }
        if (command.tags !== null) operations.push(...(await this.replaceTags(heap, checkTags(command.tags))));
        // One batch: a crash leaves the entry and the tags, or neither.
        if (operations.length > 0) await this.db.batch(operations);
        if (command.session !== null && index !== null) this.tails.set(command.session, { count: index + 1, latest: heap });
        return index;
      }
      case 'tags.set':
        await this.db.batch(await this.replaceTags(checkHeapId(command.heap), checkTags(command.tags)));
        return null;
      case 'tags.delete': {
        const heap = checkHeapId(command.heap);
        // Damaged tags cannot be kept in part: deleting any of them deletes them all.
        const stored = await this.readTags(heap);
        const remaining = command.keys === null ? {} : Object.fromEntries(Object.entries(stored ?? {}).filter(([key]) => !command.keys!.includes(key)));
        await this.db.batch(await this.replaceTags(heap, remaining, stored));
        return null;
      }
    }
  }

  private async appendOperations(sessionName: string, fields: Omit<SessionEntry, 'index'>): Promise<{ operations: Operation[]; index: number }> {
    const session = checkSessionName(sessionName);
    const index = await this.nextIndex(session);
    const entry: SessionEntry = { index, ...fields };
    return {
      index,
      operations: [
        { type: 'put', key: entryKey(session, index), value: JSON.stringify(entry) },
        { type: 'put', key: `n!${session}`, value: String(index + 1) },
      ],
    };
  }

  /** The index the session's next entry gets; a damaged count is recomputed from the entries' keys. */
  private async nextIndex(session: string): Promise<number> {
    const tail = this.tails.get(session);
    if (tail !== undefined) return tail.count;
    const count = await this.db.get(`n!${session}`);
    if (count === undefined) return 0;
    if (countShape.test(count)) return Number(count);
    const prefix = entryPrefix(session);
    let next = 0;
    for await (const key of this.db.keys({ gt: prefix, lt: prefix + '\uffff', reverse: true })) {
      const index = indexOfEntryKey(key);
      // Keys are written by entryKey; one edited by hand into something else is passed over.
      if (Number.isSafeInteger(index) && index >= 0) { next = index + 1; break; }
    }
    this.logger?.error({ session, stored: count.slice(0, 80), next }, 'the stored entry count of a session cannot be read; it is recomputed from its entries');
    return next;
  }

  /** The index keys of a heap's tags (`stored`, as readTags gave them); damaged tags do not say which, so the index is searched. */
  private async tagIndexKeys(heap: string, stored: Tags | null): Promise<string[]> {
    if (stored !== null) return Object.entries(stored).map(([key, value]) => tagKey(key, value, heap));
    const keys: string[] = [];
    const suffix = `${separator}${heap}`;
    for await (const key of this.db.keys({ gt: 't!', lt: 't~' })) if (key.endsWith(suffix)) keys.push(key);
    return keys;
  }

  /** `stored`: the heap's current tags when the caller has read them already. */
  private async replaceTags(heap: string, tags: Tags, stored?: Tags | null): Promise<Operation[]> {
    const current = stored === undefined ? await this.readTags(heap) : stored;
    const operations: Operation[] = (await this.tagIndexKeys(heap, current)).map((key) => ({ type: 'del', key }));
    if (Object.keys(tags).length === 0) {
      operations.push({ type: 'del', key: `h!${heap}` });
      return operations;
    }
    operations.push({ type: 'put', key: `h!${heap}`, value: JSON.stringify(tags) });
    for (const [key, value] of Object.entries(tags)) operations.push({ type: 'put', key: tagKey(key, value, heap), value: '' });
    return operations;
  }

  /** A heap's tags ({} when it has none), or null when they are damaged (logged). */
  private async readTags(heap: string): Promise<Tags | null> {
    const text = await this.db.get(`h!${heap}`);
    if (text === undefined) return {};
    const tags = parseTags(text);
    if (tags === null) this.logger?.error({ heap }, 'the stored tags of a heap cannot be read');
    return tags;
  }

  async getTags(heap: string): Promise<Tags> {
    const tags = await this.readTags(checkHeapId(heap));
    if (tags === null) throw new McpV8Error('STORED_DATA_DAMAGED', `The stored tags of heap ${heap} cannot be read (they are damaged in the session database). set_heap_tags replaces them; delete_heap_tags removes them.`);
    return tags;
  }

  /** Heaps whose tags contain every given pair; with no pairs, every tagged heap. */
  async queryTags(wanted: Tags): Promise<Array<{ heap: string; tags: Tags }>> {
    const pairs = Object.entries(checkTags(wanted));
    const results: Array<{ heap: string; tags: Tags }> = [];
    if (pairs.length === 0) {
      for await (const [key, value] of this.db.iterator({ gt: 'h!', lt: 'h~' })) {
        const tags = parseTags(value);
        if (tags === null) this.logger?.error({ heap: key.slice(2) }, 'the stored tags of a heap cannot be read; a query leaves the heap out');
        else results.push({ heap: key.slice(2), tags });
        if (results.length >= queryResultsMax) break;
      }
      return results;
    }
    const [firstKey, firstValue] = pairs[0]!;
    const prefix = `t!${firstKey}${separator}${firstValue}${separator}`;
    for await (const key of this.db.keys({ gt: prefix, lt: prefix + '\uffff' })) {
      const heap = key.slice(prefix.length);
      const tags = await this.readTags(heap);
      if (tags !== null && pairs.every(([name, value]) => tags[name] === value)) results.push({ heap, tags });
      if (results.length >= queryResultsMax) break;
    }
    return results;
  }

  async listSessions(): Promise<string[]> {
    const sessions: string[] = [];
    for await (const key of this.db.keys({ gt: 'n!', lt: 'n~' })) sessions.push(key.slice(2));
    return sessions;
  }

  /** The session's entries, oldest first; a damaged one is left out (logged), so its index is missing. */
  async entries(session: string): Promise<SessionEntry[]> {
    const prefix = entryPrefix(checkSessionName(session));
    const entries: SessionEntry[] = [];
    for await (const [key, value] of this.db.iterator({ gt: prefix, lt: prefix + '\uffff' })) {
      const entry = parseEntry(value);
      if (entry === null) this.logger?.error({ session, index: indexOfEntryKey(key) }, 'a stored session entry cannot be read; list_session_snapshots leaves it out');
      else entries.push(entry);
    }
    return entries;
  }

  /**
   * The output heap of the session's latest entry. When that entry is damaged the session cannot
   * be continued silently from an older heap (its latest state would be skipped): the caller is told.
   */
  async latestHeap(session: string): Promise<string | undefined> {
    const tail = this.tails.get(checkSessionName(session));
    if (tail !== undefined) return tail.latest;
    const prefix = entryPrefix(session);
    for await (const [key, value] of this.db.iterator({ gt: prefix, lt: prefix + '\uffff', reverse: true, limit: 1 })) {
      const entry = parseEntry(value);
      if (entry !== null) return entry.output_heap;
      const index = indexOfEntryKey(key);
      this.logger?.error({ session, index }, 'the latest entry of a session cannot be read');
      throw new McpV8Error(
        'STORED_DATA_DAMAGED',
        `The latest entry (index ${index}) of session '${session}' cannot be read (it is damaged in the session database), so its latest heap is unknown. ` +
          'Pick a heap from list_session_snapshots and pass it as run_js heap together with session: the session then continues from that run.',
      );
    }
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
    const pairs = parseStored(snapshotSchema, snapshot);
    if (pairs === null) throw new McpV8Error('STORED_DATA_DAMAGED', 'a session database snapshot is not a JSON list of [key, value] strings; the current state is kept');
    await this.writes;
    // One batch: a crash leaves the old state or the new one, never an empty database.
    const incoming = new Set(pairs.map(([key]) => key));
    const operations: Operation[] = [];
    for await (const key of this.db.keys()) if (!incoming.has(key)) operations.push({ type: 'del', key });
    for (const [key, value] of pairs) operations.push({ type: 'put', key, value });
    this.tails.clear();
    await this.db.batch(operations);
    this.tails.clear();
  }

  async close(): Promise<void> {
    await this.writes;
    await this.db.close();
  }
}
