// Loaded into the server with `node --import` by bench/stateful-tail.ts (never by the server
// itself): records what a stateful server does over time, so that a slow second of a load run can
// be matched with what happened in it. Every stamp is on the monotonic clock (µs):
//   - each POST's span (request event → response finish) in the server;
//   - spans of the work that may stall a run: isolates made (`IsolatePool.create`, whose
//     constructor blocks the event loop: `syncUs`), the heap journal's group commits (its
//     fdatasync; `n` heaps each), the execution store's LevelDB batches, checkpoints taken,
//     resumes from storage (`HeapService.replayFrom`), heap commits (`HeapService.commit`);
//   - the main thread's GC pauses (PerformanceObserver);
//   - every `bucketMs`: the event loop's delay (max, p99) and the live-heap cache (size, bytes,
//     evictions so far), the isolate pool's idle count.
// At exit the trace goes as JSON to $STATEFUL_TRACE_OUT.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { IsolatePool } from '../../src/exec/isolate-pool.ts';
import { Run } from '../../src/exec/run.ts';
import { HeapService } from '../../src/service/heaps.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { HeapJournal } from '../../src/storage/heap-journal.ts';
import { DirectoryHeapStore } from '../../src/storage/directory-heap-store.ts';

const out = process.env.STATEFUL_TRACE_OUT;
if (out === undefined) throw new Error('stateful-hooks: set STATEFUL_TRACE_OUT');
const bucketMs = 50;
/** Spans kept per kind at most (a 60 s run at 400/s is 24,000 requests). */
const spansMax = 200_000;

export interface Span { start: number; end: number; syncUs: number; n?: number }
export interface Bucket { at: number; loopMaxUs: number; loopP99Us: number; live: number; liveBytes: number; evictions: number; idle: number }
export interface Trace { spans: Record<string, Span[]>; gcs: Array<{ at: number; us: number; kind: number }>; buckets: Bucket[] }

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const spans: Record<string, Span[]> = {};
function record(kind: string, span: Span): void {
  const list = spans[kind] ??= [];
  if (list.length < spansMax) list.push(span);
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
/** Wraps `proto[name]`: a span from entry to its promise's settling, with the time it held the thread. */
function wrap(proto: object, name: string, kind: string, count?: (args: unknown[]) => number): void {
  const target = proto as Record<string, AnyFunction>;
  const original = target[name];
  if (typeof original !== 'function') throw new Error(`stateful-hooks: no method ${name} to wrap`);
  target[name] = function wrapped(this: unknown, ...args: unknown[]) {
    const start = nowUs();
    const result = original.apply(this, args);
    const span: Span = { start, end: 0, syncUs: nowUs() - start, ...(count === undefined ? {} : { n: count(args) }) };
    const done = () => { span.end = nowUs(); record(kind, span); };
    if (result instanceof Promise) result.then(done, done);
    else done();
    return result;
  };
}

let pool: IsolatePool | null = null;
const poolCreate = (IsolatePool.prototype as unknown as Record<string, AnyFunction>).create!;
(IsolatePool.prototype as unknown as Record<string, AnyFunction>).create = function create(this: unknown, ...args: unknown[]) {
  pool = this as IsolatePool;
  return poolCreate.apply(this, args);
};
wrap(HeapJournal.prototype, 'commit', 'journalCommit', (args) => (args[0] as unknown[]).length);
// [prototype, method, span kind]
const wrapped: Array<[object, string, string]> = [
  [IsolatePool.prototype, 'create', 'isolateCreate'], [ExecutionStore.prototype, 'writeBatch', 'storeBatch'],
  [Run.prototype, 'checkpoint', 'checkpoint'], [Run.prototype, 'execute', 'run'],
  [HeapService.prototype, 'replayFrom', 'replayFrom'], [HeapService.prototype, 'commit', 'heapCommit'],
  [HeapJournal.prototype, 'put', 'journalPut'], [HeapJournal.prototype, 'writeFile', 'heapFileWrite'],
  [DirectoryHeapStore.prototype, 'put', 'heapStorePut'],
  [HeapJournal.prototype, 'currentSegment', 'journalSegment'], [HeapJournal.prototype, 'seal', 'journalSeal'],
];
for (const [proto, name, kind] of wrapped) wrap(proto, name, kind);

// The journal threads' own times: append and fdatasync of a group, then its heap files (a
// checkout without journal threads, the base of an A/B, has none).
const writerModule = await import('../../src/storage/journal-writer.ts').catch(() => null);
if (writerModule !== null) {
  const { JournalWriter } = writerModule;
  const writerSync = JournalWriter.prototype.sync;
  JournalWriter.prototype.sync = function sync(this: InstanceType<typeof JournalWriter>, ...args: Parameters<typeof writerSync>) {
    const start = nowUs();
    const answer = writerSync.apply(this, args);
    void answer.then((result) => { if (result.ok) record('journalSync', { start, end: start + result.syncUs, syncUs: 0 }); });
    return answer;
  };
  const writerFiles = JournalWriter.prototype.files;
  JournalWriter.prototype.files = function files(this: InstanceType<typeof JournalWriter>, ...args: Parameters<typeof writerFiles>) {
    const start = nowUs();
    const answer = writerFiles.apply(this, args);
    void answer.then((result) => record('journalFiles', { start, end: start + result.filesUs, syncUs: 0, n: args[1].length }));
    void answer.then(() => record('journalFilesAnswered', { start, end: nowUs(), syncUs: 0, n: args[1].length }));
    return answer;
  };
}

const serverEmit = http.Server.prototype.emit as AnyFunction;
http.Server.prototype.emit = function emit(this: http.Server, event: string, ...args: unknown[]) {
  if (event === 'request') {
    const request = args[0] as http.IncomingMessage;
    const response = args[1] as http.ServerResponse;
    if (request.method === 'POST') {
      const start = nowUs();
      response.once('finish', () => record('request', { start, end: nowUs(), syncUs: 0 }));
    }
  }
  return serverEmit.call(this, event, ...args) as boolean;
} as typeof http.Server.prototype.emit;

const gcs: Trace['gcs'] = [];
const clockPair = { hrUs: nowUs(), perfMs: performance.now() };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (gcs.length >= spansMax) return;
    const at = clockPair.hrUs + Math.round((entry.startTime - clockPair.perfMs) * 1000);
    gcs.push({ at, us: Math.round(entry.duration * 1000), kind: ((entry as unknown as { detail?: { kind?: number } }).detail)?.kind ?? 0 });
  }
}).observe({ entryTypes: ['gc'] });

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
const buckets: Bucket[] = [];
setInterval(() => {
  const live = pool?.live;
  buckets.push({
    at: nowUs(), loopMaxUs: Math.round(loop.max / 1000), loopP99Us: Math.round(loop.percentile(99) / 1000),
    live: live?.size ?? 0, liveBytes: live?.heapBytes ?? 0, evictions: live?.evictions ?? 0, idle: pool?.idleFor(64) ?? 0,
  });
  loop.reset();
  if (buckets.length > spansMax) buckets.shift();
}, bucketMs).unref();

process.on('exit', () => {
  const trace: Trace = { spans, gcs, buckets };
  writeFileSync(out, JSON.stringify(trace));
});
