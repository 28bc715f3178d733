// Resumable Streamable HTTP streams: the SDK's EventStore, kept in this node's memory. Every SSE
// event a session's stream carries (the priming event, notifications, the answer) is kept here
// with an id `<stream id>.<sequence>`, so a client whose stream was cut (a proxy's timeout, a
// network change, the node that forwarded it died) reconnects with `Last-Event-ID` and gets what
// it missed; an answer still being computed then comes on the new stream. Bounded: per stream and
// per node, in events and in characters of JSON, the oldest dropped first (logged); a replay that
// would skip dropped events is refused, never served with a hole. Events live on the node that
// holds the session: another node forwards the reconnection there (src/cluster/mcp-sessions.ts);
// a node that took the session over after its holder died has none of them and says so.
import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { assert } from '../errors.ts';
// The bounds are flags (--mcp-events-*), so they are defined beside the other flags.
import { defaultMcpEventBounds, type McpEventBounds } from '../config.ts';

export { defaultMcpEventBounds, type McpEventBounds };

interface StoredEvent {
  seq: number;
  json: string;
}

interface Stream {
  sessionId: string;
  streamId: string;
  /** Oldest kept first. */
  events: StoredEvent[];
  /** Index of the oldest kept event in `events` (dropping from the front without copying). */
  head: number;
  /** The sequence the next event gets; events below `events[head].seq` were dropped. */
  nextSeq: number;
  chars: number;
}

/** Why a `Last-Event-ID` cannot be replayed: sent to the client as the reconnection's error. */
export type ReplayRefusal = string;

const eventIdCharsMax = 200;
/** Drops by the per-node bound are logged at most this often (with their count). */
const nodeDropLogIntervalMs = 10_000;

function parseEventId(eventId: string): { streamId: string; seq: number } | null {
  if (eventId.length > eventIdCharsMax) return null;
  const dot = eventId.lastIndexOf('.');
  if (dot <= 0) return null;
  const digits = eventId.slice(dot + 1);
  if (!/^\d{1,15}$/.test(digits)) return null;
  return { streamId: eventId.slice(0, dot), seq: Number(digits) };
}

function streamKey(sessionId: string, streamId: string): string {
  return `${sessionId}\n${streamId}`;
}

/** The events of every session this node holds; `forSession` gives a session's transport its EventStore. */
export class McpEventStore {
  private readonly streams = new Map<string, Stream>();
  /**
   * Every event in the order stored: the node-wide bound drops from the front. An entry whose event
   * went another way (the stream's bound, its session ended) is skipped there, and the queue is
   * compacted once such entries outnumber the kept events (amortised O(1) per event).
   */
  private queue: Array<{ stream: Stream; seq: number }> = [];
  private queueHead = 0;
  private events = 0;
  /** Events ever stored on this node (the start of a new stream's sequences). */
  private stored = 0;
  private nodeDropsUnlogged = 0;
  private nodeDropsLoggedAtMs = -Infinity;
  private lastDroppedSession = '';
  private readonly sessionStreams = new Map<string, Set<string>>();
  private chars = 0;
  private readonly bounds: McpEventBounds;
  private readonly logger: Logger;

  constructor(logger: Logger, bounds: McpEventBounds = defaultMcpEventBounds) {
    this.logger = logger;
    this.bounds = bounds;
  }

  /** Events and characters kept now (/healthz, tests). */
  get size(): { events: number; chars: number } {
    return { events: this.events, chars: this.chars };
  }

  forSession(sessionIdOf: () => string | undefined): EventStore {
    const sessionOf = (): string => {
      const sessionId = sessionIdOf();
      assert(sessionId !== undefined, 'an MCP event stored before its session has an id');
      return sessionId;
    };
    return {
      storeEvent: (streamId: StreamId, message: JSONRPCMessage) => Promise.resolve(this.store(sessionOf(), streamId, message)),
      getStreamIdForEventId: (eventId: EventId) => Promise.resolve(this.refusal(sessionOf(), eventId) === null ? parseEventId(eventId)!.streamId : undefined),
      replayEventsAfter: (eventId: EventId, { send }) => this.replay(sessionOf(), eventId, send),
    };
  }

