// An attacker process confined to a share of one CPU (bench/neighbour.ts `--attacker process`):
// the stand-in for an attacker on another machine, whose sending cannot take the cores the
// server needs. A cgroup with a CPU quota: v2's cpu.max where the cpu controller is on the
// unified hierarchy, else v1's cpu.cfs_quota_us (this machine mounts the cpu controller as v1);
// without either (not root, no cgroup fs), nice 19 only, and the output says so.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const periodUs = 100_000;

export interface Confinement {
  /** What the attacker runs under, for the output. */
  description: string;
  /** Removes the cgroup (after the attacker has exited). */
  release: () => void;
}

function cgroupDir(): { dir: string; v2: boolean } | null {
  try {
    if (readFileSync('/sys/fs/cgroup/cgroup.controllers', 'latin1').split(/\s+/).includes('cpu')) return { dir: '/sys/fs/cgroup', v2: true };
  } catch {
    // no unified hierarchy at the root
  }
  return existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ? { dir: '/sys/fs/cgroup/cpu', v2: false } : null;
}

/** Moves `pid` into a fresh cgroup capped at `cpus` of one CPU (e.g. 0.25), or lowers it to nice 19 where no cgroup can be made. */
export function confine(pid: number, cpus: number): Confinement {
  const found = cgroupDir();
  const quotaUs = Math.max(1_000, Math.round(cpus * periodUs));
  if (found !== null) {
    const dir = join(found.dir, `mcp-v8-bench-attacker-${process.pid}-${pid}`);
    try {
      mkdirSync(dir);
      if (found.v2) writeFileSync(join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`);
      else {
        writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs));
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
      }
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      return {
        description: `a process in cgroup ${found.v2 ? 'v2 cpu.max' : 'v1 cpu.cfs_quota_us'} ${quotaUs}/${periodUs} µs (${cpus} CPU)`,
        release: () => { try { rmdirSync(dir); } catch { /* still has a task, or gone */ } },
      };
    } catch (error) {
      try { rmdirSync(dir); } catch { /* never made */ }
      console.log(`# no cgroup for the attacker (${(error as Error).message}); nice 19 instead`);
    }
  }
  os.setPriority(pid, 19);
  return { description: 'a process at nice 19 (no cgroup could be made: it still shares the cores)', release: () => undefined };
}
