// The execution store's cost per stateless wait_ms run, in-process on a real LevelDB: each run is
// a lazy create (nobody is told its id before the outcome) and, a moment later, its finish,
// in waves of `--wave` runs as under load. CPU per run from /proc, the process's event-loop
// thread and all its threads (LevelDB's own and libuv's included), so two builds can be compared
// in turns on a busy machine:
//   node bench/store-micro.ts [--runs 20000] [--wave 8] [--rounds 3] <checkout A> <checkout B> …
// Each checkout's src/storage/execution-store.ts is measured in a process of its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { numberArg } from './lib/args.ts';
import { threadCpu } from './lib/threads.ts';

const { values, positionals } = parseArgs({
  options: { runs: { type: 'string' }, wave: { type: 'string' }, rounds: { type: 'string' }, child: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
const runs = numberArg('runs', values.runs, 20_000, 1);
const wave = numberArg('wave', values.wave, 8, 1);

interface Store {
  create(record: object, urgent?: boolean): Promise<void>;
  finish(id: string, final: object, urgent?: boolean): Promise<void>;
  close(): Promise<void>;
}

async function child(checkout: string): Promise<void> {
  const module = await import(pathToFileURL(join(checkout, 'src/storage/execution-store.ts')).href) as { ExecutionStore: { open(options: { path: string }): Promise<Store> } };
  const ids = await import(pathToFileURL(join(checkout, 'src/exec/ids.ts')).href) as { newExecutionId(node: string): string };
  const dir = mkdtempSync(join(tmpdir(), 'mcp-v8-store-micro-'));
  const store = await module.ExecutionStore.open({ path: join(dir, 'executions') });
  const pass = async (count: number) => {
    for (let done = 0; done < count; done += wave) {
      const records = Array.from({ length: Math.min(wave, count - done) }, () => ({
        execution_id: ids.newExecutionId('m'), status: 'running', result: null, heap: null, error: null,
        started_at: null, completed_at: null, code_snippet: '1 + 1',
      }));
      const created = records.map((record) => store.create(record, false));
      // The runs finish on a later turn of the loop, as a run on an isolate thread does.
      await new Promise((resolveTurn) => setImmediate(resolveTurn));
      const now = new Date().toISOString();
      const finished = records.map((record) => store.finish(record.execution_id, { status: 'completed', result: '2', heap: null, error: null, started_at: now, completed_at: now }));
      await Promise.all([...created, ...finished]);
    }
  };
  await pass(Math.min(2_000, runs));
  const before = threadCpu(process.pid);
  await pass(runs);
  const after = threadCpu(process.pid);
  let allS = 0;
  for (const [tid, { cpuS }] of after) allS += cpuS - (before.get(tid)?.cpuS ?? 0);
  const mainS = after.get(String(process.pid))!.cpuS - before.get(String(process.pid))!.cpuS;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ mainUsPerRun: (1e6 * mainS) / runs, allUsPerRun: (1e6 * allS) / runs })}\n`);
}

if (values.child !== undefined) {
  await child(values.child);
} else {
  if (positionals.length === 0) throw new Error('name at least one checkout');
  const rounds = numberArg('rounds', values.rounds, 3, 1);
  for (let round = 1; round <= rounds; round++) {
    for (const checkout of positionals.map((path) => resolve(path))) {
      const result = spawnSync(process.execPath, [process.argv[1]!, '--child', checkout, '--runs', String(runs), '--wave', String(wave)], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`${checkout}: ${result.stderr.slice(-2000)}`);
      const { mainUsPerRun, allUsPerRun } = JSON.parse(result.stdout) as { mainUsPerRun: number; allUsPerRun: number };
      process.stdout.write(`round ${round} ${checkout}: event loop ${mainUsPerRun.toFixed(1)} µs/run, all threads ${allUsPerRun.toFixed(1)} µs/run (load ${loadavg()[0]!.toFixed(1)})\n`);
    }
  }
}