  /** Null when `eventId` can be replayed in `sessionId`; else why not, in words for the client. */
  refusal(sessionId: string, eventId: string): ReplayRefusal | null {
    const parsed = parseEventId(eventId);
    if (parsed === null) return `Last-Event-ID '${eventId.slice(0, 80)}' is not an event id of this server (<stream>.<sequence>)`;
    const stream = this.streams.get(streamKey(sessionId, parsed.streamId));
    if (stream === undefined) {
      return `this node has no events of stream '${parsed.streamId.slice(0, 80)}' of this session: they were dropped (the stream ended long ago or the event bound was reached), or the node that held the session stopped and its events went with it; an answer in flight then is lost (find a run with list_executions / get_execution)`;
    }
    if (parsed.seq >= stream.nextSeq) return `Last-Event-ID '${eventId.slice(0, 80)}' is ahead of stream '${parsed.streamId.slice(0, 80)}' (its last event is ${stream.nextSeq - 1})`;
    const oldest = stream.head < stream.events.length ? stream.events[stream.head]!.seq : stream.nextSeq;
    if (parsed.seq + 1 < oldest) return `events ${parsed.seq + 1}..${oldest - 1} of stream '${parsed.streamId.slice(0, 80)}' were dropped (bound: ${this.bounds.streamEventsMax} events / ${this.bounds.streamCharsMax} characters per stream, ${this.bounds.nodeEventsMax} / ${this.bounds.nodeCharsMax} per node); they cannot be replayed`;
    return null;
  }

  /** Drops every event of a session (it ended, or this node let it go). */
  endSession(sessionId: string): void {
    const keys = this.sessionStreams.get(sessionId);
    if (keys === undefined) return;
    // A stream goes with its last event (dropOldest), and the session's entry with its last stream.
    for (const key of [...keys]) {
      const stream = this.streams.get(key)!;
      while (stream.head < stream.events.length) this.dropOldest(stream);
    }
    assert(!this.sessionStreams.has(sessionId), 'an ended MCP session keeps no stream');
  }

  private store(sessionId: string, streamId: string, message: JSONRPCMessage): EventId {
    const key = streamKey(sessionId, streamId);
    let stream = this.streams.get(key);
    if (stream === undefined) {
      // Sequences start at the node's count of events stored, not at 0: a stream whose events all
      // went, and whose record with them, may get more (an answer after its priming event was
      // dropped), and its new ids must never repeat one a client already holds.
      stream = { sessionId, streamId, events: [], head: 0, nextSeq: this.stored, chars: 0 };
      this.streams.set(key, stream);
      let keys = this.sessionStreams.get(sessionId);
      if (keys === undefined) this.sessionStreams.set(sessionId, keys = new Set());
      keys.add(key);
    }
    const seq = stream.nextSeq++;
    this.stored++;
    const eventId = `${streamId}.${seq}`;
    const json = JSON.stringify(message);
    if (json.length > this.bounds.streamCharsMax) {
      // Sent live, never kept: a replay past it is refused as a drop.
      this.dropAll(stream, `an event of ${json.length} characters is over the per-stream bound: not kept`);
      return eventId;
    }
    stream.events.push({ seq, json });
    stream.chars += json.length;
    this.chars += json.length;
    this.events++;
    this.queue.push({ stream, seq });
    this.enforce(stream);
    return eventId;
  }

