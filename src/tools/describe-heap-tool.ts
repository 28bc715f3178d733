// describe_heap (stateful mode): what a heap holds and how it was made (src/service/describe-heap.ts).
import { z } from 'zod';
import { bindingsMax, lineageStepsMax, type HeapDescriber } from '../service/describe-heap.ts';
import { defineTool, type ToolDefinition } from './tool.ts';

export function describeHeapTool(describer: HeapDescriber): ToolDefinition {
  return defineTool({
    name: 'describe_heap',
    title: 'Describe a heap',
    description: `What a heap holds: the variables, functions and classes its code defined (name, kind, type, short preview, size estimate; at most ${bindingsMax}), without the sandbox's own globals; and its lineage: the session, and the code of each run that built it (the newest ${lineageStepsMax}).`,
    input: { heap: z.string().describe('64-hex heap id.') },
    output: {
      heap: z.string(),
      session: z.string().nullable(),
      memory_mb: z.number(),
      bindings: z.array(z.object({ name: z.string(), kind: z.string(), type: z.string(), preview: z.string(), size_bytes: z.number(), size_is_lower_bound: z.boolean().optional() })),
      lineage: z.array(z.object({ heap: z.string(), code: z.string(), status: z.string() })),
      lineage_steps: z.number(),
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args) => describer.describe(args.heap),
  }) as unknown as ToolDefinition;
}
