// What one new context holds, object by object (issue 23): a V8 heap snapshot (through
// isolated-vm's inspector) with one context held, then another with one more; the objects new in
// the second are that context's. Grouped by V8's node type and name, closures also by the sandbox
// file (or prelude part) that defines them. Counts and bytes do not depend on the machine's load.
//   node --no-node-snapshot bench/context-census.ts [--plain] [--top N] [--closures FILE] (FILE: lists the closures a file defines, e.g. prelude/control.js)
import { parseArgs } from 'node:util';
import { contextCensus, preludeSnapshotLikeThePool } from './lib/context-census.ts';
import { preludeParts, preludeSource, preludeWarmUpSource, sandboxFiles, withoutRehash } from '../src/exec/isolate-pool.ts';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({ options: { plain: { type: 'boolean' }, top: { type: 'string', default: '40' }, closures: { type: 'string' }, maps: { type: 'boolean' } }, strict: true });

/** The prelude's first line of each file, in preludeSource's order (isolate-pool.ts joins them the same way). */
function fileStarts(): Array<{ name: string; line: number }> {
  const read = (name: string): string => readFileSync(new URL(`../src/exec/sandbox/${name}`, import.meta.url), 'utf8');
  const starts: Array<{ name: string; line: number }> = [];
  let line = 0;
  const add = (name: string, text: string): void => { starts.push({ name, line }); line += text.split('\n').length; };
  for (const name of sandboxFiles) {
    if (name !== 'prelude') { add(name, read(name)); continue; }
    line += 2; // the closure's two opening lines
    for (const part of preludeParts) add(`prelude/${part}`, read(`prelude/${part}`));
    line += 0; // the closing line shares the last part's join
  }
  return starts;
}
const starts = fileStarts();
const fileOf = (line: number): string => {
  let name = '?';
  for (const start of starts) if (start.line <= line) name = start.name;
  return name;
};

const census = await contextCensus(values.plain === true ? undefined : preludeSnapshotLikeThePool(preludeSource, preludeWarmUpSource, withoutRehash));
const after = census.heap;
const fields = after.snapshot.meta.node_fields;
const width = fields.length;
const [typeAt, nameAt, idAt, sizeAt] = ['type', 'name', 'id', 'self_size'].map((field) => fields.indexOf(field)) as [number, number, number, number];
const types = after.snapshot.meta.node_types[0];
const oldIds = new Set<number>();
const freshSet = new Set(census.fresh);
for (let at = 0; at < after.nodes.length; at += width) if (!freshSet.has(at)) oldIds.add(after.nodes[at + idAt]!);
const lineOf = new Map<number, number>();
const locationWidth = after.snapshot.meta.location_fields.length;
for (let at = 0; at < after.locations.length; at += locationWidth) lineOf.set(after.locations[at]!, after.locations[at + 2]!);