  private enforce(stream: Stream): void {
    let dropped = 0;
    while (stream.events.length - stream.head > this.bounds.streamEventsMax || stream.chars > this.bounds.streamCharsMax) {
      this.dropOldest(stream);
      dropped++;
    }
    if (dropped > 0) this.logger.warn({ sessionId: stream.sessionId, streamId: stream.streamId, dropped, bounds: this.bounds }, 'dropped the oldest events of an MCP stream (per-stream bound): a reconnection from before them is refused');
    this.compactQueue();
    if (this.events <= this.bounds.nodeEventsMax && this.chars <= this.bounds.nodeCharsMax) return;
    let nodeDropped = 0;
    while (this.events > this.bounds.nodeEventsMax || this.chars > this.bounds.nodeCharsMax) {
      assert(this.queueHead < this.queue.length, 'every kept MCP event is in the queue');
      const { stream: oldest, seq } = this.queue[this.queueHead++]!;
      // Kept events are in the queue in the order stored, so a kept one here is its stream's oldest.
      if (oldest.head >= oldest.events.length || oldest.events[oldest.head]!.seq !== seq || this.streams.get(streamKey(oldest.sessionId, oldest.streamId)) !== oldest) continue;
      this.dropOldest(oldest);
      nodeDropped++;
      this.lastDroppedSession = oldest.sessionId;
    }
    // Once the node is full every event drops one: said at most once per interval, with the count since.
    this.nodeDropsUnlogged += nodeDropped;
    const now = Date.now();
    if (now - this.nodeDropsLoggedAtMs >= nodeDropLogIntervalMs) {
      this.logger.warn({ dropped: this.nodeDropsUnlogged, lastSessionId: this.lastDroppedSession, bounds: this.bounds }, 'dropped the oldest events of MCP sessions (per-node bound): a reconnection from before them is refused');
      this.nodeDropsLoggedAtMs = now;
      this.nodeDropsUnlogged = 0;
    }
  }

  /** Drops the queue's entries of events that went another way once they outnumber the kept ones. */
  private compactQueue(): void {
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (this.queue.length - this.queueHead <= 2 * this.events + 1024) return;
    this.queue = this.queue.slice(this.queueHead).filter(({ stream, seq }) => this.streams.get(streamKey(stream.sessionId, stream.streamId)) === stream
      && stream.head < stream.events.length && seq >= stream.events[stream.head]!.seq);
    this.queueHead = 0;
  }

  /** Its last event gone, a stream's record goes too: records never outnumber kept events. */
  private forget(stream: Stream): void {
    const key = streamKey(stream.sessionId, stream.streamId);
    if (this.streams.get(key) !== stream) return;
    this.streams.delete(key);
    const keys = this.sessionStreams.get(stream.sessionId)!;
    keys.delete(key);
    if (keys.size === 0) this.sessionStreams.delete(stream.sessionId);
  }

  private dropAll(stream: Stream, why: string): void {
    const count = stream.events.length - stream.head;
    while (stream.head < stream.events.length) this.dropOldest(stream);
    this.forget(stream);
    this.logger.warn({ sessionId: stream.sessionId, streamId: stream.streamId, dropped: count, bounds: this.bounds }, why);
  }

  private dropOldest(stream: Stream): void {
    const event = stream.events[stream.head]!;
    stream.events[stream.head] = undefined as unknown as StoredEvent;
    stream.head++;
    stream.chars -= event.json.length;
    this.chars -= event.json.length;
    this.events--;
    if (stream.head >= stream.events.length) return this.forget(stream);
    // Compact once half the array is dropped entries: amortised O(1) per event.
    if (stream.head > 64 && stream.head * 2 > stream.events.length) {
      stream.events = stream.events.slice(stream.head);
      stream.head = 0;
    }
  }

  private async replay(sessionId: string, eventId: string, send: (eventId: EventId, message: JSONRPCMessage) => Promise<void>): Promise<StreamId> {
    const refusal = this.refusal(sessionId, eventId);
    if (refusal !== null) throw new Error(refusal);
    const { streamId, seq } = parseEventId(eventId)!;
    const stream = this.streams.get(streamKey(sessionId, streamId))!;
    // Live, not a copy: events stored while a send awaits go out on this replay too (the SDK skips
    // those it replayed when it sends them itself).
    let next = seq + 1;
    for (;;) {
      // Kept events have consecutive sequences from the head on (a drop always takes the oldest).
      if (stream.head >= stream.events.length) break;
      const first = stream.events[stream.head]!.seq;
      if (next < first) throw new Error(`events ${next}..${first - 1} of stream '${streamId.slice(0, 80)}' were dropped while they were replayed (event bound)`);
      const event = stream.events[stream.head + next - first];
      if (event === undefined) break;
      next = event.seq + 1;
      await send(`${streamId}.${event.seq}`, JSON.parse(event.json) as JSONRPCMessage);
    }
    return streamId;
  }
}
