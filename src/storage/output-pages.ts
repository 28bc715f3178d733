// Paging console output by lines or by bytes, with both coordinate systems in every answer.
//
// The output text is every line followed by "\n". Semantics (docs/storage.md):
// - line mode: lines [line_offset, line_offset + line_limit), 1-based; end_line is the last line
//   returned (inclusive), so an empty page has end_line = start_line - 1.
// - byte mode: bytes [byte_offset, byte_offset + byte_limit) of the UTF-8 text, shrunk so that no
//   character is cut: a start inside a character moves forward to the next one, an end inside a
//   character moves back; if that leaves nothing although bytes remain (a limit smaller than one
//   character), the page holds that one character, so a reader always makes progress.
// - next_line_offset is the first line not wholly returned; next_byte_offset the first byte not
//   returned; has_more says whether output exists beyond this page (more may still come while the
//   execution runs).
import { LRUCache } from 'lru-cache';
import { assert } from '../errors.ts';

export interface LineSource {
  /** Lines first..last (1-based, inclusive; last may exceed the count). */
  read(first: number, last: number): Promise<string[]>;
  readAll(): Promise<string[]>;
  /** Lines known now, for a running execution; null when the output can no longer grow. */
  liveLineCount(): number | null;
}

/** Byte offset of each line's start, plus the total: enough to map bytes to lines without reading. */
export interface OutputIndex {
  lineStartBytes: number[];
  totalBytes: number;
}

export type PageFields = {
  data: string; start_line: number; end_line: number; next_line_offset: number; total_lines: number;
  start_byte: number; end_byte: number; next_byte_offset: number; total_bytes: number; has_more: boolean;
};

/** Indexes of recently read executions; running ones are kept up to date as lines arrive. */
export const outputIndexesMax = 256;

function addLine(index: OutputIndex, line: string, bytes = Buffer.byteLength(line, 'utf8') + 1): void {
  index.lineStartBytes.push(index.totalBytes);
  index.totalBytes += bytes;
}

export class OutputIndexCache {
  private readonly indexes = new LRUCache<string, OutputIndex>({ max: outputIndexesMax });
  /**
   * Indexes of executions not yet finished, outside the LRU: under overload more than
   * `outputIndexesMax` runs wait in the queue, and an index evicted before its run finished made
   * the wait_ms reply rebuild it from LevelDB (three iterators per run, ≈ 0.5 ms of the main
   * thread: the "2 or 3 ms a run" of bench/RESULTS.md). Bounded by the store's running records,
   * each of which holds more than this; a queued run's index is empty.
   */
  private readonly running = new Map<string, OutputIndex>();

  /** Starts an empty index for a new execution: every line it prints then passes appendLine. */
  track(id: string): void {
    this.running.set(id, { lineStartBytes: [], totalBytes: 0 });
  }

  /** The execution finished (no more lines): its index joins the recently read ones. */
  finished(id: string): void {
    const index = this.running.get(id);
    if (index === undefined) return;
    this.running.delete(id);
    this.indexes.set(id, index);
  }

  /** `bytes`: the line's UTF-8 bytes plus its newline, when the caller has counted them already. */
  appendLine(id: string, line: string, bytes?: number): void {
    const index = this.running.get(id) ?? this.indexes.peek(id);
    if (index !== undefined) addLine(index, line, bytes);
  }

  forget(id: string): void {
    this.running.delete(id);
    this.indexes.delete(id);
  }

  async load(id: string, source: LineSource): Promise<OutputIndex> {
    const cached = this.running.get(id) ?? this.indexes.get(id);
    if (cached !== undefined) return cached;
    const index: OutputIndex = { lineStartBytes: [], totalBytes: 0 };
    for (const line of await source.readAll()) addLine(index, line);
    // Lines that arrived while we read are added before the index is published; after that,
    // appendLine keeps it current (no await between the check and the publication).
    for (let live = source.liveLineCount(); live !== null && live > index.lineStartBytes.length; live = source.liveLineCount()) {
      for (const line of await source.read(index.lineStartBytes.length + 1, live)) addLine(index, line);
    }
    this.indexes.set(id, index);
    return index;
  }
}

/** The 1-based line that holds byte `offset` (offset < totalBytes). */
function lineAtByte(index: OutputIndex, offset: number): number {
  let low = 0;
  let high = index.lineStartBytes.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (index.lineStartBytes[middle]! <= offset) low = middle;
    else high = middle - 1;
  }
  return low + 1;
}

