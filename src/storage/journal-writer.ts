// The heap journal's disk work on a thread of its own (heap-journal.ts; docs/storage.md, "One fsync
// for many heaps"). A group commit is one message: the worker appends the group's frames to the
// segment (its file descriptor, shared by the process's threads), fdatasyncs it (and, once per
// segment, fsyncs the folder that names it), then writes each heap to its own file through a
// temporary name, and answers once. On the event loop, a group then costs one wake instead of an
// fdatasync hop and four libuv hops per heap file (open, write, close, rename, four files at a
// time on the four threads LevelDB also waits for): at 400 stateful runs/s on a busy machine
// those hops, each waiting for the loop's turn, made a put wait ≈ 0.5 s for its file while the
// fdatasync itself took 5 ms (bench/RESULTS.md, "Stateful 400/s held"). Creating a file blocks
// behind ext4's journal commits, which fdatasyncs force: here it blocks this thread only.
import { Worker } from 'node:worker_threads';

/** One heap file of a group: where, and its bytes' place in the group's frames. */
export interface GroupFile { directory: string; file: string; offset: number; length: number; makeDirectory: boolean }
/** A group commit for the worker: frames to append to `fd`, then the files. */
export interface GroupWrite { fd: number; frames: Buffer; syncFolder: string | null; files: GroupFile[] }
/** The worker's answer: the frames durable (and which files could not be written, with why), or not. */
export type GroupAnswer = { ok: true; failed: Array<{ index: number; message: string }> } | { ok: false; message: string };

// Plain JavaScript, evaluated: no TypeScript loader or module graph in the worker.
const workerSource = `
const { parentPort } = require('node:worker_threads');
const { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
const { join } = require('node:path');
parentPort.on('message', ({ id, fd, frames, syncFolder, files }) => {
  const data = Buffer.from(frames.buffer, frames.byteOffset, frames.byteLength);
  try {
    for (let written = 0; written < data.length;) written += writeSync(fd, data, written, data.length - written);
    fdatasyncSync(fd);
    if (syncFolder !== null) {
      const folder = openSync(syncFolder, 'r');
      try { fsyncSync(folder); } finally { closeSync(folder); }
    }
  } catch (error) {
    parentPort.postMessage({ id, ok: false, message: String(error && error.message) });
    return;
  }
  const failed = [];
  files.forEach(({ directory, file, offset, length, makeDirectory }, index) => {
    try {
      if (makeDirectory) mkdirSync(directory, { recursive: true });
      const temporary = join(directory, '.tmp-' + randomBytes(8).toString('hex'));
      writeFileSync(temporary, data.subarray(offset, offset + length), { flag: 'wx' });
      renameSync(temporary, file);
    } catch (error) {
      failed.push({ index, message: String(error && error.message) });
    }
  });
  parentPort.postMessage({ id, ok: true, failed });
});`;

/**
 * The worker thread of one journal: one group at a time (the journal commits one after the
 * other). Idle, it does not keep the process alive; if it dies, the group under way fails (its
 * segment is then sealed by the journal) and the next group starts another.
 */
export class JournalWriter {
  private worker: Worker | null = null;
  private waiting: { id: number; resolve: (answer: GroupAnswer) => void } | null = null;
  private nextId = 1;

  private started(): Worker {
    if (this.worker !== null) return this.worker;
    const made = new Worker(workerSource, { eval: true, name: 'mcp-v8 heap journal', execArgv: [] });
    const lost = (message: string) => {
      if (this.worker !== made) return;
      this.worker = null;
      this.answer({ ok: false, message });
    };
    made.on('message', (answer: GroupAnswer & { id: number }) => {
      if (this.waiting?.id === answer.id) this.answer(answer);
    });
    made.on('error', (error) => lost(`the heap journal's thread failed: ${error.message}`));
    made.on('exit', (code) => lost(`the heap journal's thread exited (code ${code})`));
    made.unref();
    this.worker = made;
    return made;
  }

  private answer(answer: GroupAnswer): void {
    const waiting = this.waiting;
    this.waiting = null;
    this.worker?.unref();
    waiting?.resolve(answer);
  }

  /** Appends, syncs and writes one group (see the top of this file); one at a time. */
  write(group: GroupWrite): Promise<GroupAnswer> {
    if (this.waiting !== null) return Promise.resolve({ ok: false, message: 'a group commit is already under way' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting = { id, resolve };
      const worker = this.started();
      worker.ref();
      worker.postMessage({ id, ...group });
    });
  }

  /** Stops the thread (the journal's close, with no group under way). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
  }
}
