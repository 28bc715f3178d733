// The host side of the sandbox's `fs` module: the reference README's promise API, every operation
// checked against the filesystem policy first. Paths are made absolute and normalised, and
// symlinks resolved (for a path that does not exist yet, through its deepest existing parent)
// before the check, so neither `..` nor a link can step outside a prefix the policy allows. The
// operation then runs on the resolved path, not on the one the code gave.
//
// Limit: reads and writes open the resolved file with O_NOFOLLOW, so a link swapped into its
// place after the check fails; a link swapped into a parent directory by another process between
// the check and the operation is not caught (the gate itself offers no way to create links).
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { PolicyDecider } from './decider.ts';
import type { FsInput, FsOperation } from './inputs.ts';
import { KindedError } from './kinded-error.ts';
import { POLICY_LIMITS } from './limits.ts';

const PATH_CHARS_MAX = POLICY_LIMITS.fsPathCharsMax;

export interface FsGateOptions {
  readonly decider: PolicyDecider;
  readonly readBytesMax?: number;
  readonly writeBytesMax?: number;
  readonly readdirEntriesMax?: number;
  /** Operations in flight at once; one more is refused (kind `busy`), not queued. */
  readonly concurrentMax?: number;
}

export type FsErrorKind = 'denied' | 'invalid_request' | 'too_large' | 'io' | 'busy';

export class FsGateError extends KindedError<FsErrorKind> {
  /** The system error code for `io` (ENOENT, EISDIR, …). */
  readonly code: string | undefined;
  constructor(kind: FsErrorKind, message: string, code?: string) {
    super('FsGateError', kind, message);
    this.code = code;
  }
}

export interface FsStat {
  readonly size: number;
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly isSymbolicLink: boolean;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
}

/** A path as the gate checks and uses it. */
interface Resolved {
  /** What the code asked for, for messages. */
  readonly asked: string;
  /** Parent directory resolved, last component as named: the directory entry itself. */
  readonly entry: string;
  /** Everything resolved: where the data lives (equals entry unless entry is a symlink). */
  readonly target: string;
}

export class FsGate {
  private readonly decider: PolicyDecider;
  private readonly readBytesMax: number;
  private readonly writeBytesMax: number;
  private readonly readdirEntriesMax: number;
  private readonly concurrentMax: number;
  private inFlight = 0;

  constructor(options: FsGateOptions) {
    this.decider = options.decider;
    this.readBytesMax = options.readBytesMax ?? POLICY_LIMITS.fsReadBytesMax;
    this.writeBytesMax = options.writeBytesMax ?? POLICY_LIMITS.fsWriteBytesMax;
    this.readdirEntriesMax = options.readdirEntriesMax ?? POLICY_LIMITS.fsReaddirEntriesMax;
    this.concurrentMax = options.concurrentMax ?? POLICY_LIMITS.fsConcurrentMax;
  }

  /** The bound on data written at once (the sandbox checks it before data crosses). */
  get writeBytesLimit(): number {
    return this.writeBytesMax;
  }

