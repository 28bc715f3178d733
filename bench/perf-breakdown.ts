// Where a server's CPU goes by thread and by part, from a `perf record -g` profile (issue 23):
//   node --no-node-snapshot --perf-basic-prof src/cli.ts --stateless …   (the server, JS frames named)
//   perf record -F 999 -g -p <pid> -o server.data -- sleep 8              (while it is under load)
//   perf script -i server.data -F comm,tid,ip,sym > server.txt
//   node bench/perf-breakdown.ts server.txt
// Prints each thread kind's share of the samples; for isolate threads the share of samples whose
// stack holds each part (inclusive: a sample counts for every part on its stack, so they overlap);
// for the event loop the share by the innermost JavaScript frame's file (each sample once).
// Isolate threads are `ivm-isolate` (our isolated-vm patch names them), the event loop `MainThread`.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: node bench/perf-breakdown.ts <perf script output>');

/** Parts of an isolate thread's work, by a frame its stack holds (V8's and isolated-vm's C++ names). */
const isolateParts: Array<[string, RegExp]> = [
  ['context creation (Bootstrapper::CreateEnvironment)', /Bootstrapper::CreateEnvironment/],
  ['  deserializing the snapshot\'s context', /ContextDeserializer::Deserialize/],
  ['  rehashing it (descriptor arrays sorted, dictionaries)', /Deserializer.*::Rehash/],
  ['  a dispatch handle per function', /NewJSDispatchHandle|JSDispatchEntry/],
  ['attach + run + state (evalClosure calls)', /EvalClosureRunner/],
  ['control calls (apply)', /ApplyRunner/],
  ['GC', /Heap::CollectGarbage|Scavenger|MarkCompact|Sweeper|IncrementalMarking|MinorMarkSweep|ConcurrentMarking/],
  ['lazy compile', /Runtime_CompileLazy/],
  ['  line ends for --perf-basic-prof\'s code log (the profiler\'s own)', /LogFunctionCompilation/],
  ['kernel: switches, futexes, page faults', /finish_task_switch|futex|exc_page_fault|clear_page/],
];

interface Sample { comm: string; frames: string[] }
function samplesOf(text: string): Sample[] {
  const samples: Sample[] = [];
  let current: Sample | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current !== null) samples.push(current);
      current = null;
    } else if (!/^\s/.test(line)) {
      current = { comm: line.trim().split(/\s+/)[0]!, frames: [] };
    } else if (current !== null) {
      current.frames.push(line.trim().replace(/^\S+\s+/, ''));
    }
  }
  if (current !== null) samples.push(current);
  return samples;
}

/** The innermost JavaScript frame's file (src/… for ours, the package for node_modules), else a native marker. */
function fileOf(frames: string[]): string {
  for (const frame of frames) {
    const match = /^JS:\S*\s+(\S+?):\d+:\d+/.exec(frame);
    if (match === null) continue;
    const url = match[1]!;
    if (url.includes('/src/')) return `src/${url.split('/src/')[1]}`;
    if (url.includes('node_modules/')) return `package ${url.split('node_modules/')[1]!.split('/')[0]}`;
    return url;
  }
  return frames.some((frame) => frame.includes('ivm::')) ? '(isolated-vm, no JavaScript frame)' : '(native, no JavaScript frame)';
}

const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1).padStart(5)} %`;
const samples = samplesOf(readFileSync(file, 'utf8'));
const byComm = new Map<string, Sample[]>();
for (const sample of samples) byComm.set(sample.comm, [...(byComm.get(sample.comm) ?? []), sample]);
process.stdout.write(`${samples.length} samples\n`);
for (const [comm, list] of [...byComm].sort((a, b) => b[1].length - a[1].length)) process.stdout.write(`${percent(list.length, samples.length)}  ${comm}\n`);

const isolate = byComm.get('ivm-isolate') ?? [];
process.stdout.write(`\nisolate threads (${isolate.length} samples), inclusive:\n`);
for (const [name, pattern] of isolateParts) {
  process.stdout.write(`${percent(isolate.filter((sample) => sample.frames.some((frame) => pattern.test(frame))).length, Math.max(1, isolate.length))}  ${name}\n`);
}

const main = byComm.get('MainThread') ?? [];
const files = new Map<string, number>();
for (const sample of main) files.set(fileOf(sample.frames), (files.get(fileOf(sample.frames)) ?? 0) + 1);
process.stdout.write(`\nevent loop and other MainThread-named threads (${main.length} samples), by innermost JavaScript file:\n`);
for (const [name, count] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${percent(count, main.length)}  ${name}\n`);
