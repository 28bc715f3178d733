// --wasm-module name=path (repeatable) and --wasm-config <json file>: the WebAssembly modules
// every execution finds pre-loaded (docs/exec.md, "Pre-loaded WebAssembly modules"). Everything
// is checked here, at start-up: a name that is not an identifier or that a sandbox global
// already has (checked by the engine, which knows its globals), a name given twice, a file that
// is missing, too large or not valid WebAssembly. Each error names the flag and the module.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { McpV8Error } from './errors.ts';

/** A pre-loaded module's file, at most (SQLite's build is 0.66 MiB). */
export const wasmModuleBytesMax = 64 * 1024 * 1024;
/** A wrapper script (--wasm-config's "wrapper"), at most. */
export const wasmWrapperCharsMax = 4 * 1024 * 1024;
/** Pre-loaded modules, at most (each adds two lazy globals to every context). */
export const wasmModulesMax = 64;
const configBytesMax = 1024 * 1024;
/** The host's WebAssembly (the project's type libraries do not declare it). */
const hostWasm = (globalThis as unknown as { WebAssembly: { Module: { new (bytes: Uint8Array): object; imports(module: object): unknown[] } } }).WebAssembly;

export interface WasmModuleConfig {
  /** The global the module's exports become; the compiled module is also `__wasm_<name>`. */
  name: string;
  /** The file, as given; `origin` says which flag gave it. */
  path: string;
  origin: '--wasm-module' | '--wasm-config';
  bytes: Uint8Array;
  /** Lowercase hex SHA-256 of `bytes`: what a stateful heap that used the module records. */
  sha256: string;
  /** The module imports nothing: every context instantiates it (on first use) as `name`. */
  instantiate: boolean;
  /** Sandbox code evaluated on first use of one of `globals`, which it must define on globalThis. */
  wrapper: { path: string; source: string; globals: string[] } | null;
}

const reservedWords = new Set(('break case catch class const continue debugger default delete do else enum export extends false finally for '
  + 'function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static '
  + 'implements interface package private protected public await arguments eval undefined NaN Infinity globalThis __proto__').split(' '));
const identifierPattern = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;

function wasmError(origin: string, name: string, problem: string): McpV8Error {
  return new McpV8Error('INVALID_FLAG', `${origin} ${name}: ${problem}`);
}

/** Why `name` cannot be a global of ours, or null. */
export function globalNameProblem(name: string): string | null {
  if (!identifierPattern.test(name)) return `'${name}' is not a JavaScript identifier of at most 64 ASCII letters, digits, '_' or '$' (not starting with a digit)`;
  if (reservedWords.has(name)) return `'${name}' is a reserved word or a name JavaScript gives a meaning`;
  if (name.startsWith('__mcpv8')) return `'${name}' starts with __mcpv8, which the sandbox keeps for itself`;
  return null;
}

