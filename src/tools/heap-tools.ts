// The tools of stateful mode (api.md): sessions and heap tags. Served only when the server keeps
// heaps; every write goes through SessionDb.apply (the Raft log, in a cluster).
import { z } from 'zod';
import { tagMapArgument } from './tags-argument.ts';
import { McpV8Error } from '../errors.ts';
import type { HeapService } from '../service/heaps.ts';
import type { SessionEntry } from '../storage/session-db.ts';
import { defineTool, type ToolDefinition } from './tool.ts';

const entryFields = ['index', 'input_heap', 'output_heap', 'code', 'timestamp'] as const;
type EntryField = (typeof entryFields)[number];

const heapArgument = z.string().describe('64-hex heap id.');
const tagMap = tagMapArgument;

function parseFields(text: string | undefined): EntryField[] {
  if (text === undefined || text.trim() === '') return [...entryFields];
  const fields = text.split(',').map((field) => field.trim()).filter((field) => field !== '');
  for (const field of fields) {
    if (!(entryFields as readonly string[]).includes(field)) {
      throw new McpV8Error('INVALID_ARGUMENT', `fields: unknown field '${field.slice(0, 80)}'; choose from ${entryFields.join(', ')}`);
    }
  }
  return [...new Set(fields)] as EntryField[];
}

function parseKeys(keys: string | string[] | undefined): string[] | null {
  if (keys === undefined) return null;
  const list = (Array.isArray(keys) ? keys : keys.split(',')).map((key) => key.trim()).filter((key) => key !== '');
  if (list.length === 0) throw new McpV8Error('INVALID_ARGUMENT', 'keys: give at least one tag key, or omit keys to delete every tag');
  return list;
}

/** Tag writes name a heap that exists (HeapService.mustExist): a typo must not create tags nobody can resume. */
export function heapTools(heaps: HeapService): ToolDefinition[] {
  const listSessions = defineTool({
    name: 'list_sessions',
    title: 'List sessions',
    description: 'Names of the sessions that have logged runs (run_js with session).',
    input: {},
    output: { sessions: z.array(z.string()) },
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async () => ({ sessions: await heaps.sessions.listSessions() }),
  });

  const listSnapshots = defineTool({
    name: 'list_session_snapshots',
    title: 'List the runs of a session',
    description: 'The runs logged under a session, oldest first: index, input_heap, output_heap, code, timestamp. Pass fields (comma list) to get only some of them, e.g. "index,output_heap". Resume any output_heap with run_js heap.',
    input: {
      session: z.string().describe('The session name.'),
      fields: z.string().optional().describe('Comma list of index,input_heap,output_heap,code,timestamp (default all).'),
    },
    output: { entries: z.array(z.object({ index: z.number(), input_heap: z.string().nullable(), output_heap: z.string(), code: z.string(), timestamp: z.string() }).partial()) },
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args) => {
      const fields = parseFields(args.fields);
      const entries = await heaps.sessions.entries(args.session);
      return { entries: entries.map((entry) => Object.fromEntries(fields.map((field) => [field, entry[field]])) as Partial<SessionEntry>) };
    },
  });

  const getTags = defineTool({
    name: 'get_heap_tags',
    title: 'Get heap tags',
    description: 'The tags of a heap ({} when it has none; an unknown heap is an error, as for set_heap_tags).',
    input: { heap: heapArgument },
    output: { tags: tagMap },
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args) => ({ tags: await heaps.sessions.getTags(await heaps.mustExist(args.heap)) }),
  });

  const setTags = defineTool({
    name: 'set_heap_tags',
    title: 'Set heap tags',
    description: 'Replace all tags of a heap with the given string map (use get_heap_tags first to keep some).',
    input: { heap: heapArgument, tags: tagMap.describe('The new tags, e.g. {"name": "parsed-data", "step": "2"}.') },
    output: { ok: z.boolean() },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    handler: async (args) => {
      await heaps.sessions.apply({ type: 'tags.set', heap: await heaps.mustExist(args.heap), tags: args.tags });
      return { ok: true };
    },
  });

  const deleteTags = defineTool({
    name: 'delete_heap_tags',
    title: 'Delete heap tags',
    description: 'Delete some tags of a heap (keys: comma list) or all of them (keys omitted).',
    input: { heap: heapArgument, keys: z.union([z.string(), z.array(z.string())]).optional().describe('Comma list of tag keys to delete; omit to delete every tag.') },
    output: { ok: z.boolean() },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    handler: async (args) => {
      const keys = parseKeys(args.keys);
      await heaps.sessions.apply({ type: 'tags.delete', heap: await heaps.mustExist(args.heap), keys });
      return { ok: true };
    },
  });

  const queryTags = defineTool({
    name: 'query_heaps_by_tags',
    title: 'Find heaps by tags',
    description: 'Heaps whose tags contain every given key/value pair, with all their tags (at most 1000).',
    input: { tags: tagMap.describe('Pairs that must all match, e.g. {"project": "etl"}.') },
    output: { results: z.array(z.object({ heap: z.string(), tags: tagMap })) },
    annotations: { readOnlyHint: true, openWorldHint: false },
    handler: async (args) => ({ results: await heaps.sessions.queryTags(args.tags) }),
  });

  return [listSessions, listSnapshots, getTags, setTags, deleteTags, queryTags] as unknown as ToolDefinition[];
}
