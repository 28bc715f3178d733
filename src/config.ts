// Flags → one validated Config. Every flag of api.md is declared here, once, with its kind,
// range and environment alias; conflicts are checked in one place; a flag whose feature is not
// built yet is refused with a clear "not supported yet" line instead of being ignored.
import os from 'node:os';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { checkNetworkExposure, clusterSecretCharsMin, isLoopbackName, parseAuthConfig, type AuthConfig } from './auth-config.ts';
import { McpV8Error } from './errors.ts';
import { liveHeapBytesMaxDefault, liveHeapsMaxDefault } from './exec/live-heaps.ts';
import { buildPolicyCapabilities, type PolicyCapabilities } from './policy/capabilities.ts';
import { heapMemoryMbDefault } from './model.ts';
import { parseWasmFlags, type WasmModuleConfig } from './wasm-config.ts';

/** --retire-rss-mb's default: the engine's `stuckRssBytesMax` (4 GiB; not imported, which would load isolated-vm). */
export const retireRssMbDefault = 4096;
/** --live-heaps-memory-mb's default, in MiB. */
export const liveHeapsMemoryMbDefault = liveHeapBytesMaxDefault / 2 ** 20;

export type HeapStoreConfig =
  | { kind: 'none' }
  | { kind: 'directory'; path: string }
  | { kind: 's3'; bucket: string; cacheDir: string | null };

export interface Config {
  heapStore: HeapStoreConfig;
  stateless: boolean;
  transport: 'stdio' | 'http' | 'sse';
  port: number | null;
  bindHost: string;
  statelessHttp: boolean;
  heapMemoryMaxMb: number;
  executionTimeoutSecs: number;
  maxConcurrentExecutions: number;
  /** With any isolate thread V8 cannot stop, the node retires past this process RSS (MiB). */
  retireRssMb: number;
  /** Per client (principal; anonymous callers are one): Mi characters of code of its executions in flight. */
  clientCodeMaxMb: number;
  /** Per client: MiB (characters, one more per line) of console output its running executions hold. */
  clientOutputMaxMb: number;
  /** Stateful mode: contexts kept alive for instant resume (each holds an isolate). */
  liveHeapsMax: number;
  /** MiB the live heaps' isolates may hold together (src/exec/live-heaps.ts). */
  liveHeapsMemoryMb: number;
  sessionDbPath: string;
  executionDbPath: string;
  /** Console output kept across all stored executions, in MiB; past it the oldest finished go. */
  executionOutputMaxMb: number;
  /** Mi characters of console lines not yet written to the execution database at most (storage/execution-store.ts). */
  executionUnwrittenOutputMaxMb: number;
  /** False when the path is the default, which several local servers may share (see server.ts). */
  executionDbPathExplicit: boolean;
  sessionDbPathExplicit: boolean;
  nodeId: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  httpBodyBytesMax: number;
  /** Open MCP sessions per HTTP transport (Streamable HTTP, SSE). */
  mcpSessionsMax: number;
  /** A Streamable HTTP session unused for this long is closed. */
  mcpSessionIdleSecs: number;
  /** Events kept for resumable Streamable HTTP streams, per stream and per node (--mcp-events-*). */
  mcpEventBounds: McpEventBounds;
  /** Host/Origin checks, tokens, JWT, tenants (src/auth). */
  auth: AuthConfig;
  /** Cluster mode (--cluster-port), or null for a single node. */
  cluster: ClusterConfig | null;
  /** fetch(), fs and gated imports from --policies-json/--opa-url/--fetch-header*, built at start-up (src/policy); null: none. */
  capabilities: PolicyCapabilities | null;
  /** Module imports (docs/modules.md). */
  modules: ModulesConfig;
  /** --wasm-module and --wasm-config, loaded and checked (src/wasm-config.ts). */
  wasmModules: WasmModuleConfig[];
}

/** Module imports: off unless --allow-external-modules; where from; the cache and the bounds. */
export interface ModulesConfig {
  allowExternal: boolean;
  cdnUrl: string;
  cacheDir: string;
  cacheBytesMax: number;
  moduleBytesMax: number;
  fetchTimeoutMs: number;
}

type FlagKind = 'string' | 'int' | 'bool' | 'list';
interface FlagSpec {
  kind: FlagKind;
  help: string;
  min?: number;
  max?: number;
  /** Set when the flag is part of api.md but its feature is not built yet. */
  notSupportedYet?: string;
}

