// Stack positions for TypeScript that swc had to transform (enum, namespace, parameter
// properties): the transform writes more lines than the source had, so `main.js:16:7` in an error
// points past the line the agent wrote. On a failed run only, the transform is made again with a
// source map (it is deterministic) and every `main.js:line:column` of the error text is mapped
// back. Code that strip-only handles keeps its positions (types become spaces), so is left alone.
import { swcTypescript } from './swc.ts';

/** Larger code is not transformed again on the main thread; its positions stay as V8 gave them. */
export const remapCodeCharsMax = 100_000;
const positionPattern = /main\.js:(\d+):(\d+)/g;
const base64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

type Segment = [generatedColumn: number, originalLine: number, originalColumn: number];

/** The source map's mappings, per generated line: segments with their original position (0-based). */
function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let originalLine = 0;
  let originalColumn = 0;
  for (const lineText of mappings.split(';')) {
    const segments: Segment[] = [];
    let generatedColumn = 0;
    for (const segmentText of lineText.split(',')) {
      if (segmentText === '') continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const char of segmentText) {
        const digit = base64.indexOf(char);
        if (digit === -1) return lines;
        value += (digit & 31) << shift;
        if (digit & 32) { shift += 5; continue; }
        values.push(value & 1 ? -(value >>> 1) : value >>> 1);
        value = 0;
        shift = 0;
      }
      generatedColumn += values[0] ?? 0;
      // values[1] is the source index: one source here.
      if (values.length >= 4) {
        originalLine += values[2]!;
        originalColumn += values[3]!;
        segments.push([generatedColumn, originalLine, originalColumn]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

function transformed(code: string, mode: 'strip-only' | 'transform'): { code: string; map?: string } | null {
  try {
    return swcTypescript.call(code.length, (swc) => swc.transformSync(code, { mode, sourceMap: mode === 'transform' }) as { code: string; map?: string });
  } catch {
    // A syntax error, or swc itself failed (SwcFault): nothing to map with.
    return null;
  }
}

/** The error text with positions in transformed code mapped to the code as written. */
export function originalPositions(error: string | null, code: string): string | null {
  if (error === null || code.length > remapCodeCharsMax || !/main\.js:\d+:\d+/.test(error)) return error;
  // Only code that needs the transform has moved lines: strip-only keeps every position.
  if (transformed(code, 'strip-only') !== null) return error;
  const output = transformed(code, 'transform');
  if (output === null || output.map === undefined) return error;
  let lines: Segment[][];
  try {
    lines = decodeMappings((JSON.parse(output.map) as { mappings: string }).mappings);
  } catch {
    return error;
  }
  return error.replace(positionPattern, (whole, lineText: string, columnText: string) => {
    const segments = lines[Number(lineText) - 1];
    if (segments === undefined || segments.length === 0) return whole;
    const column = Number(columnText) - 1;
    let best = segments[0]!;
    for (const segment of segments) if (segment[0] <= column) best = segment;
    return `main.js:${best[1] + 1}:${best[2] + 1 + Math.max(0, column - best[0])}`;
  });
}
