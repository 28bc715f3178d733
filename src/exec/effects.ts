// The sandbox's calls to the world outside (fetch, fs; module sources later) and their journal.
//
// A heap is a recorded history replayed on resume (docs/stateful.md): whatever a run brought in
// from outside must be answered from the record on replay, or a resume would repeat a side effect
// (a second POST, a second write) and could see a different world. So a stateful run keeps an
// effects journal, in call order: {kind, SHA-256 of the request, the answer}. It is stored with the
// run's heap record (observed.effects), and a replay answers each call from it after checking that
// the call is the one recorded (same kind, same request digest); any other call is a divergence,
// and the heap cannot be rebuilt.
//
// Bound: a run's journal holds at most `effectsJournalBytesMax` bytes of encoded answers. A call
// whose answer would pass it gets an error naming the bound instead (recorded as such, so a replay
// sees the same error): the side effect has happened, but the run never sees its answer.
//
// Everything that arrives from the sandbox is checked here for type and size before a gate sees
// it: the sandbox's own code (prelude/fetch.js, fs.js) builds the requests, but user code runs in
// the same isolate and may have subverted it.
import { createHash } from 'node:crypto';
import type { EffectEntry } from '../model.ts';
import { FetchGateError } from '../policy/fetch-gate.ts';
import { FsGateError } from '../policy/fs-gate.ts';
import type { PolicyCapabilities } from '../policy/capabilities.ts';

/** Encoded bytes of the answers one stateful run may record (≈ 6 MiB of response bodies, base64). */
export const effectsJournalBytesMax = 8 * 1024 * 1024;
/** Calls one stateful run may record. */
export const effectsJournalEntriesMax = 10_000;

/** What the sandbox's promise settles with: a value (bytes as Uint8Array) or an error text. */
export type EffectAnswer = { ok: true; value: unknown } | { ok: false; error: string; code?: string };
/** Answers one call of the sandbox; set per run on the context's route. */
export type EffectHandler = (kind: unknown, request: unknown) => Promise<EffectAnswer>;

/** What a context offers its code: sent to the sandbox at attach (it decides which globals exist). */
export interface EffectFeatures {
  fetch: boolean;
  fs: boolean;
  /** Checked in the sandbox before a body crosses (the gates check again). */
  fetchRequestBytesMax: number;
  fsWriteBytesMax: number;
}

export function featuresOf(capabilities: PolicyCapabilities | null | undefined): EffectFeatures {
  return {
    fetch: capabilities?.fetch !== undefined,
    fs: capabilities?.fs !== undefined,
    fetchRequestBytesMax: capabilities?.fetch?.limits.requestBytesMax ?? 0,
    fsWriteBytesMax: capabilities?.fs?.writeBytesLimit ?? 0,
  };
}

// ---- JSON encoding of answers (bytes as {"$bytes": base64}) ----

function encodeJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(encodeJson);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeJson(v)]));
  return value === undefined ? null : value;
}

function decodeJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeJson);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record.$bytes === 'string' && Object.keys(record).length === 1) return new Uint8Array(Buffer.from(record.$bytes, 'base64'));
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, decodeJson(v)]));
  }
  return value;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
  }
  return value;
}

/** SHA-256 of the kind and the request as canonical JSON: what a replayed call must match. */
export function effectDigest(kind: string, request: unknown): string {
  return createHash('sha256').update(kind).update('\0').update(JSON.stringify(canonical(encodeJson(request)))).digest('hex');
}

/** The journal of one stateful run. */
export class EffectsJournal {
  readonly entries: EffectEntry[] = [];
  private bytes = 0;
  private readonly bytesMax: number;

  constructor(bytesMax = effectsJournalBytesMax) {
    this.bytesMax = bytesMax;
  }

  /** Records a call at its place in call order; `settle` fills in its answer (or a bound error). */
  open(kind: string, digest: string): ((answer: EffectAnswer) => EffectAnswer) | EffectAnswer {
    if (this.entries.length >= effectsJournalEntriesMax) {
      return { ok: false, error: `${kind}: this stateful run already made ${effectsJournalEntriesMax} fetch/fs calls, the most a heap records; run the rest in another execution` };
    }
    const entry: EffectEntry = { kind, digest, response: null };
    this.entries.push(entry);
    return (answer) => {
      const encoded = answer.ok ? { ok: true as const, value: encodeJson(answer.value) } : answer;
      const size = JSON.stringify(encoded).length;
      if (this.bytes + size > this.bytesMax) {
        const refused: EffectAnswer = { ok: false, error: `${kind}: its answer (${size} bytes encoded) would pass the ${this.bytesMax}-byte bound on what one stateful run records of fetch/fs answers (its heap must replay them); the call was made, its answer dropped. Fetch less per execution` };
        entry.response = refused;
        return refused;
      }
      this.bytes += size;
      entry.response = encoded;
      return answer;
    };
  }
}

/**
 * Calls of one run in flight at once: the gates' own bounds (16 each) are per server, so one run
 * alone cannot take all of them from the others. One more is refused (and recorded), not queued.
 */
export const hostCallsPerRunMax = 8;

