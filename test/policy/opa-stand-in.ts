// A STAND-IN for an OPA server (no `opa` binary can run here): it speaks exactly OPA's Data API,
// `POST /v1/data/<path>` with `{"input": …}` answering `{"result": …}` (no `result` key when the
// document is undefined), and evaluates with our in-process Rego evaluator.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegoPolicy } from '../../src/policy/rego/index.ts';

export interface OpaStandIn {
  readonly url: string;
  readonly requests: { path: string; body: unknown }[];
  close(): Promise<void>;
}

export async function startOpaStandIn(modules: Record<string, string>): Promise<OpaStandIn> {
  const policy = new RegoPolicy(Object.entries(modules).map(([file, source]) => ({ file, source })));
  const requests: { path: string; body: unknown }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method !== 'POST' || !url.pathname.startsWith('/v1/data/')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'resource_not_found' }));
        return;
      }
      let body: { input?: unknown };
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input?: unknown }; } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'invalid_parameter', message: 'body must be JSON' }));
        return;
      }
      requests.push({ path: url.pathname, body });
      const path = url.pathname.slice('/v1/data/'.length).split('/').filter((p) => p !== '');
      try {
        const result = policy.evaluate(path, body.input);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result === undefined ? {} : { result }));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'internal_error', message: (err as Error).message }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
