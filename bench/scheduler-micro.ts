// The scheduler's CPU per run with many clients waiting, in-process: `clients` anonymous callers
// (a client per connection, as the load generator's connections are) each with one run queued,
// two slots busy; each step ends a run and admits the next. Checkouts in turns:
//   node bench/scheduler-micro.ts [--clients 500] [--runs 200000] [--rounds 2] <checkout A> <checkout B> …
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { numberArg } from './lib/args.ts';

const { values, positionals } = parseArgs({
  options: { clients: { type: 'string' }, runs: { type: 'string' }, rounds: { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
const clients = numberArg('clients', values.clients, 500, 1);
const runs = numberArg('runs', values.runs, 200_000, 1);
const rounds = numberArg('rounds', values.rounds, 2, 1);
if (positionals.length === 0) throw new Error('name at least one checkout');

interface Ticket { end(): void }
interface SchedulerLike { admit(client: string, start: (ticket: Ticket) => void): () => boolean; close(): void }

for (let round = 1; round <= rounds; round++) {
  for (const checkout of positionals.map((path) => resolve(path))) {
    const module = await import(pathToFileURL(join(checkout, 'src/exec/scheduler.ts')).href + `?round=${round}`) as { Scheduler: new (options: { slots: number }) => SchedulerLike };
    const scheduler = new module.Scheduler({ slots: 2 });
    const started: Ticket[] = [];
    let next = 0;
    const admit = () => { scheduler.admit(`connection 127.0.0.1:${40_000 + (next++ % clients)}`, (ticket) => started.push(ticket)); };
    for (let i = 0; i < clients; i++) admit();
    const before = process.cpuUsage();
    for (let i = 0; i < runs; i++) {
      started.shift()!.end();
      admit();
    }
    const used = process.cpuUsage(before);
    scheduler.close();
    process.stdout.write(`round ${round} ${checkout}: ${clients} clients waiting, ${((used.user + used.system) / runs).toFixed(2)} µs of CPU per run (end + admit), load ${loadavg()[0]!.toFixed(1)}\n`);
  }
}
