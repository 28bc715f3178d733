#!/usr/bin/env node
// Launcher: mcp-v8 needs Node 24 (isolated-vm 7) started with --no-node-snapshot.
// - Node 24 or newer: run the server under this same Node, adding the flag (a second process
//   only when the flag is missing). The `node` package is not used, and need not be installed
//   (`npm install --omit=optional`).
// - An older Node: run it under the Node 24 of the optional `node` dependency, which npm installs
//   by default; without it, say what to install.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, '..', 'dist', 'cli.js');
const major = Number(process.versions.node.split('.')[0]);

/** The Node 24 binary of the optional `node` package, or null when it is not installed. */
function bundledNode() {
  try {
    const require = createRequire(import.meta.url);
    const candidate = join(dirname(require.resolve('node/package.json')), 'bin', 'node');
    return existsSync(candidate) ? candidate : null;
  } catch {
    return null;
  }
}

if (major >= 24 && process.execArgv.includes('--no-node-snapshot')) {
  await import(entry);
} else {
  const nodeBinary = major >= 24 ? process.execPath : bundledNode();
  if (nodeBinary === null) {
    process.stderr.write(`mcp-v8: needs Node.js 24 or newer (this is ${process.version}); install Node 24 LTS, or reinstall mcp-v8 with its optional dependencies (they bring Node 24)\n`);
    process.exit(1);
  }
  const child = spawn(nodeBinary, ['--no-node-snapshot', entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
