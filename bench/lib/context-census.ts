// What one new context holds, object by object (bench/context-census.ts, test/exec/context-census.test.ts):
// V8 heap snapshots through isolated-vm's inspector, one with a context held and one with another
// context more; the objects new in the second are that context's. Counts do not depend on the load.
import ivm from 'isolated-vm';

export interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]]; location_fields: string[] } };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations: number[];
}

export interface ContextCensus {
  /** The heap snapshot taken with the second context held. */
  heap: HeapSnapshot;
  /** Offsets into `heap.nodes` of the objects the second context added. */
  fresh: number[];
  /** Node type and name of an object at an offset. */
  typeOf(at: number): string;
  nameOf(at: number): string;
  bytesOf(at: number): number;
  /** How many of the fresh objects are V8 maps (hidden classes), and how many are closures. */
  maps: number;
  closures: number;
}

/** The objects a new context holds on an isolate made from `snapshot` (a plain isolate without one). */
export async function contextCensus(snapshot?: ivm.ExternalCopy<ArrayBuffer>): Promise<ContextCensus> {
  const isolate = new ivm.Isolate({ memoryLimit: 128, inspector: true, ...(snapshot === undefined ? {} : { snapshot }) });
  const session = isolate.createInspectorSession();
  try {
    const held = [await isolate.createContext()];
    const pending = new Map<number, () => void>();
    const chunks: string[] = [];
    session.onResponse = (id) => { pending.get(id)?.(); pending.delete(id); };
    session.onNotification = (message) => {
      const parsed = JSON.parse(message) as { method: string; params: { chunk?: string } };
      if (parsed.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(parsed.params.chunk!);
    };
    const take = async (id: number): Promise<HeapSnapshot> => {
      chunks.length = 0;
      const done = new Promise<void>((resolve) => pending.set(id, resolve));
      session.dispatchProtocolMessage(JSON.stringify({ id, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }));
      await done;
      return JSON.parse(chunks.join('')) as HeapSnapshot;
    };
    const before = await take(1);
    held.push(await isolate.createContext());
    const heap = await take(2);
    const fields = heap.snapshot.meta.node_fields;
    const width = fields.length;
    const [typeAt, nameAt, idAt, sizeAt] = ['type', 'name', 'id', 'self_size'].map((field) => fields.indexOf(field)) as [number, number, number, number];
    const oldIds = new Set<number>();
    for (let at = 0; at < before.nodes.length; at += width) oldIds.add(before.nodes[at + idAt]!);
    const fresh: number[] = [];
    for (let at = 0; at < heap.nodes.length; at += width) if (!oldIds.has(heap.nodes[at + idAt]!)) fresh.push(at);
    const types = heap.snapshot.meta.node_types[0];
    const typeOf = (at: number): string => types[heap.nodes[at + typeAt]!]!;
    const nameOf = (at: number): string => heap.strings[heap.nodes[at + nameAt]!]!;
    const bytesOf = (at: number): number => heap.nodes[at + sizeAt]!;
    const maps = fresh.filter((at) => nameOf(at) === 'system / Map').length;
    const closures = fresh.filter((at) => typeOf(at) === 'closure').length;
    for (const context of held) context.release();
    return { heap, fresh, typeOf, nameOf, bytesOf, maps, closures };
  } finally {
    session.dispose();
    isolate.dispose();
  }
}

/** The prelude's snapshot as the pool makes it (its warm-up, not rehashed). */
export function preludeSnapshotLikeThePool(source: string, warmUp: string, treat: (bytes: Uint8Array) => Uint8Array): ivm.ExternalCopy<ArrayBuffer> {
  const made = ivm.Isolate.createSnapshot([{ code: source, filename: 'mcp-v8:prelude' }], warmUp);
  const bytes = new Uint8Array(made.copy() as ArrayBuffer);
  made.release();
  return new ivm.ExternalCopy(treat(bytes).buffer as ArrayBuffer);
}
