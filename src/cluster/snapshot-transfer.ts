// InstallSnapshot in bounded chunks (Raft §7: offset, data, done), below the core: the core sends
// one `snapshot` message holding the whole snapshot, and this transport cuts its data into chunks
// of --raft-snapshot-chunk-bytes characters, posted one at a time to /raft/snapshot. The receiver
// assembles them and hands the core the same one message once the last chunk is in, so the core
// stays a pure state machine that knows nothing of chunks (docs/raft.md).
//
// Every chunk names its snapshot (index, term, length) and its offset; the receiver answers the
// offset it expects next. A lost chunk (a request that failed) is asked for again from where the
// receiver stands, not from the start; a receiver that restarted (its assembly gone) answers 0 and
// the transfer starts over; when the core sends the snapshot again (its snapshot progress timed
// out), the transfer resumes where the receiver's assembly stands.
//
// Memory: the sender holds nothing of its own (it slices the core's snapshot string, one chunk
// in flight per peer); the receiver holds at most one snapshot in assembly per sender, at most
// `assembliesMax` senders, each at most `snapshotCharsMax`, and drops one left idle for
// `assemblyIdleMs`. The assembled snapshot is one string, as the state machine restores it.
import { z } from 'zod';
import type { Logger } from 'pino';
import { McpV8Error } from '../errors.ts';
import type { Message, Snapshot } from '../raft/types.ts';

/** --raft-snapshot-chunk-bytes's default and bounds: characters of snapshot data per request. */
export const snapshotChunkCharsDefault = 1024 * 1024;
export const snapshotChunkCharsMin = 1024;
export const snapshotChunkCharsMax = 16 * 1024 * 1024;
/** A snapshot holds at most the replicated heap records' bound plus the session log. */
export const snapshotCharsMax = 512 * 1024 * 1024;
/** Senders (leaders, over terms) whose snapshots may be in assembly at once. */
const assembliesMax = 4;
/** An assembly no chunk arrived for in this long is dropped (its sender moved on, or died). */
const assemblyIdleMs = 60_000;
/** Failed chunk requests a transfer retries (from where the receiver stands) before it leaves the resend to the core. */
const chunkAttemptsMax = 5;

export interface SnapshotChunk {
  /** The core's message, its snapshot's data left out (''). */
  message: Message;
  /** The snapshot's data length, in UTF-16 code units (JS string length). */
  total: number;
  offset: number;
  data: string;
}

/** The id a snapshot's chunks share: the same snapshot whichever message (term, commit) carries it. */
function snapshotId(snapshot: Snapshot, total: number): string {
  return `${snapshot.index}/${snapshot.term}/${total}`;
}

/** The sender's side: one transfer per peer; a newer snapshot for that peer replaces the one in flight. */
export class SnapshotSender {
  private readonly transfers = new Map<string, { id: string; cancelled: boolean }>();
  private readonly post: (addr: string, chunk: SnapshotChunk) => Promise<{ next_offset: number }>;
  private readonly chunkChars: number;
  private readonly logger: Logger;

  constructor(options: { post: (addr: string, chunk: SnapshotChunk) => Promise<{ next_offset: number }>; chunkChars: number; logger: Logger }) {
    this.post = options.post;
    this.chunkChars = options.chunkChars;
    this.logger = options.logger;
  }

  send(addr: string, message: Message): void {
    const snapshot = message.snapshot!;
    const id = snapshotId(snapshot, snapshot.data.length);
    const current = this.transfers.get(addr);
    if (current !== undefined && current.id === id && !current.cancelled) return;
    if (current !== undefined) current.cancelled = true;
    const transfer = { id, cancelled: false };
    this.transfers.set(addr, transfer);
    void this.run(addr, message, transfer).finally(() => {
      if (this.transfers.get(addr) === transfer) this.transfers.delete(addr);
    });
  }

