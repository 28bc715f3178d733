// The mcp-v8 command: parse flags, start the server, stop cleanly on SIGINT/SIGTERM.
import { raftCommand } from './cluster/operator.ts';
import { parseConfig } from './config.ts';
import { isMcpV8Error } from './errors.ts';
import { tuneGarbageCollection } from './gc-tuning.ts';
import { closeAndExit, createLogger, startServer } from './server.ts';
import { version } from './version.ts';

async function main(): Promise<void> {
  if (process.argv[2] === 'raft') {
    // Operator calls to a cluster port (signed with MCP_V8_CLUSTER_SECRET): src/cluster/operator.ts.
    process.exitCode = await raftCommand(process.argv.slice(3), process.env, (text) => process.stdout.write(text), (text) => process.stderr.write(text));
    return;
  }
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2));
  } catch (error) {
    if (!isMcpV8Error(error)) throw error;
    process.stderr.write(`mcp-v8: ${error.message}\n`);
    process.exit(2);
  }
  if (parsed.action === 'help') {
    process.stdout.write(parsed.text + '\n');
    return;
  }
  if (parsed.action === 'version') {
    process.stdout.write(`mcp-v8 ${version}\n`);
    return;
  }
  const logger = createLogger(parsed.config);
  // The event loop's collections under load (src/gc-tuning.ts).
  tuneGarbageCollection();
  let server;
  try {
    server = await startServer(parsed.config, logger);
  } catch (error) {
    const message = isMcpV8Error(error) ? error.message : (error as Error).message;
    process.stderr.write(`mcp-v8: cannot start: ${message}\n`);
    // A flag found wrong only at start (a --wasm-module name the sandbox already has) is a flag error: status 2.
    process.exit(isMcpV8Error(error) && error.code === 'INVALID_FLAG' ? 2 : 1);
  }
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping');
    closeAndExit(server, logger);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

await main();
