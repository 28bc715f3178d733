// How the server process's own V8 heap is collected (issue 23; bench/RESULTS.md, "Main-thread
// side at 1000/s").
//
// Young-generation collections (scavenges) stop the event loop. By default V8 splits each one
// into tasks for its platform's worker threads and waits for them before the event loop goes on.
// That helps only when a core is idle. Under load this server has none: it runs one isolate thread
// per execution slot (one slot per core by default) beside the event loop, so a helper task waits
// for a core while the event loop waits for the helper. On the shared 2-core machine at load 24-32
// (bench/RESULTS.md, "Event loop at 1000/s"), the same build with and without this flag in turns at
// 1000/s offered completed a median 172 against 115 runs/s (more in 2 of 3 rounds; this branch
// against main: more in 3 of 3), but the event loop's scavenge pause per run did not separate (0.26 against 0.19 ms, 0.17 against
// 0.19 ms at 300/s): a quiet machine decides, and removing the call in cli.ts undoes it. The flag
// also applies to the sandbox isolates, whose scavenges run on their isolate threads; there, too,
// a helper would only take a core from another run.
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
