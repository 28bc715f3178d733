// How the server process's own V8 heap is collected (issue 23; bench/RESULTS.md, "Main-thread
// side at 1000/s").
//
// Young-generation collections (scavenges) stop the event loop. By default V8 splits each one
// into tasks for its platform's worker threads and waits for them before the event loop goes on.
// That helps only when a core is idle. Under load this server has none: it runs one isolate thread
// per execution slot (one slot per core by default) beside the event loop, so a helper task waits
// for a core while the event loop waits for the helper. Measured on 2 cores at 300 runs/s, default
// against this flag in turns: scavenge pauses of the event loop totalled 816 ms against 415 ms
// over the same number of collections (median 26 ms against 14 ms). The same flag also applies to
// the sandbox isolates, whose scavenges run on their isolate threads; there, too, a helper would
// only take a core from another run.
import v8 from 'node:v8';

/** The V8 flags the server process sets at its start (read by V8 at each collection). */
export const serverGcFlags = ['--no-parallel-scavenge'] as const;

let tuned = false;

/** Sets `serverGcFlags` once, for the whole process (every isolate in it). */
export function tuneGarbageCollection(): void {
  if (tuned) return;
  for (const flag of serverGcFlags) v8.setFlagsFromString(flag);
  tuned = true;
}
