// Which isolated-vm binary this process loaded: the one scripts/patch-isolated-vm.mjs built with
// mcp-v8's patch (build/Release, with its marker), or the prebuilt one, which a stopped run's code
// can keep busy forever from a getter or proxy trap (docs/exec.md, "Limits").
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface IsolatedVmBuild {
  patched: boolean;
  /** Why not, in a sentence an operator can act on; null when patched. */
  why: string | null;
  /**
   * The name of the threads that run isolates (src/exec/thread-nice.ts): the patch names them,
   * and its marker says so (`isolateThreadName`); a build without that name (the prebuilt one, or
   * one of an older patch) leaves them named after the main thread, "MainThread".
   */
  isolateThreadName: string;
  /** The build has evalClosure's `answerWithNext` (one event-loop wake for two answers; its marker says so). */
  answerWithNext: boolean;
}

const unnamedIsolateThreads = 'MainThread';

/** The build's marker (scripts/patch-isolated-vm.mjs writes it), or an empty one if it does not read as JSON. */
function readMarker(markerPath: string): { isolateThreadName?: unknown; answerWithNext?: unknown } {
  try {
    const marker = JSON.parse(readFileSync(markerPath, 'utf8')) as unknown;
    return marker !== null && typeof marker === 'object' ? marker : {};
  } catch {
    return {};
  }
}

/** The thread name the build's marker records, or the unnamed threads' when it records none. */
function markedThreadName(marker: { isolateThreadName?: unknown }): string {
  return typeof marker.isolateThreadName === 'string' && /^[\w-]{1,15}$/.test(marker.isolateThreadName) ? marker.isolateThreadName : unnamedIsolateThreads;
}

export function isolatedVmBuild(): IsolatedVmBuild {
  const release = join(dirname(createRequire(import.meta.url).resolve('isolated-vm/package.json')), 'build', 'Release');
  // node-gyp-build, which loads isolated-vm, skips build/ when PREBUILDS_ONLY is set.
  if (process.env.PREBUILDS_ONLY) return { patched: false, why: 'PREBUILDS_ONLY is set, so the prebuilt isolated-vm is loaded', isolateThreadName: unnamedIsolateThreads, answerWithNext: false };
  if (!existsSync(join(release, 'isolated_vm.node')) || !existsSync(join(release, 'mcp-v8-patch.json'))) {
    return { isolateThreadName: unnamedIsolateThreads, answerWithNext: false, patched: false, why: 'the patched build is missing: with g++, make and python3 installed, run `node scripts/patch-isolated-vm.mjs` in the mcp-v8 package (npm runs it on install)' };
  }
  const marker = readMarker(join(release, 'mcp-v8-patch.json'));
  return { patched: true, why: null, isolateThreadName: markedThreadName(marker), answerWithNext: marker.answerWithNext === true };
}
