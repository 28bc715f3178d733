// What installing a cluster snapshot costs the node's memory and time (issue 21: "stream/parse it
// in bounded memory, and state the bound"): a snapshot of N heap records (~330 bytes each, one
// session entry each) is written to a file, then each round starts a fresh process that reads it
// as the snapshot receiver hands it to the core (one string) and times ClusterMachine.restore,
// reporting the growth of the process's peak RSS over the string alone; `install` also persists it
// first as the core does (LevelStorage.save of the snapshot record, then restore). Rounds alternate
// with a floor (JSON.parse and the maps, no check) so the machine's noise shows: A B C A B C.
//   node bench/snapshot-install.ts [records=200000] [rounds=4] [--src <another checkout's src>]
// `--src` restores with another build's machine (an A/B against main: `git archive main src` into a
// folder beside a node_modules link, and give its src).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const self = fileURLToPath(import.meta.url);
const [mode, file, src] = process.argv.slice(2);

/** In the child: read the snapshot, then restore (or the floor), and print what it cost. */
async function child(): Promise<void> {
  const { ClusterMachine } = (await import(pathToFileURL(join(src!, 'cluster', 'machine.ts')).href)) as typeof import('../src/cluster/machine.ts');
  const data = readFileSync(file!, 'utf8');
  const before = process.resourceUsage().maxRSS;
  const started = performance.now();
  if (mode === 'restore') {
    new ClusterMachine().restore(data);
  } else if (mode === 'install') {
    // What the core does with an installed snapshot: persist it (LevelStorage, one record), then restore.
    const { LevelStorage } = (await import(pathToFileURL(join(src!, 'raft', 'level-storage.ts')).href)) as typeof import('../src/raft/level-storage.ts');
    const storage = await LevelStorage.open(`${file!}.log-${process.pid}`, { index: 0, term: 0, config: { voters: [1], learners: [] }, data: '' });
    await storage.save({ hardState: null, entries: [], snapshot: { index: 10, term: 1, config: { voters: [1], learners: [] }, data } });
    new ClusterMachine().restore(data);
    await storage.close();
  } else {
    const state = JSON.parse(data) as { sessions: Array<[string, unknown[]]>; heaps: Array<[string, string]> };
    const kept = [new Map(state.sessions), new Map(state.heaps)];
    let bytes = 0;
    for (const [, record] of state.heaps) bytes += Buffer.byteLength(record, 'utf8');
    void kept; void bytes;
  }
  console.log(JSON.stringify({ ms: performance.now() - started, peakGrowMiB: (process.resourceUsage().maxRSS - before) / 1024, chars: data.length }));
}

function snapshotOf(records: number): string {
  const heaps: Array<[string, string]> = [];
  for (let i = 0; i < records; i++) {
    const record = JSON.stringify({ format: 'bench', i, code: 'x'.repeat(300) });
    heaps.push([createHash('sha256').update(record).digest('hex'), record]);
  }
  const entries = heaps.map(([heap], index) => ({ index, input_heap: null, output_heap: heap, code: 'y'.repeat(100), timestamp: new Date(0).toISOString() }));
  return JSON.stringify({ format: 'mcp-v8/cluster-machine@1', sessions: [['bench', entries]], tags: [], heaps, creators: [], members: [], requests: [], forgotten_through: 0, mcp_sessions: [] });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

if (mode === 'restore' || mode === 'install' || mode === 'floor') {
  await child();
} else {
  const args = process.argv.slice(2).filter((arg, i, all) => arg !== '--src' && all[i - 1] !== '--src');
  const records = Number(args[0] ?? 200_000);
  const rounds = Number(args[1] ?? 4);
  const at = process.argv.indexOf('--src');
  const source = resolve(at === -1 ? join(self, '..', '..', 'src') : process.argv[at + 1]!);
  const dir = mkdtempSync(join(tmpdir(), 'snapshot-install-'));
  const path = join(dir, 'snapshot.json');
  writeFileSync(path, snapshotOf(records));
  const kinds = ['restore', 'install', 'floor'];
  const seen: Record<string, Array<{ ms: number; peakGrowMiB: number; chars: number }>> = { restore: [], install: [], floor: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const kind of kinds) {
        const run = spawnSync(process.execPath, ['--max-old-space-size=8192', self, kind, path, source], { encoding: 'utf8' });
        if (run.status !== 0) throw new Error(`${kind}: ${run.stderr}`);
        seen[kind]!.push(JSON.parse(run.stdout.trim().split('\n').at(-1)!));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    // (each install's log folder is under `dir` too)
  }
  const chars = seen.restore![0]!.chars;
  console.log(`snapshot of ${records} records, ${(chars / 2 ** 20).toFixed(0)} Mi characters; ${rounds} rounds, restore and floor in turns; src ${source}`);
  for (const kind of kinds) {
    const runs = seen[kind]!;
    console.log(`${kind.padEnd(8)} median ${median(runs.map((r) => r.ms)).toFixed(0)} ms, peak RSS +${median(runs.map((r) => r.peakGrowMiB)).toFixed(0)} MiB over the text (runs: ${runs.map((r) => `${r.ms.toFixed(0)} ms/+${r.peakGrowMiB.toFixed(0)}`).join(', ')})`);
  }
}
