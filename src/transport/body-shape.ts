// What a tool's JSON body may hold at its top level, for the body reader to refuse a body as its
// bytes arrive (src/transport/body.ts): a key the tool does not take, or an array or object where
// the tool takes neither. Eight 2.4 MB bodies of 200,000 unknown keys (or one unknown key holding
// 1,200,000 numbers), sent again and again, were each scanned for ≈ 100 KB (≈ 1.5 ms of the main
// thread) until a count bound refused them; the first unknown key is in the first bytes. The
// messages are zod's own for the same body (src/tools/tool.ts, describeIssues), so a body gets
// the same answer whether the reader or the schema refuses it.
import { strictInput, type ToolDefinition } from '../tools/tool.ts';
import { describeIssues } from '../tools/tool.ts';

/** Per top-level key: the message refusing an array (an object) there, or null where one may be. */
export interface KeyKinds { array: string | null; object: string | null }

export interface BodyShape {
  /** The tool's name, first in every message. */
  tool: string;
  keys: ReadonlyMap<string, KeyKinds>;
}

/** Probes that pass a field which takes arrays (objects) of some kind; none pass one that takes neither. */
const arrayProbes: readonly unknown[] = [[], [''], [0]];
const objectProbes: readonly unknown[] = [{}, { a: '' }, { a: 0 }];

const shapes = new WeakMap<ToolDefinition['input'], BodyShape>();

/** The zod message for `value` in `key` when no probe passes, else null. */
function refusalOf(tool: ToolDefinition, key: string, probes: readonly unknown[]): string | null {
  const schema = strictInput(tool);
  let message: string | null = null;
  for (const probe of probes) {
    const parsed = schema.pick({ [key]: true } as never).safeParse({ [key]: probe });
    if (parsed.success) return null;
    message ??= `${tool.name}: ${describeIssues(parsed.error)}`;
  }
  return message;
}

/** The shape of `tool`'s arguments, built once per tool (zod is asked with probe values). */
export function bodyShapeOf(tool: ToolDefinition): BodyShape {
  let shape = shapes.get(tool.input);
  if (shape === undefined) {
    const keys = new Map<string, KeyKinds>();
    for (const key of Object.keys(tool.input)) keys.set(key, { array: refusalOf(tool, key, arrayProbes), object: refusalOf(tool, key, objectProbes) });
    shape = { tool: tool.name, keys };
    shapes.set(tool.input, shape);
  }
  return shape;
}
