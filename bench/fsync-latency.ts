// How long one fdatasync takes on this disk now: the heap journal's answer waits for one (docs/
// storage.md), so its tail is a floor under a stateful run's time to result. A 600-byte append
// (a small heap record) and an fdatasync every 5 ms, in a fresh folder of the given directory.
//   node bench/fsync-latency.ts [--dir /tmp] [--seconds 10]
import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { numberArg } from './lib/args.ts';

const { values } = parseArgs({ options: { dir: { type: 'string' }, seconds: { type: 'string' } }, strict: true });
const folder = mkdtempSync(join(values.dir ?? '/tmp', 'mcp-v8-fsync-'));
const seconds = numberArg('seconds', values.seconds, 10, 1);
const fd = openSync(join(folder, 'journal'), 'a');
const sync = promisify(fdatasync);
const record = Buffer.alloc(600, 1);
const latenciesMs: number[] = [];
const endMs = Date.now() + seconds * 1000;
try {
  while (Date.now() < endMs) {
    writeSync(fd, record);
    const startMs = performance.now();
    await sync(fd);
    latenciesMs.push(performance.now() - startMs);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
} finally {
  closeSync(fd);
  rmSync(folder, { recursive: true, force: true });
}
latenciesMs.sort((a, b) => a - b);
const at = (share: number): string => latenciesMs[Math.floor(share * (latenciesMs.length - 1))]!.toFixed(2);
process.stdout.write(`fdatasync of a 600-byte append: n ${latenciesMs.length}, p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms\n`);