const flagSpecs: Record<string, FlagSpec> = {
  'stateless': { kind: 'bool', help: 'Run without heap persistence: every execution starts fresh.' },
  'directory-path': { kind: 'string', help: 'Store heaps in this local directory (default /tmp/mcp-v8-heaps).' },
  'heap-dir': { kind: 'string', help: 'Alias of --directory-path.' },
  'heap-store': { kind: 'string', help: 'none | dir | s3: newer spelling of the storage choice.' },
  's3-bucket': { kind: 'string', help: 'Store heaps in this S3 bucket (AWS_* environment for endpoint, region, credentials).' },
  'cache-dir': { kind: 'string', help: 'Write-through local cache for S3 heaps (requires --s3-bucket).' },
  'session-db-path': { kind: 'string', help: 'LevelDB path of the session log and tag index (default /tmp/mcp-v8-sessions).' },
  'execution-db-path': { kind: 'string', help: 'LevelDB path of execution records and console output (default /tmp/mcp-v8-executions).' },
  'execution-output-max': { kind: 'int', min: 64, max: 1048576, help: 'Console output kept across all stored executions, in MiB (64-1048576, default 1024); past it the oldest finished executions are deleted with their output.' },
  'execution-unwritten-output-max-mb': { kind: 'int', min: 1, max: 1024, help: 'Mi characters of console output of running executions held in memory before it is written to the execution database (1-1024, default 64: at most 128 MiB); past it lines are dropped until the writes catch up, and the output says where and how many.' },
  'http-port': { kind: 'int', min: 0, max: 65535, help: 'Serve Streamable HTTP MCP at /mcp and the plain API on this port (0: any free port, logged).' },
  'sse-port': { kind: 'int', min: 0, max: 65535, help: 'Serve the SSE transport (/sse, /message) and the plain API on this port (0: any free port).' },
  'bind-host': { kind: 'string', help: 'Address to listen on (default 127.0.0.1; anything wider is an open code runner).' },
  'stateless-http': { kind: 'bool', help: 'Streamable HTTP without sessions: any request may go to any node.' },
  'mcp-sessions-max': { kind: 'int', min: 1, max: 1000000, help: 'Open MCP sessions on /mcp (or /sse) at most (default 10000); at the bound the least recently used idle one is closed.' },
  'mcp-session-idle-timeout': { kind: 'int', min: 1, max: 604800, help: 'Close a Streamable HTTP session after this many seconds with no request or stream open (default 3600).' },
  'mcp-events-per-stream': { kind: 'int', min: 1, max: 10000000, help: 'Streamable HTTP: SSE events kept per stream for clients that reconnect with Last-Event-ID (default 1000); the oldest go first.' },
  'mcp-events-per-stream-mb': { kind: 'int', min: 1, max: 4096, help: 'Streamable HTTP: Mi characters of JSON kept per stream for reconnections (default 4; an answer longer than this cannot be replayed).' },
  'mcp-events-per-node': { kind: 'int', min: 1, max: 100000000, help: 'Streamable HTTP: SSE events kept over all sessions of this node (default 50000); the oldest go first.' },
  'mcp-events-per-node-mb': { kind: 'int', min: 1, max: 65536, help: 'Streamable HTTP: Mi characters of JSON kept over all sessions of this node (default 32: at most 64 MiB of strings).' },
  'allowed-hosts': { kind: 'list', help: 'Host header values accepted beside loopback names and the bind address (name or name:port, comma list or repeated; * for any).' },
  'trusted-proxy': { kind: 'list', help: 'Address or CIDR of a reverse proxy in front (repeatable): from such a peer, the client for fair CPU shares is the rightmost X-Forwarded-For address not itself a trusted proxy; from any other peer X-Forwarded-For is ignored.' },
  'allowed-origins': { kind: 'list', help: 'Browser origins accepted beside same-origin requests (https://app.example.com, comma list or repeated; * for any).' },
  'auth-token': { kind: 'list', help: 'Bearer token clients must send: name=token or a bare token (repeatable; MCP_V8_AUTH_TOKEN takes a comma list). The name is the principal.' },
  'jwks-url': { kind: 'string', help: 'Accept JWTs signed by a key of this JWKS document (needs --jwt-issuer and --jwt-audience); the principal is the sub claim.' },
  'jwt-issuer': { kind: 'string', help: 'The iss every accepted JWT must carry.' },
  'jwt-audience': { kind: 'string', help: 'The aud every accepted JWT must carry.' },
  'jwt-algorithms': { kind: 'list', help: 'JWS algorithms accepted (default RS256,ES256; none never is).' },
  'jwks-cooldown': { kind: 'int', min: 0, max: 3600, help: 'Seconds before a JWT naming an unknown key id may refetch the JWKS (key rotation; default 30).' },
  'public-url': { kind: 'string', help: 'The URL clients reach this server by, for the OAuth protected-resource metadata (default: from the Host header).' },
  'allow-unauthenticated': { kind: 'bool', help: 'Listen beyond loopback with no token or JWT (only behind a proxy that authenticates).' },
  'metrics-unauthenticated': { kind: 'bool', help: 'Serve /metrics without a token (for a scraper on a trusted network).' },
  'share-heaps': { kind: 'bool', help: 'With auth on: any principal may resume or tag any heap whose id it knows (listings stay per principal).' },
  'principal-executions-max': { kind: 'int', min: 1, max: 100000, help: 'With auth on: executions queued or running per principal at once (default 1000).' },
  'principal-rate-limit': { kind: 'int', min: 0, max: 1000000, help: 'With auth on: requests per second per principal, bursts of one second (default 0: no limit); past it 429 with Retry-After.' },
  'heap-memory-max': { kind: 'int', min: 1, max: 64, help: 'V8 heap limit per execution in MiB (1-64, default 32).' },
  'execution-timeout': { kind: 'int', min: 1, max: 300, help: 'Execution wall-clock limit in seconds (1-300, default 30).' },
  'max-concurrent-executions': { kind: 'int', min: 1, max: 1024, help: 'Executions running at once; more wait in a queue (default: CPU count).' },
  'retire-rss-mb': { kind: 'int', min: 1, max: 1048576, help: 'With any isolate thread V8 cannot stop, past this process RSS in MiB the node takes no more runs and exits for its supervisor (default 4096).' },
  'client-code-max-mb': { kind: 'int', min: 1, max: 1048576, help: 'Per client (principal; anonymous callers are one): Mi characters of code its executions in flight may hold; past it 429 LIMIT_EXCEEDED (default 64).' },
  'client-output-max-mb': { kind: 'int', min: 1, max: 1048576, help: 'Per client: MiB of console output its running executions may hold; past it their further lines are dropped after one that says so (default 256).' },
  'live-heaps-max': { kind: 'int', min: 0, max: 100000, help: 'Stateful mode: heaps kept live in memory for instant resume, at most (default 1024; --live-heaps-memory-mb is the bound that usually binds; others are rebuilt from storage).' },
  'live-heaps-memory-mb': { kind: 'int', min: 1, max: 1048576, help: 'Stateful mode: MiB the live heaps may hold together, as measured per isolate (heap pages, malloc, ArrayBuffers); past it the least recently used are released (default 1536).' },
  'log-level': { kind: 'string', help: 'fatal|error|warn|info|debug|trace|silent (default info); logs go to stderr.' },
  'cluster-port': { kind: 'int', min: 0, max: 65535, help: 'Serve the Raft cluster transport (/raft/*) on this port: cluster mode (requires --http-port or --sse-port; 0: any free port).' },
  'node-id': { kind: 'string', help: 'Node identifier, unique in the cluster (default node1).' },
  'peers': { kind: 'list', help: 'Cluster mode: the other initial voters, id@host:port or host:port, comma-separated or repeated.' },
  'join': { kind: 'string', help: 'Cluster mode: join a running cluster through this seed host:port (as a learner, then a voter).' },
  'advertise-addr': { kind: 'string', help: 'Cluster mode: host:port peers use to reach this node (default <bind-host>:<cluster-port>).' },
  'cluster-secret': { kind: 'string', help: 'Cluster mode: secret (32+ characters) every request between nodes is signed with; needed for a cluster port beyond loopback (MCP_V8_CLUSTER_SECRET keeps it out of ps).' },
  'heartbeat-interval': { kind: 'int', min: 1, max: 60000, help: 'Raft heartbeat in ms (default 100).' },
  'election-timeout-min': { kind: 'int', min: 1, max: 60000, help: 'Raft election timeout, lower end, in ms (default 300).' },
  'election-timeout-max': { kind: 'int', min: 1, max: 60000, help: 'Raft election timeout, upper end, in ms (default 500; at most 2 x the minimum).' },
  'raft-db-path': { kind: 'string', help: 'Cluster mode: directory of the Raft log (LevelDB), which holds sessions, tags and heap records (default /tmp/mcp-v8-raft-<node-id>).' },
  'raft-snapshot-entries': { kind: 'int', min: 2, max: 10000000, help: 'Cluster mode: compact the Raft log into a snapshot once this many entries were applied since the last one and they hold at least half its size (default 4096).' },
  'raft-snapshot-chunk-bytes': { kind: 'int', min: 1024, max: 16777216, help: 'Cluster mode: a snapshot is sent to a lagging node in chunks of this many characters, each resumable (default 1048576).' },
  'cluster-write-timeout': { kind: 'int', min: 100, max: 600000, help: 'Cluster mode: a replicated write or read that cannot reach a quorum fails after this many ms (default 5000).' },
  'raft-lease-reads': { kind: 'bool', help: 'Cluster mode: serve reads on the leader under its lease, without a heartbeat round (trusts clocks to run at similar rates; default off: ReadIndex).' },
  'opa-url': { kind: 'string', help: 'OPA server (http[s]://host:port) whose policy gates fetch(); turns fetch() on.' },
  'opa-fetch-policy': { kind: 'string', help: 'OPA policy path for fetch, appended to /v1/data/ (default mcp/fetch).' },
  'fetch-header': { kind: 'list', help: 'Header injection rule host=H,header=N,value=V[,methods=GET;POST] (repeatable; needs a fetch policy).' },
  'fetch-header-config': { kind: 'string', help: 'JSON file of header injection rules [{"host","methods"?,"headers"}].' },
  'policies-json': { kind: 'string', help: 'Policies (file path or inline JSON) for fetch, filesystem and modules (docs/policy.md).' },
  'allow-external-modules': { kind: 'bool', help: 'Let code import npm:, jsr:, https:// and http:// modules (fetched at run time; off by default).' },
  'module-cdn-url': { kind: 'string', help: 'Where npm: and jsr: imports are fetched from, in esm.sh\'s layout (default https://esm.sh; a mirror for machines without internet).' },
  'module-cache-dir': { kind: 'string', help: 'Disk cache of fetched modules, by URL (default /tmp/mcp-v8-modules).' },
  'module-cache-max': { kind: 'int', min: 1, max: 1048576, help: 'Disk cache of fetched modules, at most this many MiB (default 512); the oldest files go first.' },
  'module-size-max': { kind: 'int', min: 1, max: 1024, help: 'A fetched module is at most this many MiB (default 10).' },
  'module-fetch-timeout': { kind: 'int', min: 1, max: 300, help: 'A module fetch (with its redirects) takes at most this many seconds (default 30).' },
  'wasm-module': { kind: 'list', help: 'Pre-load name=path.wasm in every execution: its exports as the global name (a module without imports), the compiled module as __wasm_name (repeatable).' },
  'wasm-config': { kind: 'string', help: 'JSON file {"name": "path.wasm"} or {"name": {"path", "wrapper", "globals"}}, merged with --wasm-module (docs/exec.md).' },
  'help': { kind: 'bool', help: 'Print this help and exit.' },
  'version': { kind: 'bool', help: 'Print the version and exit.' },
};

