// A request with any headers, Host included (fetch refuses to set Host): what a rebinding page or
// a hand-written client sends.
import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

export function rawRequest(port: number, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const outgoing = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers, setHost: headers.host === undefined && headers.Host === undefined }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      // A stream (GET /sse, GET /mcp) that was admitted stays open: its status is what counts.
      if ((response.headers['content-type'] ?? '').includes('text/event-stream')) {
        response.destroy();
        resolve({ status: response.statusCode!, headers: response.headers, text: '', json: () => ({}) });
        return;
      }
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}
