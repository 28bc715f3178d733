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
// Every chunk also carries the SHA-256 of the whole snapshot's UTF-8: the receiver checks the
// assembled file against it (after fsync, read back from disk) before the core sees anything, so
// a corrupt or truncated chunk installs nothing; the assembly is dropped and the transfer starts
// over.
//
// Memory and disk: the sender holds nothing of its own but the digest (it slices the core's
// snapshot string, one chunk in flight per peer). The receiver writes each chunk to a file of its
// own under `<raft-db-path>/snapshot-incoming/` as it comes, so a snapshot in assembly takes disk,
// not memory: at most one per sender, at most `assembliesMax` senders, each at most
// `snapshotCharsMax` characters (≤ 3 bytes each in UTF-8); one left idle for `assemblyIdleMs`, or
// replaced, is removed, and the folder is emptied when the node starts (a restart's leftovers).
// Only the complete, verified snapshot is read into memory, as the one string the state machine
// restores.
import { createHash, type Hash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
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
/** Bytes of a read-back snapshot hashed between two turns of the event loop. */
const digestSliceBytes = 16 * 1024 * 1024;

/** SHA-256 (hex) of `bytes`, `sliceBytes` at a time, yielding to the event loop between slices. */
export async function digestOfBytesInTurns(bytes: Buffer, sliceBytes = digestSliceBytes): Promise<string> {
  const hash = createHash('sha256');
  for (let start = 0; start < bytes.length; start += sliceBytes) {
    hash.update(bytes.subarray(start, start + sliceBytes));
    if (start + sliceBytes < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
  return hash.digest('hex');
}

/** Snapshot digests the sender keeps. */
const digestsKept = 4;
/** Failed chunk requests a transfer retries (from where the receiver stands) before it leaves the resend to the core. */
const chunkAttemptsMax = 5;

/**
 * What a chunk carries, by version: 1 had no `sha256` (refused now, src/cluster/wire.ts); 2 has it
 * and says so in `format`, so that a later format can name the one it meets.
 */
export const snapshotChunkFormat = 2;

export interface SnapshotChunk {
  /** The core's message, its snapshot's data left out (''). */
  message: Message;
  /** The snapshot's data length, in UTF-16 code units (JS string length). */
  total: number;
  offset: number;
  data: string;
  /** SHA-256 (hex) of the whole snapshot's data as UTF-8: the receiver installs only what hashes to it. */
  sha256: string;
  /** snapshotChunkFormat of the sender (an older receiver ignores it). */
  format: number;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

export function snapshotDigest(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

/** Characters hashed between two turns of the event loop: a large snapshot's digest must not hold up heartbeats. */
const digestSliceChars = 4 * 1024 * 1024;

/**
 * snapshotDigest in slices, yielding to the event loop between them (a 512 Mi-character snapshot
 * takes seconds to hash). A slice never ends between the halves of a surrogate pair, whose UTF-8
 * exists only whole.
 */
export async function snapshotDigestInTurns(data: string, sliceChars = digestSliceChars): Promise<string> {
  const hash = createHash('sha256');
  for (let start = 0; start < data.length;) {
    let end = Math.min(start + sliceChars, data.length);
    if (end < data.length && isHighSurrogate(data.charCodeAt(end - 1))) end++;
    hash.update(data.slice(start, end), 'utf8');
    start = end;
    if (start < data.length) await new Promise((resolve) => setImmediate(resolve));
  }
  return hash.digest('hex');
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
  /** The digests of the snapshots sent last (a snapshot goes to every lagging peer, and again on the core's resend): hashed once. */
  private readonly digests = new Map<string, Promise<string>>();

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
    const sha256 = await this.digestOf(snapshotId(message.snapshot!, data.length), data);
    if (transfer.cancelled) return;
    let offset = 0;
    let failures = 0;
    let chunks = 0;
    while (!transfer.cancelled) {
      try {
        const answer = await this.post(addr, { message: header, total: data.length, offset, data: data.slice(offset, offset + this.chunkChars), sha256, format: snapshotChunkFormat });
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

  private digestOf(snapshot: string, data: string): Promise<string> {
    let digest = this.digests.get(snapshot);
    if (digest === undefined) {
      digest = snapshotDigestInTurns(data);
      this.digests.set(snapshot, digest);
      // A few snapshots at once at most (one per compaction); the oldest is forgotten.
      if (this.digests.size > digestsKept) this.digests.delete(this.digests.keys().next().value!);
    }
    return digest;
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
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the snapshot\'s SHA-256, 64 hex digits'),
});

interface Assembly {
  id: string;
  sha256: string;
  path: string;
  file: FileHandle;
  /** Characters received (UTF-16 code units, as offsets count them). */
  received: number;
  /** A chunk's last code unit when it is the first half of a surrogate pair: written with the next chunk's first. */
  carry: string;
  hash: Hash;
  touchedAt: number;
}

/** The receiver's side: writes each sender's snapshot to disk as it comes; answers the offset it expects next. */
export class SnapshotReceiver {
  private readonly assemblies = new Map<number, Assembly>();
  /** Chunks of one sender are handled one after another (a retry may arrive while its first try is being written). */
  private readonly queues = new Map<number, Promise<unknown>>();
  /** The snapshot each sender last delivered whole: the core sending it again (its progress timed out just as it arrived) is answered done at once. */
  private readonly delivered = new Map<number, string>();
  private readonly deliver: (message: Message) => void;
  private readonly now: () => number;
  /** Where snapshots in assembly are written (null until start). */
  private dir: string | null = null;
  private files = 0;

  constructor(deliver: (message: Message) => void, now: () => number = Date.now) {
    this.deliver = deliver;
    this.now = now;
  }

  /**
   * Takes chunks from now on, writing them under `dir`, which it empties first: what a previous
   * run left there is of no use (a transfer starts over after a restart). Called once the node
   * holds its log's lock, so it never empties another process's folder.
   */
  start(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    this.dir = dir;
  }

  /** One chunk (its message already validated as a Raft message); answers `{ next_offset }`. */
  receive(message: Message, raw: unknown): Promise<{ next_offset: number }> {
    const previous = this.queues.get(message.from) ?? Promise.resolve();
    const handled = previous.then(() => this.receiveInTurn(message, raw), () => this.receiveInTurn(message, raw));
    const settled = handled.catch(() => {});
    this.queues.set(message.from, settled);
    void settled.then(() => { if (this.queues.get(message.from) === settled) this.queues.delete(message.from); });
    return handled;
  }

  private async receiveInTurn(message: Message, raw: unknown): Promise<{ next_offset: number }> {
    const parsed = chunkSchema.safeParse(raw);
    if (!parsed.success) throw new McpV8Error('INVALID_ARGUMENT', `raft snapshot chunk: ${parsed.error.issues[0]?.path.join('.') || 'chunk'}: ${parsed.error.issues[0]?.message}`);
    const chunk = parsed.data;
    const snapshot = message.snapshot;
    if (message.type !== 'snapshot' || snapshot === null) throw new McpV8Error('INVALID_ARGUMENT', 'a snapshot chunk carries a snapshot message');
    if (chunk.offset + chunk.data.length > chunk.total) throw new McpV8Error('INVALID_ARGUMENT', `snapshot chunk at offset ${chunk.offset} (${chunk.data.length} characters) runs past the snapshot's ${chunk.total}`);
    if (chunk.data.length === 0 && chunk.total > 0) throw new McpV8Error('INVALID_ARGUMENT', 'an empty snapshot chunk');
    await this.dropIdle();
    const id = snapshotId(snapshot, chunk.total);
    if (chunk.offset === 0 && this.delivered.get(message.from) === `${id}/${chunk.sha256}`) return { next_offset: chunk.total };
    let assembly = this.assemblies.get(message.from);
    if (assembly?.id !== id || assembly.sha256 !== chunk.sha256) {
      // Another snapshot (or none yet) from this sender: a transfer starts only at offset 0.
      if (chunk.offset !== 0) return { next_offset: 0 };
      await this.drop(message.from);
      if (this.assemblies.size >= assembliesMax) await this.drop(this.assemblies.keys().next().value!);
      assembly = await this.begin(message.from, id, chunk.sha256);
    }
    assembly.touchedAt = this.now();
    // A chunk again, or one ahead of a lost one: tell the sender where this side stands.
    if (chunk.offset !== assembly.received) return { next_offset: assembly.received };
    try {
      await this.append(assembly, chunk.data, chunk.offset + chunk.data.length === chunk.total);
    } catch (error) {
      await this.drop(message.from);
      throw new McpV8Error('STORAGE_UNAVAILABLE', `snapshot ${id}: writing the chunk at ${chunk.offset} to ${assembly.path} failed (${(error as Error).message}); the transfer starts over`, { cause: error });
    }
    if (assembly.received < chunk.total) return { next_offset: assembly.received };
    const data = await this.finish(message.from, assembly);
    this.delivered.delete(message.from);
    this.delivered.set(message.from, `${id}/${chunk.sha256}`);
    if (this.delivered.size > assembliesMax) this.delivered.delete(this.delivered.keys().next().value!);
    this.deliver({ ...message, snapshot: { ...snapshot, data } });
    return { next_offset: chunk.total };
  }

  private async begin(from: number, id: string, sha256: string): Promise<Assembly> {
    if (this.dir === null) throw new McpV8Error('STOPPING', 'this node is starting: it takes snapshot chunks once its log is open');
    const path = join(this.dir, `from-${from}-${++this.files}.part`);
    const file = await open(path, 'w');
    const assembly: Assembly = { id, sha256, path, file, received: 0, carry: '', hash: createHash('sha256'), touchedAt: this.now() };
    this.assemblies.set(from, assembly);
    return assembly;
  }

  /** Writes a chunk (its UTF-8; a surrogate pair split between chunks is written whole with the next). */
  private async append(assembly: Assembly, data: string, last: boolean): Promise<void> {
    let text = assembly.carry + data;
    assembly.carry = '';
    if (!last && isHighSurrogate(text.charCodeAt(text.length - 1))) {
      assembly.carry = text.slice(-1);
      text = text.slice(0, -1);
    }
    const bytes = Buffer.from(text, 'utf8');
    await assembly.file.write(bytes, 0, bytes.length);
    assembly.hash.update(bytes);
    assembly.received += data.length;
  }

  /** The complete file: fsync (a write error may surface only there), check the digest as sent and as read back, remove it; its text. */
  private async finish(from: number, assembly: Assembly): Promise<string> {
    this.assemblies.delete(from);
    try {
      await assembly.file.sync();
      await assembly.file.close();
      const received = assembly.hash.digest('hex');
      if (received !== assembly.sha256) {
        throw new McpV8Error('INVALID_ARGUMENT', `snapshot ${assembly.id}: its chunks hash to ${received}, not to the sender's ${assembly.sha256} (a chunk was corrupted or cut short); nothing installed, the transfer starts over`);
      }
      const bytes = await readFile(assembly.path);
      const stored = await digestOfBytesInTurns(bytes);
      if (stored !== assembly.sha256) throw new McpV8Error('STORAGE_UNAVAILABLE', `snapshot ${assembly.id}: the file ${assembly.path} read back hashes to ${stored}, not ${assembly.sha256} (the disk changed it); nothing installed, the transfer starts over`);
      return bytes.toString('utf8');
    } finally {
      await assembly.file.close().catch(() => {});
      await rm(assembly.path, { force: true });
    }
  }

  /** Removes a sender's assembly and its file. */
  private async drop(from: number): Promise<void> {
    const assembly = this.assemblies.get(from);
    if (assembly === undefined) return;
    this.assemblies.delete(from);
    await assembly.file.close().catch(() => {});
    await rm(assembly.path, { force: true });
  }

  /** Characters held in assembly now (for tests and status). */
  heldChars(): number {
    let chars = 0;
    for (const assembly of this.assemblies.values()) chars += assembly.received;
    return chars;
  }

  private async dropIdle(): Promise<void> {
    const now = this.now();
    for (const [from, assembly] of [...this.assemblies]) if (now - assembly.touchedAt > assemblyIdleMs) await this.drop(from);
  }

  /** Removes every assembly and its file (the node is stopping). */
  async close(): Promise<void> {
    for (const from of [...this.assemblies.keys()]) await this.drop(from);
  }
}