/** Names that accept several occurrences (`--fetch-header a --fetch-header b`). */
const repeatable = new Set(['peers', 'fetch-header', 'wasm-module', 'allowed-hosts', 'allowed-origins', 'trusted-proxy', 'auth-token', 'jwt-algorithms']);
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const defaultHttpBodyBytesMax = 4 * 1024 * 1024;

type RawFlags = Map<string, string[] | true>;

function flagError(message: string): McpV8Error {
  return new McpV8Error('INVALID_FLAG', message);
}

/** The flag table as node:util parseArgs options: booleans, and strings (list flags repeat). */
const parseArgsOptions: ParseArgsOptionsConfig = Object.fromEntries(Object.entries(flagSpecs).map(([name, spec]) => [
  name, spec.kind === 'bool' ? { type: 'boolean' } : { type: 'string', multiple: repeatable.has(name) },
]));

/**
 * Splits argv into flags with node:util parseArgs; `--x=v`, `--x v` and repeated list flags are
 * accepted. parseArgs runs non-strict and its tokens are checked here, in order, so that every
 * refusal is our one line naming the flag (its own errors name no --help and differ by kind).
 */
function readArgv(argv: readonly string[]): RawFlags {
  const raw: RawFlags = new Map();
  const { tokens } = parseArgs({ args: [...argv], options: parseArgsOptions, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind === 'positional') throw flagError(`unexpected argument '${token.value}' (flags start with --; see --help)`);
    if (token.kind === 'option-terminator') throw flagError('unknown flag -- (see --help)');
    if (!token.rawName.startsWith('--')) throw flagError(`unexpected argument '${argv[token.index]}' (flags start with --; see --help)`);
    const name = token.name.split('=')[0]!; // `--=x`: parseArgs names it '=x'
    const spec = flagSpecs[name];
    if (spec === undefined) throw flagError(`unknown flag --${name} (see --help)`);
    if (spec.kind === 'bool') {
      if (token.value === undefined) raw.set(name, true);
      else if (token.value === 'true') raw.set(name, true);
      else if (token.value === 'false') raw.delete(name);
      else throw flagError(`--${name} takes no value (or =true/=false), got '${token.value}'`);
      continue;
    }
    // parseArgs takes the next argument as the value even when it is a flag: `--http-port --stateless`.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--'))) throw flagError(`--${name} needs a value`);
    const previous = raw.get(name);
    if (previous !== undefined && !repeatable.has(name)) throw flagError(`--${name} given twice`);
    raw.set(name, [...(Array.isArray(previous) ? previous : []), token.value]);
  }
  return raw;
}