  async readFile(path: string, encoding: 'utf8' | 'buffer' = 'utf8'): Promise<string | Uint8Array> {
    return this.bounded('readFile', async () => {
      if (encoding !== 'utf8' && encoding !== 'buffer') throw new FsGateError('invalid_request', `fs.readFile: encoding must be "utf8" or "buffer"`);
      const p = await this.check('readFile', path, { encoding });
      return this.io('readFile', p, async () => {
        // O_NONBLOCK: a FIFO must not hang the gate; anything but a regular file is refused.
        const handle = await fsp.open(p.target, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
        try {
          const st = await handle.stat();
          if (st.isDirectory()) throw Object.assign(new Error('illegal operation on a directory'), { code: 'EISDIR' });
          if (!st.isFile()) throw new FsGateError('invalid_request', `fs.readFile ${p.asked}: not a regular file`);
          if (st.size > this.readBytesMax) throw new FsGateError('too_large', `fs.readFile ${p.asked}: file larger than ${this.readBytesMax} bytes`);
          const buf = Buffer.alloc(this.readBytesMax + 1);
          let n = 0;
          for (;;) {
            const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
            if (bytesRead === 0) break;
            n += bytesRead;
            if (n > this.readBytesMax) throw new FsGateError('too_large', `fs.readFile ${p.asked}: file larger than ${this.readBytesMax} bytes`);
          }
          return encoding === 'utf8' ? buf.toString('utf8', 0, n) : new Uint8Array(buf.subarray(0, n));
        } finally {
          await handle.close();
        }
      });
    });
  }

  async writeFile(path: string, data: string | Uint8Array): Promise<void> {
    return this.bounded('writeFile', async () => {
      this.checkData('writeFile', data);
      const p = await this.check('writeFile', path);
      await this.io('writeFile', p, () => writeNoFollow(p.target, data, constants.O_TRUNC));
    });
  }

  async appendFile(path: string, data: string | Uint8Array): Promise<void> {
    return this.bounded('appendFile', async () => {
      this.checkData('appendFile', data);
      const p = await this.check('appendFile', path);
      await this.io('appendFile', p, () => writeNoFollow(p.target, data, constants.O_APPEND));
    });
  }

  async readdir(path: string): Promise<string[]> {
    return this.bounded('readdir', async () => {
      const p = await this.check('readdir', path);
      return this.io('readdir', p, async () => {
        const out: string[] = [];
        const dir = await fsp.opendir(p.target);
        try {
          for await (const e of dir) {
            if (out.length >= this.readdirEntriesMax) throw new FsGateError('too_large', `fs.readdir ${p.asked}: more than ${this.readdirEntriesMax} entries`);
            out.push(e.name);
          }
        } finally {
          await dir.close().catch(() => undefined);
        }
        return out.sort();
      });
    });
  }

  async stat(path: string): Promise<FsStat> {
    return this.bounded('stat', async () => {
      const p = await this.check('stat', path);
      return this.io('stat', p, async () => {
        const link = await fsp.lstat(p.entry);
        const st = await fsp.stat(p.target);
        return { size: st.size, isFile: st.isFile(), isDirectory: st.isDirectory(), isSymbolicLink: link.isSymbolicLink(), mode: st.mode, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, birthtimeMs: st.birthtimeMs };
      });
    });
  }

  async mkdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    return this.bounded('mkdir', async () => {
      const recursive = options.recursive === true;
      const p = await this.check('mkdir', path, { recursive });
      await this.io('mkdir', p, () => fsp.mkdir(p.target, { recursive }));
    });
  }

  async rm(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    return this.bounded('rm', async () => {
      const recursive = options.recursive === true;
      const p = await this.check('rm', path, { recursive });
      // A link is removed itself, never what it points to (Node's rm does not follow links inside either).
      await this.io('rm', p, async () => {
        const st = await fsp.lstat(p.entry);
        if (st.isDirectory() && !recursive) await fsp.rmdir(p.entry);
        else await fsp.rm(p.entry, { recursive });
      });
    });
  }

  async rename(from: string, to: string): Promise<void> {
    return this.bounded('rename', async () => {
      const [a, b] = await this.checkPair('rename', from, to);
      await this.io('rename', a, () => fsp.rename(a.entry, b.entry));
    });
  }

  async copyFile(from: string, to: string): Promise<void> {
    return this.bounded('copyFile', async () => {
      const [a, b] = await this.checkPair('copyFile', from, to);
      await this.io('copyFile', a, async () => {
        const st = await fsp.stat(a.target);
        if (st.size > this.writeBytesMax) throw new FsGateError('too_large', `fs.copyFile ${a.asked}: file larger than ${this.writeBytesMax} bytes`);
        await fsp.copyFile(a.target, b.target);
      });
    });
  }

  async exists(path: string): Promise<boolean> {
    return this.bounded('exists', async () => {
      const p = await this.check('exists', path);
      try { await fsp.stat(p.target); return true; } catch { return false; }
    });
  }

  // ---- checks ----

  private checkData(op: FsOperation, data: unknown): void {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new FsGateError('invalid_request', `fs.${op}: data must be a string or a Uint8Array`);
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (size > this.writeBytesMax) throw new FsGateError('too_large', `fs.${op}: data larger than ${this.writeBytesMax} bytes`);
  }

