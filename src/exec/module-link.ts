// A run's modules in its context (docs/modules.md): the graph its imports name, obtained from a
// SourceProvider (the network and caches through a journal, or a replay's record), compiled and
// linked by isolated-vm, evaluated before the run's code, and registered with the sandbox's
// import globals (sandbox/prelude/modules.js) by a last, generated module that imports them all.
// A context keeps its modules (a stateful heap's next run imports the same instances).
import ivm from 'isolated-vm';
import { analyseModule, type AnalysedModule, type ImportRequest } from './module-rewrite.ts';
import { ModuleError, type ModuleSource, type SourceProvider } from './modules.ts';
import { SourceCache, SourceError, stripUncached } from './typescript.ts';

/** Analyses kept, by URL and sha256 (parsing a large module takes milliseconds). */
const analysisCacheEntriesMax = 4_096;
const analyses = new SourceCache<AnalysedModule>(analysisCacheEntriesMax, (analysed) => analysed.code.length);

/** The modules a context holds, by final URL, and each module's URL. */
interface ContextModules {
  byUrl: Map<string, ivm.Module>;
  urlOf: Map<ivm.Module, string>;
  /** Per module URL: its static specifiers resolved to URLs. */
  links: Map<string, Map<string, string>>;
}
const contexts = new WeakMap<ivm.Context, ContextModules>();

function isTypeScript(url: string): boolean {
  return /\.(ts|tsx|mts|cts)$/i.test(new URL(url).pathname);
}

function analysed(module: ModuleSource): AnalysedModule {
  const key = `${module.url}\n${module.sha256}`;
  const hit = analyses.get(key);
  if (hit !== undefined) return hit;
  let source = module.source;
  if (isTypeScript(module.url)) {
    try {
      source = stripUncached(source).stripped;
    } catch (error) {
      // JSX is not transformed: a .tsx module's JSX is a syntax error here, like any other.
      throw new ModuleError((error as Error).message.replace(/^SyntaxError: /, `SyntaxError in module ${module.url}: `).replace(' [main.js:', ' [line '), '');
    }
  }
  let result: AnalysedModule;
  try {
    result = analyseModule(source, module.url);
  } catch (error) {
    if (error instanceof SourceError) throw new ModuleError(error.message, '');
    throw error;
  }
  analyses.set(key, result);
  return result;
}

/** What the sandbox's import table gets: each import, the URL of its module, or why it failed. */
type Row = { specifier: string; base: string; dynamic: boolean; url: string | null; error: string | null };

class Linker {
  private readonly rows: Row[] = [];
  private readonly visited = new Set<string>();
  private readonly sources = new Map<string, AnalysedModule>();
  /** Modules V8 did not compile (swc parsed them), by URL: the imports that reach one fail. */
  private readonly failed = new Map<string, string>();

  private readonly state: ContextModules;
  private readonly provider: SourceProvider;

  constructor(state: ContextModules, provider: SourceProvider) {
    this.state = state;
    this.provider = provider;
  }

  /** Obtains the module `specifier` names from `base` and, recursively, what it imports. */
  async visit(specifier: string, base: string): Promise<string> {
    const module = await this.provider.obtain(specifier, base);
    if (!this.visited.has(module.url)) {
      this.visited.add(module.url);
      if (!this.state.byUrl.has(module.url)) {
        const analysis = analysed(module);
        this.sources.set(module.url, analysis);
        const links = new Map<string, string>();
        this.state.links.set(module.url, links);
        await Promise.all(analysis.staticSpecifiers.map(async (dependency) => {
          try {
            links.set(dependency, await this.visit(dependency, module.url));
          } catch (error) {
            throw error instanceof ModuleError && !error.stack!.includes('(imported by ')
              ? new ModuleError(`${error.stack} (imported by ${module.url})`, '')
              : error;
          }
        }));
        await Promise.all(analysis.dynamicSpecifiers.map((dependency) => this.root(dependency, module.url, true)));
      }
    }
    return module.url;
  }

  /** A root: the run's own import, or a literal import() of a module; a dynamic one fails only when called. */
  async root(specifier: string, base: string, dynamic: boolean): Promise<void> {
    try {
      const url = await this.visit(specifier, base);
      this.rows.push({ specifier, base, dynamic, url, error: null });
    } catch (error) {
      if (!dynamic || !(error instanceof ModuleError)) throw error;
      this.rows.push({ specifier, base, dynamic, url: null, error: error.stack! });
    }
  }

  /**
   * Compiles what is new to the context, in it. All compile calls are sent at once: calls sent
   * one after the other run in one wake of the isolate's thread (isolate-pool.ts).
   */
  async compile(isolate: ivm.Isolate): Promise<void> {
    const compiled = await Promise.allSettled([...this.sources].map(([url, analysis]) => isolate.compileModule(analysis.code, { filename: url })));
    const urls = [...this.sources.keys()];
    for (const [index, result] of compiled.entries()) {
      const url = urls[index]!;
      if (result.status === 'rejected') {
        const error = result.reason as Error;
        this.failed.set(url, `${error.name ?? 'SyntaxError'} in module ${url}: ${error.message}`);
        continue;
      }
      this.state.byUrl.set(url, result.value);
      this.state.urlOf.set(result.value, url);
    }
  }