/** MCP_V8_<FLAG> environment variables fill flags the command line did not set. */
function readEnvironment(raw: RawFlags, environment: NodeJS.ProcessEnv): void {
  for (const [name, spec] of Object.entries(flagSpecs)) {
    if (name === 'help' || name === 'version' || raw.has(name)) continue;
    const value = environment[`MCP_V8_${name.toUpperCase().replaceAll('-', '_')}`];
    if (value === undefined || value === '') continue;
    if (spec.kind === 'bool') {
      if (value === 'true' || value === '1') raw.set(name, true);
      else if (value !== 'false' && value !== '0') throw flagError(`MCP_V8_${name.toUpperCase().replaceAll('-', '_')} must be true or false, got '${value}'`);
    } else raw.set(name, [value]);
  }
}

function stringFlag(raw: RawFlags, name: string): string | undefined {
  const value = raw.get(name);
  if (value === undefined || value === true) return undefined;
  const text = value[0]!;
  if (text.trim() === '') throw flagError(`--${name} must not be empty`);
  return text;
}

function listFlag(raw: RawFlags, name: string): string[] {
  const value = raw.get(name);
  return Array.isArray(value) ? value : [];
}

function intFlag(raw: RawFlags, name: string): number | undefined {
  const text = stringFlag(raw, name);
  if (text === undefined) return undefined;
  const spec = flagSpecs[name]!;
  if (!/^\d+$/.test(text)) throw flagError(`--${name} must be a whole number from ${spec.min} to ${spec.max}, got '${text}'`);
  const value = Number(text);
  if (value < spec.min! || value > spec.max!) throw flagError(`--${name} must be from ${spec.min} to ${spec.max}, got ${value}`);
  return value;
}

function resolveAliases(raw: RawFlags): void {
  const heapDir = raw.get('heap-dir');
  if (heapDir !== undefined) {
    if (raw.has('directory-path')) throw flagError('--heap-dir and --directory-path are the same flag; give one');
    raw.set('directory-path', heapDir);
    raw.delete('heap-dir');
  }
  const heapStore = stringFlag(raw, 'heap-store');
  if (heapStore === undefined) return;
  raw.delete('heap-store');
  if (heapStore === 'none') {
    raw.set('stateless', true);
  } else if (heapStore === 'dir') {
    if (!raw.has('directory-path')) raw.set('directory-path', ['/tmp/mcp-v8-heaps']);
  } else if (heapStore === 's3') {
    if (!raw.has('s3-bucket')) throw flagError('--heap-store s3 needs --s3-bucket');
  } else throw flagError(`--heap-store must be none, dir or s3, got '${heapStore}'`);
}

