// Tenants: with access control on, each principal sees only its own executions, output, sessions,
// tags and heap listings, and resumes or tags only heaps it made (unless --share-heaps). This
// wraps the tool definitions that every transport serves, so MCP and the plain API (fast path
// included) answer alike, and the services below stay as they are:
// - an execution carries its owner in its record (run_js passes it); another's id reads as unknown;
// - a session name is stored under the principal's prefix, so names never meet;
// - a heap's owner is a reserved tag written with the heap's other tags when it is committed,
//   hidden from and protected against the tag tools (queries add it, so listings stay separate).
import { McpV8Error } from '../errors.ts';
import type { ExecutionService } from '../service/executions.ts';
import { checkHeapId, heapNotFound } from '../storage/heap-store.ts';
import { executionNotFound } from '../storage/execution-store.ts';
import { tagsPerHeapMax, type Tags } from '../storage/session-db.ts';
import { ownerOf } from '../principal.ts';
import { forwardedPrincipal } from '../principal-scope.ts';
import { listLimitDefault, type ExecutionStatus } from '../model.ts';
import type { ToolContext, ToolDefinition } from '../tools/tool.ts';

/** Tag keys starting with this are the server's own; tools neither show nor accept them. */
export const reservedTagPrefix = 'mcp-v8:';
export const ownerTag = `${reservedTagPrefix}owner`;
/** Records list_executions looks through for the caller's own (the newest first). */
export const listScanRecordsMax = 10_000;


export interface TenancyOptions {
  service: ExecutionService;
  shareHeaps: boolean;
  principalExecutionsMax: number;
}

type Handler = (args: Record<string, unknown>, context: ToolContext) => Promise<Record<string, unknown>>;

/** A session name as stored: the principal, escaped so no principal's prefix is another's, then the name. */
export function scopedSession(owner: string, session: string): string {
  return `@${encodeURIComponent(owner)}/${session}`;
}

/** Tags from a client: none of the server's keys, and room left for the owner tag. */
function checkUserTags(tags: unknown): void {
  if (tags === null || typeof tags !== 'object') return;
  const keys = Object.keys(tags);
  if (keys.length > tagsPerHeapMax - 1) throw new McpV8Error('INVALID_ARGUMENT', `at most ${tagsPerHeapMax - 1} tags per heap with access control on (one is the server's), got ${keys.length}`);
  for (const key of keys) {
    if (key.startsWith(reservedTagPrefix)) throw new McpV8Error('INVALID_ARGUMENT', `tag key '${key.slice(0, 80)}': keys starting with ${reservedTagPrefix} are reserved by the server`);
  }
}

function visibleTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(tags).filter(([key]) => !key.startsWith(reservedTagPrefix)));
}

function withoutOwner<T extends Record<string, unknown>>(value: T): T {
  if (!('owner' in value)) return value;
  const { owner: _owner, ...rest } = value;
  return rest as T;
}

/** How long one wait for a counted run lasts before it waits again (runs last at most 300 s). */
const countedWaitMs = 60_000;

/** Counts each principal's executions queued or running, and refuses past the bound. */
function executionCounter(service: ExecutionService, max: number) {
  const counts = new Map<string, number>();
  const release = (owner: string) => {
    const left = (counts.get(owner) ?? 1) - 1;
    if (left <= 0) counts.delete(owner);
    else counts.set(owner, left);
  };
  /** Gives the slot back when the run has a final status (or its record is gone). */
  const releaseWhenDone = async (owner: string, id: string) => {
    try {
      while ((await service.wait(id, countedWaitMs)).status === 'running');
    } catch {
      // Evicted or unreadable: it is not running here any more.
    }
    release(owner);
  };
  return async (owner: string, submit: () => Promise<Record<string, unknown>>) => {
    const count = counts.get(owner) ?? 0;
    if (count >= max) throw new McpV8Error('LIMIT_EXCEEDED', `${owner} has ${count} executions queued or running, the most one principal may (--principal-executions-max ${max}); wait for some to finish`);
    counts.set(owner, count + 1);
    let result;
    try {
      result = await submit();
    } catch (error) {
      release(owner);
      throw error;
    }
    if (typeof result.status === 'string' && result.status !== 'running') release(owner);
    else void releaseWhenDone(owner, result.execution_id as string);
    return result;
  };
}

