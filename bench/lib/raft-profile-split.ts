// Where a Raft append's CPU goes, per process: the samples of V8 CPU profiles (`node --cpu-prof`)
// that fall in a time window (a round of `bench/cluster.ts --in-process --profile DIR`, which
// prints its window in process.hrtime microseconds, the clock V8's profiles keep), sorted into the
// parts of the write path and divided by the appends the round acknowledged.
//   node bench/lib/raft-profile-split.ts --from US --to US --appends N [--detail] FILE.cpuprofile...
// (--detail: each part's five largest leaf functions too.)
// Each sample is given to the first frame, from the leaf up, that a rule below names: so a JSON
// text built by undici's caller counts as JSON, a socket write as sockets, and whatever calls them
// keeps only its own lines. Idle samples are left out; "(program)" is V8/native time no JS frame
// owns (the profiler cannot say whose).
import { readFileSync } from 'node:fs';

interface Frame { functionName: string; url: string }
interface ProfileNode { id: number; callFrame: Frame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number }

/** [part, test on a frame]: the first that matches, from the leaf up, takes the sample. */
const rules: Array<[string, (frame: Frame) => boolean]> = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['V8/native, no JS frame', (f) => f.functionName === '(program)'],
  ['JSON encode/parse', (f) => f.url === '' && (f.functionName === 'stringify' || f.functionName === 'parse')],
  ['wire: body check/encode (src/cluster/wire.ts)', (f) => f.url.includes('src/cluster/wire.ts')],
  ['signing (HMAC)', (f) => f.url.includes('src/auth/cluster') || f.url.includes('node:internal/crypto/hash')],
  ['log records (CRC-32, JSON) and LevelStorage', (f) => f.url.includes('src/raft/level-storage.ts') || f.url === 'node:zlib'],
  ['LevelDB (classic-level, batch, fsync)', (f) => f.url.includes('classic-level') || f.url.includes('abstract-level') || f.url.includes('module-error') || f.url.includes('maybe-combine-errors')],
  ['state machine apply (src/cluster/machine.ts)', (f) => f.url.includes('src/cluster/machine.ts') || f.url.includes('src/storage/session-db.ts')],
  ['driver: Ready, proposals, timings (src/raft/driver.ts)', (f) => f.url.includes('src/raft/driver.ts') || f.url.includes('src/raft/proposals.ts')],
  ['Raft core (src/raft)', (f) => f.url.includes('src/raft/')],
  ['propose path (node.write, proposeHere, withinMs)', (f) => f.url.includes('src/cluster/node.ts') || f.url.includes('src/cluster/replicated.ts') || f.url.includes('src/cluster/propose-batch.ts') || f.functionName === 'randomUUID' || f.url.includes('node:internal/crypto/random')],
  ['peer client (src/cluster/client.ts)', (f) => f.url.includes('src/cluster/client.ts')],
  ['undici', (f) => f.url.includes('undici')],
  ['HTTP server, routes, body read', (f) => f.url.startsWith('node:_http') || f.url === 'node:http' || f.url.includes('src/cluster/routes.ts') || f.url.includes('src/transport/body') || f.url.includes('koa') || f.url.includes('src/auth/host-origin')],
  ['sockets and streams', (f) => f.url === 'node:net' || f.url.includes('stream_base_commons') || f.url.includes('node:internal/streams') || f.url === 'node:stream'],
  ['timers, microtasks, events', (f) => f.url.includes('node:internal/timers') || f.url.includes('task_queues') || f.url === 'node:events' || f.url === 'node:timers' || f.url.includes('async_hooks') || f.functionName === '(anonymous)' && f.url === ''],
  ['the bench\'s writers', (f) => f.url.includes('bench/cluster.ts')],
  ['logging (pino)', (f) => f.url.includes('pino') || f.url.includes('sonic-boom')],
];

function option(name: string): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) throw new Error(`usage: node bench/lib/raft-profile-split.ts --from US --to US --appends N FILE...; --${name} missing`);
  return Number(process.argv[at + 1]);
}

const fromUs = option('from');
const toUs = option('to');
const appends = option('appends');
const detail = process.argv.includes('--detail');
const files = process.argv.slice(2).filter((arg, i, all) => arg.endsWith('.cpuprofile') && !['--from', '--to', '--appends'].includes(all[i - 1]!));

/** Microseconds of samples in the window by part; 'other' keeps the top frames nobody named. */
function split(file: string): { parts: Map<string, number>; others: Map<string, number>; leaves: Map<string, Map<string, number>>; busyUs: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const partOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = partOf.get(id);
    if (known !== undefined) return known;
    let part = 'other';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const rule = rules.find(([, test]) => test(frame));
      if (rule !== undefined) {
        part = rule[0];
        break;
      }
    }
    partOf.set(id, part);
    return part;
  };
  const parts = new Map<string, number>();
  const others = new Map<string, number>();
  /** By part, the leaf functions' time (--detail). */
  const leaves = new Map<string, Map<string, number>>();
  let busyUs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) return;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') return;
    busyUs += delta;
    const part = classify(id);
    parts.set(part, (parts.get(part) ?? 0) + delta);
    const name = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}`;
    if (part === 'other') others.set(name, (others.get(name) ?? 0) + delta);
    let byLeaf = leaves.get(part);
    if (byLeaf === undefined) leaves.set(part, (byLeaf = new Map()));
    byLeaf.set(name, (byLeaf.get(name) ?? 0) + delta);
  });
  return { parts, others, leaves, busyUs };
}

for (const file of files) {
  const { parts, others, leaves, busyUs } = split(file);
  process.stdout.write(`${file}: ${(busyUs / appends).toFixed(1)} µs of sampled CPU per append (${(busyUs / 1e6).toFixed(2)} s busy in the window, ${appends} appends)\n`);
  for (const [part, us] of [...parts].sort((a, b) => b[1] - a[1])) {
    process.stdout.write(`  ${(us / appends).toFixed(1).padStart(7)} µs  ${((100 * us) / busyUs).toFixed(1).padStart(5)} %  ${part}\n`);
    if (detail) process.stdout.write(`      ${[...leaves.get(part)!].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([name, leafUs]) => `${name} ${(leafUs / appends).toFixed(1)}`).join('; ')}\n`);
  }
  const top = [...others].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, us]) => `${name} ${(us / appends).toFixed(1)}`);
  if (top.length > 0) process.stdout.write(`  other, largest (µs per append): ${top.join('; ')}\n`);
}