function checkConflicts(raw: RawFlags): void {
  const conflicts: Array<[string, string]> = [
    ['stateless', 's3-bucket'], ['stateless', 'directory-path'], ['s3-bucket', 'directory-path'],
    ['stateless', 'session-db-path'], ['stateless', 'cache-dir'], ['stateless', 'live-heaps-max'], ['stateless', 'live-heaps-memory-mb'], ['http-port', 'sse-port'],
  ];
  for (const [first, second] of conflicts) {
    if (raw.has(first) && raw.has(second)) throw flagError(`--${first} conflicts with --${second}`);
  }
  if (raw.has('cache-dir') && !raw.has('s3-bucket')) throw flagError('--cache-dir requires --s3-bucket');
  if (raw.has('stateless-http') && !raw.has('http-port')) throw flagError('--stateless-http requires --http-port');
  for (const name of raw.keys()) {
    const feature = flagSpecs[name]!.notSupportedYet;
    if (feature !== undefined) throw new McpV8Error('NOT_SUPPORTED', `--${name}: ${feature} is not supported yet by this version of mcp-v8`);
  }
}

function chooseHeapStore(raw: RawFlags): HeapStoreConfig {
  if (raw.has('stateless')) return { kind: 'none' };
  const bucket = stringFlag(raw, 's3-bucket');
  if (bucket !== undefined) return { kind: 's3', bucket, cacheDir: stringFlag(raw, 'cache-dir') ?? null };
  return { kind: 'directory', path: stringFlag(raw, 'directory-path') ?? '/tmp/mcp-v8-heaps' };
}

function chooseTransport(raw: RawFlags, environment: NodeJS.ProcessEnv): Pick<Config, 'transport' | 'port'> {
  const httpPort = intFlag(raw, 'http-port');
  if (httpPort !== undefined) return { transport: 'http', port: httpPort };
  const ssePort = intFlag(raw, 'sse-port');
  if (ssePort !== undefined) return { transport: 'sse', port: ssePort };
  // Hosted platforms hand the port over in $PORT; it turns on the HTTP transport.
  const platformPort = environment.PORT;
  if (platformPort !== undefined && platformPort !== '') {
    raw.set('http-port', [platformPort]);
    return { transport: 'http', port: intFlag(raw, 'http-port')! };
  }
  return { transport: 'stdio', port: null };
}

export type ParseResult = { action: 'run'; config: Config } | { action: 'help'; text: string } | { action: 'version' };

export function parseConfig(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): ParseResult {
  const raw = readArgv(argv);
  if (raw.has('help')) return { action: 'help', text: helpText() };
  if (raw.has('version')) return { action: 'version' };
  readEnvironment(raw, environment);
  resolveAliases(raw);
  checkConflicts(raw);
  const { transport, port } = chooseTransport(raw, environment);
  if (transport !== 'http' && raw.has('mcp-session-idle-timeout')) throw flagError('--mcp-session-idle-timeout applies to Streamable HTTP sessions: it requires --http-port');
  if (transport === 'stdio' && raw.has('mcp-sessions-max')) throw flagError('--mcp-sessions-max requires --http-port or --sse-port');
  const mcpEventBounds = parseMcpEventBounds(raw, transport);
  const logLevel = stringFlag(raw, 'log-level') ?? 'info';
  if (!(logLevels as readonly string[]).includes(logLevel)) throw flagError(`--log-level must be one of ${logLevels.join(', ')}, got '${logLevel}'`);
  const heapStore = chooseHeapStore(raw);
  const nodeId = stringFlag(raw, 'node-id') ?? 'node1';
  const bindHost = stringFlag(raw, 'bind-host') ?? '127.0.0.1';
  const auth = parseAuthConfig({
    list: (name) => { const value = raw.get(name); return Array.isArray(value) ? value : []; },
    string: (name) => stringFlag(raw, name),
    bool: (name) => raw.has(name),
    int: (name) => intFlag(raw, name),
  });
  checkNetworkExposure(auth, bindHost, transport);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(nodeId)) throw flagError(`--node-id must be 1-64 letters, digits, '.', '_' or '-', got '${nodeId}'`);
  const cluster = readClusterFlags(raw, { transport, nodeId, bindHost });
  if (cluster !== null && cluster.secret === null && !isLoopbackName(bindHost) && !auth.allowUnauthenticated) {
    // Without a secret node-to-node traffic (votes, appends, forwarded runs) is not authenticated:
    // a cluster port on the network would run anybody's code, whatever tokens the HTTP port asks for.
    throw flagError(`--cluster-port with --bind-host ${bindHost}: without --cluster-secret (or MCP_V8_CLUSTER_SECRET) the cluster port does not authenticate its peers, so beyond loopback anyone who reaches it could run code; give every node the same secret (e.g. openssl rand -hex 32), or keep the nodes on loopback`);
  }
  return {
    action: 'run',
    config: {
      heapStore,
      stateless: heapStore.kind === 'none',
      transport,
      port,
      bindHost,
      statelessHttp: raw.has('stateless-http'),
      heapMemoryMaxMb: intFlag(raw, 'heap-memory-max') ?? heapMemoryMbDefault,
      executionTimeoutSecs: intFlag(raw, 'execution-timeout') ?? 30,
      maxConcurrentExecutions: intFlag(raw, 'max-concurrent-executions') ?? Math.max(1, os.availableParallelism()),
      retireRssMb: intFlag(raw, 'retire-rss-mb') ?? retireRssMbDefault,
      clientCodeMaxMb: intFlag(raw, 'client-code-max-mb') ?? 64,
      clientOutputMaxMb: intFlag(raw, 'client-output-max-mb') ?? 256,
      liveHeapsMax: intFlag(raw, 'live-heaps-max') ?? liveHeapsMaxDefault,
      liveHeapsMemoryMb: intFlag(raw, 'live-heaps-memory-mb') ?? liveHeapsMemoryMbDefault,
      sessionDbPath: stringFlag(raw, 'session-db-path') ?? '/tmp/mcp-v8-sessions',
      executionDbPath: stringFlag(raw, 'execution-db-path') ?? '/tmp/mcp-v8-executions',
      executionDbPathExplicit: raw.has('execution-db-path'),
      executionOutputMaxMb: intFlag(raw, 'execution-output-max') ?? 1024,
      executionUnwrittenOutputMaxMb: intFlag(raw, 'execution-unwritten-output-max-mb') ?? 64, // storage/execution-store.ts, unwrittenCharsMaxDefault
      sessionDbPathExplicit: raw.has('session-db-path'),
      nodeId,
      logLevel: logLevel as Config['logLevel'],
      httpBodyBytesMax: defaultHttpBodyBytesMax,
      mcpSessionsMax: intFlag(raw, 'mcp-sessions-max') ?? 10_000,
      mcpSessionIdleSecs: intFlag(raw, 'mcp-session-idle-timeout') ?? 3600,
      mcpEventBounds,
      auth,
      cluster,
      capabilities: readPolicyFlags(raw),
      modules: readModulesFlags(raw),
      wasmModules: parseWasmFlags(listFlag(raw, 'wasm-module'), stringFlag(raw, 'wasm-config')),
    },
  };
}

