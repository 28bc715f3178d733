// Starting the system under test (the real server or the floor) as a child process, reading
// the port from its "listening" log line, and measuring its CPU time from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** How long a child may take to print its listening line. */
export const startTimeoutMs = 30_000;
/** How much of a child's stderr we keep for error messages (bounded: it logs under load). */
const stderrKeptBytesMax = 64 * 1024;

export type Target = 'server' | 'floor';
export type Mode = 'stateless' | 'stateful';

export interface SpawnOptions {
  target: Target;
  mode: Mode;
  /** Extra Node flags for the child, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: readonly string[];
  /** Extra server flags, e.g. ['--max-concurrent-executions', '4']. */
  serverArgs?: readonly string[];
  /** Another checkout's server (its src/cli.ts, run by this Node), for builds compared in turns. */
  root?: string;
}

export interface Child {
  pid: number;
  port: number;
  baseUrl: string;
  command: string;
  stderrTail: () => string;
  stop: () => Promise<number | string>;
}

export function childCommand(options: SpawnOptions, dataDir: string): string[] {
  const node = ['--no-node-snapshot', ...(options.nodeArgs ?? [])];
  if (options.target === 'floor') return [...node, join(repoRoot, 'bench', 'lib', 'floor-server.ts')];
  const storage = options.mode === 'stateless'
    ? ['--stateless']
    : ['--directory-path', join(dataDir, 'heaps'), '--session-db-path', join(dataDir, 'sessions')];
  return [...node, join(options.root ?? repoRoot, 'src', 'cli.ts'), ...storage, '--http-port', '0',
    '--execution-db-path', join(dataDir, 'executions'), ...(options.serverArgs ?? [])];
}

const listeningLine = /"port":(\d+)[^\n]*"msg":"[^"]*listening"/;

export function spawnTarget(options: SpawnOptions): Promise<Child> {
  const dataDir = mkdtempSync(join(tmpdir(), `mcp-v8-load-${options.target}-`));
  const args = childCommand(options, dataDir);
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: options.root ?? repoRoot });
  let stderr = '';
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)));
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  return new Promise((resolve, reject) => {
    let port = 0;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${options.target} did not listen within ${startTimeoutMs} ms:\n${stderr}`)); }, startTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      cleanup();
      if (port === 0) reject(new Error(`${options.target} exited with ${code} before listening:\n${stderr}`));
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-stderrKeptBytesMax);
      if (port !== 0) return;
      const match = listeningLine.exec(stderr);
      if (match === null) return;
      clearTimeout(timer);
      port = Number(match[1]);
      resolve({
        pid: child.pid!, port, baseUrl: `http://127.0.0.1:${port}`,
        command: `node ${args.map((a) => a.startsWith(repoRoot) ? a.slice(repoRoot.length) : a).join(' ')}`,
        stderrTail: () => stderr,
        stop: () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          return exited.finally(() => clearTimeout(killer));
        },
      });
    });
  });
}

let clockTicksPerS = 0;

export function ticksPerS(): number {
  if (clockTicksPerS === 0) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const value = Number(out.stdout?.trim());
    clockTicksPerS = Number.isInteger(value) && value > 0 ? value : 100;
  }
  return clockTicksPerS;
}

/** User + system CPU seconds a process has used so far (Linux /proc), or NaN when unreadable. */
export function processCpuS(pid: number): number {
  return cpuSOf(`/proc/${pid}/stat`);
}

/**
 * The same for the process's main thread alone (its task whose id is the pid): Node's event loop,
 * where HTTP, the store and the engine's calls all run, so it can saturate while the process as a
 * whole is below its cores.
 */
export function mainThreadCpuS(pid: number): number {
  return cpuSOf(`/proc/${pid}/task/${pid}/stat`);
}

function cpuSOf(statPath: string): number {
  try {
    const stat = readFileSync(statPath, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): utime is the 14th
    // field of the line and stime the 15th, so the 12th and 13th after ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerS();
  } catch {
    return Number.NaN;
  }
}
