// The floor for A/B runs: a minimal Node http server answering the load test's two routes the
// way mcp-v8 does, but running no code and storing nothing. Measured beside the real server on
// the same machine with the same generator, it shows what HTTP on Node costs here, so the
// ratio server/floor says how much mcp-v8 itself adds.
//   node bench/lib/floor-server.ts [--port N]   (prints {"port":N,"msg":"floor listening"} on stderr)
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** The most body bytes the floor reads from a POST before answering 413 (the server's bound is similar). */
const bodyBytesMax = 1024 * 1024;
const executionPath = '/api/executions/';

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function completedRecord(id: string): string {
  const now = new Date().toISOString();
  return JSON.stringify({ execution_id: id, status: 'completed', result: '2', heap: null, error: null, started_at: now, completed_at: now });
}

function readBody(req: IncomingMessage, done: (body: string | null) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= bodyBytesMax) chunks.push(chunk);
  });
  req.on('end', () => done(bytes > bodyBytesMax ? null : Buffer.concat(chunks).toString('utf8')));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (req.method === 'POST' && url === '/api/exec') {
    readBody(req, (body) => {
      if (body === null) return answer(res, 413, '{"error":"body too large"}');
      let parsed: { code?: unknown; wait_ms?: unknown } = {};
      try { parsed = JSON.parse(body) as typeof parsed; } catch { /* answered below */ }
      if (typeof parsed.code !== 'string') return answer(res, 400, '{"error":"code must be a string"}');
      // With wait_ms the server answers with the finished record, as mcp-v8 does for a quick run.
      if (typeof parsed.wait_ms === 'number') return answer(res, 200, completedRecord(randomUUID()));
      answer(res, 202, `{"execution_id":"${randomUUID()}"}`);
    });
    return;
  }
  if (req.method === 'GET' && url.startsWith(executionPath) && url.length > executionPath.length) {
    answer(res, 200, completedRecord(url.slice(executionPath.length)));
    return;
  }
  if (req.method === 'GET' && url === '/healthz') return answer(res, 200, '{"status":"ok"}');
  answer(res, 404, '{"error":"no route"}');
}

const portIndex = process.argv.indexOf('--port');
const port = portIndex > 0 ? Number(process.argv[portIndex + 1]) : 0;
const server = createServer({ keepAliveTimeout: 65_000 }, handle);
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, port: bound, msg: 'floor listening' })}\n`);
});
const stop = () => { server.close(); server.closeAllConnections(); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
