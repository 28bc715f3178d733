// What live console output costs: a run that prints 1,000 lines/s for 3 s (10 lines every 10 ms),
// waited for with run_js wait_ms, with a progress token (lines go out as notifications, at most
// 10/s) and without, alternately (A B A B …). Measured: the run's own time (completed_at -
// started_at) and the server process's CPU time over the call (/proc/<pid>/stat utime+stime).
// Run: node --no-node-snapshot bench/live-output.ts [rounds=5]
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const rounds = Number(process.argv[2] ?? 5);
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const code = "let n = 0; await new Promise((resolve) => { const t = setInterval(() => { for (let i = 0; i < 10; i++) console.log('line ' + n++); if (n >= 3000) { clearInterval(t); resolve(); } }, 10); }); n";
const ticksPerSecond = 100;

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const transport = new StdioClientTransport({ command: process.execPath, args: ['--no-node-snapshot', cli, '--stateless', '--execution-db-path', join(mkdtempSync(join(tmpdir(), 'mcp-v8-live-')), 'e')], stderr: 'ignore' });
const client = new Client({ name: 'live-bench', version: '1' });
await client.connect(transport);
const pid = transport.pid!;
const results = { live: { runMs: [] as number[], cpuMs: [] as number[], notifications: [] as number[] }, quiet: { runMs: [] as number[], cpuMs: [] as number[], notifications: [] as number[] } };
await client.callTool({ name: 'run_js', arguments: { code: '1', wait_ms: 10_000 } });
for (let round = 0; round < rounds; round++) {
  for (const mode of ['live', 'quiet'] as const) {
    let notifications = 0;
    const before = cpuMs(pid);
    const reply = await client.callTool({ name: 'run_js', arguments: { code, wait_ms: 40_000 } }, undefined, mode === 'live' ? { onprogress: () => { notifications++; } } : {});
    const after = cpuMs(pid);
    const record = reply.structuredContent as { result: string; started_at: string; completed_at: string };
    if (record.result !== '3000') throw new Error(`unexpected result ${record.result}`);
    results[mode].runMs.push(Date.parse(record.completed_at) - Date.parse(record.started_at));
    results[mode].cpuMs.push(after - before);
    results[mode].notifications.push(notifications);
  }
}
await client.close();
for (const mode of ['live', 'quiet'] as const) {
  const r = results[mode];
  console.log(`${mode}: run ms median ${median(r.runMs)} [${r.runMs.join(', ')}]; server CPU ms median ${median(r.cpuMs)} [${r.cpuMs.join(', ')}]; notifications median ${median(r.notifications)}`);
}
console.log(`ratio live/quiet: run time ${(median(results.live.runMs) / median(results.quiet.runMs)).toFixed(3)}, server CPU ${(median(results.live.cpuMs) / median(results.quiet.cpuMs)).toFixed(3)}`);
