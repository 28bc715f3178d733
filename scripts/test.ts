// `npm test`: the type check, then every test file under test/ with node:test. Test files run in
// parallel processes (two, for this machine's two cores) and each starts with --no-node-snapshot.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function testFiles(directory: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(directory).sort()) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) files.push(...testFiles(path));
    else if (name.endsWith('.test.ts')) files.push(path);
  }
  return files;
}

const filter = process.argv.slice(2);
// Two programs: the host's (tsconfig.json), and the sandbox's (tsconfig.sandbox.json: the
// JavaScript that runs inside the isolate, checked with its JSDoc types, without Node's types).
for (const project of ['tsconfig.json', 'tsconfig.sandbox.json']) {
  const typecheck = spawnSync('tsc', ['-p', project], { stdio: 'inherit', shell: false });
  if (typecheck.status !== 0) {
    process.stderr.write(`type check failed (${project})\n`);
    process.exit(typecheck.status ?? 1);
  }
}
const files = testFiles('test').filter((file) => filter.length === 0 || filter.some((part) => file.includes(part)));
// The S3 tests start a real S3 server (OpenStack Swift) from Debian's packages. Without them,
// say so now, in one line, instead of after every other test has run.
const needSwift = files.some((file) => readFileSync(file, 'utf8').includes('fixtures/swift.ts'));
const missing = ['swift-proxy-server', 'swift-ring-builder'].filter((binary) => spawnSync('which', [binary]).status !== 0);
if (needSwift && missing.length > 0) {
  process.stderr.write(`${missing.join(', ')} not installed: the S3 tests need OpenStack Swift. Run \`bash .ci/run\` (what CI runs: it installs it), or apt-get install swift swift-proxy swift-account swift-container swift-object\n`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// The longest test takes ≈ 30 s here; one that hangs fails after 3 minutes with its name, rather
// than holding CI until its 90-minute limit, and --test-force-exit ends its file even when what
// the hung test started (a server process) would keep it alive.
const testTimeoutMs = 180_000;
const run = spawnSync(process.execPath, ['--no-node-snapshot', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${testTimeoutMs}`, '--test-force-exit', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