  /** Runs one operation (check and I/O) inside the in-flight bound. */
  private async bounded<T>(op: FsOperation, run: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.concurrentMax) throw new FsGateError('busy', `fs.${op}: ${this.concurrentMax} operations are already in flight; await some first`);
    this.inFlight++;
    try {
      return await run();
    } finally {
      this.inFlight--;
    }
  }

  private async check(op: FsOperation, path: string, extra: Partial<FsInput> = {}): Promise<Resolved> {
    const p = await resolvePath(op, path);
    for (const checked of distinct([p.target, p.entry])) await this.ask(op, p.asked, { operation: op, path: checked, ...extra });
    return p;
  }

  private async checkPair(op: 'rename' | 'copyFile', from: string, to: string): Promise<[Resolved, Resolved]> {
    const a = await resolvePath(op, from);
    const b = await resolvePath(op, to);
    for (const path of distinct([a.target, a.entry])) {
      for (const destination of distinct([b.target, b.entry])) await this.ask(op, a.asked, { operation: op, path, destination });
    }
    return [a, b];
  }

  private async ask(op: FsOperation, asked: string, input: FsInput): Promise<void> {
    const decision = await this.decider.decide(input);
    if (!decision.allow) {
      const shown = input.path === asked ? '' : ` (resolved to ${input.path})`;
      const dest = input.destination === undefined ? '' : ` → ${input.destination}`;
      throw new FsGateError('denied', `fs.${op} ${asked}${shown}${dest} denied by policy: ${decision.reason}`);
    }
  }

  private async io<T>(op: FsOperation, p: Resolved, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof FsGateError) throw err;
      const e = err as NodeJS.ErrnoException;
      const what = (e.message ?? '').replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
      throw new FsGateError('io', `fs.${op} ${p.asked}: ${e.code ?? 'EIO'}: ${what}`, e.code);
    }
  }
}

/**
 * Writes to the resolved path without following a symlink there: one swapped in after the check
 * fails with ELOOP instead of redirecting the write.
 */
async function writeNoFollow(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | mode, 0o666);
  try {
    if (!(await handle.stat()).isFile()) throw new FsGateError('invalid_request', `${path}: not a regular file`);
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

function distinct(paths: string[]): string[] {
  return [...new Set(paths)];
}

/** Absolute, normalised, with the deepest existing ancestor's symlinks resolved. */
export async function resolvePath(op: FsOperation, path: unknown, depth = 0): Promise<Resolved> {
  if (depth > 40) throw new FsGateError('invalid_request', `fs.${op} ${String(path)}: too many levels of symbolic links`);
  if (typeof path !== 'string' || path === '') throw new FsGateError('invalid_request', `fs.${op}: path must be a non-empty string`);
  if (path.length > PATH_CHARS_MAX || path.includes('\0')) throw new FsGateError('invalid_request', `fs.${op}: invalid path`);
  if (!isAbsolute(path)) throw new FsGateError('invalid_request', `fs.${op} ${path}: path must be absolute`);
  const normal = resolve(path);
  // Walk up to the deepest ancestor that exists, resolve it, and put the rest back on.
  let parent = dirname(normal);
  const rest: string[] = [];
  let real: string | undefined;
  for (;;) {
    try { real = await fsp.realpath(parent); break; } catch {
      if (parent === dirname(parent)) { real = parent; break; }
      rest.unshift(basename(parent));
      parent = dirname(parent);
    }
  }
  const entry = normal === sep ? sep : join(real, ...rest, basename(normal));
  let target = entry;
  try { target = await fsp.realpath(entry); } catch { /* does not exist (or a dangling link): the entry is what gets created */ }
  const link = target === entry ? await fsp.readlink(entry).catch(() => undefined) : undefined;
  if (link !== undefined) {
    // A dangling link: writing through it would create its target, wherever that is.
    target = (await resolvePath(op, resolve(dirname(entry), link), depth + 1)).target;
  }
  return { asked: path, entry, target };
}
