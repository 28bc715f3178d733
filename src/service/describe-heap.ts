// describe_heap: what a heap holds and how it was made, for an agent that lost its context.
//
// Bindings: the heap's history is replayed into a fresh context (never the live one: that stays
// exactly as its record says), and a read-only introspection runs there as sandboxed code. It
// lists the global bindings the user's code made (every top-level declaration of a stateful run is
// a global, docs/stateful.md) minus those a fresh context has, with kind, type, a short preview
// and a bounded size estimate; getters are not called. The context is then disposed. The
// introspection is sandboxed code like any other: heap code that replaced a builtin can make it
// report nonsense, never reach the host; what it answers is parsed with bounds.
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';
import { withoutThrownWrapper } from '../exec/catch-thrown.ts';
import { withoutAwaitWrapper } from '../exec/top-level-await.ts';
import type { ReplayStep } from '../exec/types.ts';
import type { ExecutionService } from './executions.ts';
import type { HeapService } from './heaps.ts';

export const bindingsMax = 200;
export const previewCharsMax = 100;
/** Values visited per binding when estimating its size: past it the estimate is a lower bound. */
export const sizeWalkNodesMax = 20_000;
/** Characters of code shown per step of the lineage, and steps shown (the newest). */
export const stepCodeCharsMax = 2_000;
export const lineageStepsMax = 50;
/** Sessions whose latest heap is compared when looking for the heap's session. */
const sessionsSearchedMax = 1_000;
const introspectionTimeoutMs = 10_000;

const bindingSchema = z.object({
  name: z.string().max(1000),
  kind: z.enum(['variable', 'function', 'class', 'accessor']),
  type: z.string().max(200),
  preview: z.string().max(previewCharsMax + 10),
  size_bytes: z.number(),
  size_is_lower_bound: z.boolean().optional(),
});
export type Binding = z.infer<typeof bindingSchema>;

const namesCode = 'JSON.stringify(Object.getOwnPropertyNames(globalThis))';

/** Runs in the sandbox: `skip` names the fresh context's globals. One expression, declares nothing. */
function introspectionCode(skip: readonly string[]): string {
  return `((skip, limits) => {
  const describe = (value) => {
    if (value === null) return { type: 'null', preview: 'null' };
    const type = typeof value;
    if (type === 'string') return { type: 'string(' + value.length + ')', preview: JSON.stringify(value.slice(0, limits.preview)) };
    if (type !== 'object' && type !== 'function') return { type, preview: String(value) };
    if (type === 'function') return { type: 'function', preview: Function.prototype.toString.call(value).split('\\n')[0] };
    const proto = Object.getPrototypeOf(value);
    const name = proto === null ? 'Object(null prototype)' : (proto.constructor && proto.constructor.name) || 'Object';
    const count = Array.isArray(value) || ArrayBuffer.isView(value) ? value.length : (value instanceof Map || value instanceof Set) ? value.size : undefined;
    let preview;
    if (Array.isArray(value)) preview = '[' + value.slice(0, 5).map((item) => typeof item === 'object' && item !== null ? (Array.isArray(item) ? '[…]' : '{…}') : typeof item === 'string' ? JSON.stringify(item.slice(0, 20)) : String(item)).join(', ') + (value.length > 5 ? ', …' : '') + ']';
    else if (value instanceof Map || value instanceof Set) preview = name + '(' + value.size + ')';
    else preview = '{ ' + Object.keys(value).slice(0, 6).join(', ') + (Object.keys(value).length > 6 ? ', …' : '') + ' }';
    return { type: count === undefined ? name : name + '(' + count + ')', preview };
  };
  const sizeOf = (root) => {
    const seen = new Set();
    const stack = [root];
    let bytes = 0;
    let nodes = 0;
    while (stack.length > 0) {
      if (++nodes > limits.nodes) return { bytes, lower: true };
      const value = stack.pop();
      const type = typeof value;
      if (type === 'string') { bytes += 16 + value.length * 2; continue; }
      if (type !== 'object' || value === null) { bytes += 8; continue; }
      if (seen.has(value)) continue;
      seen.add(value);
      if (ArrayBuffer.isView(value)) { bytes += 64 + value.byteLength; continue; }
      if (value instanceof ArrayBuffer) { bytes += 64 + value.byteLength; continue; }
      bytes += 32;
      if (value instanceof Map) { for (const [k, v] of value) stack.push(k, v); continue; }
      if (value instanceof Set) { for (const v of value) stack.push(v); continue; }
      for (const key of Object.keys(value)) {
        const descriptor = Object.getOwnPropertyDescriptor(value, key);
        bytes += 8;
        if (descriptor && 'value' in descriptor) stack.push(descriptor.value);
      }
    }
    return { bytes, lower: false };
  };
  const out = [];
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (skip.has(name)) continue;
    if (out.length >= limits.bindings) break;
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
    if (!('value' in descriptor)) { out.push({ name, kind: 'accessor', type: 'accessor', preview: '(getter not called)', size_bytes: 0 }); continue; }
    const value = descriptor.value;
    const kind = typeof value === 'function' ? (/^class[\\s{]/.test(Function.prototype.toString.call(value)) ? 'class' : 'function') : 'variable';
    const { type, preview } = describe(value);
    const size = typeof value === 'function' ? { bytes: 0, lower: false } : sizeOf(value);
    out.push({ name, kind, type: type.slice(0, 200), preview: preview.length > limits.preview ? preview.slice(0, limits.preview - 1) + '…' : preview, size_bytes: size.bytes, ...(size.lower ? { size_is_lower_bound: true } : {}) });
  }
  return JSON.stringify(out);
})(new Set(${JSON.stringify(skip)}), ${JSON.stringify({ preview: previewCharsMax, nodes: sizeWalkNodesMax, bindings: bindingsMax })})`;
}

