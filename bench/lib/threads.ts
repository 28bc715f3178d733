// CPU by thread of one process, from /proc/<pid>/task/*/stat (Linux): what bench/profile-server.ts
// and bench/cluster-load.ts --threads split a run's CPU by. Every thread of a Node process is named
// after the thread that made it, so the kinds are: the task whose id is the pid is Node's event
// loop; other `MainThread` tasks are isolated-vm's isolate threads; `WorkerThread` the source worker
// (swc); `V8Worker` V8's platform (GC, compiles); `libuv-worker` the libuv pool (LevelDB, fs).
import { readdirSync, readFileSync } from 'node:fs';
import { ticksPerS } from './processes.ts';

export type ThreadCpu = Map<string, { kind: string; cpuS: number }>;

/** Every thread of `pid` now: its kind and the user + system CPU seconds it has used. */
export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = new Map();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const kind = tid === String(pid) ? 'main (event loop)' : comm === 'MainThread' ? 'isolate threads' : comm;
      out.set(tid, { kind, cpuS: (Number(fields[11]) + Number(fields[12])) / ticksPerS() });
    } catch { /* the thread ended */ }
  }
  return out;
}

/** CPU seconds by kind of thread between two readings of one process (threads that ended in between are lost). */
export function cpuByKind(before: ThreadCpu, after: ThreadCpu): Map<string, number> {
  const byKind = new Map<string, number>();
  for (const [tid, { kind, cpuS }] of after) byKind.set(kind, (byKind.get(kind) ?? 0) + cpuS - (before.get(tid)?.cpuS ?? 0));
  return byKind;
}