function readBounded(file: string, bytesMax: number, origin: string, name: string, what: string): Buffer {
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw wasmError(origin, name, `${what} ${file} is not a regular file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof McpV8Error) throw error;
    throw wasmError(origin, name, `cannot read ${what} ${file}: ${(error as Error).message}`);
  }
  if (size > bytesMax) throw wasmError(origin, name, `${what} ${file} is ${size} bytes, more than the ${bytesMax} allowed`);
  try {
    return readFileSync(file);
  } catch (error) {
    throw wasmError(origin, name, `cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

function loadModule(name: string, file: string, origin: WasmModuleConfig['origin'], wrapper: { path: string; globals: string[] } | null): WasmModuleConfig {
  const problem = globalNameProblem(name);
  if (problem !== null) throw wasmError(origin, name, problem);
  const bytes = readBounded(file, wasmModuleBytesMax, origin, name, 'the file');
  let module: object;
  try {
    // Compiled once here, on the host, so that invalid bytes stop the start; contexts compile the
    // same bytes again (bounded, sandbox/prelude/wasm.js), which V8 answers from its module cache.
    module = new hostWasm.Module(bytes);
  } catch (error) {
    throw wasmError(origin, name, `${file} is not a valid WebAssembly module: ${(error as Error).message}`);
  }
  let source: string | null = null;
  if (wrapper !== null) {
    source = readBounded(wrapper.path, wasmWrapperCharsMax, origin, name, 'the wrapper').toString('utf8');
    for (const global of wrapper.globals) {
      const globalProblem = globalNameProblem(global);
      if (globalProblem !== null) throw wasmError(origin, name, `wrapper global ${globalProblem}`);
    }
  }
  return {
    name, path: file, origin, bytes: new Uint8Array(bytes), sha256: createHash('sha256').update(bytes).digest('hex'),
    instantiate: hostWasm.Module.imports(module).length === 0,
    wrapper: wrapper === null ? null : { path: wrapper.path, source: source!, globals: wrapper.globals },
  };
}

type ConfigEntry = { path: string; wrapper: { path: string; globals: string[] } | null };

/** --wasm-config: {"name": "/path/m.wasm"} or {"name": {"path": "m.wasm", "wrapper": "w.js", "globals": ["W"]}}; relative paths are against the file's folder. */
function readConfigFile(file: string): Map<string, ConfigEntry> {
  const text = readBounded(file, configBytesMax, '--wasm-config', file, 'the config file').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new McpV8Error('INVALID_FLAG', `--wasm-config ${file}: not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new McpV8Error('INVALID_FLAG', `--wasm-config ${file}: must be a JSON object mapping global names to .wasm paths`);
  const base = path.dirname(path.resolve(file));
  const resolve = (target: string) => path.resolve(base, target);
  const entries = new Map<string, ConfigEntry>();
  for (const [name, entry] of Object.entries(value)) {
    const bad = (problem: string) => wasmError('--wasm-config', name, `${problem} (in ${file})`);
    if (typeof entry === 'string' && entry !== '') {
      entries.set(name, { path: resolve(entry), wrapper: null });
      continue;
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad('must be a path or {"path", "wrapper", "globals"}');
    const { path: modulePath, wrapper, globals, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw bad(`unknown key ${Object.keys(rest)[0]} (path, wrapper, globals)`);
    if (typeof modulePath !== 'string' || modulePath === '') throw bad('"path" must be a non-empty string');
    if (wrapper === undefined && globals === undefined) {
      entries.set(name, { path: resolve(modulePath), wrapper: null });
      continue;
    }
    if (typeof wrapper !== 'string' || wrapper === '') throw bad('"wrapper" must be the path of a .js file (given with "globals")');
    if (!Array.isArray(globals) || globals.length === 0 || globals.length > 16 || !globals.every((global) => typeof global === 'string')) {
      throw bad('"globals" must list 1-16 names the wrapper defines on globalThis');
    }
    entries.set(name, { path: resolve(modulePath), wrapper: { path: resolve(wrapper), globals: globals as string[] } });
  }
  return entries;
}

/** Both flags, merged: a name given twice (by either) is refused. */
export function parseWasmFlags(modules: readonly string[], configFile: string | undefined): WasmModuleConfig[] {
  const loaded: WasmModuleConfig[] = [];
  const seen = new Map<string, string>();
  const add = (name: string, origin: WasmModuleConfig['origin'], entry: ConfigEntry) => {
    const earlier = seen.get(name);
    if (earlier !== undefined) throw wasmError(origin, name, `the name is given twice (also by ${earlier}); names must be unique`);
    const taken = loaded.flatMap((module) => [module.name, ...(module.wrapper?.globals ?? [])]);
    if (taken.includes(name)) throw wasmError(origin, name, 'the name is already a global of an earlier module\'s wrapper');
    for (const global of entry.wrapper?.globals ?? []) {
      if (taken.includes(global) || global === name) throw wasmError(origin, name, `wrapper global ${global} is already a pre-loaded name`);
    }
    seen.set(name, origin);
    loaded.push(loadModule(name, entry.path, origin, entry.wrapper));
  };
  for (const flag of modules) {
    const equals = flag.indexOf('=');
    if (equals <= 0 || equals === flag.length - 1) throw new McpV8Error('INVALID_FLAG', `--wasm-module must be name=path, got '${flag}'`);
    add(flag.slice(0, equals), '--wasm-module', { path: flag.slice(equals + 1), wrapper: null });
  }
  if (configFile !== undefined) for (const [name, entry] of readConfigFile(configFile)) add(name, '--wasm-config', entry);
  if (loaded.length > wasmModulesMax) throw new McpV8Error('INVALID_FLAG', `--wasm-module/--wasm-config: ${loaded.length} modules, more than the ${wasmModulesMax} allowed`);
  return loaded;
}