/** The bounds of the events kept for resumable Streamable HTTP streams (src/transport/mcp-events.ts). */
export interface McpEventBounds {
  /** Events kept per stream; the oldest go first. */
  streamEventsMax: number;
  /** Characters of JSON kept per stream. */
  streamCharsMax: number;
  /** Events kept on this node over all sessions. */
  nodeEventsMax: number;
  /** Characters of JSON kept on this node over all sessions. */
  nodeCharsMax: number;
}

/** Hundreds of notifications and an answer of up to 4 Mi characters per stream; 32 Mi characters (at most 64 MiB of strings) per node. */
export const defaultMcpEventBounds: McpEventBounds = { streamEventsMax: 1_000, streamCharsMax: 4 * 1024 * 1024, nodeEventsMax: 50_000, nodeCharsMax: 32 * 1024 * 1024 };

const mcpEventFlags = ['mcp-events-per-stream', 'mcp-events-per-stream-mb', 'mcp-events-per-node', 'mcp-events-per-node-mb'] as const;

/** --mcp-events-*: the bounds of src/transport/mcp-events.ts; a stream's may not exceed the node's. */
function parseMcpEventBounds(raw: RawFlags, transport: Config['transport']): McpEventBounds {
  const given = mcpEventFlags.find((name) => raw.has(name));
  if (given !== undefined && transport !== 'http') throw flagError(`--${given} applies to Streamable HTTP streams: it requires --http-port`);
  if (given !== undefined && raw.has('stateless-http')) throw flagError(`--${given} conflicts with --stateless-http: without sessions no stream can be resumed, so no event is kept`);
  const miChars = 1024 * 1024;
  const mbOf = (name: string, chars: number): number => (intFlag(raw, name) ?? chars / miChars) * miChars;
  const bounds: McpEventBounds = {
    streamEventsMax: intFlag(raw, 'mcp-events-per-stream') ?? defaultMcpEventBounds.streamEventsMax,
    streamCharsMax: mbOf('mcp-events-per-stream-mb', defaultMcpEventBounds.streamCharsMax),
    nodeEventsMax: intFlag(raw, 'mcp-events-per-node') ?? defaultMcpEventBounds.nodeEventsMax,
    nodeCharsMax: mbOf('mcp-events-per-node-mb', defaultMcpEventBounds.nodeCharsMax),
  };
  if (bounds.streamEventsMax > bounds.nodeEventsMax) {
    throw flagError(`--mcp-events-per-stream (${bounds.streamEventsMax}) may be at most --mcp-events-per-node (${bounds.nodeEventsMax}): one stream cannot keep more than the node`);
  }
  if (bounds.streamCharsMax > bounds.nodeCharsMax) {
    throw flagError(`--mcp-events-per-stream-mb (${bounds.streamCharsMax / miChars}) may be at most --mcp-events-per-node-mb (${bounds.nodeCharsMax / miChars}): one stream cannot keep more than the node`);
  }
  return bounds;
}

/** The policy flags (src/policy/capabilities.ts): rules and policies loaded now, so a bad one stops start-up with INVALID_FLAG. */
function readPolicyFlags(raw: RawFlags): PolicyCapabilities | null {
  const fetchHeader = raw.get('fetch-header');
  const flags = {
    policiesJson: stringFlag(raw, 'policies-json'),
    opaUrl: stringFlag(raw, 'opa-url'),
    opaFetchPolicy: stringFlag(raw, 'opa-fetch-policy'),
    fetchHeader: Array.isArray(fetchHeader) ? fetchHeader : undefined,
    fetchHeaderConfig: stringFlag(raw, 'fetch-header-config'),
  };
  if (Object.values(flags).every((value) => value === undefined)) return null;
  return buildPolicyCapabilities(flags);
}

