// The two routes a polling client hits on every run, `POST /api/exec` and
// `GET /api/executions/:id`, served on node:http directly instead of through Koa. Under load
// (thousands of requests/s on the thread that also drives the isolates) Koa's per-request context,
// middleware chain, router match and body setter cost as much as the work itself. Same answers as
// the Koa routes: the same tool handlers, the same validation (the common `{"code": "..."}` body is
// checked here exactly as the tool's schema would; anything else goes through the schema), the
// same statuses and error bodies. Requests this does not recognise exactly fall through to Koa.
// test/transport/one-validation.test.ts sends both the same requests and compares status, body
// and headers: a change here that makes them differ fails it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isMcpV8Error } from '../errors.ts';
import { codeCharsMax, waitMsMax } from '../tools/execution-tools.ts';
import { parseToolArguments, type ToolContext, type ToolDefinition } from '../tools/tool.ts';
import { readJsonBody } from './body.ts';
import { bodyShapeOf } from './body-shape.ts';
import { principalOf } from '../auth/gate.ts';
import { connectionOf } from '../principal.ts';
import { checkSessionHeader, sessionHeader } from './session-header.ts';

const execPath = '/api/exec';
const executionPrefix = '/api/executions/';
/** An id the router would hand over unchanged (no escapes, no slash); anything else goes to Koa. */
const plainId = /^[0-9A-Za-z_-]{1,128}$/;
const jsonType = 'application/json; charset=utf-8';

export interface FastPathOptions {
  tools: readonly ToolDefinition[];
  bodyBytesMax: number;
  logger: Logger;
}

/** The caller, as the access-control gate admitted it. */
function apiContext(request: IncomingMessage): ToolContext {
  return { principal: principalOf(request), transport: 'api', connection: connectionOf(request) };
}

export type FastHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

function sendJson(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  response.writeHead(status, { 'content-type': jsonType, 'content-length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

export interface ErrorAnswer {
  status: number;
  body: { error: string; code: string };
  /** Retry-After on errors of load (a full queue), `Connection: close` after a body refused unread, none otherwise. */
  headers: Record<string, string>;
}

/** The answer to a failed request, for Koa's error middleware and these routes alike: coded JSON for clients, a log line for faults. */
export function errorAnswer(error: unknown, logger: Logger, path: string): ErrorAnswer {
  if (isMcpV8Error(error) && error.expose) {
    const headers: Record<string, string> = error.retryAfterSecs === null ? {} : { 'retry-after': String(error.retryAfterSecs) };
    if (error.closeConnection) headers.connection = 'close';
    return { status: error.httpStatus, body: { error: error.message, code: error.publicCode }, headers };
  }
  logger.error({ err: error, path }, 'request failed');
  return { status: 500, body: { error: 'internal error; it was logged', code: 'MCPV8_ERR_INTERNAL' }, headers: {} };
}

/** POST /api/exec answers 200 with the record when the run finished within wait_ms, else 202. */
export function execStatus(result: object): 200 | 202 {
  return 'status' in result && result.status !== 'running' ? 200 : 202;
}

function sendError(response: ServerResponse, error: unknown, logger: Logger, path: string): void {
  if (response.headersSent) {
    logger.error({ err: error, path }, 'request failed after the response started');
    response.destroy();
    return;
  }
  const { status, body, headers } = errorAnswer(error, logger, path);
  sendJson(response, status, body, headers);
}

/**
 * `{"code": string}`, optionally with `"wait_ms"` (an integer in the schema's range), and nothing
 * else, within the schema's bounds: what the schema would accept unchanged. The result scenario of
 * the load test (one POST with wait_ms per run) sends exactly this.
 */
function isPlainCodeBody(value: unknown): value is { code: string; wait_ms?: number } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  let keys = 0;
  for (const key in value) {
    if ((key !== 'code' && key !== 'wait_ms') || !Object.hasOwn(value, key)) return false;
    keys++;
  }
  const { code, wait_ms: waitMs } = value as { code?: unknown; wait_ms?: unknown };
  if (typeof code !== 'string' || code.length > codeCharsMax) return false;
  if (keys === 1) return true;
  return keys === 2 && Number.isInteger(waitMs) && (waitMs as number) >= 0 && (waitMs as number) <= waitMsMax;
}

export function createFastPath(options: FastPathOptions): FastHandler {
  const { tools, bodyBytesMax, logger } = options;
  const runJs = tools.find((candidate) => candidate.name === 'run_js');
  const getExecution = tools.find((candidate) => candidate.name === 'get_execution');
  // Without these tools (none today) Koa answers, as it does every other route.
  if (runJs === undefined || getExecution === undefined) return () => false;
  // The shortcut is only right while the schema passes a bare {code} through unchanged (no
  // defaults or transforms): checked once here, so a later schema change cannot bypass it.
  const probe = parseToolArguments(runJs, { code: '1', wait_ms: 1 }) as Record<string, unknown>;
  const bareCodeUnchanged = Object.keys(probe).length === 2 && probe.code === '1' && probe.wait_ms === 1
    && Object.keys(parseToolArguments(runJs, { code: '1' }) as object).length === 1;

  const runJsShape = bodyShapeOf(runJs);
  const exec = async (request: IncomingMessage, response: ServerResponse) => {
    try {
      const body = await readJsonBody(request, bodyBytesMax, runJsShape);
      // Before the schema, as the Koa route does: both answer a request the same.
      checkSessionHeader(request.headers[sessionHeader], body);
      const args = bareCodeUnchanged && isPlainCodeBody(body) ? body : parseToolArguments(runJs, body);
      const result = await runJs.handler(args as never, apiContext(request));
      sendJson(response, execStatus(result), result);
    } catch (error) {
      sendError(response, error, logger, execPath);
    }
  };
  const get = async (id: string, request: IncomingMessage, response: ServerResponse) => {
    try {
      sendJson(response, 200, await getExecution.handler({ execution_id: id } as never, apiContext(request)));
    } catch (error) {
      sendError(response, error, logger, executionPrefix);
    }
  };

  return (request, response) => {
    const url = request.url ?? '';
    if (request.method === 'POST') {
      if (url !== execPath) return false;
      void exec(request, response);
      return true;
    }
    if (request.method !== 'GET' || !url.startsWith(executionPrefix)) return false;
    const id = url.slice(executionPrefix.length);
    if (!plainId.test(id)) return false;
    void get(id, request, response);
    return true;
  };
}
