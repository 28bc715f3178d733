// The session store and the heap store of a cluster node, on the Raft log: writes are commands
// applied once by every replica (ClusterNode.write, forwarded to the leader), reads pass a ReadIndex
// barrier first (ClusterNode.read), so any node answers with every acknowledged write in view.
import { isUtf8 } from 'node:buffer';
import { McpV8Error } from '../errors.ts';
import type { HeapStore } from '../storage/heap-store.ts';
import { checkHeapId, heapIdOf, heapNotFound, verified, type HeapCommit } from '../storage/heap-store.ts';
import type { SessionCommand, SessionEntry, SessionStore, Tags } from '../storage/session-db.ts';
import type { ClusterNode } from './node.ts';

export class ReplicatedSessions implements SessionStore {
  private readonly node: ClusterNode;

  constructor(node: ClusterNode) {
    this.node = node;
  }

  apply(command: SessionCommand): Promise<number | null> {
    return this.node.write(command);
  }

  getTags(heap: string): Promise<Tags> {
    return this.node.read(() => this.node.machine.getTags(heap));
  }

  queryTags(wanted: Tags): Promise<Array<{ heap: string; tags: Tags }>> {
    return this.node.read(() => this.node.machine.queryTags(wanted));
  }

  listSessions(): Promise<string[]> {
    return this.node.read(() => this.node.machine.listSessions());
  }

  entries(session: string): Promise<SessionEntry[]> {
    return this.node.read(() => this.node.machine.entries(session));
  }

  async latestHeap(session: string): Promise<string | undefined> {
    return this.node.read(() => this.node.machine.latestHeap(session));
  }

  /** The node closes the log; nothing of its own to close. */
  async close(): Promise<void> {}
}

/**
 * A record's bytes as the text the log carries. Valid UTF-8 decodes to text that encodes back to
 * the same bytes, so the record keeps its id (the hash of its bytes) on every node; the check
 * costs a scan, where encoding the text again and hashing it (as before) cost a copy and a SHA-256
 * on the run's node for every record.
 */
function recordText(bytes: Uint8Array): string {
  if (!isUtf8(bytes)) throw new McpV8Error('INVALID_ARGUMENT', 'a replicated heap record must be UTF-8 text');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/**
 * Heap records replicated through the log itself (the default with no shared store): a record is
 * committed on a quorum before its id is handed out, so a node dying loses no heap. Records are
 * content-addressed, so one found locally is current; one not found is looked for again after a
 * ReadIndex barrier (it may have been committed a moment ago through another node).
 */
export class ReplicatedHeapStore implements HeapStore {
  private readonly node: ClusterNode;
  /**
   * Whether this node holds `heap` live (its run named the context before the write): only then
   * does the record name this node, where a run from the heap is sent. A heap kept by nobody (a
   * cheap fresh one, service/heaps.ts `keptLive`) is replayed where it is asked for.
   */
  private readonly holdsLive: (heap: string) => boolean;

  constructor(node: ClusterNode, holdsLive: (heap: string) => boolean = () => true) {
    this.node = node;
    this.holdsLive = holdsLive;
  }

  /** The `node` field of a record's command: this node, if it holds the heap live. */
  private creator(heap: string): { node?: string } {
    return this.holdsLive(heap) ? { node: this.node.name } : {};
  }

  async put(bytes: Uint8Array): Promise<string> {
    const heap = heapIdOf(bytes);
    if (this.node.machine.heapRecord(heap) !== undefined) return heap;
    await this.node.write({ type: 'heap.put', heap, record: recordText(bytes), ...this.creator(heap) });
    return heap;
  }

  /** The record and its heap.commit in one log entry (`heap.save`): a run in a session waits for one commit, not two. */
  async putAndCommit(bytes: Uint8Array, commit: HeapCommit): Promise<number | null> {
    const heap = heapIdOf(bytes);
    if (heap !== commit.heap) throw new McpV8Error('INVALID_ARGUMENT', 'a heap is committed with its own record');
    if (this.node.machine.heapRecord(heap) !== undefined) return this.node.write(commit);
    return this.node.write({ type: 'heap.save', record: recordText(bytes), ...this.creator(heap), commit });
  }

  private async find(id: string): Promise<string | undefined> {
    const heap = checkHeapId(id);
    return this.node.machine.heapRecord(heap) ?? (await this.node.read(() => this.node.machine.heapRecord(heap)));
  }

  async get(id: string): Promise<Uint8Array> {
    const record = await this.find(id);
    if (record === undefined) throw heapNotFound(id);
    return verified(id, Buffer.from(record, 'utf8'), 'the replicated heap records');
  }

  async has(id: string): Promise<boolean> {
    return (await this.find(id)) !== undefined;
  }

  async close(): Promise<void> {}
}
