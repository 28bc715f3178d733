// A minimal keep-alive HTTP/1.1 client for the load generator, which shares the 2 cores with the
// server it measures: every CPU millisecond it spends is taken from the server. Compared with
// undici's Pool (kept as `--client undici` to cross-check), it writes preformatted request bytes
// in one write and parses only what the harness reads (status, content-length or chunked, body).
// Same connection model as the undici Pool it replaced: one request per connection at a time
// (no pipelining), connections kept alive and reused, at most `connectionsMax` of them.
import { connect, type Socket } from 'node:net';
import { Pool } from 'undici';

export interface HttpResponse {
  status: number;
  text: string;
}

export interface HttpClient {
  /** `headers`: more request headers (names in lower case, values ASCII), e.g. the session a load balancer routes by. */
  request(method: 'GET' | 'POST', path: string, body?: string, headers?: Readonly<Record<string, string>>): Promise<HttpResponse>;
  close(): Promise<void>;
}

/** A response head larger than this is refused (ours are a few hundred bytes). */
const headBytesMax = 64 * 1024;
const headEnd = Buffer.from('\r\n\r\n');

class HttpError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

interface Pending {
  resolve: (response: HttpResponse) => void;
  reject: (error: Error) => void;
}

/** Parses one response at a time from a keep-alive connection. */
class Connection {
  readonly socket: Socket;
  private buffered: Buffer | null = null;
  private pending: Pending | null = null;
  private status = 0;
  /** Body bytes still expected (content-length), or -1 while reading chunked, or -2 before the head. */
  private remaining = -2;
  private chunks: Buffer[] = [];
  private keepAlive = true;
  closed = false;
  private readonly onIdle: (connection: Connection) => void;
  private readonly onClosed: (connection: Connection) => void;

  constructor(socket: Socket, onIdle: (connection: Connection) => void, onClosed: (connection: Connection) => void) {
    this.socket = socket;
    this.onIdle = onIdle;
    this.onClosed = onClosed;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('error', (error) => this.fail(new HttpError('SocketError', error.message)));
    socket.on('close', () => this.fail(new HttpError('SocketError', 'the server closed the connection')));
  }

  send(bytes: string | Buffer, pending: Pending): void {
    this.pending = pending;
    this.remaining = -2;
    this.chunks = [];
    this.socket.write(bytes);
  }

  private fail(error: Error): void {
    if (!this.closed) {
      this.closed = true;
      this.socket.destroy();
      this.onClosed(this);
    }
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }

  private data(chunk: Buffer): void {
    this.buffered = this.buffered === null ? chunk : Buffer.concat([this.buffered, chunk]);
    try {
      while (this.buffered !== null && this.pending !== null && this.step()) { /* next part */ }
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** Consumes what it can of `buffered`; true when it made progress and may continue. */
  private step(): boolean {
    const input = this.buffered!;
    if (this.remaining === -2) {
      const end = input.indexOf(headEnd);
      if (end < 0) {
        if (input.length > headBytesMax) throw new HttpError('ParseError', 'response head too large');
        return false;
      }
      this.remaining = this.head(input.toString('latin1', 0, end));
      this.take(end + 4);
      if (this.remaining === 0) this.done();
      return true;
    }
    if (this.remaining > 0) {
      const n = Math.min(this.remaining, input.length);
      this.chunks.push(n === input.length ? input : input.subarray(0, n));
      this.remaining -= n;
      this.take(n);
      if (this.remaining === 0) this.done();
      return true;
    }
    return this.chunk(input);
  }

  /** Reads the status and framing; returns the body bytes expected, or -1 for chunked. */
  private head(text: string): number {
    const lines = text.split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (statusLine === null) throw new HttpError('ParseError', `bad status line '${lines[0]!.slice(0, 80)}'`);
    this.status = Number(statusLine[1]);
    let length: number | null = null;
    let chunked = false;
    this.keepAlive = !lines[0]!.startsWith('HTTP/1.0');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (name === 'content-length') length = Number(line.slice(colon + 1));
      else if (name === 'transfer-encoding') chunked = /chunked/i.test(line.slice(colon + 1));
      else if (name === 'connection') this.keepAlive = !/close/i.test(line.slice(colon + 1));
    }
    if (chunked) return -1;
    if (length !== null && Number.isInteger(length) && length >= 0) return length;
    throw new HttpError('ParseError', 'a response without content-length or chunked encoding');
  }

  /** Chunked body: `<hex size>\r\n<data>\r\n`, ended by a zero-size chunk and its empty trailer. */
  private chunk(input: Buffer): boolean {
    const lineEnd = input.indexOf('\r\n');
    if (lineEnd < 0) return false;
    const size = Number.parseInt(input.toString('latin1', 0, lineEnd), 16);
    if (!Number.isInteger(size) || size < 0) throw new HttpError('ParseError', 'bad chunk size');
    if (size === 0) {
      const end = input.indexOf(headEnd, lineEnd - 2 < 0 ? 0 : lineEnd - 2);
      if (end < 0) return false;
      this.take(end + 4);
      this.done();
      return true;
    }
    if (input.length < lineEnd + 2 + size + 2) return false;
    this.chunks.push(input.subarray(lineEnd + 2, lineEnd + 2 + size));
    this.take(lineEnd + 2 + size + 2);
    return true;
  }

  private take(bytes: number): void {
    this.buffered = bytes >= this.buffered!.length ? null : this.buffered!.subarray(bytes);
  }

  private done(): void {
    const pending = this.pending!;
    this.pending = null;
    this.remaining = -2;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    if (this.buffered !== null) throw new HttpError('ParseError', 'bytes after the response (the client never pipelines)');
    pending.resolve({ status: this.status, text: body.toString('utf8') });
    if (this.keepAlive) this.onIdle(this);
    else this.fail(new HttpError('SocketError', 'connection: close'));
  }
}

/** The undici Pool the harness used first, behind the same interface (`--client undici`). */
export class UndiciClient implements HttpClient {
  private readonly pool: Pool;
  private readonly authorization: Record<string, string>;