export interface HeapDescription {
  heap: string;
  session: string | null;
  memory_mb: number;
  bindings: Binding[];
  lineage: Array<{ heap: string; code: string; status: string }>;
  lineage_steps: number;
}

export class HeapDescriber {
  private baseline: Promise<string[]> | null = null;
  private readonly service: ExecutionService;
  private readonly heaps: HeapService;

  constructor(service: ExecutionService, heaps: HeapService) {
    this.service = service;
    this.heaps = heaps;
  }

  /** The globals of a fresh context: the sandbox's own, never listed as the user's. */
  private freshGlobals(memoryMb: number): Promise<string[]> {
    this.baseline ??= this.introspect(namesCode, [], memoryMb).then((text) => z.array(z.string()).parse(JSON.parse(text)));
    this.baseline.catch(() => { this.baseline = null; });
    return this.baseline;
  }

  private async introspect(code: string, steps: ReplayStep[], memoryMb: number): Promise<string> {
    const outcome = await this.service.runDetached(code, { heapMemoryMaxMb: memoryMb, executionTimeoutMs: introspectionTimeoutMs }, steps);
    if (outcome.status !== 'completed' || outcome.result === null) {
      throw new McpV8Error('INVALID_ARGUMENT', `describe_heap could not look inside the heap: ${outcome.error ?? outcome.status}`);
    }
    return outcome.result;
  }

  async describe(heap: string): Promise<HeapDescription> {
    const id = await this.heaps.mustExist(heap);
    const steps = await this.heaps.history(id);
    const memoryMb = Math.max(...steps.map((step) => step.limits.heapMemoryMaxMb));
    const skip = await this.freshGlobals(memoryMb);
    const text = await this.introspect(introspectionCode(skip), steps, memoryMb);
    let bindings: Binding[];
    try {
      bindings = z.array(bindingSchema).max(bindingsMax).parse(JSON.parse(text));
    } catch {
      throw new McpV8Error('INVALID_ARGUMENT', 'describe_heap: the heap\'s code changed builtins the introspection relies on (JSON, Object, Function); its bindings cannot be listed');
    }
    const shown = steps.slice(-lineageStepsMax);
    return {
      heap: id,
      session: await this.sessionOf(id),
      memory_mb: memoryMb,
      bindings,
      lineage: shown.map((step) => {
        const code = withoutAwaitWrapper(withoutThrownWrapper(step.code));
        return {
          heap: step.heap,
          code: code.length > stepCodeCharsMax ? `${code.slice(0, stepCodeCharsMax)}\n…[cut at ${stepCodeCharsMax} of ${code.length} characters]` : code,
          status: step.outcome.status,
        };
      }),
      lineage_steps: steps.length,
    };
  }

  /** The session whose latest run made this heap, if one is (bounded search). */
  private async sessionOf(heap: string): Promise<string | null> {
    const sessions = (await this.heaps.sessions.listSessions()).slice(0, sessionsSearchedMax);
    for (const session of sessions) {
      try {
        if ((await this.heaps.sessions.latestHeap(session)) === heap) return session;
      } catch {
        // A damaged latest entry: that session is not the answer.
      }
    }
    return null;
  }
}
