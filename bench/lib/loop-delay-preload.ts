// Loaded into a process under test with `--import` (bench/cluster-load.ts --loop-delay puts it in
// the cluster nodes' NODE_OPTIONS): every second, the longest its event loop was late that second
// (perf_hooks' monitorEventLoopDelay, 10 ms resolution), one stderr line the bench parses:
//   loop-delay <max ms> <unix ms>
// A stall (a long synchronous task, a GC pause, the process waiting for a core) shows as a second
// with a large max. Written with process.stderr.write, not a logger: it must not depend on the app.
// Worker threads inherit NODE_OPTIONS, so the preload runs in the source workers too: only the
// process's own event loop reports.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  setInterval(() => {
    process.stderr.write(`loop-delay ${(histogram.max / 1e6).toFixed(1)} ${Date.now()}\n`);
    histogram.reset();
  }, 1_000).unref();
}
