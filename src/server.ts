// Wires one node together from a Config: storage, engine, execution service, tools, transport.
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { authEnabled, isLoopbackName } from './auth-config.ts';
import { loggableUrl } from './auth/jwt.ts';
import { withTenancy } from './auth/tenants.ts';
import type { Config } from './config.ts';
import { isMcpV8Error } from './errors.ts';
import { createEngine } from './exec/engine.ts';
import { isolatedVmBuild } from './exec/isolated-vm-build.ts';
import { isolateCounts, isolatesOffLoop } from './exec/isolate-lifecycle.ts';
import { ModuleLoader } from './exec/modules.ts';
import { HeapService } from './service/heaps.ts';
import { ExecutionService } from './service/executions.ts';
import type { Engine } from './exec/types.ts';
import { Metrics } from './metrics.ts';
import { ExecutionStore } from './storage/execution-store.ts';
import { openHeapStore, type HeapStore } from './storage/heap-store.ts';
import { DirectoryHeapStore } from './storage/directory-heap-store.ts';
import { SessionDb } from './storage/session-db.ts';
import { executionTools } from './tools/execution-tools.ts';
import { heapTools } from './tools/heap-tools.ts';
import { describeHeapTool } from './tools/describe-heap-tool.ts';
import { HeapDescriber } from './service/describe-heap.ts';
import type { ToolDefinition } from './tools/tool.ts';
import { createHttpApp } from './transport/http-app.ts';
import { serveStdio } from './transport/stdio.ts';
import { createMcpExtras } from './transport/mcp-extras.ts';
import { startCluster, type RunningCluster } from './cluster/start.ts';

export interface RunningServer {
  /** The bound HTTP port, or null on stdio. */
  port: number | null;
  close(): Promise<void>;
  /** Isolate threads lost until the process exits (the engine's `stuckIsolates`). */
  stuckIsolates(): number;
}

