// Heap bytes per new context, part by part (issue 23): the sandbox files added one at a time in
// their order (and the prelude's parts one at a time with --parts), each snapshot's
// `used_heap_size` per context (bench/lib/context-bytes.ts). Bytes do not depend on the machine's
// load, so one run suffices; what a part adds is the difference to the line above it.
//   node --no-node-snapshot bench/context-parts.ts [--parts] [--sandbox DIR] (DIR: another checkout's src/exec/sandbox)
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import ivm from 'isolated-vm';
import { preludeParts, sandboxFiles } from '../src/exec/isolate-pool.ts';
import { heapBytesPerContext } from './lib/context-bytes.ts';

const { values } = parseArgs({ options: { parts: { type: 'boolean' }, sandbox: { type: 'string' } }, strict: true });
const directory = new URL(values.sandbox === undefined ? '../src/exec/sandbox/' : `file://${values.sandbox.replace(/\/?$/, '/')}`, import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, directory), 'utf8');
const sourceOf = (files: string[], parts: string[]): string => files
  .map((name) => (name === 'prelude' ? `(function () {\n'use strict';\n${parts.map((part) => read(`prelude/${part}`)).join('\n')}\n})();` : read(name)))
  .join('\n');

async function kibPerContext(source: string | null): Promise<number> {
  const snapshot = source === null ? undefined : ivm.Isolate.createSnapshot([{ code: source, filename: 'mcp-v8:prelude' }]);
  const isolate = new ivm.Isolate({ memoryLimit: 128, ...(snapshot === undefined ? {} : { snapshot }) });
  try {
    return (await heapBytesPerContext(isolate)) / 1024;
  } finally {
    isolate.dispose();
  }
}

let previous = await kibPerContext(null);
process.stdout.write(`plain isolate (the raw floor): ${previous.toFixed(1)} KiB\n`);
const line = async (name: string, files: string[], parts: string[]) => {
  const kib = await kibPerContext(sourceOf(files, parts));
  process.stdout.write(`+ ${name}: ${kib.toFixed(1)} KiB (+${(kib - previous).toFixed(1)})\n`);
  previous = kib;
};
for (let index = 0; index < sandboxFiles.length; index++) {
  const files = sandboxFiles.slice(0, index + 1);
  const name = sandboxFiles[index]!;
  if (name === 'prelude' && values.parts === true) {
    for (let part = 0; part < preludeParts.length; part++) await line(`prelude/${preludeParts[part]}`, files, preludeParts.slice(0, part + 1));
  } else await line(name, files, files.includes('prelude') ? preludeParts : []);
}