/**
 * Bytes a line page may hold: 100 lines of a few bytes each are a small page, but one console
 * line may be megabytes, and an agent reads a page whole into its context. Whole lines are
 * returned while they fit; a first line that alone is larger comes back cut at this many bytes
 * (a byte page), and the reader continues from next_byte_offset.
 */
export const linePageBytesMax = 64 * 1024;

export async function pageByLines(index: OutputIndex, source: LineSource, lineOffset: number, lineLimit: number, bytesMax = linePageBytesMax): Promise<PageFields> {
  assert(lineOffset >= 1 && lineLimit >= 1 && bytesMax >= 1, 'line page bounds are positive');
  const totalLines = index.lineStartBytes.length;
  let lastLine = Math.min(totalLines, lineOffset + lineLimit - 1);
  const startByte = lineOffset <= totalLines ? index.lineStartBytes[lineOffset - 1]! : index.totalBytes;
  // The index knows where every line starts: the lines that fit are found before any is read.
  const lineEnd = (line: number) => (line < totalLines ? index.lineStartBytes[line]! : index.totalBytes);
  while (lastLine >= lineOffset && lineEnd(lastLine) - startByte > bytesMax) lastLine--;
  if (lastLine < lineOffset && lineOffset <= totalLines) return pageByBytes(index, source, startByte, bytesMax);
  const lines = lineOffset <= lastLine ? await source.read(lineOffset, lastLine) : [];
  const data = lines.map((line) => line + '\n').join('');
  const endByte = startByte + Buffer.byteLength(data, 'utf8');
  const endLine = lineOffset + lines.length - 1;
  return {
    data, start_line: lineOffset, end_line: endLine, next_line_offset: endLine + 1, total_lines: totalLines,
    start_byte: startByte, end_byte: endByte, next_byte_offset: endByte, total_bytes: index.totalBytes,
    has_more: endLine < totalLines,
  };
}

const isContinuationByte = (byte: number) => (byte & 0xc0) === 0x80;

export async function pageByBytes(index: OutputIndex, source: LineSource, byteOffset: number, byteLimit: number): Promise<PageFields> {
  assert(byteOffset >= 0 && byteLimit >= 1, 'byte page bounds are valid');
  const totalLines = index.lineStartBytes.length;
  if (byteOffset >= index.totalBytes) {
    return {
      data: '', start_line: totalLines + 1, end_line: totalLines, next_line_offset: totalLines + 1, total_lines: totalLines,
      start_byte: index.totalBytes, end_byte: index.totalBytes, next_byte_offset: index.totalBytes, total_bytes: index.totalBytes, has_more: false,
    };
  }
  const firstLine = lineAtByte(index, byteOffset);
  const lastLine = lineAtByte(index, Math.min(index.totalBytes, byteOffset + byteLimit) - 1);
  const lines = await source.read(firstLine, lastLine);
  const bytes = Buffer.from(lines.map((line) => line + '\n').join(''), 'utf8');
  const base = index.lineStartBytes[firstLine - 1]!;
  let start = byteOffset - base;
  while (start < bytes.length && isContinuationByte(bytes[start]!)) start++;
  let end = Math.min(bytes.length, byteOffset + byteLimit - base);
  while (end > start && end < bytes.length && isContinuationByte(bytes[end]!)) end--;
  if (end === start && start < bytes.length) {
    end = start + 1;
    while (end < bytes.length && isContinuationByte(bytes[end]!)) end++;
  }
  const startByte = base + start;
  const endByte = base + end;
  const endsOnLineBreak = end > 0 && bytes[end - 1] === 0x0a;
  const startLine = lineAtByte(index, Math.min(startByte, index.totalBytes - 1));
  const endLine = end > start ? lineAtByte(index, endByte - 1) : startLine - 1;
  return {
    data: bytes.subarray(start, end).toString('utf8'),
    start_line: startLine, end_line: endLine, next_line_offset: endsOnLineBreak ? endLine + 1 : Math.max(endLine, startLine), total_lines: totalLines,
    start_byte: startByte, end_byte: endByte, next_byte_offset: endByte, total_bytes: index.totalBytes,
    has_more: endByte < index.totalBytes,
  };
}
