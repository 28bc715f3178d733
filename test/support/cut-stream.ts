// A real MCP SDK client whose run_js calls lose their SSE stream right after its first event id
// (the priming event), as a dropped connection would, so that the client's own reconnection with
// Last-Event-ID is what brings the answer.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { waitUntil } from './cluster.ts';
import { callTool } from './mcp-client.ts';

/** Reads `body` up to and including the first SSE event that has an id, then cuts the connection (as a dropped network would). */
function cutAfterFirstId(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let text = '';
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) return controller.close();
      text += new TextDecoder().decode(value);
      const end = text.indexOf('\n\n', text.indexOf('id:'));
      if (text.includes('id:') && end >= 0) {
        controller.enqueue(new TextEncoder().encode(text.slice(0, end + 2)));
        await reader.cancel();
        controller.error(new TypeError('terminated (the test cut this stream after its first event id)'));
      }
    },
    cancel: () => reader.cancel(),
  });
}

export interface Cutting {
  client: Client;
  /** Last-Event-ID of each reconnection the client made. */
  resumedFrom: string[];
  /** Resolves once a reconnection's answer (the replay stream) arrived. */
  reconnected: Promise<void>;
}

/**
 * An SDK client whose run_js calls' streams are cut after their priming event; its reconnection waits
 * for `release` and goes to `resumeBaseUrl` (another node, as a load balancer may choose) when given.
 */
export async function cuttingClient(baseUrl: string, release: Promise<void>, resumeBaseUrl = baseUrl): Promise<Cutting> {
  const resumedFrom: string[] = [];
  let reconnectedNow = (): void => {};
  const reconnected = new Promise<void>((resolve) => { reconnectedNow = resolve; });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    reconnectionOptions: { initialReconnectionDelay: 20, maxReconnectionDelay: 200, reconnectionDelayGrowFactor: 2, maxRetries: 3 },
    fetch: async (input, init) => {
      const lastEventId = new Headers(init?.headers).get('last-event-id');
      if (lastEventId !== null) {
        resumedFrom.push(lastEventId);
        await release;
      }
      const response = await fetch(lastEventId === null ? input : `${resumeBaseUrl}/mcp`, init);
      if (lastEventId !== null) reconnectedNow();
      const isCall = init?.method === 'POST' && typeof init.body === 'string' && init.body.includes('"run_js"');
      if (!isCall || response.body === null || !response.headers.get('content-type')?.includes('text/event-stream')) return response;
      return new Response(cutAfterFirstId(response.body), { status: response.status, headers: response.headers });
    },
  });
  const client = new Client({ name: 'cut-stream', version: '1.0.0' });
  await client.connect(transport);
  return { client, resumedFrom, reconnected };
}

/** The id of the one running execution (seen from a second client of the same principal). */
export function runningId(observer: Client): Promise<string> {
  return waitUntil('the run to start', async () => {
    const listed = (await callTool(observer, 'list_executions', { status: 'running' })).value.executions as Array<{ execution_id: string }>;
    return listed.length === 1 ? listed[0]!.execution_id : undefined;
  });
}