/** The handler of a live run: the call goes through its gate; a journal, if any, records it. */
export function liveEffects(capabilities: PolicyCapabilities | null, journal: EffectsJournal | null, onInternalError: (error: unknown) => void): EffectHandler {
  let inFlight = 0;
  return async (kind, request) => {
    if (kind !== 'fetch' && kind !== 'fs') return { ok: false, error: 'unknown host call' };
    const opened = journal === null ? null : journal.open(kind, effectDigest(kind, request));
    if (opened !== null && typeof opened !== 'function') return opened;
    let answer: EffectAnswer;
    if (inFlight >= hostCallsPerRunMax) {
      answer = { ok: false, error: `${kind}: this run already has ${hostCallsPerRunMax} fetch/fs calls in flight, the most one run may; await some first`, code: 'busy' };
    } else {
      inFlight++;
      try {
        answer = await perform(capabilities, kind, request, onInternalError);
      } finally {
        inFlight--;
      }
    }
    return opened === null ? answer : opened(answer);
  };
}

/**
 * The handler of a replayed run: every call answered from the run's journal, in order, after
 * checking it is the call recorded. `issue` says how the replay diverged, if it did.
 */
export class ReplayedEffects {
  private next = 0;
  private issueText: string | null = null;
  private readonly entries: readonly EffectEntry[];

  constructor(entries: readonly EffectEntry[]) {
    this.entries = entries;
  }

  /** Why this step's calls differ from the record, or null (a call fewer than recorded counts too). */
  get issue(): string | null {
    if (this.issueText === null && this.next < this.entries.length) return `the run made ${this.next} fetch/fs calls, the recorded run ${this.entries.length}`;
    return this.issueText;
  }

  readonly handler: EffectHandler = (kind, request) => {
    const index = this.next++;
    const entry = this.entries[index];
    const kindText = typeof kind === 'string' ? kind : '?';
    if (entry === undefined || entry.kind !== kindText || entry.digest !== effectDigest(kindText, request)) {
      this.issueText ??= entry === undefined
        ? `the run made a fetch/fs call (#${index + 1}) the recorded run did not make`
        : `its fetch/fs call #${index + 1} differs from the recorded one (${entry.kind})`;
      return Promise.resolve({ ok: false, error: `Replay diverged: ${this.issueText}` });
    }
    // Never answered while the run lasted: the replay does not answer it either.
    if (entry.response === null) return new Promise<never>(() => {});
    const response = entry.response;
    return Promise.resolve(response.ok ? { ok: true, value: decodeJson(response.value) } : response);
  };
}

// ---- performing a call: the request checked for type and size, then the gate ----

type Plain = Record<string, unknown>;
const isPlain = (value: unknown): value is Plain => value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array);
const optionalString = (value: unknown): value is string | undefined => value === undefined || typeof value === 'string';

async function perform(capabilities: PolicyCapabilities | null, kind: 'fetch' | 'fs', request: unknown, onInternalError: (error: unknown) => void): Promise<EffectAnswer> {
  try {
    if (!isPlain(request)) return { ok: false, error: `${kind}: malformed request` };
    return kind === 'fetch' ? await performFetch(capabilities, request) : await performFs(capabilities, request);
  } catch (error) {
    if (error instanceof FetchGateError) return { ok: false, error: error.message, code: error.kind };
    if (error instanceof FsGateError) return { ok: false, error: error.message, ...(error.code === undefined ? { code: error.kind } : { code: error.code }) };
    onInternalError(error);
    return { ok: false, error: `${kind}: internal error` };
  }
}

async function performFetch(capabilities: PolicyCapabilities | null, request: Plain): Promise<EffectAnswer> {
  const gate = capabilities?.fetch;
  if (gate === undefined) return { ok: false, error: 'fetch: no fetch policy is configured' };
  const { url, method, headers, body } = request;
  if (typeof url !== 'string' || !optionalString(method) || !Array.isArray(headers)) return { ok: false, error: 'fetch: malformed request' };
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) return { ok: false, error: 'fetch: the body must be a string or a Uint8Array' };
  const pairs: [string, string][] = [];
  for (const pair of headers) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return { ok: false, error: 'fetch: malformed request headers' };
    pairs.push([pair[0], pair[1]]);
  }
  const response = await gate.fetch({ url, ...(method === undefined ? {} : { method }), headers: pairs, ...(body === undefined ? {} : { body }) });
  return { ok: true, value: { status: response.status, statusText: response.statusText, url: response.url, redirected: response.redirected, headers: response.headers, body: response.body } };
}

async function performFs(capabilities: PolicyCapabilities | null, request: Plain): Promise<EffectAnswer> {
  const gate = capabilities?.fs;
  if (gate === undefined) return { ok: false, error: 'fs: no filesystem policy is configured' };
  const { op, path, destination, data, encoding, recursive } = request;
  // Paths, data and encodings are checked by the gate itself (type, size, NUL, absolute).
  const path_ = path as string;
  const options = { recursive: recursive === true };
  switch (op) {
    case 'readFile': return { ok: true, value: await gate.readFile(path_, (encoding ?? 'utf8') as 'utf8') };
    case 'writeFile': await gate.writeFile(path_, data as string); return { ok: true, value: null };
    case 'appendFile': await gate.appendFile(path_, data as string); return { ok: true, value: null };
    case 'readdir': return { ok: true, value: await gate.readdir(path_) };
    case 'stat': return { ok: true, value: await gate.stat(path_) };
    case 'mkdir': await gate.mkdir(path_, options); return { ok: true, value: null };
    case 'rm': await gate.rm(path_, options); return { ok: true, value: null };
    case 'rename': await gate.rename(path_, destination as string); return { ok: true, value: null };
    case 'copyFile': await gate.copyFile(path_, destination as string); return { ok: true, value: null };
    case 'exists': return { ok: true, value: await gate.exists(path_) };
    default: return { ok: false, error: 'fs: unknown operation' };
  }
}
