// What the MCP event store (src/transport/mcp-events.ts) costs per SSE event: storeEvent (one
// JSON.stringify, the bookkeeping, the per-node bound dropping the oldest once full) for answers
// of a typical run_js size and a large one, in-process, median of rounds (200,000 events: the
// per-node bound is reached after 50,000, so most of them also drop the node's oldest event).
//   node bench/mcp-events-micro.ts [rounds=5]
import { pino } from 'pino';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { McpEventStore } from '../src/transport/mcp-events.ts';

const rounds = Number(process.argv[2] ?? 5);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const answer = (chars: number): JSONRPCMessage => ({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: 'r'.repeat(chars) }], structuredContent: { status: 'completed', result: 'r'.repeat(chars) } } });

for (const [label, chars, events] of [['a 0.5 KB answer', 250, 200_000], ['a 100 KB answer', 50_000, 2_000]] as const) {
  const perEventUs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const store = new McpEventStore(pino({ level: 'silent' }));
    const sessions = Array.from({ length: 100 }, (_, i) => store.forSession(() => `session-${i}`));
    const message = answer(chars);
    const started = process.cpuUsage();
    for (let i = 0; i < events; i++) await sessions[i % 100]!.storeEvent(`stream-${i % 1000}`, message);
    const used = process.cpuUsage(started);
    perEventUs.push((used.user + used.system) / events);
  }
  console.log(`${label}: ${median(perEventUs).toFixed(2)} µs of CPU per stored event (median of ${rounds} rounds of ${events}; runs ${perEventUs.map((us) => us.toFixed(2)).join(', ')})`);
}
