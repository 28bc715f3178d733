// Wires one node together from a Config: storage, engine, execution service, tools, transport.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';
import { isMcpV8Error } from './errors.ts';
import { createEngine } from './exec/engine.ts';
import { ExecutionService } from './exec/service.ts';
import type { Engine } from './exec/types.ts';
import { Metrics } from './metrics.ts';
import { ExecutionStore } from './storage/execution-store.ts';
import { executionTools } from './tools/execution-tools.ts';
import type { ToolDefinition } from './tools/tool.ts';
import { createHttpApp } from './transport/http-app.ts';
import { serveStdio } from './transport/stdio.ts';

export interface RunningServer {
  /** The bound HTTP port, or null on stdio. */
  port: number | null;
  close(): Promise<void>;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  // Logs go to stderr, never stdout: on stdio, stdout is the JSON-RPC channel.
  return pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Claude Desktop, Claude Code and Cursor may each start a server with the defaults at the same
 * time; LevelDB allows one process per database. The first takes the default path; the others
 * get a database of their own next to it (their records then last as long as that process),
 * and say so. A path given explicitly is never swapped for another.
 */
async function openExecutionStore(config: Config, logger: Logger): Promise<ExecutionStore> {
  try {
    return await ExecutionStore.open({ path: config.executionDbPath, logger });
  } catch (error) {
    if (config.executionDbPathExplicit || !isMcpV8Error(error) || error.code !== 'STORAGE_LOCKED') throw error;
    const path = `${config.executionDbPath}-${process.pid}`;
    logger.warn({ defaultPath: config.executionDbPath, path }, 'the default execution database is in use by another mcp-v8; using a database of this process (pass --execution-db-path to choose)');
    return ExecutionStore.open({ path, logger });
  }
}

export async function startServer(config: Config, logger: Logger = createLogger(config)): Promise<RunningServer> {
  const store = await openExecutionStore(config, logger);
  let engine: Engine;
  try {
    engine = await createEngine({ maxConcurrentExecutions: config.maxConcurrentExecutions, logger });
  } catch (error) {
    await store.close();
    throw error;
  }
  const metrics = new Metrics();
  const service = new ExecutionService({ engine, store, metrics, nodeId: config.nodeId });
  const tools: ToolDefinition[] = executionTools(service, config);
  const shutdown = async (closeTransport: () => Promise<void>) => {
    await closeTransport();
    await service.close();
    await engine.close();
    await store.close();
  };

  if (config.transport === 'stdio') {
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= shutdown(async () => {}));
    await serveStdio({ tools, logger, onClose: () => { void close().then(() => process.exit(0)); } });
    logger.info({ mode: config.stateless ? 'stateless' : 'stateful' }, 'mcp-v8 serving MCP on stdio');
    return { port: null, close };
  }

  const { app, close: closeApp } = createHttpApp({ config, tools, engine, metrics, logger });
  const httpServer = createServer(app.callback());
  httpServer.keepAliveTimeout = 65_000;
  const port = await listen(httpServer, config.port!, config.bindHost);
  if (!loopbackHosts.has(config.bindHost)) {
    logger.warn({ host: config.bindHost }, 'listening beyond loopback with no authentication: anyone who can reach this port can run code');
  }
  logger.info({ transport: config.transport, host: config.bindHost, port }, 'mcp-v8 listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () => (closing ??= shutdown(async () => {
      await closeApp();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    })),
  };
}
