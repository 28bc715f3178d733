// Starts the real server as a child process (the way users and the MCP clients start it) and
// waits for the log line that says where it listens. No sleeps: the port comes from that event.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cliPath = join(repoRoot, 'src', 'cli.ts');

/** This test process's folder for temporary files, made on first use and deleted when the process exits. */
let testRoot: string | null = null;

/**
 * A fresh folder for one test, inside this process's own root (never the server's default
 * paths, /tmp/mcp-v8-heaps and the like, nor a folder left behind in the system temp dir).
 */
export function tempDir(prefix: string): string {
  if (testRoot === null) {
    const root = mkdtempSync(join(tmpdir(), 'mcp-v8-test-'));
    testRoot = root;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return mkdtempSync(join(testRoot, `${prefix}-`));
}

/** The arguments that start the server with Node 24's flags, for StdioClientTransport and spawn. */
export function serverCommand(args: readonly string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--no-node-snapshot', cliPath, ...args] };
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  stderr: () => string;
  /** Resolves when the server's stderr (its log) has a line matching `pattern`, counting lines already written. */
  /** Resolves with the first stderr line matching `pattern`; rejects if the server exits or `timeoutMs` (20 s) passes first. */
  waitForStderr: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  /** Sends a signal and resolves with the exit code (or signal name) once the process is gone. */
  stop: (signal?: NodeJS.Signals) => Promise<number | string>;
}

const waitForStderrMsMax = 20_000;

export function startServerProcess(args: readonly string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<ServerProcess> {
  const { command, args: fullArgs } = serverCommand(args);
  const child = spawn(command, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot, env: { ...process.env, ...options.env } });
  let stderrText = '';
  // 'close': the process is gone and its last lines are read (stop's caller may check them).
  const exited = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(signal ?? code ?? -1)));
  return new Promise((resolve, reject) => {
    // A server that never said it listens is killed, so it cannot outlive the test that gave up on it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${options.timeoutMs ?? 20_000} ms:\n${stderrText}`));
    }, options.timeoutMs ?? 20_000);
    const exitedEarly = (code: number | null) => { clearTimeout(timer); reject(new Error(`server exited with ${code} before listening:\n${stderrText}`)); };
    // 'close', not 'exit': after 'exit' the pipe may still hold the server's last lines, which the
    // error must show (a refused flag, a port in use).
    child.once('close', exitedEarly);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderrText += chunk;
      const match = /"msg":"mcp-v8 listening"/.test(stderrText) ? /"port":(\d+)[^\n]*"msg":"mcp-v8 listening"/.exec(stderrText) : null;
      if (match === null) return;
      clearTimeout(timer);
      child.off('close', exitedEarly);
      const port = Number(match[1]);
      resolve({
        child, port, baseUrl: `http://127.0.0.1:${port}`,
        stderr: () => stderrText,
        waitForStderr: (pattern, timeoutMs = waitForStderrMsMax) => new Promise((resolveLine, rejectLine) => {
          const stopWaiting = () => {
            clearTimeout(late);
            child.stderr!.off('data', check);
            child.off('close', gone);
          };
          const check = () => {
            const line = stderrText.split('\n').find((candidate) => pattern.test(candidate));
            if (line === undefined) return false;
            stopWaiting();
            resolveLine(line);
            return true;
          };
          const gone = () => { stopWaiting(); rejectLine(new Error(`server exited before logging ${pattern}:\n${stderrText}`)); };
          // A line that never comes fails the test with what the server did log, not a hang.
          const late = setTimeout(() => { stopWaiting(); rejectLine(new Error(`server did not log ${pattern} within ${timeoutMs} ms:\n${stderrText}`)); }, timeoutMs);
          if (check()) return;
          child.stderr!.on('data', check);
          child.once('close', gone);
        }),
        stop: (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    });
  });
}

/** Exit code or signal of a process that is expected to fail at start (bad flags, say). */
export function runToExit(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: fullArgs } = serverCommand(args);
  const child = spawn(command, fullArgs, { stdio: ['pipe', 'pipe', 'pipe'], cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  child.stdin.end();
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
