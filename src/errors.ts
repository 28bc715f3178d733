// One error class and one catalogue of coded errors (style.md §7): clients and docs rely on the
// codes, transports map `httpStatus` to a response, and only errors meant for the client
// (`expose`: every 4xx, and the 5xx marked so) have their message shown; anything else is an
// internal error and is logged.

export const ErrorCodes = {
  INVALID_ARGUMENT: { httpStatus: 400 },
  INVALID_FLAG: { httpStatus: 400 },
  NOT_SUPPORTED: { httpStatus: 400 },
  EXECUTION_NOT_FOUND: { httpStatus: 404 },
  HEAP_NOT_FOUND: { httpStatus: 404 },
  HEAP_CORRUPT: { httpStatus: 422 },
  STORED_DATA_DAMAGED: { httpStatus: 422 },
  SESSION_NOT_FOUND: { httpStatus: 404 },
  STATEFUL_ONLY: { httpStatus: 400 },
  /** Cluster mode: another run of the session was committed first (a membership change, an unreachable home); submit again. */
  SESSION_CONFLICT: { httpStatus: 409 },
  BODY_TOO_LARGE: { httpStatus: 413 },
  UNAUTHORIZED: { httpStatus: 401 },
  HOST_NOT_ALLOWED: { httpStatus: 403 },
  ORIGIN_NOT_ALLOWED: { httpStatus: 403 },
  LIMIT_EXCEEDED: { httpStatus: 429 },
  RATE_LIMITED: { httpStatus: 429 },
  ROUTE_NOT_FOUND: { httpStatus: 404 },
  TOOL_NOT_FOUND: { httpStatus: 404 },
  STORAGE_UNAVAILABLE: { httpStatus: 503, expose: true },
  STORAGE_LOCKED: { httpStatus: 503, expose: true },
  NOT_LEADER: { httpStatus: 503, expose: true },
  /** Cluster mode: this node cannot reach a quorum (or a leader) within the write timeout. */
  NO_QUORUM: { httpStatus: 503, expose: true },
  STOPPING: { httpStatus: 503, expose: true },
  /** The node's bounds on work in flight are reached: retry later (Retry-After) or elsewhere. */
  BUSY: { httpStatus: 503, expose: true },
  /** An invariant of ours failed on this path: a bug, logged; the path takes no more work until a restart. */
  SERVER_FAULT: { httpStatus: 503, expose: true },
  INTERNAL: { httpStatus: 500 },
} as const satisfies Record<string, { httpStatus: number; expose?: true }>;

export type ErrorCode = keyof typeof ErrorCodes;

export class McpV8Error extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  /** True when the message is written for the client; internal errors are not exposed. */
  readonly expose: boolean;

  /** Seconds after which a retry may succeed (HTTP `Retry-After`), for errors of load, not of input. */
  readonly retryAfterSecs: number | null;

  /** The answer closes the connection (`Connection: close`): a request body refused unread, whose rest is not read either. */
  readonly closeConnection: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSecs?: number; closeConnection?: boolean }) {
    super(message, options);
    this.name = 'McpV8Error';
    this.code = code;
    const entry: { httpStatus: number; expose?: true } = ErrorCodes[code];
    this.httpStatus = entry.httpStatus;
    this.expose = this.httpStatus < 500 || entry.expose === true;
    this.retryAfterSecs = options?.retryAfterSecs ?? null;
    this.closeConnection = options?.closeConnection ?? false;
  }

  /** The stable, prefixed code clients can match on, e.g. MCPV8_ERR_HEAP_NOT_FOUND. */
  get publicCode(): string {
    return `MCPV8_ERR_${this.code}`;
  }
}

export function isMcpV8Error(value: unknown): value is McpV8Error {
  return value instanceof McpV8Error;
}

/** A failed `assert`: a bug of ours, never the user's input. Whoever catches one logs it loudly and stops that path. */
export class AssertionFailed extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionFailed';
  }
}

/** Assertions state what the code believes; a broken invariant stops loudly (TigerBeetle). */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailed(message);
}