async function closeHeaps(heaps: HeapService | null): Promise<void> {
  if (heaps === null) return;
  await heaps.sessions.close();
  await heaps.store.close();
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  // Logs go to stderr, never stdout: on stdio, stdout is the JSON-RPC channel.
  return pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** Listens on `host`:`port`; a failure names the flag to change (`portFlag`: --http-port or --sse-port). */
function listen(server: Server, port: number, host: string, portFlag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(new Error(listenFailure(error, port, host, portFlag), { cause: error }));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function listenFailure(error: NodeJS.ErrnoException, port: number, host: string, portFlag: string): string {
  switch (error.code) {
    case 'EADDRINUSE': return `${portFlag} ${port}: the port is in use on ${host} by another process (choose another, or 0 for any free port)`;
    case 'EACCES': return `${portFlag} ${port}: permission denied (ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL': return `--bind-host ${host}: not an address of this machine`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return `--bind-host ${host}: no such host`;
    default: return `cannot listen on ${host}:${port}: ${error.message}`;
  }
}

/**
 * Claude Desktop, Claude Code and Cursor may each start a server with the defaults at the same
 * time; LevelDB allows one process per database. The first takes the default path; the others
 * get a database of their own next to it (their records then last as long as that process:
 * `ownPaths` collects it, and the server deletes it when it stops), and say so. A path given
 * explicitly is never swapped for another.
 */
async function openDefaultOrOwn<Database>(
  options: { path: string; explicit: boolean; what: string; flag: string },
  open: (path: string) => Promise<Database>,
  logger: Logger,
  ownPaths: string[],
): Promise<Database> {
  try {
    return await open(options.path);
  } catch (error) {
    if (options.explicit || !isMcpV8Error(error) || error.code !== 'STORAGE_LOCKED') throw error;
    const path = `${options.path}-${process.pid}`;
    logger.warn({ defaultPath: options.path, path }, `the default ${options.what} is in use by another mcp-v8; using a database of this process, deleted when it stops (pass ${options.flag} to choose)`);
    const database = await open(path);
    ownPaths.push(path);
    return database;
  }
}

/** What /metrics reads of the engine and the heaps; a warning when V8 builds isolates on the event loop. */
function countForMetrics(metrics: Metrics, engine: Engine, heaps: HeapService | null, logger: Logger): void {
  if (heaps !== null) metrics.countHeapResumes(() => heaps.resumes);
  if (heaps !== null) metrics.countLiveHeaps(() => ({ count: engine.live.size, bytes: engine.live.heapBytes, bytesMax: engine.live.bytesMax, evictions: engine.live.evictions }));
  const journal = heaps !== null && heaps.store instanceof DirectoryHeapStore ? heaps.store.journal : null;
  if (journal !== null) metrics.countHeapJournal(() => journal.stats);
  metrics.countIsolatesRetired(() => engine.isolatesRetired);
  metrics.countIsolateLifecycle(() => isolateCounts);
  if (!isolatesOffLoop) logger.warn('isolated-vm is not the patched build: isolates are made and disposed on the event loop (≈ 3 ms of it each; npm rebuild isolated-vm, docs/exec.md "Isolates made and disposed off the event loop")');
}

/** Deletes the databases of this process only (see openDefaultOrOwn), once they are closed. */
async function removeOwnPaths(ownPaths: readonly string[], logger: Logger): Promise<void> {
  for (const path of ownPaths) {
    await rm(path, { recursive: true, force: true }).catch((error: unknown) => logger.warn({ err: error, path }, 'could not delete the database of this process'));
  }
}

function openExecutionStore(config: Config, logger: Logger, ownPaths: string[]): Promise<ExecutionStore> {
  return openDefaultOrOwn(
    { path: config.executionDbPath, explicit: config.executionDbPathExplicit, what: 'execution database', flag: '--execution-db-path' },
    (path) => ExecutionStore.open({ path, logger, outputBytesMax: config.executionOutputMaxMb * 1024 * 1024, unwrittenCharsMax: config.executionUnwrittenOutputMaxMb * 2 ** 20 }),
    logger,
    ownPaths,
  );
}

/** Stateful mode: the heap store and the session database (nothing is opened with --stateless). */
async function openHeaps(config: Config, logger: Logger, ownPaths: string[], cluster: RunningCluster | null): Promise<HeapService | null> {
  const choice = config.heapStore;
  if (choice.kind === 'none') return null;
  if (cluster !== null) {
    // Cluster mode: sessions and tags are the Raft log's state machine, and so are heap records
    // unless --s3-bucket holds them (src/cluster/replicated.ts).
    logger.info({ heapStore: choice.kind === 's3' ? choice : 'raft log' }, 'stateful cluster mode: sessions, tags and heaps replicated');
    return new HeapService({ store: await cluster.openHeapStore(), sessions: cluster.sessions, logger });
  }
  const store: HeapStore = await openHeapStore(choice.kind === 'directory' ? { kind: 'directory', path: choice.path } : { kind: 's3', bucket: choice.bucket, cacheDir: choice.cacheDir });
  let sessions: SessionDb;
  try {
    sessions = await openDefaultOrOwn(
      { path: config.sessionDbPath, explicit: config.sessionDbPathExplicit, what: 'session database', flag: '--session-db-path' },
      (path) => SessionDb.open(path, logger),
      logger,
      ownPaths,
    );
  } catch (error) {
    await store.close();
    throw error;
  }
  logger.info({ heapStore: choice }, 'stateful mode: heaps and sessions opened');
  return new HeapService({ store, sessions, logger });
}

/** Stops the server, then the process: exit 0, or 1 with the reason logged when stopping failed. */
export function closeAndExit(server: Pick<RunningServer, 'close' | 'stuckIsolates'>, logger: Logger, exitCode = 0): void {
  void server.close().then(() => exitProcess(exitCode, server.stuckIsolates(), logger), (error: unknown) => {
    logger.error({ err: error }, 'stopping failed');
    exitProcess(1, server.stuckIsolates(), logger);
  });
}

/** How long the process may take to die of its own SIGTERM before it sends itself SIGKILL. */
const selfTerminateMsMax = 5_000;

/**
 * `process.exit` runs isolated-vm's exit handler, which joins every isolate thread: one that
 * never ends (stuck in a loop V8 does not interrupt, or parked after V8 ran out of memory) would
 * hold the exit forever. With such threads the process ends by SIGTERM instead, after the stores
 * have closed: the default action ends every thread at once, and service managers count death by
 * SIGTERM as a clean stop.
 */
function exitProcess(code: number, stuckIsolates: number, logger: Logger): void {
  if (stuckIsolates === 0) process.exit(code);
  // A failure (a node that retired itself, stores that did not close) must read as one to a
  // supervisor (systemd's Restart=on-failure ignores death by SIGTERM): SIGKILL then.
  const signal = code === 0 ? 'SIGTERM' : 'SIGKILL';
  const terminate = () => {
    process.removeAllListeners('SIGTERM');
    process.kill(process.pid, signal);
  };
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), selfTerminateMsMax);
  // The log's destination writes asynchronously (pino's flush does not wait for a write under
  // way): it says 'drain' once this last line, and all before it, are written.
  const destination = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (destination instanceof EventEmitter) destination.once('drain', terminate);
  logger.warn({ stuckIsolates, exitCode: code }, `isolate threads that never end cannot be joined at exit: the process ends by ${signal}`);
  if (!(destination instanceof EventEmitter)) terminate();
}

/** Says so at start when isolated-vm is the prebuilt without our patch (docs/exec.md, "Limits"). */
function warnIfUnpatched(logger: Logger): void {
  const ivm = isolatedVmBuild();
  if (!ivm.patched) {
    logger.warn({ why: ivm.why }, 'isolated-vm is the unpatched prebuilt: a stopped run whose thrown value or rejection reason has a getter or proxy trap that never returns keeps an isolate thread busy until restart (the run still ends, 2 s late; /healthz then says degraded)');
  }
}

/** The engine with what the sandbox may reach (policies, imports) as the flags configure it. */
async function startEngine(config: Config, logger: Logger, onRetire: () => void): Promise<Engine> {
  const modules = new ModuleLoader({ ...config.modules, ...(config.capabilities?.modules === undefined ? {} : { modulePolicy: config.capabilities.modules }) });
  const engine = await createEngine({ maxConcurrentExecutions: config.maxConcurrentExecutions, stuckRssBytesMax: config.retireRssMb * 2 ** 20, logger, warmMemoryMb: config.heapMemoryMaxMb, onRetire, liveHeapsMax: config.liveHeapsMax, liveHeapBytesMax: config.liveHeapsMemoryMb * 2 ** 20, capabilities: config.capabilities, modules, wasmModules: config.wasmModules });
  if (config.capabilities !== null) logger.info({ policies: config.capabilities.summary }, 'sandbox capabilities: fetch/fs/imports gated by these policies (header values redacted)');
  return engine;
}

export async function startServer(config: Config, logger: Logger = createLogger(config)): Promise<RunningServer> {
  // Sandboxed code sees one time zone wherever it runs, so a heap replays the same on any node.
  process.env.TZ = 'UTC';
  const ownPaths: string[] = [];
  const s3 = config.heapStore.kind === 's3' ? { bucket: config.heapStore.bucket, cacheDir: config.heapStore.cacheDir } : null;
  const cluster = config.cluster === null ? null : await startCluster({ nodeId: config.nodeId, bindHost: config.bindHost, allowedHosts: config.auth.allowedHosts, s3, cluster: config.cluster }, logger);
  let store: ExecutionStore;
  try {
    store = await openExecutionStore(config, logger, ownPaths);
  } catch (error) {
    await cluster?.close();
    await removeOwnPaths(ownPaths, logger);
    throw error;
  }
  let heaps: HeapService | null;
  let engine: Engine;
  try {
    heaps = await openHeaps(config, logger, ownPaths, cluster);
  } catch (error) {
    await store.close();
    await cluster?.close();
    await removeOwnPaths(ownPaths, logger);
    throw error;
  }
  // The engine retires the node past its bound on isolate threads V8 cannot stop: it exits once
  // the runs under way end (at most retireDrainMsMax), for its supervisor to restart it.
  let retire = () => {};
  warnIfUnpatched(logger);
  try {
    engine = await startEngine(config, logger, () => retire());
  } catch (error) {
    await store.close();
    await closeHeaps(heaps);
    await cluster?.close();
    await removeOwnPaths(ownPaths, logger);
    throw error;
  }
  const metrics = new Metrics();
  countForMetrics(metrics, engine, heaps, logger);
  const service = new ExecutionService({ engine, store, metrics, nodeId: config.nodeId, heaps, logger, clientCodeCharsMax: config.clientCodeMaxMb * 2 ** 20, clientOutputCharsMax: config.clientOutputMaxMb * 2 ** 20 });
  cluster?.attach(service);
  const ownTools: ToolDefinition[] = [...executionTools(service, config), ...(heaps === null ? [] : [...heapTools(heaps), describeHeapTool(new HeapDescriber(service, heaps))])];
  const tools = authEnabled(config.auth)
    ? withTenancy(ownTools, { service, shareHeaps: config.auth.shareHeaps, principalExecutionsMax: config.auth.principalExecutionsMax })
    : ownTools;
  const extras = createMcpExtras(service, config);
  const shutdown = async (closeTransport: () => Promise<void>) => {
    await closeTransport();
    await service.close();
    await engine.close();
    await store.close();
    await closeHeaps(heaps);
    await cluster?.close();
    await removeOwnPaths(ownPaths, logger);
  };

  const retireWhenDrained = (running: RunningServer) => {
    retire = () => void drained(engine, service).then(() => closeAndExit(running, logger, retiredExitCode));
  };
  if (config.transport === 'stdio') {
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= shutdown(async () => {}));
    const stuckIsolates = () => engine.stuckIsolates;
    retireWhenDrained({ port: null, close, stuckIsolates });
    await serveStdio({ tools, logger, extras, onClose: () => closeAndExit({ close, stuckIsolates }, logger) });
    logger.info({ mode: config.stateless ? 'stateless' : 'stateful' }, 'mcp-v8 serving MCP on stdio');
    return { port: null, close, stuckIsolates };
  }

  const { app, close: closeApp, serveForwardedMcp } = createHttpApp({ config, tools, node: service, metrics, logger, extras, ...(cluster === null ? {} : { cluster: () => cluster.status(), mcpPeers: cluster.mcpPeers }) });
  cluster?.attachMcp(serveForwardedMcp);
  const httpServer = createServer(app.callback());
  httpServer.keepAliveTimeout = 65_000;
  const port = await listen(httpServer, config.port!, config.bindHost, config.transport === 'sse' ? '--sse-port' : '--http-port');
  if (!isLoopbackName(config.bindHost) && !authEnabled(config.auth)) {
    // Only with --allow-unauthenticated (config.ts refuses to start otherwise).
    logger.warn({ host: config.bindHost }, 'listening beyond loopback with no authentication (--allow-unauthenticated): anyone who can reach this port can run code unless a proxy in front authenticates');
  }
  if (authEnabled(config.auth)) {
    logger.info({ tokens: config.auth.tokens.map((token) => token.name), jwt: config.auth.jwt === null ? null : { issuer: config.auth.jwt.issuer, audience: config.auth.jwt.audience, jwksUrl: loggableUrl(config.auth.jwt.jwksUrl) } }, 'access control on: every request but /healthz needs a bearer token');
  }
  logger.info({ transport: config.transport, host: config.bindHost, port }, 'mcp-v8 listening');
  let closing: Promise<void> | undefined;
  const running: RunningServer = {
    port,
    close: () => (closing ??= shutdown(async () => {
      await closeApp();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    })),
    stuckIsolates: () => engine.stuckIsolates,
  };
  retireWhenDrained(running);
  return running;
}

/** The exit code of a node that retired itself (its stuck isolates' bound): EX_TEMPFAIL, restart it. */
export const retiredExitCode = 75;
/** A retiring node waits this long at most for the runs under way before it exits. */
export const retireDrainMsMax = 30_000;

/** Resolves when no run is under way any more, or after retireDrainMsMax. */
async function drained(engine: Engine, service: ExecutionService): Promise<void> {
  const deadline = Date.now() + retireDrainMsMax;
  // The service too: a run the engine has finished may still be writing its record, and a
  // client waiting for it (wait_ms) must get its answer before the transport closes.
  while ((engine.runningCount > 0 || service.liveExecutions > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}
