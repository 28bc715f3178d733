// The hottest functions of a V8 .cpuprofile (from `node --cpu-prof`), by self time and by
// total (inclusive) time, to read a server profile taken under load without DevTools.
//   node bench/lib/cpuprofile-top.ts FILE.cpuprofile [N]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const [file, topRaw] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: node bench/lib/cpuprofile-top.ts FILE.cpuprofile [N]');
const top = Number(topRaw ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const label = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url === '' ? '' : ` ${url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
};
const self = new Map<string, number>();
const total = new Map<string, number>();
let allUs = 0;
for (const [id, us] of selfUs) {
  allUs += us;
  const node = byId.get(id)!;
  self.set(label(node), (self.get(label(node)) ?? 0) + us);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const name = label(byId.get(at)!);
    if (seen.has(name)) continue;
    seen.add(name);
    total.set(name, (total.get(name) ?? 0) + us);
  }
}
const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`${title} (of ${(allUs / 1e6).toFixed(2)} s sampled)\n`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * us) / allUs).toFixed(1).padStart(6)}%  ${name}\n`);
  }
};
print('self time', self);
print('total time', total);
