// The layers of docs/architecture.md, checked: imports between the top-level parts of src/ (a
// folder, or a file directly in src/) point one way only, and the transports and metrics never
// reach into the engine (they get what they need from the service layer).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';

const srcDir = resolve(import.meta.dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** The part of src/ a file belongs to: its top-level folder, or the file itself when it lies in src/. */
export function partOf(file: string): string {
  const [first] = relative(srcDir, file).split(sep);
  return first!;
}

/** Relative import specifiers: static imports and re-exports, and dynamic `import('...')`. */
export function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const specifier = match[1] ?? match[2]!;
    if (specifier.startsWith('.')) specifiers.push(specifier);
  }
  return specifiers;
}

/** Part → parts it imports, with one file that does so for each edge (for the failure message). */
function partGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(srcDir)) {
    const from = partOf(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), specifier);
      assert.ok(target.startsWith(srcDir + sep), `${relative(srcDir, file)} imports ${specifier}, outside src/`);
      const to = partOf(target);
      if (to !== from && !edges.has(to)) edges.set(to, relative(srcDir, file));
    }
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the parts along it. */
export function cyclesOf(graph: Map<string, Map<string, string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (part: string) => {
    state.set(part, 'open');
    path.push(part);
    for (const next of graph.get(part)?.keys() ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(part, 'done');
  };
  for (const part of [...graph.keys()].sort()) if (!state.has(part)) visit(part);
  return cycles;
}

test('the import checker finds imports and cycles', () => {
  assert.deepEqual(importsOf(`import a from './a.ts';\nimport type { B } from '../b/b.ts';\nexport { c } from "./c.ts";\nimport x from 'koa';\nconst d = await import('./d.ts');`),
    ['./a.ts', '../b/b.ts', './c.ts', './d.ts']);
  const graph = new Map([['a', new Map([['b', 'a/x.ts']])], ['b', new Map([['c', 'b/y.ts']])], ['c', new Map([['a', 'c/z.ts']])]]);
  assert.deepEqual(cyclesOf(graph), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(cyclesOf(new Map([['a', new Map([['b', 'a/x.ts']])], ['b', new Map()]])), []);
});

test('no import cycle between the top-level parts of src/', () => {
  const graph = partGraph();
  const cycles = cyclesOf(graph);
  const explain = (cycle: string[]) => cycle.slice(1).map((to, index) => `${cycle[index]} → ${to} (${graph.get(cycle[index]!)!.get(to)})`).join(', ');
  assert.deepEqual(cycles.map(explain), []);
});

test('transports, tools and metrics never import the engine; storage imports neither engine nor services', () => {
  const graph = partGraph();
  const forbidden: Array<[from: string, to: string]> = [
    ['transport', 'exec'], ['tools', 'exec'], ['metrics.ts', 'exec'],
    ['storage', 'exec'], ['storage', 'service'], ['storage', 'tools'], ['storage', 'transport'],
    ['exec', 'service'], ['exec', 'storage'], ['exec', 'transport'], ['model.ts', 'exec'], ['model.ts', 'storage'],
  ];
  const found = forbidden.filter(([from, to]) => graph.get(from)?.has(to)).map(([from, to]) => `${from} → ${to} (${graph.get(from)!.get(to)})`);
  assert.deepEqual(found, []);
});
