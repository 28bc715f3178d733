// An engine with policy capabilities (fetch, fs) for one test file, a loopback HTTP server that
// counts what it serves, and a Rego policy written to a temporary file.
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import type { Engine, RunOutcome, StatefulStart } from '../../src/exec/types.ts';
import type { PolicyCapabilities } from '../../src/policy/capabilities.ts';
import { collectBeforeExit } from './harness.ts';

export interface Ran extends RunOutcome { lines: string[] }

export interface SeenRequest { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** A real HTTP server on 127.0.0.1; `handle` answers, `seen` lists every request it got. */
export async function loopbackServer(handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<{ origin: string; port: number; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => { server.closeAllConnections(); server.close(); });
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, port, seen };
}

/** A fresh temporary folder (its real path), removed after the file's tests. */
export function tempFolder(prefix: string): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `mcp-v8-${prefix}-`)));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A Rego file in `dir`, as a file:// URL for --policies-json. */
export function regoFile(dir: string, name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return `file://${path}`;
}

export async function engineWith(capabilities: PolicyCapabilities | null): Promise<{
  engine: Engine;
  run: (code: string, options?: { memoryMb?: number; timeoutMs?: number; stateful?: StatefulStart }) => Promise<Ran>;
}> {
  const engine = await createEngine({ maxConcurrentExecutions: 2, capabilities });
  after(async () => {
    await engine.close();
    collectBeforeExit();
  });
  async function run(code: string, options: { memoryMb?: number; timeoutMs?: number; stateful?: StatefulStart } = {}): Promise<Ran> {
    const lines: string[] = [];
    const outcome = await engine.run({
      code,
      limits: { heapMemoryMaxMb: options.memoryMb ?? 16, executionTimeoutMs: options.timeoutMs ?? 10_000 },
      signal: new AbortController().signal,
      onConsoleLine: (line) => lines.push(line),
      ...(options.stateful === undefined ? {} : { stateful: options.stateful }),
    });
    // The tests here resume by replay only: a context the run left is freed at once.
    if (outcome.kept !== undefined && outcome.kept !== null) engine.live.release(outcome.kept);
    return { ...outcome, lines };
  }
  return { engine, run };
}
