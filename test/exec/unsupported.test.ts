// Failures whose V8 text does not name the feature say what it is in the record the agent reads.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { explainFailure } from '../../src/exec/unsupported.ts';
import { serviceForFile } from '../service/harness.ts';

const { service } = await serviceForFile('unsupported', 2);

async function failure(code: string): Promise<string> {
  const record = await service.wait(await service.submit({ code, heapMemoryMaxMb: 8, executionTimeoutSecs: 10 }), 10_000);
  assert.equal(record.status, 'failed', `${code}: ${record.result}`);
  return record.error!;
}

describe('unsupported features are named', () => {
  test('imports are off unless the server allows them: import(), awaited or not, and import statements say so; the stack stays', async () => {
    const disabled = "External module imports are disabled. Cannot import npm package 'npm:lodash'. Start the server with --allow-external-modules to enable.";
    assert.match(await failure("import('npm:lodash').then((m) => m.default)"), new RegExp(`^Error: ${disabled.replace(/[.()']/g, '\\$&')}\n\\s+at main\\.js:1:`));
    assert.equal(await failure("import _ from 'npm:lodash'\n_.chunk([1], 1)"), `Error: ${disabled}`);
    assert.equal(await failure("import fs from 'fs'\nawait fs.promises.readFile('/etc/passwd')"), "Error: Cannot import 'fs': only npm:, jsr:, https:// and http:// specifiers and relative paths can be imported; for an npm package write 'npm:fs'");
    assert.match(await failure("await import('node:fs')"), /^Error: Cannot import 'node:fs': Node\.js built-in modules do not exist in this sandbox\n\s+at main\.js:1:/);
  });

  test('an import statement in code that does not parse gets V8\'s error, explained', async () => {
    assert.match(await failure("import fs from 'fs'\nfs.readFileSync(("), /^SyntaxError: .*/);
  });

  test('a missing Node, browser or network global says what this sandbox is, wherever the code reaches for it', async () => {
    assert.match(await failure("const fs = require('fs')"), /^ReferenceError: require is not defined \(require belongs to Node's module system, which this sandbox does not have; code runs as a classic script: .*\)\n\s+at main\.js:1:12$/);
    assert.match(await failure('process.env.HOME'), /^ReferenceError: process is not defined \(process is a Node\.js global, and this sandbox is not Node\.js: use globalThis, .*; the globals here are V8's built-ins plus console, .*\)\n/);
    assert.match(await failure('await fetch("https://example.com")'), /^ReferenceError: fetch is not defined \(fetch\(\) exists only when the server is started with a fetch policy .*; this one has none, so the sandbox has no network access\)\n    at main\.js:1:1$/, 'one frame: the top-level await wrapper\'s own is left out');
    assert.match(await failure('setTimeout(() => { new CompressionStream(\'gzip\') }, 1)'), /^ReferenceError: CompressionStream is not defined \(CompressionStream is not available in this sandbox; the globals here are .*\)\n/);
    assert.match(await failure('Promise.resolve().then(() => document.title)'), /^ReferenceError: document is not defined \(document is a browser global, and this sandbox is not a browser \(no DOM\); use globalThis\)\n/);
    // The same text thrown by the code itself, or a name the code does not use, is left alone.
    assert.equal(await failure("throw new ReferenceError('pro' + 'cess is not defined')"), 'ReferenceError: process is not defined\n    at main.js:1:7');
    assert.equal(explainFailure('ReferenceError: process is not defined', 'x.process'), 'ReferenceError: process is not defined');
  });

  test('code that catches the rejection completes, and the same text from elsewhere is left as it was', async () => {
    const id = await service.submit({ code: "await import('x').catch((error) => error.message)", heapMemoryMaxMb: 8, executionTimeoutSecs: 10 });
    const record = await service.wait(id, 10_000);
    assert.equal(record.status, 'completed');
    assert.match(record.result ?? '', /^Cannot import 'x': only npm:/);
    assert.equal(await failure("throw new Error('Not supported')"), "Error: Not supported\n    at main.js:1:7");
  });

  test('explainFailure: only the first line changes, and only for a known text with its cause in the code', () => {
    assert.equal(explainFailure(null, 'import("x")'), null);
    assert.equal(explainFailure('Error: Not supported', 'x'), 'Error: Not supported');
    assert.equal(explainFailure('Error: Not supported yet', 'import("x")'), 'Error: Not supported yet');
    assert.match(explainFailure('Error: Not supported\n    at main.js:1:1', 'import ("x")')!, /^Error: Not supported \(dynamic import\(\) .*\)\n    at main\.js:1:1$/);
  });
});
