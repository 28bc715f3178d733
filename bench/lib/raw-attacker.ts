// The attacker of bench/neighbour.ts as a process of its own (`--attacker process`): its body
// (bench/lib/neighbour-attacks.ts) is built once into one Buffer with its HTTP request head, and
// each request is that Buffer written on a fresh raw socket (Connection: close), its answer read
// to the socket's end: no fetch, no JSON, no per-request allocation beyond the socket. The
// parent moves this process into a cgroup with a CPU quota (standing in for an attacker on
// another machine: it cannot take the server's cores) before it says go.
// Protocol on stdin/stdout, one line each: it prints `ready` once its body is built; `go` starts
// the attack, `stop` ends it (a once-only attack ends by itself); it then prints one JSON line,
// {requests, answered: {status: count}, failed}, and exits.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { attackNamed } from './neighbour-attacks.ts';

const [port, name] = [Number(process.argv[2]), process.argv[3]!];
const attack = attackNamed(name);
const body = Buffer.from(attack.body(), 'utf8');
const head = `POST /api/exec HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
const request = Buffer.concat([Buffer.from(head, 'latin1'), body]);

let stopped = false;
let requests = 0;
let failed = 0;
const answered: Record<string, number> = {};

/** One request: the prebuilt bytes written, the answer's status line kept, the rest read and dropped. */
function once(): Promise<void> {
  requests++;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let first: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => { first ??= chunk; });
    socket.on('error', () => undefined);
    // The server's FIN ends its answer: closed at once, since a refused body's unsent rest would
    // hold a half-closed socket until the server's lingering close resets it (src/transport/body.ts).
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      const status = first === null ? null : /^HTTP\/1\.1 (\d{3})/.exec(first.toString('latin1', 0, 16))?.[1];
      if (status === undefined || status === null) failed++;
      else answered[status] = (answered[status] ?? 0) + 1;
      resolve();
    });
    // Written, not ended: a client that half-closes after its request gets no answer from the
    // server (node's server takes the FIN for a client gone away, and the run is cancelled).
    socket.write(request);
  });
}

async function lane(): Promise<void> {
  do await once(); while (attack.repeat && !stopped);
}

const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => lines.on('line', (line) => { if (line === 'go') resolve(); else if (line === 'stop') stopped = true; }));
process.stdout.write('ready\n');
await go;
await Promise.all(Array.from({ length: attack.parallel }, lane));
// A once-only attack may end before `stop`: the answer waits for it, so the parent's count is of a whole phase.
while (!stopped) await new Promise<void>((resolve) => lines.once('line', () => resolve()));
process.stdout.write(`${JSON.stringify({ requests, answered, failed })}\n`);
lines.close();
