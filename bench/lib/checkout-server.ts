// A stateless server of a given checkout (its src/cli.ts, run by this Node), on a free loopback
// port, for benchmarks that compare checkouts in turns (bench/lower-time.ts, bench/body-cost.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts the server of `checkout`; resolves once /healthz answers (30 s at most). */
export async function startCheckoutServer(checkout: string): Promise<{ child: ChildProcess; baseUrl: string }> {
  const port = await freePort();
  const data = mkdtempSync(join(os.tmpdir(), 'mcp-v8-checkout-'));
  const child = spawn(process.execPath, ['--no-node-snapshot', join(checkout, 'src', 'cli.ts'), '--stateless', '--http-port', String(port), '--execution-db-path', join(data, 'executions')], { stdio: 'ignore' });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    if (tries > 300) throw new Error(`the server of ${checkout} did not start`);
    if (await fetch(`${baseUrl}/healthz`).then((response) => response.ok, () => false)) return { child, baseUrl };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
