// Prometheus text exposition without a client library: a handful of counters, gauges and one
// histogram, bounded by construction (labels come from a fixed set of statuses).
import { finalStatuses, type FinalStatus } from './model.ts';

const latencyBucketsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;
export const refusalReasons = ['host', 'origin', 'unauthorized', 'rate_limited'] as const;
export type RefusalReason = (typeof refusalReasons)[number];

/** What the live-heap cache reports to /metrics. */
export interface LiveHeapStats { count: number; bytes: number; bytesMax: number; evictions: number }

export class Metrics {
  private readonly executionsByStatus = new Map<FinalStatus, number>(finalStatuses.map((status) => [status, 0]));
  private readonly latencyBucketCounts: number[] = latencyBucketsSeconds.map(() => 0);
  private latencyCount = 0;
  private latencySumSeconds = 0;
  private submitted = 0;
  private pollsHeld = 0;
  private readonly refusals = new Map<RefusalReason, number>(refusalReasons.map((reason) => [reason, 0]));
  /** The heap service's resumes from storage (HeapService.resumes), when the node is stateful. */
  private heapResumes: (() => { checkpoint: number; history: number; checkpointFallbacks: number }) | null = null;

  /** The directory heap store's group commits (heap-journal.ts), when it has a journal. */
  private heapJournal: (() => { groups: number; heaps: number }) | null = null;

  /** The engine's live-heap cache (src/exec/live-heaps.ts), when the node is stateful. */
  private liveHeaps: (() => LiveHeapStats) | null = null;

  /** Reports the live heaps: how many, the resident bytes they hold, the bound, and evictions. */
  countLiveHeaps(read: () => LiveHeapStats): void {
    this.liveHeaps = read;
  }

  /** The engine's warm isolates disposed after clean runs, by why (src/exec/isolate-pool.ts, `release`). */
  private isolatesRetired: (() => Readonly<Record<string, number>>) | null = null;

  /** Reports the isolates the engine retired after clean runs, by reason. */
  countIsolatesRetired(read: () => Readonly<Record<string, number>>): void {
    this.isolatesRetired = read;
  }

  /** Isolates made and disposed on the event loop or off it (src/exec/isolate-lifecycle.ts). */
  private isolateLifecycle: (() => Readonly<{ createdOnLoop: number; createdOffLoop: number; disposedOnLoop: number; disposedOffLoop: number }>) | null = null;

  /** Reports where the engine's isolates were made and disposed. */
  countIsolateLifecycle(read: NonNullable<Metrics['isolateLifecycle']>): void {
    this.isolateLifecycle = read;
  }

  /** Reports the heap journal's fdatasyncs and the heaps they carried. */
  countHeapJournal(read: () => { groups: number; heaps: number }): void {
    this.heapJournal = read;
  }

  /** Reports the heap service's resumes from storage (stateful nodes). */
  countHeapResumes(read: () => { checkpoint: number; history: number; checkpointFallbacks: number }): void {
    this.heapResumes = read;
  }

  /** The access-control gate turned a request away (src/auth/gate.ts). */
  requestRefused(reason: RefusalReason): void {
    this.refusals.set(reason, this.refusals.get(reason)! + 1);
  }

  executionSubmitted(): void {
    this.submitted++;
  }

  /** A poll without wait_ms waited for its execution because runs were queued (ExecutionService.poll). */
  pollHeld(): void {
    this.pollsHeld++;
  }

  executionFinished(status: FinalStatus, latencySeconds: number): void {
    this.executionsByStatus.set(status, (this.executionsByStatus.get(status) ?? 0) + 1);
    this.latencyCount++;
    this.latencySumSeconds += latencySeconds;
    latencyBucketsSeconds.forEach((bound, index) => {
      if (latencySeconds <= bound) this.latencyBucketCounts[index]!++;
    });
  }