export function withTenancy(tools: readonly ToolDefinition[], options: TenancyOptions): ToolDefinition[] {
  const { service } = options;
  const heaps = service.heaps;
  const counted = executionCounter(service, options.principalExecutionsMax);

  async function mustOwnExecution(id: unknown, owner: string): Promise<void> {
    const record = await service.get(id as string);
    if ((record as { owner?: string }).owner !== owner) throw executionNotFound(id as string);
  }

  async function mustOwnHeap(heap: unknown, owner: string, sharedOk: boolean): Promise<void> {
    const id = checkHeapId(heap as string);
    if (sharedOk && options.shareHeaps) return;
    const tags = await heaps!.sessions.getTags(id);
    if (tags[ownerTag] !== owner) throw heapNotFound(id);
  }

  const guards: Record<string, (original: Handler) => Handler> = {
    run_js: (original) => async (args, context) => {
      const owner = ownerOf(context)!;
      checkUserTags(args.tags);
      const scoped = { ...args };
      if (heaps !== null) {
        if (typeof args.heap === 'string') await mustOwnHeap(args.heap, owner, true);
        if (typeof args.session === 'string') scoped.session = scopedSession(owner, args.session);
        scoped.tags = { ...(args.tags as Tags | undefined), [ownerTag]: owner };
      }
      return withoutOwner(await counted(owner, () => original(scoped, context)));
    },
    get_execution: (original) => async (args, context) => {
      await mustOwnExecution(args.execution_id, ownerOf(context)!);
      return withoutOwner(await original(args, context));
    },
    get_execution_output: (original) => async (args, context) => {
      await mustOwnExecution(args.execution_id, ownerOf(context)!);
      return original(args, context);
    },
    cancel_execution: (original) => async (args, context) => {
      await mustOwnExecution(args.execution_id, ownerOf(context)!);
      return original(args, context);
    },
    list_executions: () => async (args, context) => {
      const owner = ownerOf(context)!;
      const limit = (args.limit as number | undefined) ?? listLimitDefault;
      const offset = (args.offset as number | undefined) ?? 0;
      const status = args.status as ExecutionStatus | undefined;
      const { records, unavailable } = await service.listEverywhere({ limit: listScanRecordsMax, ...(status === undefined ? {} : { status }) });
      const own = records.filter((record) => record.owner === owner);
      return {
        executions: own.slice(offset, offset + limit).map(({ execution_id, status, code_snippet, started_at, completed_at }) => ({ execution_id, status, code: code_snippet ?? '', started_at, completed_at })),
        next_offset: own.length > offset + limit ? offset + limit : null,
        ...(unavailable.length === 0 ? {} : { unavailable_nodes: unavailable }),
      };
    },
    list_sessions: () => async (_args, context) => {
      const prefix = scopedSession(ownerOf(context)!, '');
      return { sessions: (await heaps!.sessions.listSessions()).filter((name) => name.startsWith(prefix)).map((name) => name.slice(prefix.length)) };
    },
    list_session_snapshots: (original) => async (args, context) => original({ ...args, session: scopedSession(ownerOf(context)!, args.session as string) }, context),
    get_heap_tags: () => async (args, context) => {
      await mustOwnHeap(args.heap, ownerOf(context)!, false);
      return { tags: visibleTags(await heaps!.sessions.getTags(checkHeapId(args.heap as string))) };
    },
    set_heap_tags: (original) => async (args, context) => {
      const owner = ownerOf(context)!;
      checkUserTags(args.tags);
      await mustOwnHeap(args.heap, owner, true);
      // The owner tag stays with the heap: the one who made it, not the one who tags it.
      const current = await heaps!.sessions.getTags(checkHeapId(args.heap as string));
      const kept = Object.fromEntries(Object.entries(current).filter(([key]) => key.startsWith(reservedTagPrefix)));
      return original({ ...args, tags: { ...(args.tags as Tags), ...kept } }, context);
    },
    delete_heap_tags: (original) => async (args, context) => {
      const owner = ownerOf(context)!;
      await mustOwnHeap(args.heap, owner, true);
      if (args.keys !== undefined) {
        const keys = Array.isArray(args.keys) ? args.keys as string[] : String(args.keys).split(',');
        checkUserTags(Object.fromEntries(keys.map((key) => [key.trim(), ''])));
        return original(args, context);
      }
      // "Every tag" means every tag of the user's: the owner tag is the server's.
      const current = await heaps!.sessions.getTags(checkHeapId(args.heap as string));
      const keys = Object.keys(visibleTags(current));
      return keys.length === 0 ? { ok: true } : original({ ...args, keys }, context);
    },
    // Lineage shows each step's code and session: another tenant's heap is not found, shared or not.
    describe_heap: (original) => async (args, context) => {
      await mustOwnHeap(args.heap, ownerOf(context)!, false);
      return original(args, context);
    },
    query_heaps_by_tags: () => async (args, context) => {
      checkUserTags(args.tags);
      // The owner pair goes last: the first pair picks the index range, and the user's is likely narrower.
      const results = await heaps!.sessions.queryTags({ ...(args.tags as Tags), [ownerTag]: ownerOf(context)! });
      return { results: results.map(({ heap, tags }) => ({ heap, tags: visibleTags(tags) })) };
    },
  };

  return tools.map((tool) => {
    const guard = guards[tool.name];
    if (guard === undefined) throw new Error(`tool ${tool.name} has no tenancy rule: add one in src/auth/tenants.ts`);
    const original = tool.handler as unknown as Handler;
    const guarded = guard(original);
    const handler: Handler = (args, context) => {
      const owner = ownerOf(context);
      return owner === null ? original(args, context) : forwardedPrincipal.run(owner, () => guarded(args, context));
    };
    return { ...tool, handler: handler as unknown as ToolDefinition['handler'] };
  });
}
