// swc's WebAssembly builds, replaced after a fault. Both packages run on every input, in the
// source worker (source-worker.ts; on the main thread only in tests). A fault inside one (a
// stack overflow on deeply nested code, which takes a 2,000-deep parenthesis, or a Rust panic)
// unwinds the WebAssembly stack without restoring swc's own state, and every later call of that
// instance fails ("memory access out of bounds"). One hostile input would end TypeScript and top-level await for every later run of
// the server. So a faulted instance is dropped and the package loaded afresh (≈ 10 ms for the
// stripper, ≈ 30 ms for the parser, once per fault).
import { readFileSync } from 'node:fs';
import NodeModule, { createRequire } from 'node:module';
import { dirname } from 'node:path';
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

export class WasmPackage<Module> {
  private readonly path: string;
  /** Loaded on first use: the main thread, which leaves swc to the source worker, never loads it. */
  private module: Module | null = null;
  /** Instances dropped after a fault (tests, logs). */
  replaced = 0;
  /** Instances dropped because they had taken `renewAfterChars` of input (tests, logs). */
  renewed = 0;
  private readonly renewAfterChars: number;
  private charsSinceLoad = 0;

  /**
   * `renewAfterChars`: a fresh instance once this many characters of input went through the
   * current one. swc's parser keeps every source it parsed in a global source map inside its
   * WebAssembly memory, which never shrinks: ≈ 1 byte per character, for good. A fresh instance
   * starts empty, and the old one's memory goes with it.
   */
  constructor(name: string, options: { renewAfterChars?: number } = {}) {
    this.path = require.resolve(name);
    this.renewAfterChars = options.renewAfterChars ?? Number.POSITIVE_INFINITY;
  }

  /**
   * wasm-bindgen's Node build instantiates when its file is evaluated, so evaluating it again
   * makes a fresh instance. Not through require: a required module stays in its parent's
   * `children` even once out of require's cache, and with it every instance it made.
   */
  private load(): Module {
    const loaded = new NodeModule(this.path);
    loaded.filename = this.path;
    loaded.paths = (NodeModule as unknown as { _nodeModulePaths(from: string): string[] })._nodeModulePaths(dirname(this.path));
    (loaded as unknown as { _compile(source: string, filename: string): void })._compile(readFileSync(this.path, 'utf8'), this.path);
    return loaded.exports as Module;
  }

  /** The current instance (tests). */
  get instance(): Module {
    this.module ??= this.load();
    return this.module;
  }

  /**
   * Runs `use` on the current instance with `inputChars` of input; after a fault the instance is
   * replaced and SwcFault thrown.
   */
  call<Result>(inputChars: number, use: (module: Module) => Result): Result {
    if (this.charsSinceLoad > 0 && this.charsSinceLoad + inputChars > this.renewAfterChars) {
      this.module = this.load();
      this.charsSinceLoad = 0;
      this.renewed++;
    }
    this.charsSinceLoad += inputChars;
    try {
      return use(this.instance);
    } catch (error) {
      if (!isFault(error)) throw error;
      this.module = this.load();
      this.charsSinceLoad = 0;
      this.replaced++;
      throw new SwcFault(error instanceof Error ? error.message : String(error));
    }
  }
}

/** swc's parser keeps what it parsed; 32 Mi characters ≈ 32–96 MiB of its memory at most. */
export const parserRenewAfterChars = 32 * 1024 * 1024;

export const swcTypescript = new WasmPackage<typeof SwcTypescript>('@swc/wasm-typescript');
export const swcParser = new WasmPackage<typeof SwcWasm>('@swc/wasm', { renewAfterChars: parserRenewAfterChars });