  /** Why the module at `url` or one it imports, statically, did not compile; null when all did. */
  compileFailure(url: string): string | null {
    const seen = new Set<string>();
    const stack = [url];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      const failure = this.failed.get(next);
      if (failure !== undefined) return failure;
      for (const dependency of this.state.links.get(next)?.values() ?? []) stack.push(dependency);
    }
    return null;
  }

  get registrations(): readonly Row[] {
    return this.rows;
  }
}

function stateOf(context: ivm.Context): ContextModules {
  let state = contexts.get(context);
  if (state === undefined) {
    state = { byUrl: new Map(), urlOf: new Map(), links: new Map() };
    contexts.set(context, state);
  }
  return state;
}

function resolverOf(state: ContextModules): (specifier: string, referrer: ivm.Module) => ivm.Module {
  return (specifier, referrer) => {
    const from = state.urlOf.get(referrer);
    const url = from === undefined ? undefined : state.links.get(from)?.get(specifier);
    const module = url === undefined ? undefined : state.byUrl.get(url);
    if (module === undefined) throw new ModuleError(`Cannot link '${specifier}' imported by ${from ?? 'a module'}`);
    return module;
  };
}

/** Evaluates one module; its failure, as the run would report it. */
async function evaluateModule(context: ivm.Context, state: ContextModules, url: string): Promise<string | null> {
  const module = state.byUrl.get(url)!;
  try {
    await module.instantiate(context, resolverOf(state));
    await module.evaluate({ promise: true } as never);
    return null;
  } catch (error) {
    if (error instanceof ModuleError) return error.stack!;
    const thrown = error as Error;
    return `${thrown.stack ?? `${thrown.name}: ${thrown.message}`}`.split('\n').filter((line) => !line.includes('<isolated-vm boundary>')).join('\n');
  }
}

/**
 * Loads the imports of a run's code into its context: throws ModuleError when a static import
 * cannot be loaded or its module throws (no code of the run has run then); a literal import()
 * that fails is registered as failed, and rejects when the code calls it. `onEvaluating` hears
 * when modules start to run: before it, a failure has changed nothing in the context.
 */
export async function linkImports(isolate: ivm.Isolate, context: ivm.Context, imports: readonly ImportRequest[], provider: SourceProvider, onEvaluating: () => void = () => {}): Promise<void> {
  if (imports.length === 0) return;
  const state = stateOf(context);
  const linker = new Linker(state, provider);
  // Static imports in order (their errors are the run's), literal import() calls alongside.
  for (const request of imports) if (!request.dynamic) await linker.root(request.specifier, '', false);
  await Promise.all(imports.filter((request) => request.dynamic).map((request) => linker.root(request.specifier, '', true)));
  await linker.compile(isolate);
  // Until here no code of any module ran: a failure leaves the context as it was.
  onEvaluating();
  const rows = linker.registrations;
  for (const row of rows) {
    const failure = row.url === null ? null : linker.compileFailure(row.url);
    if (failure === null) continue;
    if (!row.dynamic) throw new ModuleError(failure, '');
    row.error = failure;
    row.url = null;
  }
  if (rows.some((row) => row.dynamic && row.url !== null)) {
    // A literal import() whose module throws must fail only that import(): each module is
    // evaluated on its own, static imports first, in order.
    for (const row of rows) {
      if (row.url === null) continue;
      const error = await evaluateModule(context, state, row.url);
      if (error === null) continue;
      if (!row.dynamic) throw new ModuleError(error, '');
      row.error = error;
      row.url = null;
    }
  }
  // Otherwise the registration module evaluates them, as its imports, in order: three calls into
  // the isolate for the whole graph.
  await register(isolate, context, state, rows);
}

/** A generated module imports every namespace and hands the rows to the sandbox's import table. */
async function register(isolate: ivm.Isolate, context: ivm.Context, state: ContextModules, rows: readonly Row[]): Promise<void> {
  const urls = [...new Set(rows.flatMap((row) => row.url === null ? [] : [row.url]))];
  const imports = urls.map((url, index) => `import * as m${index} from ${JSON.stringify(url)};`).join('\n');
  // The sandbox rejects a failed import() with `new Error(text)`, which adds the "Error: " back.
  const table = rows.map((row) => `[${JSON.stringify(row.specifier)}, ${JSON.stringify(row.base)}, ${row.url === null ? 'null' : `m${urls.indexOf(row.url)}`}, ${JSON.stringify(row.error?.replace(/^Error: /, '') ?? null)}]`).join(',\n');
  const registration = await isolate.compileModule(`${imports}\n__mcpv8_register_imports([${table}]);`, { filename: 'mcp-v8:imports' });
  try {
    await registration.instantiate(context, (specifier, referrer) => referrer === registration ? state.byUrl.get(specifier)! : resolverOf(state)(specifier, referrer));
    await registration.evaluate({ promise: true } as never);
  } catch (error) {
    if (error instanceof ModuleError) throw error;
    const thrown = error as Error;
    throw new ModuleError(`${thrown.stack ?? `${thrown.name}: ${thrown.message}`}`.split('\n').filter((line) => !line.includes('<isolated-vm boundary>')).join('\n'), '');
  } finally {
    registration.release();
  }
}
