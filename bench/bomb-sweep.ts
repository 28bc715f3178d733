// Memory bombs at every heap limit the server takes (issue 18, items 1 and 4), against a real
// server of this checkout: each bomb runs until memory ends it (a timeout of 300 s, so only
// memory may), with a `1+1` beside it, and the server's own word says how it ended: `failed` out
// of memory, or a stuck isolate (`/healthz` stuck_isolates, which a parked thread counts as).
// npm test runs a few of these limits (test/server/host-keybomb.test.ts); this sweeps them all.
//   node --no-node-snapshot bench/bomb-sweep.ts [--limits 8,16,…,64] [--only <bomb name part>]
import { parseArgs } from 'node:util';
import { startCheckoutServer } from './lib/checkout-server.ts';
import { repoRoot } from './lib/processes.ts';
import { waitMsMax } from '../src/tools/execution-tools.ts';

const { values } = parseArgs({ options: { limits: { type: 'string' }, only: { type: 'string' } } });
const limits = (values.limits ?? '8,16,24,32,40,48,56,64').split(',').map(Number);
if (limits.some((mb) => !Number.isInteger(mb) || mb < 4 || mb > 64)) throw new Error(`--limits: whole MiB from 4 to 64 (the server's range), got '${values.limits}'`);

const bombs = [
  { name: 'Set of integers', code: 'const s=new Set(); for(let i=0;;i++) s.add(i)' },
  { name: 'Map of integers', code: 'const m=new Map(); for(let i=0;;i++) m.set(i,i)' },
  { name: 'Map of strings', code: 'const m=new Map(); for(let i=0;;i++) m.set("k"+i,i)' },
  { name: 'object keys', code: 'const m={}; for(let i=0;;i++) m["k"+i]=i' },
  { name: 'array of integers', code: 'const a=[]; for(let i=0;;i++) a.push(i)' },
  { name: 'array of arrays', code: 'const a=[]; for(;;) a.push(new Array(1000))' },
].filter((bomb) => values.only === undefined || bomb.name.includes(values.only));

interface Answer { execution_id: string; status: string; result: string | null; error: string | null }

const server = await startCheckoutServer(repoRoot);
const post = async (body: Record<string, unknown>): Promise<Answer> => {
  const response = await fetch(`${server.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status >= 300) throw new Error(`POST /api/exec answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return (await response.json()) as Answer;
};
/** The run's record once it finished (each wait is waitMsMax at most). */
async function outcomeOf(id: string): Promise<Answer> {
  for (;;) {
    const answer = (await (await fetch(`${server.baseUrl}/api/executions/${id}?wait_ms=${waitMsMax}`)).json()) as Answer;
    if (answer.status !== 'running' && answer.status !== 'queued') return answer;
  }
}

console.log(`# bomb | ${limits.map((mb) => `${mb} MiB`).join(' | ')}   (oom: failed out of memory; s: seconds to its end; stuck: isolates stuck after it)`);
try {
  for (const bomb of bombs) {
    const cells: string[] = [];
    for (const mb of limits) {
      const startedMs = performance.now();
      const { execution_id: id } = await post({ code: bomb.code, heap_memory_max_mb: mb, execution_timeout_secs: 300, wait_ms: 0 });
      const neighbour = await post({ code: '1+1', wait_ms: waitMsMax });
      const outcome = await outcomeOf(id);
      const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
      const stuck = ((await (await fetch(`${server.baseUrl}/healthz`)).json()) as { stuck_isolates: number }).stuck_isolates;
      const ended = outcome.status === 'failed' && /out of memory/i.test(outcome.error ?? '') ? 'oom' : `${outcome.status}: ${(outcome.error ?? '').slice(0, 60)}`;
      cells.push(`${ended} ${seconds} s${stuck > 0 ? `, stuck ${stuck}` : ''}${neighbour.result === '2' ? '' : `, neighbour ${neighbour.status}`}`);
    }
    console.log(`${bomb.name} | ${cells.join(' | ')}`);
  }
} finally {
  server.child.kill('SIGKILL');
}
