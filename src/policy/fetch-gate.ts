// The host side of the sandbox's fetch(): every request and every redirect hop is checked against
// the fetch policy before any byte leaves, header injection happens after the check (so the
// policy sees the code's own headers and secrets go only to hosts their rule names), and the
// response is bounded in size and time. Redirects are followed here, by hand, with a hop limit.
import { request, type Dispatcher } from 'undici';
import type { PolicyDecider } from './decider.ts';
import { describeHeaderRules, injectHeaders, type HeaderRule } from './headers.ts';
import { fetchInput } from './inputs.ts';
import { KindedError } from './kinded-error.ts';
import { POLICY_LIMITS } from './limits.ts';

const REQUEST_HEADERS_MAX = POLICY_LIMITS.fetchRequestHeadersMax;

export interface FetchGateOptions {
  readonly decider: PolicyDecider;
  readonly headerRules?: readonly HeaderRule[];
  readonly redirectsMax?: number;
  readonly responseBytesMax?: number;
  readonly requestBytesMax?: number;
  /** For the whole fetch: every hop, and reading the body. */
  readonly timeoutMs?: number;
  /** Fetches in flight at once; one more is refused (kind `busy`), not queued. */
  readonly concurrentMax?: number;
  readonly dispatcher?: Dispatcher;
}

export interface GatedRequest {
  readonly url: string;
  readonly method?: string;
  readonly headers?: Iterable<readonly [string, string]>;
  readonly body?: string | Uint8Array;
}

export interface GatedResponse {
  readonly status: number;
  readonly statusText: string;
  /** The final URL, after redirects. */
  readonly url: string;
  readonly redirected: boolean;
  readonly headers: [string, string][];
  readonly body: Uint8Array;
}

export type FetchErrorKind = 'denied' | 'invalid_request' | 'too_many_redirects' | 'response_too_large' | 'timeout' | 'network' | 'busy';

