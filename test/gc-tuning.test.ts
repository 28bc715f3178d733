// The server's V8 flags for its own collections (src/gc-tuning.ts): after tuneGarbageCollection,
// no scavenge hands work to V8's helper threads. Checked in a child process, by what V8 reports of
// every scavenge (--trace-gc-nvp: `background.scavenge.parallel`, the helpers' milliseconds), next
// to the same child without the call, where helpers do take part (so the check can see them).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

const gcTuning = new URL('../src/gc-tuning.ts', import.meta.url).href;
/** Enough young garbage, with survivors, for a few dozen scavenges that each take some time. */
const allocate = `const keep = []; for (let i = 0; i < 4e6; i++) { const o = { i, s: 'x' + i }; if (i % 3 === 0) keep.push(o); if (keep.length > 100000) keep.length = 0; }`;

/** The helpers' milliseconds in each scavenge of a child that runs `source`. */
async function scavengeHelperMs(source: string): Promise<number[]> {
  const child = spawn(process.execPath, ['--trace-gc-nvp', '--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 0, `the child failed: ${err}`);
  const lines = out.split('\n').filter((line) => /\bgc=s\b/.test(line));
  return lines.map((line) => {
    const match = /\bbackground\.scavenge\.parallel=([0-9.]+)/.exec(line);
    assert.ok(match !== null, `a scavenge line names its helpers' time: ${line}`);
    return Number(match[1]);
  });
}

test('after tuneGarbageCollection no scavenge uses helper threads; without it they do', async () => {
  const tuned = await scavengeHelperMs(`import { tuneGarbageCollection } from ${JSON.stringify(gcTuning)}; tuneGarbageCollection(); ${allocate}`);
  assert.ok(tuned.length >= 10, `the workload made ${tuned.length} scavenges`);
  assert.deepEqual(tuned.filter((ms) => ms > 0), [], 'helper time in a tuned process');

  const untuned = await scavengeHelperMs(allocate);
  assert.ok(untuned.length >= 10, `the workload made ${untuned.length} scavenges`);
  assert.ok(untuned.some((ms) => ms > 0), `V8's default lets helpers take part in some scavenge (of ${untuned.length}): the check can see them`);
});
