// Pre-loaded WebAssembly modules through a real MCP client (the SDK's Client over stdio, the
// server a real process): the README's SQLite example in stateless and stateful mode, a stateful
// SQLite database that survives a restart (its history replayed), and a heap that used a module
// resumed where that module is changed or missing: a clear error, never a silent divergence.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { runAndWait } from '../support/mcp-client.ts';
import { repoRoot, runToExit, serverCommand, tempDir } from '../support/server-process.ts';
import { readmeSqlite, addModule, subModule, writeWasmFiles } from '../support/wasm-files.ts';

execFileSync('sh', [join(repoRoot, 'examples/sqlite-wasm/build.sh')], { stdio: 'ignore' });
const sqliteConfig = join(repoRoot, 'examples/sqlite-wasm/wasm-config.json');
const folder = writeWasmFiles({ 'add.wasm': addModule, 'sub.wasm': subModule });
const clients: Client[] = [];
after(async () => { for (const client of clients) await client.close(); });

async function connect(args: string[]): Promise<Client> {
  const { command, args: full } = serverCommand(args);
  const client = new Client({ name: 'wasm-modules-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args: full, stderr: 'ignore' }));
  clients.push(client);
  return client;
}

function statefulArgs(root: string): string[] {
  return ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions'), '--execution-db-path', join(root, 'executions')];
}

describe('pre-loaded WebAssembly modules over MCP', () => {
  test('a bad module stops the start with status 2 and one line naming the flag and the module', async () => {
    const bad = writeWasmFiles({ 'bad.wasm': 'not wasm' });
    const cases: Array<[string[], RegExp]> = [
      [['--wasm-module', `console=${folder}/add.wasm`], /^mcp-v8: cannot start: --wasm-module console: 'console' is already a global of the sandbox; choose another name$/m],
      [['--wasm-module', `math=${bad}/bad.wasm`], /^mcp-v8: --wasm-module math: .*bad\.wasm is not a valid WebAssembly module/m],
      [['--wasm-module', `math=${folder}/add.wasm`, '--wasm-config', sqliteConfig, '--wasm-module', `sqlite=${folder}/add.wasm`], /^mcp-v8: --wasm-config sqlite: the name is given twice \(also by --wasm-module\)/m],
    ];
    for (const [args, line] of cases) {
      const exited = await runToExit(['--stateless', '--execution-db-path', tempDir('wasm-bad'), ...args]);
      assert.equal(exited.code, 2, exited.stderr);
      assert.match(exited.stderr, line);
    }
  });

  test('stateless: the README\'s SQLite example and a module\'s exports as a global', async () => {
    const client = await connect(['--stateless', '--execution-db-path', tempDir('wasm-stateless'), '--wasm-config', sqliteConfig, '--wasm-module', `math=${folder}/add.wasm`]);
    const ran = await runAndWait(client, readmeSqlite);
    assert.equal(ran.status, 'completed', String(ran.error));
    assert.equal(ran.result, '[{"id":1,"name":"Alice","age":30}]');
    assert.equal((await runAndWait(client, 'math.add(21, 21)')).result, '42');
    // Stateless: the next run starts fresh, without the last run's database.
    assert.equal((await runAndWait(client, 'typeof db')).result, 'undefined');
  });

  test('stateful: the database lives on in the heap, also after a restart replays its history', async () => {
    const root = tempDir('wasm-stateful');
    const args = [...statefulArgs(root), '--wasm-config', sqliteConfig];
    const first = await connect(args);
    const made = await runAndWait(first, `var db = new SQLite();
      db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
      db.exec("INSERT INTO users (name, age) VALUES ('Alice', 30)");`);
    assert.equal(made.status, 'completed', String(made.error));
    const more = await runAndWait(first, 'db.exec("INSERT INTO users (name, age) VALUES (\'Bob\', 25)"); JSON.stringify(db.query("SELECT name FROM users").rows)', { heap: made.heap });
    assert.equal(more.result, '[{"name":"Alice"},{"name":"Bob"}]');
    await first.close();
    const second = await connect(args);
    const resumed = await runAndWait(second, 'JSON.stringify(db.query("SELECT name, age FROM users ORDER BY id").rows)', { heap: more.heap });
    assert.equal(resumed.status, 'completed', String(resumed.error));
    assert.equal(resumed.result, '[{"name":"Alice","age":30},{"name":"Bob","age":25}]');
  });

  test('stateful: a heap that used a module does not resume where the module changed or is missing', async () => {
    const root = tempDir('wasm-changed');
    const first = await connect([...statefulArgs(root), '--wasm-module', `math=${folder}/add.wasm`]);
    const made = await runAndWait(first, 'var x = math.add(5, 3); x');
    assert.equal(made.result, '8');
    const unrelated = await runAndWait(first, 'var y = 1; y');
    await first.close();

    const changed = await connect([...statefulArgs(root), '--wasm-module', `math=${folder}/sub.wasm`]);
    const refused = await runAndWait(changed, 'x', { heap: made.heap });
    assert.equal(refused.status, 'failed');
    assert.match(String(refused.error), new RegExp(`^Could not resume heap ${made.heap}: run 1 of 1 \\(heap ${made.heap}\\) cannot be replayed here: it used the pre-loaded WebAssembly module 'math' with sha256 [0-9a-f]{64}, but this server loads .*sub\\.wasm with sha256 [0-9a-f]{64}`));
    // A heap that never touched the module resumes on this server all the same.
    assert.equal((await runAndWait(changed, 'y + math.add(5, 3)', { heap: unrelated.heap })).result, '3');
    await changed.close();

    const without = await connect(statefulArgs(root));
    const missing = await runAndWait(without, 'x', { heap: made.heap });
    assert.equal(missing.status, 'failed');
    assert.match(String(missing.error), /it used the pre-loaded WebAssembly module 'math' \(sha256 [0-9a-f]{64}\), which this server does not load; start it with --wasm-module math=<the same file>/);
  });
});