/** What the sandbox's fetch() rejects with; the message names the URL and, for a denial, the policy decision. */
export class FetchGateError extends KindedError<FetchErrorKind> {
  constructor(kind: FetchErrorKind, message: string) {
    super('FetchGateError', kind, message);
  }
}

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Dropped when a redirect leaves the origin (as the Fetch standard does). */
const CROSS_ORIGIN_DROPPED = ['authorization', 'cookie', 'proxy-authorization'];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export class FetchGate {
  readonly #o: Required<Omit<FetchGateOptions, 'dispatcher'>> & { dispatcher: Dispatcher | undefined };

  constructor(options: FetchGateOptions) {
    this.#o = {
      decider: options.decider,
      headerRules: options.headerRules ?? [],
      redirectsMax: options.redirectsMax ?? POLICY_LIMITS.fetchRedirectsMax,
      responseBytesMax: options.responseBytesMax ?? POLICY_LIMITS.fetchResponseBytesMax,
      requestBytesMax: options.requestBytesMax ?? POLICY_LIMITS.fetchRequestBytesMax,
      timeoutMs: options.timeoutMs ?? POLICY_LIMITS.fetchTimeoutMs,
      concurrentMax: options.concurrentMax ?? POLICY_LIMITS.fetchConcurrentMax,
      dispatcher: options.dispatcher,
    };
  }

  private inFlight = 0;

  /** A log line or JSON dump of the gate shows its rules with the values redacted, never the secrets. */
  toJSON(): unknown {
    return { redirectsMax: this.#o.redirectsMax, responseBytesMax: this.#o.responseBytesMax, timeoutMs: this.#o.timeoutMs, headerRules: describeHeaderRules(this.#o.headerRules) };
  }

  /** The bounds the sandbox's errors name. */
  get limits(): { responseBytesMax: number; requestBytesMax: number; timeoutMs: number; redirectsMax: number } {
    return { responseBytesMax: this.#o.responseBytesMax, requestBytesMax: this.#o.requestBytesMax, timeoutMs: this.#o.timeoutMs, redirectsMax: this.#o.redirectsMax };
  }

  async fetch(req: GatedRequest): Promise<GatedResponse> {
    if (this.inFlight >= this.#o.concurrentMax) throw new FetchGateError('busy', `fetch: ${this.#o.concurrentMax} fetches are already in flight; await some first`);
    this.inFlight++;
    try {
      return await this.fetchBounded(req);
    } finally {
      this.inFlight--;
    }
  }

  private async fetchBounded(req: GatedRequest): Promise<GatedResponse> {
    let url = parseUrl(req.url);
    let method = checkMethod(req.method ?? 'GET');
    const headers = checkHeaders(req.headers ?? []);
    let body = req.body;
    if (body !== undefined && byteLength(body) > this.#o.requestBytesMax) throw new FetchGateError('invalid_request', `fetch ${url.href}: request body larger than ${this.#o.requestBytesMax} bytes`);
    const signal = AbortSignal.timeout(this.#o.timeoutMs);
    for (let hop = 0; ; hop++) {
      const decision = await this.#o.decider.decide(fetchInput(url, method, headers));
      if (!decision.allow) {
        const via = hop === 0 ? '' : ` (redirect hop ${hop})`;
        throw new FetchGateError('denied', `fetch ${method} ${url.href}${via} denied by policy: ${decision.reason}`);
      }
      const sent = new Map(headers);
      injectHeaders(this.#o.headerRules, url, method, sent);
      const res = await this.send(url, method, sent, body, signal);
      const location = REDIRECTS.has(res.statusCode) ? headerValue(res.headers, 'location') : undefined;
      if (location === undefined) {
        const bytes = await this.readBody(res, url, signal);
        return { status: res.statusCode, statusText: STATUS_TEXT[res.statusCode] ?? '', url: url.href, redirected: hop > 0, headers: flattenHeaders(res.headers), body: bytes };
      }
      res.body.resume();
      if (hop >= this.#o.redirectsMax) throw new FetchGateError('too_many_redirects', `fetch ${req.url}: more than ${this.#o.redirectsMax} redirects`);
      let next: URL;
      try { next = parseUrl(new URL(location, url).href); } catch { throw new FetchGateError('network', `fetch ${url.href}: redirect to an invalid location`); }
      if (res.statusCode === 303 ? method !== 'HEAD' : (res.statusCode === 301 || res.statusCode === 302) && method === 'POST') {
        method = 'GET';
        body = undefined;
        headers.delete('content-type');
        headers.delete('content-length');
      }
      if (next.origin !== url.origin) for (const h of CROSS_ORIGIN_DROPPED) headers.delete(h);
      url = next;
    }
  }

  private async send(url: URL, method: string, headers: Map<string, string>, body: string | Uint8Array | undefined, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, { method: method as Dispatcher.HttpMethod, headers: Object.fromEntries(headers), body, signal, ...(this.#o.dispatcher ? { dispatcher: this.#o.dispatcher } : {}) });
    } catch (err) {
      throw this.networkError(err, url, signal);
    }
  }

  private networkError(err: unknown, url: URL, signal: AbortSignal): FetchGateError {
    if (err instanceof FetchGateError) return err;
    if (signal.aborted) return new FetchGateError('timeout', `fetch ${url.href}: no complete response within ${this.#o.timeoutMs} ms`);
    const e = err as Error & { code?: string };
    return new FetchGateError('network', `fetch ${url.href}: ${e.code ?? e.message}`);
  }

  private async readBody(res: Dispatcher.ResponseData, url: URL, signal: AbortSignal): Promise<Uint8Array> {
    const max = this.#o.responseBytesMax;
    const declared = Number(headerValue(res.headers, 'content-length') ?? NaN);
    const tooLarge = (): FetchGateError => new FetchGateError('response_too_large', `fetch ${url.href}: response body larger than ${max} bytes`);
    if (declared > max) { res.body.destroy(); throw tooLarge(); }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > max) { res.body.destroy(); throw tooLarge(); }
        chunks.push(chunk);
      }
    } catch (err) {
      throw this.networkError(err, url, signal);
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

function parseUrl(text: string): URL {
  if (typeof text !== 'string' || text.length > POLICY_LIMITS.fetchUrlCharsMax) throw new FetchGateError('invalid_request', `fetch: the URL must be a string of at most ${POLICY_LIMITS.fetchUrlCharsMax} characters`);
  let url: URL;
  try { url = new URL(text); } catch { throw new FetchGateError('invalid_request', `fetch: invalid URL ${JSON.stringify(String(text).slice(0, 200))}`); }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FetchGateError('invalid_request', `fetch ${url.href}: only http: and https: URLs can be fetched`);
  if (url.username !== '' || url.password !== '') throw new FetchGateError('invalid_request', `fetch: URLs with credentials are not allowed; pass an Authorization header instead`);
  return url;
}

function checkMethod(method: string): string {
  if (typeof method !== 'string' || !TOKEN.test(method)) throw new FetchGateError('invalid_request', `fetch: invalid method ${JSON.stringify(String(method).slice(0, 40))}`);
  const m = method.toUpperCase();
  if (m === 'CONNECT' || m === 'TRACE' || m === 'TRACK') throw new FetchGateError('invalid_request', `fetch: method ${m} is not allowed`);
  return m;
}

function checkHeaders(headers: Iterable<readonly [string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  let bytes = 0;
  for (const [k, v] of headers) {
    bytes += String(k).length + String(v).length;
    if (bytes > POLICY_LIMITS.fetchRequestHeaderBytesMax) throw new FetchGateError('invalid_request', `fetch: request headers larger than ${POLICY_LIMITS.fetchRequestHeaderBytesMax} bytes`);
    if (typeof k !== 'string' || typeof v !== 'string' || !TOKEN.test(k) || /[\r\n\0]/.test(v)) throw new FetchGateError('invalid_request', `fetch: invalid header ${JSON.stringify(String(k).slice(0, 80))}`);
    if (out.size >= REQUEST_HEADERS_MAX) throw new FetchGateError('invalid_request', `fetch: more than ${REQUEST_HEADERS_MAX} headers`);
    const key = k.toLowerCase();
    if (key === 'host' || key === 'content-length' || key === 'transfer-encoding' || key === 'connection') continue; // set by the HTTP client
    out.set(key, v);
  }
  return out;
}

function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

function headerValue(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function flattenHeaders(headers: Dispatcher.ResponseData['headers']): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, x]);
    else out.push([k, v]);
  }
  return out;
}
