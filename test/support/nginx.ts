// Debian's nginx in front of cluster nodes, with the deployment's configuration (deploy/topology.ts):
// round-robin over `upstreams`, on a free port below the ephemeral range.
import { once } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nginxConfig } from '../../deploy/topology.ts';
import { freePort, waitUntil } from './cluster.ts';

export interface Nginx {
  /** http://127.0.0.1:<port> */
  url: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts nginx in `dir`; `edit` may change the configuration text. Resolves once it answers /healthz. */
/** `holders`: the upstreams' node ids, for the routing of Streamable HTTP sessions to the node that holds them (nginxConfig). */
export async function startNginx(options: { dir: string; upstreams: readonly string[]; holders?: readonly string[]; edit?: (config: string) => string }): Promise<Nginx> {
  const nginxDir = join(options.dir, 'nginx');
  mkdirSync(nginxDir, { recursive: true });
  const port = await freePort();
  const config = nginxConfig({ listenPort: port, upstreams: options.upstreams, ...(options.holders === undefined ? {} : { holders: options.holders }), prefix: nginxDir });
  writeFileSync(join(nginxDir, 'nginx.conf'), options.edit === undefined ? config : options.edit(config));
  const child: ChildProcess = spawn('nginx', ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log = (log + chunk).slice(-20_000); });
  const nginx: Nginx = {
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    stop: async () => {
      // SIGTERM, not SIGKILL: nginx's master stops its worker (which holds our stderr pipe) before it exits.
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      await closed;
    },
  };
  try {
    await waitUntil('nginx answering', async () => ((await fetch(`${nginx.url}/healthz`, { signal: AbortSignal.timeout(2_000) })).status === 200 ? true : undefined));
  } catch (error) {
    await nginx.stop();
    throw new Error(`${(error as Error).message}\n${log.slice(-2000)}`);
  }
  return nginx;
}
