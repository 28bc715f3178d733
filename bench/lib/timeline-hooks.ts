// Loaded into the server with `node --import` by bench/timeline.ts (never by the server itself):
// wraps the prototypes a stateless `POST /api/exec` with wait_ms passes through and stamps each
// phase on the monotonic clock (process.hrtime, the same clock in every process of the machine,
// so the client's send and receive stamps line up with these). At exit the stamps go as JSON to
// $TIMELINE_OUT. The client sends one request at a time, so every stamp between one 'request'
// and the next belongs to the first (the pool's work after the reply included).
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { createHook } from 'node:async_hooks';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { ExecutionService } from '../../src/service/executions.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { IsolatePool } from '../../src/exec/isolate-pool.ts';
import { Scheduler } from '../../src/exec/scheduler.ts';
import { SourcePrep } from '../../src/exec/source-prep.ts';
import { Run } from '../../src/exec/run.ts';
import { ThreadNice } from '../../src/exec/thread-nice.ts';

type Stamps = Record<string, number>;
const out = process.env.TIMELINE_OUT;
if (out === undefined) throw new Error('timeline-hooks: set TIMELINE_OUT');
const requests: Stamps[] = [];
/** Requests kept at most (a 60 s run at 100/s is 6,000). */
const requestsMax = 100_000;
let current: Stamps | null = null;
const gcs: Array<{ at: number; ms: number; kind: number }> = [];

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
/** Stamps the first time a phase is reached in the current request; a later time is `<phase>#2`, `#3`… */
function mark(phase: string, at = nowUs()): void {
  if (current === null) return;
  let name = phase;
  for (let n = 2; current[name] !== undefined; n++) name = `${phase}#${n}`;
  current[name] = at;
}
function add(name: string, value: number): void {
  if (current !== null) current[name] = (current[name] ?? 0) + value;
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
/** Wraps `proto[name]`: stamps `<label>` on entry and `<label>.done` when its promise settles (or it returns). */
function wrap(proto: object, name: string, label: string, extra?: (self: unknown, args: unknown[]) => (() => void) | void): void {
  const target = proto as Record<string, AnyFunction>;
  const original = target[name];
  if (typeof original !== 'function') throw new Error(`timeline-hooks: no method ${name} to wrap`);
  target[name] = function wrapped(this: unknown, ...args: unknown[]) {
    mark(label);
    const after = extra?.(this, args);
    const result = original.apply(this, args);
    const done = () => { mark(`${label}.done`); after?.(); };
    if (result instanceof Promise) result.then(done, done);
    else done();
    return result;
  };
}

const serverEmit = http.Server.prototype.emit as AnyFunction;
http.Server.prototype.emit = function emit(this: http.Server, event: string, ...args: unknown[]) {
  if (event === 'request') {
    const request = args[0] as http.IncomingMessage;
    if (request.method === 'POST') {
      current = { request: nowUs() };
      if (requests.length < requestsMax) requests.push(current);
      request.once('end', () => mark('bodyRead'));
    }
  }
  return serverEmit.call(this, event, ...args) as boolean;
} as typeof http.Server.prototype.emit;
const end = http.ServerResponse.prototype.end as AnyFunction;
http.ServerResponse.prototype.end = function ended(this: http.ServerResponse, ...args: unknown[]) {
  mark('replyEnd');
  this.once('finish', () => mark('replyFlushed'));
  return end.apply(this, args);
} as typeof http.ServerResponse.prototype.end;

wrap(ExecutionService.prototype, 'submit', 'submit');
wrap(ExecutionService.prototype, 'waitFor', 'waitFor');
wrap(SourcePrep.prototype, 'prepare', 'prepare');
wrap(Scheduler.prototype, 'admit', 'admit', (_self, args) => {
  const start = args[1] as (ticket: unknown) => void;
  args[1] = (ticket: unknown) => { mark('laneStart'); start(ticket); };
});
wrap(IsolatePool.prototype, 'acquire', 'acquire');
wrap(IsolatePool.prototype, 'sendSuccessor', 'sendSuccessor');
wrap(IsolatePool.prototype, 'release', 'release');
wrap(Run.prototype, 'runInOneCall', 'oneCall', (self) => {
  // Time the isolate's thread spent in it, against the wall time the host waited for it.
  const isolate = (self as { prepared: { isolate: { wallTime: bigint; cpuTime: bigint } } }).prepared.isolate;
  const wall0 = isolate.wallTime;
  const cpu0 = isolate.cpuTime;
  return () => {
    try {
      add('isolateWallUs', Number(isolate.wallTime - wall0) / 1000);
      add('isolateCpuUs', Number(isolate.cpuTime - cpu0) / 1000);
    } catch { /* disposed */ }
  };
});
wrap(Run.prototype, 'execute', 'execute');
wrap(ExecutionStore.prototype, 'create', 'storeCreate');
wrap(ExecutionStore.prototype, 'finish', 'storeFinish');
wrap(ExecutionStore.prototype, 'writeBatch', 'batchStart');
wrap(ExecutionStore.prototype, 'batchDone', 'batchDone');
wrap(ExecutionStore.prototype, 'readOutput', 'readOutput');
wrap(ThreadNice.prototype, 'tick', 'niceTick');

// The one call's two answers (the attach-and-run's and the state's: the first two isolated-vm calls
// a request makes once its one call began), each with the turn of the event loop it came in
// (libuv's iteration count): answers that came in one wake, or each in a wake of its own
// (bench/timeline.ts, "turns that brought the one call's answers").
const oneCallAnswers = new Map<number, string>();
createHook({
  init(asyncId, type) {
    if (type !== 'isolated-vm' || current === null || current.oneCall === undefined || current['oneCall.done'] !== undefined) return;
    const made = current.oneCallCalls ?? 0;
    if (made >= 2) return;
    current.oneCallCalls = made + 1;
    oneCallAnswers.set(asyncId, made === 0 ? 'oneCallAttachLoop' : 'oneCallStateLoop');
  },
  before(asyncId) {
    const name = oneCallAnswers.get(asyncId);
    if (name === undefined) return;
    oneCallAnswers.delete(asyncId);
    mark(name, performance.nodeTiming.uvMetricsInfo.loopCount);
  },
  destroy(asyncId) {
    oneCallAnswers.delete(asyncId);
  },
}).enable();

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const at = Math.round((performance.timeOrigin + entry.startTime) * 1000);
    gcs.push({ at, ms: entry.duration, kind: ((entry as unknown as { detail?: { kind?: number } }).detail)?.kind ?? 0 });
  }
}).observe({ entryTypes: ['gc'] });

// performance.timeOrigin is wall-clock based: keep one pair to convert GC stamps to hrtime.
const clockPair = { hrUs: nowUs(), wallUs: Math.round((performance.timeOrigin + performance.now()) * 1000) };
process.on('exit', () => {
  writeFileSync(out, JSON.stringify({ requests, gcs, clockPair }));
});