const byType = new Map<string, { count: number; bytes: number }>();
const byKey = new Map<string, { count: number; bytes: number }>();
const add = (map: Map<string, { count: number; bytes: number }>, key: string, bytes: number): void => {
  const entry = map.get(key) ?? { count: 0, bytes: 0 };
  entry.count++; entry.bytes += bytes;
  map.set(key, entry);
};
let total = 0;
let count = 0;
for (let at = 0; at < after.nodes.length; at += width) {
  if (oldIds.has(after.nodes[at + idAt]!)) continue;
  const type = types[after.nodes[at + typeAt]!]!;
  const name = after.strings[after.nodes[at + nameAt]!]!;
  const bytes = after.nodes[at + sizeAt]!;
  total += bytes; count++;
  add(byType, type, bytes);
  const line = lineOf.get(at);
  if (type !== 'closure') {
    add(byKey, `${type} ${name.slice(0, 60)}`, bytes);
    continue;
  }
  // Closures with no script position are V8's own, or bound functions (`native_bind`).
  add(byKey, line === undefined ? `closure ${name === 'native_bind' ? 'bound' : 'of V8'}` : `closure in ${fileOf(line)}`, bytes);
  if (values.closures !== undefined && line !== undefined && fileOf(line) === values.closures) process.stdout.write(`closure ${name} (line ${line})\n`);
}
const show = (title: string, map: Map<string, { count: number; bytes: number }>, top: number): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, { count: n, bytes }] of [...map].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) process.stdout.write(`${(bytes / 1024).toFixed(1).padStart(7)} KiB ${String(n).padStart(6)}  ${key}\n`);
};
process.stdout.write(`${values.plain === true ? 'plain isolate' : 'prelude snapshot'}: one new context holds ${count} objects, ${(total / 1024).toFixed(1)} KiB (heap snapshot self sizes), ${census.maps} maps, ${census.closures} closures\n`);
show('by node type', byType, 20);
// The largest objects, each with what holds it (its first retainer and the edge's name).
const edgeFields = after.snapshot.meta.edge_fields;
const edgeTypes = after.snapshot.meta.edge_types[0];
const edges = after.edges;
const [edgeTypeAt, edgeNameAt, edgeToAt] = ['type', 'name_or_index', 'to_node'].map((field) => edgeFields.indexOf(field)) as [number, number, number];
const edgeCountAt = fields.indexOf('edge_count');
const retainer = new Map<number, string>();
const retainerNode = new Map<number, number>();
for (let at = 0, edge = 0; at < after.nodes.length; at += width) {
  const from = `${types[after.nodes[at + typeAt]!]} ${after.strings[after.nodes[at + nameAt]!]!.slice(0, 40)}`;
  for (let n = 0; n < after.nodes[at + edgeCountAt]!; n++, edge += edgeFields.length) {
    const to = edges[edge + edgeToAt]!;
    const kind = edgeTypes[edges[edge + edgeTypeAt]!]!;
    const name = kind === 'element' || kind === 'hidden' ? `[${edges[edge + edgeNameAt]}]` : after.strings[edges[edge + edgeNameAt]!];
    if (!retainer.has(to) && kind !== 'weak') { retainer.set(to, `${from} .${name}`); retainerNode.set(to, at); }
  }
}
const largest: Array<[number, string]> = [];
for (let at = 0; at < after.nodes.length; at += width) {
  if (oldIds.has(after.nodes[at + idAt]!)) continue;
  let chain = retainer.get(at) ?? '?';
  for (let up = retainerNode.get(at), depth = 0; up !== undefined && depth < 3; up = retainerNode.get(up), depth++) chain += ` <- ${retainer.get(up) ?? '?'}`;
  largest.push([after.nodes[at + sizeAt]!, `${types[after.nodes[at + typeAt]!]} ${after.strings[after.nodes[at + nameAt]!]!.slice(0, 40)} <- ${chain}`]);
}
if (values.maps === true) {
  const holders = new Map<string, { count: number; bytes: number }>();
  for (let at = 0; at < after.nodes.length; at += width) {
    if (oldIds.has(after.nodes[at + idAt]!) || after.strings[after.nodes[at + nameAt]!] !== 'system / Map') continue;
    // Up the transition tree (back pointers) to the object whose map ends the chain.
    let holder = at;
    for (let depth = 0; depth < 200 && (retainer.get(holder) ?? '').endsWith('.back_pointer'); depth++) holder = retainerNode.get(holder)!;
    const object = retainerNode.get(holder);
    const owner = object === undefined ? '' : ` <- ${retainer.get(object) ?? '?'}`;
    add(holders, `${retainer.get(holder) ?? '?'}${holder === at ? '' : ' (via transitions)'}${owner}`, after.nodes[at + sizeAt]!);
  }
  show('new maps by what holds them', holders, Number(values.top));
}
process.stdout.write('\nlargest objects (bytes, what, held by)\n');
for (const [bytes, what] of largest.sort((a, b) => b[0] - a[0]).slice(0, Number(values.top))) process.stdout.write(`${String(bytes).padStart(7)}  ${what}\n`);
show('by type and name (closures by file)', byKey, Number(values.top));
