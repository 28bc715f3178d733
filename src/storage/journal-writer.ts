// The heap journal's disk work on two threads of its own (heap-journal.ts; docs/storage.md, "One
// fsync for many heaps"): one appends a group's frames to the segment (its file descriptor, shared
// by the process's threads) and fdatasyncs it (and, once per segment, the folder that names it);
// the other writes each heap of a synced group to its own file through a temporary name. Each is
// one message per group, answered once: the event loop pays two wakes per group instead of an
// fdatasync hop and four libuv hops per heap file (open, write, close, rename, four files at a
// time, on the four threads LevelDB also waits for). At 400 stateful runs/s on a busy machine
// those hops, each waiting for the loop's turn, made a put wait a median ≈ 0.5 s for its file
// while its fdatasync took 5 ms (bench/RESULTS.md, "Stateful 400/s held?"). Creating a file
// blocks behind ext4's journal commits, which fdatasyncs force: on its own thread it blocks
// neither the event loop nor the next group's fdatasync.
import { Worker } from 'node:worker_threads';

/** One heap file of a group: where, and its bytes' place in the group's frames. */
export interface GroupFile { directory: string; file: string; offset: number; length: number; makeDirectory: boolean }
/** What the sync thread answers: the frames durable, or why not. */
export type SyncAnswer = { ok: true; syncUs: number } | { ok: false; message: string };
/** What the files thread answers: which files could not be written, and why. */
export interface FilesAnswer { failed: Array<{ index: number; message: string }>; filesUs: number }

// Plain JavaScript, evaluated: no TypeScript loader or module graph in the worker.
const workerSource = `
const { parentPort } = require('node:worker_threads');
const { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
const { join } = require('node:path');
function sync({ fd, frames, syncFolder }) {
  const started = performance.now();
  try {
    for (let written = 0; written < frames.length;) written += writeSync(fd, frames, written, frames.length - written);
    fdatasyncSync(fd);
    if (syncFolder !== null) {
      const folder = openSync(syncFolder, 'r');
      try { fsyncSync(folder); } finally { closeSync(folder); }
    }
  } catch (error) {
    return { ok: false, message: String(error && error.message) };
  }
  return { ok: true, syncUs: Math.round((performance.now() - started) * 1000) };
}
function files({ frames, files }) {
  const started = performance.now();
  const failed = [];
  files.forEach(({ directory, file, offset, length, makeDirectory }, index) => {
    try {
      if (makeDirectory) mkdirSync(directory, { recursive: true });
      const temporary = join(directory, '.tmp-' + randomBytes(8).toString('hex'));
      writeFileSync(temporary, frames.subarray(offset, offset + length), { flag: 'wx' });
      renameSync(temporary, file);
    } catch (error) {
      failed.push({ index, message: String(error && error.message) });
    }
  });
  return { failed, filesUs: Math.round((performance.now() - started) * 1000) };
}
parentPort.on('message', ({ id, kind, work }) => {
  work.frames = Buffer.from(work.frames.buffer, work.frames.byteOffset, work.frames.byteLength);
  parentPort.postMessage({ id, answer: kind === 'sync' ? sync(work) : files(work) });
});`;

/**
 * One thread for the journal's disk work, its calls answered in order. Idle, it does not keep
 * the process alive; if it dies, the calls under way get `lost(message)` and the next call
 * starts another thread.
 */
class DiskThread<Answer> {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, (answer: Answer) => void>();
  private nextId = 1;
  private readonly kind: 'sync' | 'files';
  private readonly lost: (message: string) => Answer;

  constructor(kind: 'sync' | 'files', lost: (message: string) => Answer) {
    this.kind = kind;
    this.lost = lost;
  }

  private started(): Worker {
    if (this.worker !== null) return this.worker;
    const made = new Worker(workerSource, { eval: true, name: `mcp-v8 heap journal ${this.kind}`, execArgv: [] });
    const fail = (message: string) => {
      if (this.worker !== made) return;
      this.worker = null;
      const answer = this.lost(message);
      for (const resolve of this.waiting.values()) resolve(answer);
      this.waiting.clear();
    };
    made.on('message', ({ id, answer }: { id: number; answer: Answer }) => {
      const resolve = this.waiting.get(id);
      this.waiting.delete(id);
      if (this.waiting.size === 0) made.unref();
      resolve?.(answer);
    });
    made.on('error', (error) => fail(`the heap journal's ${this.kind} thread failed: ${error.message}`));
    made.on('exit', (code) => fail(`the heap journal's ${this.kind} thread exited (code ${code})`));
    made.unref();
    this.worker = made;
    return made;
  }

  call(work: object): Promise<Answer> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      const worker = this.started();
      worker.ref();
      worker.postMessage({ id, kind: this.kind, work });
    });
  }

  /** Stops the thread (nothing under way). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
  }
}

/** The journal's two threads (see the top of this file). */
export class JournalWriter {
  private readonly syncer = new DiskThread<SyncAnswer>('sync', (message) => ({ ok: false, message }));
  private readonly writer = new DiskThread<FilesAnswer>('files', (message) => ({ failed: [{ index: -1, message }], filesUs: 0 }));

  /** Appends a group's frames to the segment open as `fd` and makes them durable (and the folder, when named). */
  sync(fd: number, frames: Buffer, syncFolder: string | null): Promise<SyncAnswer> {
    return this.syncer.call({ fd, frames, syncFolder });
  }

  /** Writes the heaps of a synced group to their files; index -1 in `failed`: none could be written. */
  files(frames: Buffer, files: GroupFile[]): Promise<FilesAnswer> {
    return this.writer.call({ frames, files });
  }

  async close(): Promise<void> {
    await Promise.all([this.syncer.close(), this.writer.close()]);
  }
}
