// `npm run bench:raft-floor`: the floor under `npm run bench:cluster`, measured on this machine in
// the same minute, so the gap between Raft over HTTP and what its parts cost is known.
//   1. Loopback HTTP: undici Pool -> node:http in another process, the body `bench:cluster`'s
//      writers post (a session.append propose, ≈ 330 bytes), read and JSON-parsed, answered with a
//      small JSON 200. With 64 writers (one request each in flight, as the cluster bench) and with
//      one: requests/s and round-trip p50. No Raft, no storage: the most a leader answering
//      proposals over HTTP could do here.
//   2. fsync'd LevelDB: one synchronous batch (one entry record of that size) after another, as
//      LevelStorage.save writes a Ready: batches (fsyncs)/s and p50.
// Options: --seconds N (per measurement, default 5), --rounds N (default 3; medians reported).
// `node bench/raft-floor.ts --serve` is the server half (prints its port on stdout).
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Level } from 'level';
import { Pool } from 'undici';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const seconds = option('seconds', 5);
const rounds = option('rounds', 3);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function serve(): void {
  const server = createServer({ keepAliveTimeout: 65_000 }, (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: string };
      const text = JSON.stringify({ value: body.data.length });
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address !== null ? address.port : 0 });
  });
}

function proposeBody(writer: number, seq: number): string {
  const data = JSON.stringify({ rid: randomUUID(), command: { type: 'session.append', session: `bench-${writer}`, entry: { input_heap: null, output_heap: 'a'.repeat(64), code: `step ${seq}`, timestamp: new Date().toISOString() } } });
  return JSON.stringify({ data, timeout_ms: 5000 });
}

async function httpRound(port: number, writers: number): Promise<{ perS: number; p50: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: writers, pipelining: 1 });
  const latencies: number[] = [];
  const endAt = performance.now() + seconds * 1000;
  const writer = async (id: number) => {
    for (let seq = 0; performance.now() < endAt; seq++) {
      const body = proposeBody(id, seq);
      const started = performance.now();
      const response = await pool.request({ method: 'POST', path: '/raft/propose', headers: { 'content-type': 'application/json' }, body });
      await response.body.text();
      latencies.push(performance.now() - started);
    }
  };
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: writers }, (_, id) => writer(id)));
  const elapsedS = (performance.now() - startedAt) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { perS: latencies.length / elapsedS, p50: quantile(latencies, 0.5) };
}

async function fsyncRound(): Promise<{ perS: number; p50: number }> {
  const directory = await mkdtemp(join(tmpdir(), 'raft-floor-'));
  const db = new Level<string, string>(join(directory, 'log'), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  try {
    const value = proposeBody(0, 0);
    const latencies: number[] = [];
    const endAt = performance.now() + seconds * 1000;
    const startedAt = performance.now();
    for (let index = 1; performance.now() < endAt; index++) {
      const started = performance.now();
      await db.batch([{ type: 'put', key: `e${String(index).padStart(16, '0')}`, value }, { type: 'put', key: 'h', value: `{"commit":${index}}` }], { sync: true });
      latencies.push(performance.now() - started);
    }
    const elapsedS = (performance.now() - startedAt) / 1000;
    latencies.sort((a, b) => a - b);
    return { perS: latencies.length / elapsedS, p50: quantile(latencies, 0.5) };
  } finally {
    await db.close();
    await rm(directory, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const child = fork(import.meta.filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (message) => resolve((message as { port: number }).port)));
  process.stdout.write(`raft floor: load ${loadavg().map((value) => value.toFixed(1)).join(' ')}; ${rounds} rounds x ${seconds} s each\n`);
  const results: Record<string, Array<{ perS: number; p50: number }>> = { 'http, 64 writers': [], 'http, 1 writer': [], 'leveldb synced batch': [] };
  try {
    for (let round = 0; round < rounds; round++) {
      results['http, 64 writers']!.push(await httpRound(port, 64));
      results['http, 1 writer']!.push(await httpRound(port, 1));
      results['leveldb synced batch']!.push(await fsyncRound());
      for (const [name, list] of Object.entries(results)) process.stdout.write(`round ${round + 1}: ${name}: ${list.at(-1)!.perS.toFixed(0)}/s, p50 ${list.at(-1)!.p50.toFixed(3)} ms\n`);
    }
  } finally {
    child.kill('SIGTERM');
  }
  for (const [name, list] of Object.entries(results)) {
    process.stdout.write(`median: ${name}: ${median(list.map((r) => r.perS)).toFixed(0)}/s, p50 ${median(list.map((r) => r.p50)).toFixed(3)} ms\n`);
  }
}

if (process.argv.includes('--serve')) serve();
else await main();
