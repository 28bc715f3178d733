// swc's WebAssembly builds, replaced after a fault. Both packages run on the host's main thread,
// on every input: a fault inside one (a stack overflow on deeply nested code, which takes a
// 2,000-deep parenthesis, or a Rust panic) unwinds the WebAssembly stack without restoring
// swc's own state, and every later call of that instance fails ("memory access out of
// bounds"). One hostile input would end TypeScript and top-level await for every later run of
// the server. So a faulted instance is dropped and the package loaded afresh (≈ 50–100 ms, once
// per fault).
import { createRequire } from 'node:module';
import type * as SwcTypescript from '@swc/wasm-typescript';
import type * as SwcWasm from '@swc/wasm';

const require = createRequire(import.meta.url);

/** A call into swc ended in a fault, not a syntax error; the instance it ran on is replaced. */
export class SwcFault extends Error {
  override name = 'SwcFault';
}

/** WebAssembly's trap error (this project's TypeScript lib has no WebAssembly types). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: abstract new () => Error } }).WebAssembly.RuntimeError;

/** A stack overflow (RangeError) or a trap (WebAssembly.RuntimeError): the instance is in doubt. */
export function isFault(error: unknown): boolean {
  return error instanceof RangeError || error instanceof WasmRuntimeError;
}

class WasmPackage<Module> {
  private readonly path: string;
  private module: Module;
  /** Instances dropped after a fault (tests, logs). */
  replaced = 0;

  constructor(name: string) {
    this.path = require.resolve(name);
    this.module = this.load();
  }

  /** wasm-bindgen's Node build instantiates when its file is evaluated: a fresh require, a fresh instance. */
  private load(): Module {
    delete require.cache[this.path];
    return require(this.path) as Module;
  }

  /** Runs `use` on the current instance; after a fault the instance is replaced and SwcFault thrown. */
  call<Result>(use: (module: Module) => Result): Result {
    try {
      return use(this.module);
    } catch (error) {
      if (!isFault(error)) throw error;
      this.module = this.load();
      this.replaced++;
      throw new SwcFault(error instanceof Error ? error.message : String(error));
    }
  }
}

export const swcTypescript = new WasmPackage<typeof SwcTypescript>('@swc/wasm-typescript');
export const swcParser = new WasmPackage<typeof SwcWasm>('@swc/wasm');
