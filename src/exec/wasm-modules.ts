// The pre-loaded WebAssembly modules (--wasm-module, --wasm-config) as the sandbox receives them:
// what every context gets when it is attached, and the check that a stateful history replays
// with the modules it was made with (docs/exec.md, "Pre-loaded WebAssembly modules").
//
// The host compiles each module once per memory limit that runs use (a module's memories have
// their maxima lowered to the limit, sandbox/prelude/wasm.js), in a context of its own, and keeps
// the compiled modules as one copy. A context gets two things at attach: a small list of names
// (copied in, a few hundred bytes) and the handle of that copy, which stays on the host until a
// run first reads one of the globals. Copying compiled modules into an isolate shares their
// machine code (V8's CompiledWasmModule): nothing is compiled per run.
import ivm from 'isolated-vm';
import { McpV8Error } from '../errors.ts';
import { compilePreloadedWasm } from './isolate-pool.ts';
import type { WasmModuleConfig } from '../wasm-config.ts';

/** What the sandbox learns of each module when a context is attached (sandbox/globals.d.ts, PreloadedName). */
export interface PreloadedName {
  name: string;
  sha256: string;
  instantiate: boolean;
  /** Globals its wrapper defines, or [] without a wrapper. */
  globals: string[];
}

export class PreloadedWasm {
  readonly modules: readonly WasmModuleConfig[];
  private readonly names: ivm.ExternalCopy<PreloadedName[]>;
  /** [bytes as an ArrayBuffer, wrapper source or null] per module, in `names` order. */
  private readonly payload: ivm.ExternalCopy<Array<[ArrayBuffer, string | null]>>;
  /** The modules compiled for each memory limit (MiB) runs used so far: at most one per limit (1-64). */
  private readonly compiled = new Map<number, Promise<ivm.ExternalCopy<unknown>>>();
  private readonly ready = new Map<number, ivm.ExternalCopy<unknown>>();

  constructor(modules: readonly WasmModuleConfig[]) {
    this.modules = modules;
    this.names = new ivm.ExternalCopy(modules.map((module) => ({ name: module.name, sha256: module.sha256, instantiate: module.instantiate, globals: module.wrapper?.globals ?? [] })));
    this.payload = new ivm.ExternalCopy(modules.map((module) => {
      const bytes = module.bytes.buffer.slice(module.bytes.byteOffset, module.bytes.byteOffset + module.bytes.byteLength) as ArrayBuffer;
      return [bytes, module.wrapper?.source ?? null] as [ArrayBuffer, string | null];
    }));
  }

  /** Compiles the modules for contexts of this memory limit, once (the first run of a limit waits for it). */
  prepare(memoryMb: number): Promise<void> {
    let compiling = this.compiled.get(memoryMb);
    if (compiling === undefined) {
      compiling = compilePreloadedWasm(memoryMb, this.payload);
      this.compiled.set(memoryMb, compiling);
      compiling.then((copy) => this.ready.set(memoryMb, copy), () => this.compiled.delete(memoryMb));
    }
    return compiling.then(() => undefined);
  }

  isReady(memoryMb: number): boolean {
    return this.ready.has(memoryMb);
  }

  /** The attach call's last two arguments: the names, copied in, and the handle of the modules compiled for this limit. */
  attachArguments(memoryMb: number): [unknown, ivm.ExternalCopy<unknown>] {
    const compiled = this.ready.get(memoryMb);
    if (compiled === undefined) throw new Error(`pre-loaded WebAssembly modules are not compiled for ${memoryMb} MiB yet (prepare first)`);
    return [this.names.copyInto(), compiled];
  }

  /**
   * Releases the compiled copies: a process that still holds a compiled module's copy at exit
   * does not exit (seen with isolated-vm 7 and SQLite's module). The engine calls it on close.
   */
  async close(): Promise<void> {
    const compiling = [...this.compiled.values()];
    this.compiled.clear();
    for (const copy of await Promise.allSettled(compiling)) if (copy.status === 'fulfilled') copy.value.release();
    this.ready.clear();
  }

  /** Refuses a name that the sandbox already has as a global (its own or a standard one). */
  checkAgainstGlobals(globals: ReadonlySet<string>): void {
    for (const module of this.modules) {
      for (const name of [module.name, `__wasm_${module.name}`, ...(module.wrapper?.globals ?? [])]) {
        if (globals.has(name)) throw new McpV8Error('INVALID_FLAG', `${module.origin} ${module.name}: '${name}' is already a global of the sandbox; choose another name`);
      }
    }
  }

  /**
   * Why a run that used `recorded` (name → sha256, from its heap record) cannot be replayed here,
   * or null: a module it used is missing or has other bytes, so the replay would diverge silently.
   */
  replayIssue(recorded: Readonly<Record<string, string>> | undefined): string | null {
    return wasmReplayIssue(this.modules, recorded);
  }
}

export function wasmReplayIssue(modules: readonly WasmModuleConfig[], recorded: Readonly<Record<string, string>> | undefined): string | null {
  if (recorded === undefined) return null;
  for (const [name, sha256] of Object.entries(recorded)) {
    const here = modules.find((module) => module.name === name);
    if (here === undefined) return `it used the pre-loaded WebAssembly module '${name}' (sha256 ${sha256}), which this server does not load; start it with --wasm-module ${name}=<the same file>`;
    if (here.sha256 !== sha256) return `it used the pre-loaded WebAssembly module '${name}' with sha256 ${sha256}, but this server loads ${here.path} with sha256 ${here.sha256}; resume it on a server with the module it was made with`;
  }
  return null;
}