function readModulesFlags(raw: RawFlags): ModulesConfig {
  const cdnUrl = stringFlag(raw, 'module-cdn-url') ?? 'https://esm.sh';
  let parsed: URL | null = null;
  try {
    parsed = new URL(cdnUrl);
  } catch {
    parsed = null;
  }
  if (parsed === null || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.search !== '' || parsed.hash !== '') {
    throw flagError(`--module-cdn-url must be an http(s) URL without query or fragment, like https://esm.sh, got '${cdnUrl}'`);
  }
  return {
    allowExternal: raw.has('allow-external-modules'),
    cdnUrl: cdnUrl.replace(/\/+$/, ''),
    cacheDir: stringFlag(raw, 'module-cache-dir') ?? '/tmp/mcp-v8-modules',
    cacheBytesMax: (intFlag(raw, 'module-cache-max') ?? 512) * 1024 * 1024,
    moduleBytesMax: (intFlag(raw, 'module-size-max') ?? 10) * 1024 * 1024,
    fetchTimeoutMs: (intFlag(raw, 'module-fetch-timeout') ?? 30) * 1000,
  };
}

/** The cluster flags, read here (kinds and ranges) and checked together below. */
function readClusterFlags(raw: RawFlags, node: { transport: Config['transport']; nodeId: string; bindHost: string }): ClusterConfig | null {
  const values: ClusterValues = {};
  for (const name of clusterFlags) {
    const spec = flagSpecs[name]!;
    if (spec.kind === 'bool') values[name] = raw.has(name) ? true : undefined;
    else if (spec.kind === 'int') values[name] = intFlag(raw, name);
    else if (spec.kind === 'list') {
      const list = raw.get(name);
      values[name] = Array.isArray(list) ? list : undefined;
    } else values[name] = stringFlag(raw, name);
  }
  if (values['cluster-port'] !== undefined && raw.has('session-db-path')) {
    throw flagError('--session-db-path does not apply in cluster mode: sessions and tags live in the Raft log (--raft-db-path)');
  }
  if (values['cluster-port'] !== undefined && raw.has('directory-path')) {
    throw flagError('--directory-path does not apply in cluster mode: heap records replicate through the Raft log (or give --s3-bucket for a shared store)');
  }
  return parseClusterConfig(values, node);
}

// ---- cluster flags (src/cluster reads the ClusterConfig; docs/cluster.md) ----

const clusterFlags = [
  'cluster-port', 'peers', 'join', 'advertise-addr', 'heartbeat-interval', 'election-timeout-min', 'election-timeout-max',
  'raft-db-path', 'raft-snapshot-entries', 'raft-snapshot-chunk-bytes', 'cluster-write-timeout', 'raft-lease-reads', 'cluster-secret',
] as const;

/** A peer as --peers names it: its node id when given (`id@host:port`), else learnt from the peer itself. */
export interface PeerSpec {
  readonly nodeId: string | null;
  readonly addr: string;
}

export interface ClusterConfig {
  clusterPort: number;
  /** host:port the other nodes reach this node's cluster port at (null: bind host and the bound port). */
  advertiseAddr: string | null;
  peers: PeerSpec[];
  join: string | null;
  heartbeatIntervalMs: number;
  electionTimeoutMinMs: number;
  electionTimeoutMaxMs: number;
  raftDbPath: string;
  snapshotEntries: number;
  /** --raft-snapshot-chunk-bytes: characters of snapshot data per InstallSnapshot request (src/cluster/snapshot-transfer.ts). */
  snapshotChunkBytes: number;
  writeTimeoutMs: number;
  /** Lease reads (Raft thesis §6.4.1) instead of a ReadIndex heartbeat round per read batch. */
  leaseReads: boolean;
  /** --cluster-secret: every request between nodes is signed with it (src/auth/cluster.ts); null: unsigned (loopback only). */
  secret: string | null;
}

export const clusterDefaults = {
  heartbeatIntervalMs: 100,
  electionTimeoutMinMs: 300,
  electionTimeoutMaxMs: 500,
  snapshotEntries: 4096,
  snapshotChunkBytes: 1024 * 1024,
  writeTimeoutMs: 5000,
} as const;

const nodeIdShape = /^[A-Za-z0-9_.-]{1,64}$/;
const hostPortShape = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** `host:port`, checked; `what` names the flag in the error. */
export function checkHostPort(what: string, text: string): string {
  const match = hostPortShape.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 1 && port <= 65535)) throw flagError(`${what} must be host:port (port 1-65535), got '${text.slice(0, 100)}'`);
  return text;
}

function parsePeers(values: readonly string[]): PeerSpec[] {
  const peers: PeerSpec[] = [];
  for (const part of values.flatMap((value) => value.split(',')).map((item) => item.trim()).filter((item) => item !== '')) {
    const at = part.indexOf('@');
    const nodeId = at === -1 ? null : part.slice(0, at);
    if (nodeId !== null && !nodeIdShape.test(nodeId)) throw flagError(`--peers: '${part.slice(0, 100)}' has a bad node id (1-64 letters, digits, '.', '_' or '-')`);
    peers.push({ nodeId, addr: checkHostPort(`--peers entry '${part.slice(0, 100)}'`, at === -1 ? part : part.slice(at + 1)) });
  }
  const addrs = new Set(peers.map((peer) => peer.addr));
  if (addrs.size !== peers.length) throw flagError('--peers names the same host:port twice');
  const ids = peers.flatMap((peer) => (peer.nodeId === null ? [] : [peer.nodeId]));
  if (new Set(ids).size !== ids.length) throw flagError('--peers names the same node id twice');
  return peers;
}

