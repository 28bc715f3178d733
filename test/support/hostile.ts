// What the issue-18 tests (test/server/host-*.test.ts) ask of a real server process: a run over
// the plain API, /healthz, and the process's resident memory read from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startServerProcess, tempDir, type ServerProcess } from './server-process.ts';
import { waitMsMax } from '../../src/tools/execution-tools.ts';

export interface ExecAnswer {
  execution_id: string;
  status: string;
  result: string | null;
  error: string | null;
  heap?: string | null;
  output?: { data: string; total_bytes: number; total_lines: number; has_more: boolean };
  [key: string]: unknown;
}

/** POST /api/exec, waiting for the outcome (up to `wait_ms`, the tool's largest unless given). */
export async function exec(server: ServerProcess, body: Record<string, unknown>): Promise<ExecAnswer> {
  const response = await fetch(`${server.baseUrl}/api/exec`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ wait_ms: waitMsMax, ...body }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  if (response.status !== 200 && response.status !== 202) throw new Error(`POST /api/exec answered ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as ExecAnswer;
}

export interface Health { status: string; stuck_isolates: number; running: number; queued: number; reason?: string; [key: string]: unknown }

export async function health(server: ServerProcess): Promise<Health> {
  return (await (await fetch(`${server.baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) })).json()) as Health;
}

/** The server process's resident memory, in MiB (VmRSS of /proc/<pid>/status). */
export function rssMiB(server: ServerProcess): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for process ${server.child.pid}`);
  return Number(kib) / 1024;
}

/** Runs `1+1` `count` times one after the other; every one must complete with 2. */
export async function neighbours(server: ServerProcess, count: number): Promise<ExecAnswer[]> {
  const answers: ExecAnswer[] = [];
  for (let index = 0; index < count; index++) answers.push(await exec(server, { code: '1+1', execution_timeout_secs: 30 }));
  return answers;
}

/** Submits without waiting: the execution id, the run still going. */
export async function submit(server: ServerProcess, body: Record<string, unknown>): Promise<string> {
  const answer = await exec(server, { ...body, wait_ms: 0 });
  return answer.execution_id;
}

/** GET /api/executions/:id, waiting up to `waitMs` for it to finish. */
export async function execution(server: ServerProcess, id: string, waitMs = waitMsMax): Promise<ExecAnswer> {
  const response = await fetch(`${server.baseUrl}/api/executions/${id}?wait_ms=${waitMs}`, { signal: AbortSignal.timeout(waitMs + 30_000) });
  return (await response.json()) as ExecAnswer;
}

/** The outcome of an execution, however long it runs (each wait ends after at most `waitMsMax`). */
export async function outcomeOf(server: ServerProcess, id: string): Promise<ExecAnswer> {
  for (;;) {
    const answer = await execution(server, id);
    if (answer.status !== 'running' && answer.status !== 'queued') return answer;
  }
}

/** GET /api/executions/:id/output in line mode. */
export async function output(server: ServerProcess, id: string, query: Record<string, number> = {}): Promise<{ data: string; total_lines: number; total_bytes: number; status: string }> {
  const search = new URLSearchParams(Object.fromEntries(Object.entries(query).map(([key, value]) => [key, String(value)])));
  const response = await fetch(`${server.baseUrl}/api/executions/${id}/output?${search}`, { signal: AbortSignal.timeout(30_000) });
  return (await response.json()) as { data: string; total_lines: number; total_bytes: number; status: string };
}

/** Resolves once the execution has printed at least one line (polled: the output is the event). */
export async function firstOutput(server: ServerProcess, id: string): Promise<void> {
  for (let tries = 0; tries < 2_000; tries++) {
    if ((await output(server, id, { line_limit: 1 })).total_lines > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`execution ${id} printed nothing`);
}

/**
 * A real server process for the enclosing describe: started before its tests, killed after
 * them. `--http-port 0`, its own temporary stores, and `extra` flags.
 */
export function serverForSuite(name: string, mode: 'stateless' | 'stateful', extra: readonly string[] = []): () => ServerProcess {
  let server: ServerProcess | undefined;
  before(async () => {
    const root = tempDir(name);
    const storage = mode === 'stateless' ? ['--stateless'] : ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions')];
    server = await startServerProcess([...storage, '--http-port', '0', '--execution-db-path', join(root, 'executions'), ...extra]);
  });
  after(async () => { await server?.stop('SIGKILL'); });
  return () => {
    if (server === undefined) throw new Error(`the server of ${name} did not start`);
    return server;
  };
}

/** The nice values of a process's threads (field 19 of /proc/<pid>/task/<tid>/stat). */
export function threadNiceValues(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return []; // a thread that ended meanwhile
    }
  });
}
