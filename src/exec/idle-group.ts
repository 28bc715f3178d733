// A cgroup v1 `cpu` group with cpu.idle = 1 for the isolate threads thread-nice.ts lowers (issue 18).
// Nice 19 alone gives a lowered thread weight 15 against 1,024, but the kernel's EEVDF scheduler
// still lets the running thread finish its slice (≈ 3 ms) before a woken one gets the core: a
// neighbour's `1+1`, which wakes the event loop, an isolate thread and the event loop again,
// waited behind a lowered spinner at each wake. A thread in a group marked idle is preempted at
// once by any thread that is not (the kernel's check at wakeup), so beside a lowered attacker the
// neighbour's threads run as soon as they wake. cgroup v1 lets single threads move between groups
// (their ids written to `tasks`), which is what a per-thread lowering needs; cgroup v2 does not
// for a domain group, so there this stays off.
// The group is `mcp-v8-<pid>-<n>-lowered` under the process's own `cpu` group, made at start and
// removed at close; groups of processes that died without closing (SIGKILL) are empty and removed
// at the next start. Anything refused (no cgroup v1 `cpu` hierarchy, a read-only or unwritable
// one: no root, a container) is logged once and the threads are only niced, as before.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

interface Logger { info(object: object, message?: string): void }

const groupPrefix = 'mcp-v8-';
const groupSuffix = '-lowered';
/** The group's weight while not idle: nice 19's (weight 15 against 1,024 for nice 0). */
const notIdleShares = 15;
/** Groups made by this process (engines in one process, as in tests, get one each). */
let groupsMade = 0;

/** The directory of this process's group in the cgroup v1 hierarchy that has the `cpu` controller, or why there is none. */
export function ownCpuGroup(): { dir: string } | { reason: string } {
  let mountinfo: string;
  let cgroups: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    cgroups = readFileSync('/proc/self/cgroup', 'utf8');
  } catch (error) {
    return { reason: `cannot read /proc/self/mountinfo or /proc/self/cgroup (${(error as Error).message})` };
  }
  // "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu": root, mount point; after " - ": type, source, options.
  const mount = mountinfo.split('\n').map((line) => {
    const [before, after] = line.split(' - ');
    const fields = before?.split(' ') ?? [];
    const [type, , options] = after?.split(' ') ?? [];
    return { root: fields[3] ?? '', point: fields[4] ?? '', type, options: options?.split(',') ?? [] };
  }).find((entry) => entry.type === 'cgroup' && entry.options.includes('cpu'));
  if (mount === undefined) return { reason: 'no cgroup v1 hierarchy with the cpu controller is mounted' };
  const line = cgroups.split('\n').find((entry) => entry.split(':')[1]?.split(',').includes('cpu'));
  if (line === undefined) return { reason: 'this process is in no cgroup v1 cpu group' };
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  if (!path.startsWith(mount.root)) return { reason: `this process's cpu group ${path} is outside the mounted hierarchy (${mount.root})` };
  return { dir: join(mount.point, path.slice(mount.root.length)) };
}

export class IdleGroup {
  /** The group's directory. */
  readonly dir: string;
  /** The process's own group, where threads go back. */
  private readonly homeTasks: string;
  private readonly members = new Set<number>();
  /** The moves under way, in order. */
  private pending: Promise<void> = Promise.resolve();
  private closed = false;
  private idle = false;

  private constructor(dir: string, home: string) {
    this.dir = dir;
    this.homeTasks = join(home, 'tasks');
  }

  /** Makes the group, or logs why it cannot and answers null (threads are then only niced). */
  static open(logger: Logger | null, pid = process.pid): IdleGroup | null {
    if (process.platform !== 'linux') return null;
    const home = ownCpuGroup();
    if ('reason' in home) {
      logger?.info({ reason: home.reason }, 'no idle cgroup for lowered isolate threads: long runs are only niced');
      return null;
    }
    removeStaleGroups(home.dir);
    const dir = join(home.dir, `${groupPrefix}${pid}-${++groupsMade}${groupSuffix}`);
    try {
      if (!existsSync(dir)) mkdirSync(dir);
      writeFileSync(join(dir, 'cpu.shares'), String(notIdleShares));
      writeFileSync(join(dir, 'cpu.idle'), '0');
    } catch (error) {
      try { rmdirSync(dir); } catch { /* never made, or not empty */ }
      logger?.info({ reason: (error as Error).message, dir }, 'no idle cgroup for lowered isolate threads: long runs are only niced');
      return null;
    }
    logger?.info({ dir }, 'lowered isolate threads go to an idle cgroup');
    return new IdleGroup(dir, home.dir);
  }

  /**
   * Idle (cpu.idle 1: any woken normal thread preempts its threads at once) or not (the group
   * weighs as one nice-19 thread). Idle only while short runs are about: an idle group gets
   * almost nothing while anything else on the machine is runnable, and a CPU-heavy run alone on
   * a loaded machine (load 20) then missed its 5 s timeout, which it met at nice 19. A write of
   * cpu.idle takes 20–150 µs and moves no thread.
   */
  setIdle(on: boolean): void {
    if (this.closed || on === this.idle) return;
    try {
      writeFileSync(join(this.dir, 'cpu.idle'), on ? '1' : '0');
      this.idle = on;
    } catch {
      // Left as it was: the threads are still niced.
    }
  }

  /** Threads in the group now. */
  get size(): number {
    return this.members.size;
  }

  /** Moves a thread of this process into the group (off the event loop: see `write`). */
  add(tid: number): void {
    if (this.closed || this.members.has(tid)) return;
    this.members.add(tid);
    this.write(join(this.dir, 'tasks'), tid);
  }

  /** Moves a thread back to the process's own group (a thread that has ended is simply forgotten). */
  remove(tid: number): void {
    if (!this.members.delete(tid)) return;
    this.write(this.homeTasks, tid);
  }

  /**
   * Writes a thread id to a `tasks` file on libuv's pool, one write after the other so that a
   * thread's moves land in order. Not on the event loop: a move after a quiet spell waits for the
   * kernel's RCU grace period (24 ms measured at load 20), which every neighbour would wait for.
   * A thread that has ended meanwhile (ESRCH) is fine: it has left every group.
   */
  private write(file: string, tid: number): void {
    this.pending = this.pending.then(() => this.closed ? undefined : writeFile(file, String(tid)).catch(() => undefined));
  }

  /** Every thread back home once the moves under way are done, and the group removed. */
  async close(): Promise<void> {
    if (this.closed) return this.pending;
    const members = [...this.members];
    this.members.clear();
    this.closed = true;
    await this.pending;
    for (const tid of members) {
      try { writeFileSync(this.homeTasks, String(tid)); } catch { /* ended */ }
    }
    try {
      rmdirSync(this.dir);
    } catch {
      // A thread moved in by someone else, or the group already gone: left for the next start.
    }
  }
}

/** Removes the groups of this kind whose process is gone (empty then: their threads ended with it). */
function removeStaleGroups(home: string): void {
  let entries: string[];
  try {
    entries = readdirSync(home);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(groupPrefix) || !entry.endsWith(groupSuffix)) continue;
    const pid = Number(entry.slice(groupPrefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`)) continue;
    try { rmdirSync(join(home, entry)); } catch { /* not empty after all: left alone */ }
  }
}
