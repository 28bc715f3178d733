// The usage guide for agents: what the server is, its tools, its limits (the real ones of this
// server), the stateful workflow and the sandbox's globals. Served as the MCP resource
// mcp-v8://guide and over HTTP as /llms.txt; the initialize result's instructions point to it.
import type { Config } from '../config.ts';
import { listLimitMax, waitMsMax } from '../tools/execution-tools.ts';
import { firstPageBytesMax, resultCharsMax } from '../tools/replies.ts';
import { linePageBytesMax } from '../storage/output-pages.ts';
import { imageBytesMax, imagesPerRunMax } from '../service/images.ts';

export const guideUri = 'mcp-v8://guide';

/** The initialize result's instructions: a few lines, the rest is in the guide. */
export function instructionsFor(stateful: boolean): string {
  return 'A JavaScript/TypeScript sandbox (V8 isolates). Call run_js with wait_ms (e.g. 10000) to run code and get its result in one reply. ' +
    (stateful ? 'Runs return a `heap`: pass it back (or use a `session`) to continue with everything defined so far; describe_heap shows what a heap holds. ' : '') +
    `Full guide: resource ${guideUri}.`;
}

export function agentGuide(config: Pick<Config, 'stateless' | 'heapMemoryMaxMb' | 'executionTimeoutSecs'> & { capabilities?: Config['capabilities'] }): string {
  const stateful = !config.stateless;
  const hasFetch = config.capabilities?.fetch !== undefined;
  const hasFs = config.capabilities?.fs !== undefined;
  const reach = [hasFetch ? 'fetch() to URLs a policy allows' : 'no network', hasFs ? 'a promise-based fs global for paths a policy allows' : 'no file system'].join(', ');
  return `# mcp-v8: a JavaScript/TypeScript sandbox for agents

Runs your code in an isolated V8 (${reach}, no process, no require/import).
${stateful ? 'This server is stateful: every run leaves a heap you can continue from.' : 'This server is stateless: every run starts fresh.'}

## Run code in one round trip
run_js {"code": "...", "wait_ms": 10000}
- The value of the last expression is \`result\`, as text (objects as console.log shows them);
  \`result_type\` is its typeof, so "1" and 1 differ. Do not \`return\` at top level; end with
  the expression.
- Top-level await, Promises, timers, WebAssembly, TypeScript (types are stripped) work. A
  markdown fence around the code (\`\`\`js … \`\`\`) is taken off.
- console.log/info/warn/error/table go to the console output; the reply has the first lines.
- wait_ms is at most ${waitMsMax} (under the 60 s timeout of common MCP clients). A longer run
  returns {execution_id, status: "running"}: call get_execution {execution_id, wait_ms} again.
  Clients that support MCP tasks can call run_js as a task instead (taskId = execution_id).
- With a progress token (or after logging/setLevel) console lines arrive live as notifications,
  at a bounded rate; get_execution_output stays the complete record.
- display(image) shows PNG/JPEG bytes (Uint8Array) or an SVG string as an image in the reply
  (at most ${imagesPerRunMax} per run, ${imageBytesMax} bytes each). Charts: build an SVG string.

## Limits
- Memory: heap_memory_max_mb (4-64, default ${config.heapMemoryMaxMb}). Time: execution_timeout_secs
  (1-300, default ${config.executionTimeoutSecs}), awaiting included.
- Replies are bounded: result ${resultCharsMax} characters (get_execution result_offset reads on),
  console ${firstPageBytesMax} bytes in run_js's reply, ${linePageBytesMax} bytes per get_execution_output
  line page. list_executions pages by limit (up to ${listLimitMax}) and offset.

## Tools
- run_js: run code (see above).
- get_execution: status, result, error, times; wait_ms long-polls.
- get_execution_output: console output by lines (line_offset, line_limit) or bytes
  (byte_offset, byte_limit); continue from next_line_offset / next_byte_offset while has_more.
- cancel_execution, list_executions (limit, offset, status; each with the start of its code).
${stateful ? `- describe_heap: the variables, functions and classes a heap holds, and the code that built it.
- list_sessions, list_session_snapshots: the runs of a session.
- get_heap_tags, set_heap_tags, delete_heap_tags, query_heaps_by_tags: name heaps.

## Stateful workflow
1. run_js {"code": "const rows = [1, 2, 3]", "session": "work", "wait_ms": 10000} -> heap H1
2. run_js {"code": "rows.length", "session": "work", "wait_ms": 10000} continues the latest heap
   of the session; or pass "heap": "H1" to continue (fork) from that exact heap.
3. Lost track? describe_heap {"heap": "H1"} lists what it holds and the code of each step.
A heap keeps var/let/const/class/function bindings, closures and data; pending timers do not
carry over. Resumed without heap_memory_max_mb, a heap runs with the limit it was made with.
` : ''}
## Resources
- ${guideUri}: this guide. execution://{execution_id}/output: an execution's console output.

## Globals in the sandbox
Standard JavaScript (ES2025), plus: console, setTimeout/setInterval/clearTimeout/clearInterval,
queueMicrotask, structuredClone, TextEncoder/TextDecoder, atob/btoa, crypto.getRandomValues,
crypto.randomUUID and crypto.subtle.digest (SHA-1/256/384/512), performance.now, URL,
URLSearchParams, AbortController/AbortSignal (with AbortSignal.timeout), Headers, Request, Response,
Blob, File, FormData, Event/CustomEvent/EventTarget, WHATWG streams (ReadableStream, WritableStream, TransformStream,
TextEncoderStream, TextDecoderStream, queuing strategies; Response.body, Blob.stream()), display${hasFetch ? ', fetch (each request checked by the server\'s policy; a denial rejects with the decision)' : ''}${hasFs ? ', fs (readFile, writeFile, appendFile, readdir, stat, mkdir, rm, rename, copyFile, exists; promises, absolute paths, each checked by a policy)' : ''}.
No ${hasFetch ? '' : 'fetch, '}byte streams (BYOB readers), CompressionStream or DOMException. Check what else exists with
Object.getOwnPropertyNames(globalThis).

## Errors
Errors are coded (MCPV8_ERR_...) and say what to change. A thrown Error is reported as
"Name: message" with its stack lines pointing at your code; any other thrown value as
"Uncaught " and the value (Uncaught 'x', Uncaught { code: 42 }). Results are inspected to depth 4.
`;
}
