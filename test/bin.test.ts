// The published command: `mcp-v8` (bin/mcp-v8.js) runs the built server under Node 24 with
// --no-node-snapshot, whatever Node started it — the machine's older Node included.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from './support/server-process.ts';

const run = promisify(execFile);
const bin = join(repoRoot, 'bin', 'mcp-v8.js');
// The machine's own Node (v20 on these machines) when there is one, else this Node 24 without
// the snapshot flag: either way the launcher must start the server under the right Node itself.
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => existsSync(path)) ?? process.execPath;

describe('the mcp-v8 launcher', () => {
  before(() => {
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
    assert.equal(build.status, 0, 'npm run build');
  });

  test('--version and --help answer on stdout', async () => {
    const version = await run(systemNode, [bin, '--version'], { cwd: repoRoot });
    assert.match(version.stdout, /^mcp-v8 \d+\.\d+\.\d+\n$/);
    const help = await run(systemNode, [bin, '--help'], { cwd: repoRoot });
    assert.match(help.stdout, /--heap-memory-max/);
  });

  test('under Node 24 without --no-node-snapshot it runs on that same Node, adding the flag', async () => {
    const version = await run(process.execPath, [bin, '--version'], { cwd: repoRoot });
    assert.match(version.stdout, /^mcp-v8 \d+\.\d+\.\d+\n$/);
  });

  test('serves MCP on stdio under Node 24, started from the system Node', async () => {
    const child = spawnSync(systemNode, [bin, '--stateless', '--execution-db-path', tempDir('bin')], {
      cwd: repoRoot,
      input: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bin-test', version: '1' } } }) + '\n',
      encoding: 'utf8',
      timeout: 30_000,
    });
    const answer = JSON.parse(child.stdout.split('\n')[0]!) as { result: { serverInfo: { name: string } } };
    assert.equal(answer.result.serverInfo.name, 'mcp-v8');
    assert.equal(child.status, 0, child.stderr);
  });

  test('a bad flag exits 2 through the launcher too', async () => {
    const result = spawnSync(systemNode, [bin, '--execution-timeout', '0'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'mcp-v8: --execution-timeout must be from 1 to 300, got 0\n');
  });
});