  /** Chunks from offset 0 (or wherever the receiver says it stands) until the receiver has them all. */
  private async run(addr: string, message: Message, transfer: { cancelled: boolean }): Promise<void> {
    const data = message.snapshot!.data;
    const header: Message = { ...message, snapshot: { ...message.snapshot!, data: '' } };
    let offset = 0;
    let failures = 0;
    let chunks = 0;
    while (!transfer.cancelled) {
      try {
        const answer = await this.post(addr, { message: header, total: data.length, offset, data: data.slice(offset, offset + this.chunkChars) });
        chunks++;
        if (answer.next_offset >= data.length) break;
        offset = answer.next_offset;
      } catch (error) {
        if (++failures >= chunkAttemptsMax) {
          this.logger.warn({ peer: addr, offset, err: (error as Error).message }, 'a snapshot transfer stopped; the next resend resumes where the peer stands');
          return;
        }
      }
    }
    if (!transfer.cancelled) this.logger.info({ peer: addr, index: message.snapshot!.index, chars: data.length, chunks, retried: failures }, 'snapshot sent in chunks');
  }

  /** Ends every transfer (the node is stopping). */
  close(): void {
    for (const transfer of this.transfers.values()) transfer.cancelled = true;
    this.transfers.clear();
  }
}

const chunkSchema = z.object({
  total: z.number().int().min(0).max(snapshotCharsMax),
  offset: z.number().int().min(0).max(snapshotCharsMax),
  data: z.string(),
});

interface Assembly {
  id: string;
  parts: string[];
  received: number;
  touchedAt: number;
}

/** The receiver's side: assembles each sender's snapshot; answers the offset it expects next. */
export class SnapshotReceiver {
  private readonly assemblies = new Map<number, Assembly>();
  private readonly deliver: (message: Message) => void;
  private readonly now: () => number;

  constructor(deliver: (message: Message) => void, now: () => number = Date.now) {
    this.deliver = deliver;
    this.now = now;
  }

  /** One chunk (its message already validated as a Raft message); answers `{ next_offset }`. */
  receive(message: Message, raw: unknown): { next_offset: number } {
    const chunk = chunkSchema.parse(raw);
    const snapshot = message.snapshot;
    if (message.type !== 'snapshot' || snapshot === null) throw new McpV8Error('INVALID_ARGUMENT', 'a snapshot chunk carries a snapshot message');
    if (chunk.offset + chunk.data.length > chunk.total) throw new McpV8Error('INVALID_ARGUMENT', `snapshot chunk at offset ${chunk.offset} (${chunk.data.length} characters) runs past the snapshot's ${chunk.total}`);
    if (chunk.data.length === 0 && chunk.total > 0) throw new McpV8Error('INVALID_ARGUMENT', 'an empty snapshot chunk');
    this.dropIdle();
    const id = snapshotId(snapshot, chunk.total);
    let assembly = this.assemblies.get(message.from);
    if (assembly?.id !== id) {
      // Another snapshot (or none yet) from this sender: a transfer starts only at offset 0.
      if (chunk.offset !== 0) return { next_offset: 0 };
      this.assemblies.delete(message.from);
      if (this.assemblies.size >= assembliesMax) this.assemblies.delete(this.assemblies.keys().next().value!);
      assembly = { id, parts: [], received: 0, touchedAt: this.now() };
      this.assemblies.set(message.from, assembly);
    }
    assembly.touchedAt = this.now();
    // A chunk again, or one ahead of a lost one: tell the sender where this side stands.
    if (chunk.offset !== assembly.received) return { next_offset: assembly.received };
    assembly.parts.push(chunk.data);
    assembly.received += chunk.data.length;
    if (assembly.received < chunk.total) return { next_offset: assembly.received };
    this.assemblies.delete(message.from);
    const data = assembly.parts.join('');
    assembly.parts = [];
    this.deliver({ ...message, snapshot: { ...snapshot, data } });
    return { next_offset: chunk.total };
  }

  /** Characters held in assembly now (for tests and status). */
  heldChars(): number {
    let chars = 0;
    for (const assembly of this.assemblies.values()) chars += assembly.received;
    return chars;
  }

  private dropIdle(): void {
    const now = this.now();
    for (const [from, assembly] of this.assemblies) if (now - assembly.touchedAt > assemblyIdleMs) this.assemblies.delete(from);
  }
}
