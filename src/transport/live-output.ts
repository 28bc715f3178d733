// Console lines sent live to an MCP client while a request waits for its run (run_js or
// get_execution with wait_ms): as progress notifications when the request carries a progress
// token, as log messages (logger "console") when the client has set a logging level. Bounded:
// at most `liveNotificationsPerSecond` per request, each at most `liveBatchBytesMax` bytes of
// text; lines past that in a window are counted, not sent, and the next notification says how
// many and where they are (get_execution_output, the complete record). A heartbeat every
// `heartbeatMs` says the run is alive, which also keeps clients that reset their timeout on
// progress from giving up.
import type { ExecutionRecord } from '../model.ts';
import type { ExecutionService } from '../service/executions.ts';

export const liveNotificationsPerSecond = 10;
export const liveBatchBytesMax = 4096;
export const heartbeatMs = 5_000;
const flushIntervalMs = 1000 / liveNotificationsPerSecond;

export type LiveNotification =
  | { method: 'notifications/progress'; params: { progressToken: string | number; progress: number; message: string } }
  | { method: 'notifications/message'; params: { level: 'info'; logger: 'console'; data: string } };

export interface LiveTarget {
  progressToken: string | number | undefined;
  logging: boolean;
  send: (notification: LiveNotification) => Promise<void>;
}

class Watcher {
  private readonly target: LiveTarget;
  private readonly startedMs = Date.now();
  private buffer: string[] = [];
  private bufferBytes = 0;
  private skipped = 0;
  private lines = 0;
  private sent = 0;
  private lastSentMs = Date.now();
  private readonly timer: NodeJS.Timeout;
  /** Notifications handed to the transport and not yet written: the reply waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  executionId: string | null = null;

  constructor(target: LiveTarget) {
    this.target = target;
    this.timer = setInterval(() => this.tick(), flushIntervalMs);
    this.timer.unref();
  }

  /** Lines the execution printed before this request began to watch it: counted as not sent. */
  behind(lines: number): void {
    this.lines += lines;
    this.skipped += lines;
  }

  line(line: string): void {
    this.lines++;
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    if (this.bufferBytes + bytes > liveBatchBytesMax) {
      // A line longer than a whole batch is sent cut; others wait for the next window.
      if (this.buffer.length === 0) {
        this.buffer.push(`${line.slice(0, liveBatchBytesMax / 4)}…`);
        this.bufferBytes = liveBatchBytesMax;
      } else this.skipped++;
      return;
    }
    this.buffer.push(line);
    this.bufferBytes += bytes;
  }

  private tick(): void {
    if (this.buffer.length > 0 || this.skipped > 0) return this.flush();
    if (Date.now() - this.lastSentMs >= heartbeatMs) {
      this.emit(`running for ${Math.round((Date.now() - this.startedMs) / 1000)} s, ${this.lines} console lines so far`);
    }
  }

  flush(): void {
    if (this.buffer.length === 0 && this.skipped === 0) return;
    let text = this.buffer.join('\n');
    if (this.skipped > 0) {
      text += `${text === '' ? '' : '\n'}[${this.skipped} lines not sent live (rate bound, or printed before this request watched); read them with get_execution_output]`;
    }
    this.buffer = [];
    this.bufferBytes = 0;
    this.skipped = 0;
    this.emit(text);
  }

  private emit(text: string): void {
    this.sent++;
    this.lastSentMs = Date.now();
    const notification: LiveNotification = this.target.progressToken !== undefined
      ? { method: 'notifications/progress', params: { progressToken: this.target.progressToken, progress: this.sent, message: text } }
      : { method: 'notifications/message', params: { level: 'info', logger: 'console', data: text } };
    // A client gone or a stream closed: the lines are in the execution's output all the same.
    const sending = this.target.send(notification).catch(() => undefined);
    this.inFlight.add(sending);
    void sending.then(() => this.inFlight.delete(sending));
  }

  /** Sends what is buffered, and resolves once every notification is written: before the reply. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    await Promise.all([...this.inFlight]);
  }
}

/** One per node: routes the service's console lines to the requests watching their execution. */
export class LiveOutput {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly service: ExecutionService;

  constructor(service: ExecutionService) {
    this.service = service;
    service.on('output', (executionId, line) => {
      const watching = this.watchers.get(executionId);
      if (watching !== undefined) for (const watcher of watching) watcher.line(line);
    });
    service.on('finished', (record: ExecutionRecord) => {
      const watching = this.watchers.get(record.execution_id);
      if (watching !== undefined) for (const watcher of watching) watcher.flush();
    });
  }

  /** For one request; undefined when the client asked for nothing live. Call `stop` when it ends. */
  start(target: LiveTarget): { watch: (executionId: string) => void; stop: () => Promise<void> } | undefined {
    if (target.progressToken === undefined && !target.logging) return undefined;
    const watcher = new Watcher(target);
    return {
      watch: (executionId) => {
        if (watcher.executionId !== null) return;
        watcher.executionId = executionId;
        // A request starts watching only once submit has answered the id, and a busy server may
        // have run the code for a while by then: those lines are counted as not sent, so what a
        // client is told adds up to the output.
        watcher.behind(this.service.linesPrinted(executionId));
        let watching = this.watchers.get(executionId);
        if (watching === undefined) this.watchers.set(executionId, watching = new Set());
        watching.add(watcher);
      },
      stop: () => {
        const id = watcher.executionId;
        if (id !== null) {
          const watching = this.watchers.get(id);
          watching?.delete(watcher);
          if (watching?.size === 0) this.watchers.delete(id);
        }
        return watcher.stop();
      },
    };
  }
}