type ClusterValues = Record<string, string | number | boolean | string[] | undefined>;

function clusterSecretOf(secret: string | undefined): string | null {
  if (secret === undefined) return null;
  // The message names the rule, never the value.
  if (secret.length < clusterSecretCharsMin) throw flagError(`--cluster-secret (or MCP_V8_CLUSTER_SECRET) must have at least ${clusterSecretCharsMin} characters, got ${secret.length} (e.g. openssl rand -hex 32)`);
  return secret;
}

function parseClusterConfig(values: ClusterValues, node: { transport: 'stdio' | 'http' | 'sse'; nodeId: string; bindHost: string }): ClusterConfig | null {
  const clusterPort = values['cluster-port'] as number | undefined;
  if (clusterPort === undefined) {
    const stray = clusterFlags.find((name) => values[name] !== undefined);
    if (stray !== undefined) throw flagError(`--${stray} applies in cluster mode only: it requires --cluster-port`);
    return null;
  }
  if (node.transport === 'stdio') throw flagError('--cluster-port requires --http-port or --sse-port (a cluster node serves MCP over the network)');
  const peers = parsePeers((values.peers as string[] | undefined) ?? []);
  const join = values.join === undefined ? null : checkHostPort('--join', values.join as string);
  if (join !== null && peers.length > 0) throw flagError('--join conflicts with --peers: a joining node learns its peers from the cluster');
  if (peers.some((peer) => peer.nodeId === node.nodeId)) throw flagError(`--peers names this node's own --node-id ${node.nodeId}; list the other nodes only`);
  const advertiseAddr = values['advertise-addr'] === undefined ? null : checkHostPort('--advertise-addr', values['advertise-addr'] as string);
  if (advertiseAddr !== null && peers.some((peer) => peer.addr === advertiseAddr)) throw flagError(`--peers names this node's own --advertise-addr ${advertiseAddr}`);
  if (advertiseAddr === null && clusterPort === 0 && (peers.length > 0 || join !== null)) {
    throw flagError('--cluster-port 0 with --peers or --join needs --advertise-addr (peers must know where to reach this node)');
  }
  const heartbeatIntervalMs = (values['heartbeat-interval'] as number | undefined) ?? clusterDefaults.heartbeatIntervalMs;
  const electionTimeoutMinMs = (values['election-timeout-min'] as number | undefined) ?? Math.max(clusterDefaults.electionTimeoutMinMs, 3 * heartbeatIntervalMs);
  const electionTimeoutMaxMs = (values['election-timeout-max'] as number | undefined) ?? Math.max(electionTimeoutMinMs + 1, Math.min(2 * electionTimeoutMinMs, Math.round(electionTimeoutMinMs * 5 / 3)));
  if (electionTimeoutMinMs <= heartbeatIntervalMs) throw flagError(`--election-timeout-min (${electionTimeoutMinMs} ms) must be above --heartbeat-interval (${heartbeatIntervalMs} ms)`);
  if (electionTimeoutMaxMs < electionTimeoutMinMs) throw flagError(`--election-timeout-max (${electionTimeoutMaxMs} ms) must be at least --election-timeout-min (${electionTimeoutMinMs} ms)`);
  if (electionTimeoutMaxMs > 2 * electionTimeoutMinMs) throw flagError(`--election-timeout-max (${electionTimeoutMaxMs} ms) may be at most 2 x --election-timeout-min (${electionTimeoutMinMs} ms)`);
  return {
    clusterPort,
    advertiseAddr,
    peers,
    join,
    heartbeatIntervalMs,
    electionTimeoutMinMs,
    electionTimeoutMaxMs,
    raftDbPath: (values['raft-db-path'] as string | undefined) ?? `/tmp/mcp-v8-raft-${node.nodeId}`,
    snapshotEntries: (values['raft-snapshot-entries'] as number | undefined) ?? clusterDefaults.snapshotEntries,
    snapshotChunkBytes: (values['raft-snapshot-chunk-bytes'] as number | undefined) ?? clusterDefaults.snapshotChunkBytes,
    writeTimeoutMs: (values['cluster-write-timeout'] as number | undefined) ?? clusterDefaults.writeTimeoutMs,
    leaseReads: values['raft-lease-reads'] === true,
    secret: clusterSecretOf(values['cluster-secret'] as string | undefined),
  };
}


export function helpText(): string {
  const lines = ['Usage: mcp-v8 [flags]', '', 'A JavaScript/TypeScript sandbox for AI agents over MCP (stdio unless --http-port or --sse-port).', '', 'Flags:'];
  for (const [name, spec] of Object.entries(flagSpecs)) {
    const value = spec.kind === 'bool' ? '' : spec.kind === 'int' ? ' <n>' : ' <value>';
    const note = spec.notSupportedYet === undefined ? '' : ' (not supported yet)';
    lines.push(`  --${name}${value}`.padEnd(34) + spec.help + note);
  }
  lines.push('', 'Every flag can also be set as MCP_V8_<FLAG> (e.g. MCP_V8_HTTP_PORT=8080); $PORT turns on HTTP.');
  lines.push('', 'mcp-v8 raft status HOST:PORT | mcp-v8 raft leave HOST:PORT NODE_ID: ask a cluster node (signed with MCP_V8_CLUSTER_SECRET).');
  return lines.join('\n');
}
