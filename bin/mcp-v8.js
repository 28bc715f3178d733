#!/usr/bin/env node
// Launcher: mcp-v8 needs Node 24 (isolated-vm 7) started with --no-node-snapshot. When this
// Node is older, or lacks the flag, run the server under the right Node: the one the package
// brings (the `node` dependency), else this one if it is new enough. Otherwise say what to install.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, '..', 'dist', 'cli.js');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24 && process.execArgv.includes('--no-node-snapshot')) {
  await import(entry);
} else {
  let nodeBinary = null;
  try {
    const require = createRequire(import.meta.url);
    const candidate = join(dirname(require.resolve('node/package.json')), 'bin', 'node');
    if (existsSync(candidate)) nodeBinary = candidate;
  } catch {}
  if (nodeBinary === null && major >= 24) nodeBinary = process.execPath;
  if (nodeBinary === null) {
    process.stderr.write(`mcp-v8: needs Node.js 24 or newer (this is ${process.version}); install Node 24 LTS, or reinstall mcp-v8 so its bundled Node is present\n`);
    process.exit(1);
  }
  const child = spawn(nodeBinary, ['--no-node-snapshot', entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
