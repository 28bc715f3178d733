// Types for the sandbox code (src/exec/sandbox/*.js), checked by tsconfig.sandbox.json with no
// DOM and no Node types: the globals the sandbox files define for each other (each deleted by the
// file that takes it), and the web globals web.js defines for the prelude and user code.
// Not part of the host's program (tsconfig.json excludes this folder).

/** The isolate's global object, indexable by the names the sandbox defines and replaces. */
interface SandboxInspect { inspect(value: unknown, options?: { depth?: number }): string; /** util.format of an argument list (an array: no spread through the run's Array iterator) */ format(args: unknown[]): string }
interface SandboxDeterminism {
  next32(): number;
  userNow(): number;
  loopNow(): number;
  noteEvent(event: { kind: 'timer'; timerId: number; atMs: number } | { kind: 'work'; workId: number }): void;
  reseed(seed: number): void;
  begin(seed: number, clockReadingsMs: number[] | null): void;
  replaying(): boolean;
  replayIssue(): string | null;
  takeRecord(): unknown;
}
/** Each defined by one sandbox file and deleted by the one that takes it (so: optional). */
declare var __mcpv8_inspect: SandboxInspect | undefined;
declare var __mcpv8_determinism: SandboxDeterminism | undefined;
declare var __mcpv8_attach: unknown;
/** web.js's byte helpers for web-api.js, built on builtins captured at start-up. */
declare var __mcpv8_webBytes: { bytesOf(input: unknown): Uint8Array | null; inherits(value: object, prototype: object): boolean; put(target: object, key: PropertyKey, value: unknown): void; typedArrayLength: (this: any) => number; typedArrayBuffer: (this: any) => ArrayBuffer } | undefined;
/** lazy.js: a group of globals as its build ends. */
type LazyGroup = { name: string; holder: object; names: string[]; values: Record<string, unknown>; getters: Function[]; setters: Array<Function | undefined>; writable: boolean; enumerable: boolean };
/** lazy.js: globals made on first use. */
declare var __mcpv8_lazy: {
  defineLazy(holder: object, names: string[], build: () => Record<string, unknown>, options?: { enumerable?: boolean; readOnly?: boolean; depth?: number; group?: string }): () => Record<string, unknown>;
  buildWith(build: (...args: any[]) => Record<string, unknown>, values: unknown[]): () => Record<string, unknown>;
  setPresenter(present: (value: unknown, name: string, depth: number) => void): void;
  /** Builds the group of that name (a checkpoint's restore); false if there is none. */
  buildGroup(name: string): boolean;
  /** The groups built in this context, in the order their builds ended. */
  builtGroups(): string[];
  hasGroup(name: string): boolean;
  /** Told of each group as its build ends, before user code sees it (prelude/checkpoint.js). */
  setBuildObserver(observe: (group: LazyGroup) => void): void;
} | undefined;
/** web-api.js: builds (once) and answers its classes, for the prelude's fetch. */
declare var __mcpv8_webApi: (() => Record<string, any>) | undefined;
/** web-api.js: runs a prelude part's addition to the classes when they are built. */
declare var __mcpv8_webApiExtend: ((extend: (values: Record<string, any>) => void) => void) | undefined;
declare var __mcpv8_headerPairs: ((headers: unknown) => [string, string][] | null) | undefined;
declare var performance: { now(): number };
declare var TextEncoder: { new (): { encode(text?: string): Uint8Array }; prototype: { encode(text?: string): Uint8Array } };
/** V8's WebAssembly namespace (lib.dom declares it; the sandbox has no DOM): read by name, wrapped. */
declare var WebAssembly: any;

/** Proxy handlers of ours have no prototype: a trap a run puts on Object.prototype is never looked up. */
interface ProxyHandler<T extends object> { __proto__?: null }
