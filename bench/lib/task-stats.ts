// Per-thread CPU and run-queue wait of a process, from /proc/<pid>/task/*/stat and schedstat
// (issue 18's neighbour diagnosis): time on a CPU and time runnable but waiting for one, per
// thread kind, between two snapshots. A thread is "lowered" if it was seen at nice 19 by any
// look in between (`noteLowered`).
import { readdirSync, readFileSync } from 'node:fs';

export interface TaskSnapshot { tid: number; name: string; nice: number; runNs: number; waitNs: number }

export function taskSnapshots(pid: number): Map<number, TaskSnapshot> {
  const out = new Map<number, TaskSnapshot>();
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(entry);
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      const sched = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ');
      out.set(tid, { tid, name: stat.slice(stat.indexOf('(') + 1, close), nice: Number(fields[16]), runNs: Number(sched[0]), waitNs: Number(sched[1]) });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** Thread ids at nice 19 now (the server's lowered isolate threads). */
export function loweredTids(pid: number): number[] {
  return [...taskSnapshots(pid).values()].filter((task) => task.nice === 19).map((task) => task.tid);
}

export function taskKind(pid: number, task: TaskSnapshot, lowered: ReadonlySet<number>): string {
  if (task.tid === pid) return 'main';
  if (lowered.has(task.tid)) return 'lowered';
  return task.name === 'MainThread' ? 'isolate' : task.name;
}

/** ms on a CPU and ms waiting for one, per kind, from `before` to `after`. */
export function taskDelta(pid: number, before: Map<number, TaskSnapshot>, after: Map<number, TaskSnapshot>, lowered: ReadonlySet<number>): Map<string, { runMs: number; waitMs: number }> {
  const byKind = new Map<string, { runMs: number; waitMs: number }>();
  for (const [tid, now] of after) {
    const then = before.get(tid) ?? { runNs: 0, waitNs: 0 };
    const kind = taskKind(pid, now, lowered);
    const sum = byKind.get(kind) ?? { runMs: 0, waitMs: 0 };
    sum.runMs += (now.runNs - then.runNs) / 1e6;
    sum.waitMs += (now.waitNs - then.waitNs) / 1e6;
    byKind.set(kind, sum);
  }
  return byKind;
}
