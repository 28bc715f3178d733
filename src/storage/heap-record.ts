// A heap, as stored: not a V8 snapshot but the record of one run that, replayed on top of its
// parent, rebuilds the state exactly (heap-persistence.md, "a heap is a recorded, replayable
// history"). The bytes are canonical JSON (keys sorted), so the same run always has the same id,
// and decoding checks every field: a damaged or foreign object is HEAP_CORRUPT, never replayed.
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';
import { checkpointCharsMax, heapIdPattern, textFormatCurrent, type DeterminismRecord } from '../model.ts';

export const heapRecordFormat = 'mcp-v8/heap@1';

const hex64 = z.string().regex(heapIdPattern);


const heapRecordSchema = z.strictObject({
  format: z.literal(heapRecordFormat),
  parent: hex64.nullable(),
  code: z.string(),
  limits: z.strictObject({ heapMemoryMaxMb: z.number().int().min(1).max(64), executionTimeoutMs: z.number().int().min(1).max(300_000) }),
  observed: z.strictObject({
    seed: z.number().int().min(0).max(2 ** 32 - 1),
    clockReadingsMs: z.array(z.number()),
    events: z.array(z.discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('timer'), timerId: z.number().int().min(1), atMs: z.number() }),
      z.strictObject({ kind: z.literal('work'), workId: z.number().int().min(1) }),
    ])),
    complete: z.literal(true),
    effects: z.array(z.strictObject({
      kind: z.string().regex(/^[a-z]{1,32}$/),
      digest: hex64,
      response: z.union([
        z.strictObject({ ok: z.literal(true), value: z.unknown() }),
        z.strictObject({ ok: z.literal(false), error: z.string(), code: z.string().optional() }),
      ]).nullable(),
    })).optional(),
    wasmModules: z.record(z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/), hex64).optional(),
  }),
  outcome: z.strictObject({ status: z.enum(['completed', 'failed']), result: z.string().nullable(), error: z.string().nullable() }),
  /**
   * The format the outcome's texts were written in (docs/stateful.md, "Text format"): a replay
   * writes them the same way to compare. Absent in records made before formats existed: format 1.
   */
  textFormat: z.number().int().min(2).max(textFormatCurrent).optional(),
  // What the run imported and how each import was answered (docs/modules.md, "Replay"); each
  // source is an object of the heap store, by its sha256. Absent for runs that imported nothing.
  modules: z.strictObject({
    imports: z.array(z.strictObject({ specifier: z.string(), dynamic: z.boolean() })),
    entries: z.array(z.strictObject({ specifier: z.string(), base: z.string(), url: z.string().optional(), sha256: hex64.optional(), error: z.string().optional() })),
  }).optional(),
  /** The state after this run, when it is plain data (docs/stateful.md, "Checkpoints"); checked again by the sandbox that restores it. */
  checkpoint: z.string().max(checkpointCharsMax).optional(),
});

export type HeapRecord = z.infer<typeof heapRecordSchema>;

export function heapRecordOf(options: {
  parent: string | null;
  code: string;
  limits: HeapRecord['limits'];
  observed: DeterminismRecord;
  outcome: HeapRecord['outcome'];
  modules?: HeapRecord['modules'];
  checkpoint?: string | null;
}): HeapRecord {
  if (!options.observed.complete) {
    throw new McpV8Error('INVALID_ARGUMENT', 'this run observed more clock readings or events than a heap can record; it cannot be saved as a heap');
  }
  const { modules, checkpoint, ...rest } = options;
  // A run that imported nothing has no `modules` key: its record (and id) is as before imports;
  // likewise `checkpoint`, absent when there is none.
  return { format: heapRecordFormat, ...rest, ...(modules === undefined || modules.imports.length === 0 ? {} : { modules }), observed: { ...options.observed, complete: true }, textFormat: textFormatCurrent, ...(checkpoint == null ? {} : { checkpoint }) };
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
  }
  return value;
}

export function encodeHeapRecord(record: HeapRecord): Uint8Array {
  return Buffer.from(JSON.stringify(canonical(heapRecordSchema.parse(record))), 'utf8');
}

export function decodeHeapRecord(id: string, bytes: Uint8Array): HeapRecord {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new McpV8Error('HEAP_CORRUPT', `heap ${id} is not a heap record (not JSON); it cannot be resumed`);
  }
  const parsed = heapRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new McpV8Error('HEAP_CORRUPT', `heap ${id} is not a valid ${heapRecordFormat} record (${issue.path.join('.') || 'record'}: ${issue.message}); it cannot be resumed`);
  }
  return parsed.data;
}