  render(gauges: { queueDepth: number; running: number; stuckIsolates: number; storedRecords: number; storedOutputBytes: number; faulted: boolean }): string {
    const lines: string[] = [];
    /** One metric's HELP and TYPE lines and its samples (`suffix` is a label set or `_bucket…`). */
    const metric = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: Array<[suffix: string, value: number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [suffix, value] of samples) lines.push(`${name}${suffix} ${value}`);
    };
    metric('mcp_v8_executions_submitted_total', 'counter', 'Executions accepted by run_js or POST /api/exec.', [['', this.submitted]]);
    metric('mcp_v8_executions_total', 'counter', 'Finished executions by final status.',
      [...this.executionsByStatus].map(([status, count]) => [`{status="${status}"}`, count]));
    metric('mcp_v8_executions_running', 'gauge', 'Executions running in an isolate now.', [['', gauges.running]]);
    metric('mcp_v8_execution_queue_depth', 'gauge', 'Executions waiting for a free isolate.', [['', gauges.queueDepth]]);
    metric('mcp_v8_isolates_stuck', 'gauge', 'Isolates that did not stop when their run was stopped, or that V8 ran out of memory in beyond recovery: each keeps a thread (busy or parked) and its memory until it answers, if ever, or the process restarts.', [['', gauges.stuckIsolates]]);
    metric('mcp_v8_faulted', 'gauge', 'Whether an internal check failed on this node (1): it then takes no new executions until restarted.', [['', gauges.faulted ? 1 : 0]]);
    metric('mcp_v8_polls_held_total', 'counter', 'Polls without wait_ms held until their execution finished (at most 1 s) because runs were queued: the node was behind.', [['', this.pollsHeld]]);
    metric('mcp_v8_http_refused_total', 'counter', 'HTTP requests turned away before any route: Host or Origin not allowed (403), no or a bad token (401), over the principal\'s request rate (429).',
      [...this.refusals].map(([reason, count]) => [`{reason="${reason}"}`, count]));
    if (this.heapResumes !== null) {
      const resumes = this.heapResumes();
      metric('mcp_v8_heap_resumes_from_storage_total', 'counter', 'Heaps rebuilt from storage (not a live context): from a checkpoint and the runs after it, or by replaying the whole history (docs/stateful.md, "Checkpoints").',
        [['{from="checkpoint"}', resumes.checkpoint], ['{from="history"}', resumes.history]]);
      metric('mcp_v8_heap_checkpoint_fallbacks_total', 'counter', 'Checkpoints refused by the sandbox or whose later runs diverged: the whole history was replayed instead (each also logged).', [['', resumes.checkpointFallbacks]]);
    }
    if (this.liveHeaps !== null) {
      const live = this.liveHeaps();
      metric('mcp_v8_live_heaps', 'gauge', 'Heaps whose context is kept live for an instant resume (--live-heaps-max).', [['', live.count]]);
      metric('mcp_v8_live_heap_bytes', 'gauge', "Resident bytes the live heaps' isolates held when kept (heap pages, malloc, ArrayBuffers), bounded by --live-heaps-memory-mb.", [['', live.bytes]]);
      metric('mcp_v8_live_heap_bytes_max', 'gauge', 'The bound on mcp_v8_live_heap_bytes (--live-heaps-memory-mb).', [['', live.bytesMax]]);
      metric('mcp_v8_live_heap_evictions_total', 'counter', 'Live heaps released to stay within the bounds (least recently used first): their next resume rebuilds them from storage.', [['', live.evictions]]);
    }
    if (this.isolatesRetired !== null) {
      metric('mcp_v8_isolates_retired_total', 'counter', 'Warm isolates disposed after a clean run and made again: heap = past 80 % of its limit after a run, contexts = 1,000 contexts made, unanswered = no heap reading in time.',
        Object.entries(this.isolatesRetired()).map(([reason, count]) => [`{reason="${reason}"}`, count]));
    }
    if (this.isolateLifecycle !== null) {
      const counts = this.isolateLifecycle();
      metric('mcp_v8_isolates_made_total', 'counter', "Isolates made, by where V8 built them: off_loop on libuv's pool (the patched isolated-vm), event_loop on the event loop (a build without the patch).", [['{where="off_loop"}', counts.createdOffLoop], ['{where="event_loop"}', counts.createdOnLoop]]);
      metric('mcp_v8_isolates_disposed_total', 'counter', 'Isolates disposed, by where V8 tore them down (as mcp_v8_isolates_made_total).', [['{where="off_loop"}', counts.disposedOffLoop], ['{where="event_loop"}', counts.disposedOnLoop]]);
    }
    if (this.heapJournal !== null) {
      const journal = this.heapJournal();
      metric('mcp_v8_heap_journal_syncs_total', 'counter', 'Group commits of the heap directory: one fdatasync each, for every heap saved while the one before ran (docs/storage.md).', [['', journal.groups]]);
      metric('mcp_v8_heap_journal_heaps_total', 'counter', 'Heaps made durable by those group commits.', [['', journal.heaps]]);
    }
    metric('mcp_v8_stored_executions', 'gauge', 'Execution records kept (bounded at 100,000; the oldest finished go first).', [['', gauges.storedRecords]]);
    metric('mcp_v8_stored_output_bytes', 'gauge', 'Console output kept across all records (bounded by --execution-output-max).', [['', gauges.storedOutputBytes]]);
    metric('mcp_v8_execution_duration_seconds', 'histogram', 'Time from submission to a final status.', [
      ...latencyBucketsSeconds.map((bound, index): [string, number] => [`_bucket{le="${bound}"}`, this.latencyBucketCounts[index]!]),
      ['_bucket{le="+Inf"}', this.latencyCount],
      ['_sum', this.latencySumSeconds],
      ['_count', this.latencyCount],
    ]);
    // The event loop is what saturates first under overload (HTTP, the store and the engine's
    // calls all run on it): rate(active) / (rate(active) + rate(idle)) is its utilization.
    const loop = performance.eventLoopUtilization();
    metric('nodejs_eventloop_active_seconds_total', 'counter', 'Time the event loop spent running callbacks since the server started.', [['', loop.active / 1000]]);
    metric('nodejs_eventloop_idle_seconds_total', 'counter', 'Time the event loop spent waiting for events since the server started.', [['', loop.idle / 1000]]);
    // The process as a whole: what an operator watches for leaks and sizes a host by. The
    // isolates' heaps are outside the Node heap, in the resident set.
    const memory = process.memoryUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the server process (isolates included).', [['', memory.rss]]);
    metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap used by the server itself (not the sandboxes).', [['', memory.heapUsed]]);
    metric('nodejs_external_memory_bytes', 'gauge', "Memory of C++ objects bound to the server's JavaScript objects.", [['', memory.external]]);
    return lines.join('\n') + '\n';
  }
}