  constructor(baseUrl: string, options: { connectionsMax: number; token?: string }) {
    this.pool = new Pool(baseUrl, { connections: options.connectionsMax, pipelining: 1, keepAliveTimeout: 60_000 });
    this.authorization = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
  }

  async request(method: 'GET' | 'POST', path: string, body?: string, headers: Readonly<Record<string, string>> = {}): Promise<HttpResponse> {
    const response = await this.pool.request(body === undefined ? { path, method, headers: { ...headers, ...this.authorization } } : { path, method, headers: { ...jsonHeaders, ...headers, ...this.authorization }, body });
    return { status: response.statusCode, text: await response.body.text() };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

const jsonHeaders = { 'content-type': 'application/json' };
/** Whole POST requests kept for reuse: the eight snippets in up to 64 sessions. */
const postHeadsKeptMax = 512;

export class Http1Client implements HttpClient {
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  /** The host line and, with a token, the authorization line. */
  private readonly headLines: string;
  private readonly connectionsMax: number;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly waiting: Array<() => void> = [];
  private readonly postHeads = new Map<string, Buffer>();

  constructor(baseUrl: string, options: { connectionsMax: number; token?: string }) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') throw new Error(`only http:// is supported, got ${baseUrl}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.hostHeader = url.host;
    this.headLines = `host: ${this.hostHeader}\r\n${options.token === undefined ? '' : `authorization: Bearer ${options.token}\r\n`}`;
    this.connectionsMax = options.connectionsMax;
  }

  private requestBytes(method: 'GET' | 'POST', path: string, body: string | undefined, headers: Readonly<Record<string, string>>): string | Buffer {
    let extra = '';
    for (const name in headers) extra += `${name}: ${headers[name]}\r\n`;
    if (body === undefined) return `${method} ${path} HTTP/1.1\r\n${this.headLines}${extra}\r\n`;
    // POST bodies repeat (the eight snippets): keep each whole request once.
    const key = `${path}\n${extra}\n${body}`;
    let bytes = this.postHeads.get(key);
    if (bytes === undefined) {
      const payload = Buffer.from(body, 'utf8');
      bytes = Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\n${this.headLines}${extra}content-type: application/json\r\ncontent-length: ${payload.length}\r\n\r\n`, 'latin1'), payload]);
      if (this.postHeads.size < postHeadsKeptMax) this.postHeads.set(key, bytes);
    }
    return bytes;
  }

  private async connection(): Promise<Connection> {
    for (;;) {
      const idle = this.idle.pop();
      if (idle !== undefined && !idle.closed) return idle;
      if (idle !== undefined) continue;
      if (this.all.size < this.connectionsMax) return this.open();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private open(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port });
      const connection = new Connection(socket, (c) => this.release(c), (c) => this.forget(c));
      this.all.add(connection);
      const onError = (error: Error) => reject(new HttpError('ConnectError', error.message));
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(connection);
      });
    });
  }

  private release(connection: Connection): void {
    this.idle.push(connection);
    this.waiting.shift()?.();
  }

  private forget(connection: Connection): void {
    this.all.delete(connection);
    this.waiting.shift()?.();
  }

  async request(method: 'GET' | 'POST', path: string, body?: string, headers: Readonly<Record<string, string>> = {}): Promise<HttpResponse> {
    const connection = await this.connection();
    return new Promise((resolve, reject) => connection.send(this.requestBytes(method, path, body, headers), { resolve, reject }));
  }

  async close(): Promise<void> {
    for (const connection of this.all) {
      connection.closed = true;
      connection.socket.destroy();
    }
    this.all.clear();
    this.idle.length = 0;
  }
}

/** Several servers, each request sent to the next in turn (the reference's round-robin over cluster nodes). */
export class RoundRobinClient implements HttpClient {
  private next = 0;
  private readonly clients: readonly HttpClient[];

  constructor(clients: readonly HttpClient[]) {
    this.clients = clients;
  }

  request(method: 'GET' | 'POST', path: string, body?: string, headers?: Readonly<Record<string, string>>): Promise<HttpResponse> {
    const client = this.clients[this.next]!;
    this.next = (this.next + 1) % this.clients.length;
    return client.request(method, path, body, headers);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }
}
