// Where a run's imports come from (docs/modules.md): specifiers resolved (npm: and jsr: to the
// CDN, URLs as they are, relative ones against the importing module's final URL), checked (off
// unless --allow-external-modules; a "modules" policy when one is configured), fetched with
// bounds on size, time and redirects, and cached in memory and on disk by URL. Every answer a
// run got is written to its journal (`ModuleJournal`), which a stateful heap records, so a resume
// is answered from the record and never fetches (`ReplaySources`).
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { PolicyDecider } from '../policy/decider.ts';
import { moduleInput } from '../policy/inputs.ts';
import { ReplayFailed } from './outcome.ts';

export const moduleCdnUrlDefault = 'https://esm.sh';
export const moduleBytesMaxDefault = 10 * 1024 * 1024;
export const moduleFetchTimeoutMsDefault = 30_000;
export const moduleCacheBytesMaxDefault = 512 * 1024 * 1024;
/** The in-memory cache's share: sources kept in this process, by URL. */
export const moduleMemoryCacheBytesMax = 64 * 1024 * 1024;
export const moduleRedirectsMax = 10;
/** Modules one run may load (its whole graph): a bound on the work and memory one run can cause. */
export const runModulesMax = 2_000;
/** Characters of module source one run may load in all (the host holds them while it links). */
export const runModuleCharsMax = 64 * 1024 * 1024;

/** A module import failed: the text names the module (specifier and URL) and why. */
export class ModuleError extends Error {
  override name = 'Error';

  /** `prefix`: what the run's error text starts with (`''` when the message names its kind). */
  constructor(message: string, prefix = 'Error: ') {
    super(message);
    // Its text is the run's error, without host frames (describeThrown reads the stack).
    this.stack = `${prefix}${message}`;
  }
}

export interface ModuleLoaderOptions {
  /** --allow-external-modules: without it every fetching import fails, with no network traffic. */
  allowExternal: boolean;
  /** --module-cdn-url: where npm: and jsr: specifiers go (esm.sh's layout). */
  cdnUrl?: string;
  /** --module-cache-dir: the disk cache; none when absent. */
  cacheDir?: string | null;
  cacheBytesMax?: number;
  moduleBytesMax?: number;
  fetchTimeoutMs?: number;
  /** The "modules" policy (--policies-json): every import is checked when present. */
  modulePolicy?: PolicyDecider;
}

/** One answer a run got: the module `specifier` imported from `base` ("" for the run's code). */
export interface JournalEntry {
  specifier: string;
  base: string;
  /** The final URL (after redirects) and the sha256 of its source; or why it failed. */
  url?: string;
  sha256?: string;
  error?: string;
}

/** What a run's imports were answered with, and the sources (by sha256) a heap must keep. */
export interface ModuleJournal {
  entries: JournalEntry[];
  sources: Map<string, string>;
}

/** A fetched module: its final URL and source. */
export interface ModuleSource { url: string; source: string; sha256: string }

/** What the linker asks for: the module `specifier` names when imported from `base`. */
export interface SourceProvider {
  obtain(specifier: string, base: string): Promise<ModuleSource>;
}

export function sha256Of(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function disabled(specifier: string): ModuleError {
  const kind = specifier.startsWith('npm:') ? 'npm package' : specifier.startsWith('jsr:') ? 'jsr package' : 'URL module';
  return new ModuleError(`External module imports are disabled. Cannot import ${kind} '${specifier}'. Start the server with --allow-external-modules to enable.`);
}

/** Where `specifier` imported from `base` ("" for the run's own code) is fetched from. */
export function resolveSpecifier(specifier: string, base: string, cdnUrl: string): URL {
  const cdn = cdnUrl.replace(/\/+$/, '');
  if (specifier.startsWith('npm:')) return new URL(`${cdn}/${specifier.slice(4).replace(/^\/+/, '')}`);
  if (specifier.startsWith('jsr:')) return new URL(`${cdn}/jsr/${specifier.slice(4).replace(/^\/+/, '')}`);
  if (/^https?:\/\//i.test(specifier)) return new URL(specifier);
  if (/^(\.{0,2}\/)/.test(specifier)) {
    if (base === '') {
      throw new ModuleError(`Cannot import '${specifier}': the code of a run has no URL to resolve a relative import against; import from npm:, jsr: or a full https:// URL`);
    }
    return new URL(specifier, base);
  }
  if (specifier.startsWith('node:')) throw new ModuleError(`Cannot import '${specifier}': Node.js built-in modules do not exist in this sandbox`);
  const from = base === '' ? '' : ` (imported by ${base})`;
  throw new ModuleError(`Cannot import '${specifier}'${from}: only npm:, jsr:, https:// and http:// specifiers and relative paths can be imported${base === '' ? `; for an npm package write 'npm:${specifier}'` : ''}`);
}

/** Sources by URL, in memory (bounded) and on disk (bounded, oldest files dropped first). */
export class ModuleCache {
  private readonly memory = new Map<string, ModuleSource>();
  private memoryBytes = 0;
  private readonly dir: string | null;
  private readonly bytesMax: number;
  private diskBytes: number | null = null;
  /** Reads and writes of the disk cache (tests, bench). */
  diskHits = 0;

  constructor(dir: string | null, bytesMax: number) {
    this.dir = dir;
    this.bytesMax = bytesMax;
  }

  private fileOf(url: string): string {
    return join(this.dir!, `${sha256Of(url)}.json`);
  }

  private remember(requested: string, module: ModuleSource): void {
    const old = this.memory.get(requested);
    if (old !== undefined) this.memoryBytes -= old.source.length;
    this.memory.delete(requested);
    this.memory.set(requested, module);
    this.memoryBytes += module.source.length;
    while (this.memoryBytes > moduleMemoryCacheBytesMax && this.memory.size > 1) {
      const [key, value] = this.memory.entries().next().value!;
      this.memory.delete(key);
      this.memoryBytes -= value.source.length;
    }
  }

  /** The module a request URL led to, from memory or disk; undefined when not cached. */
  async get(requested: string): Promise<ModuleSource | undefined> {
    const hit = this.memory.get(requested);
    if (hit !== undefined) {
      this.memory.delete(requested);
      this.memory.set(requested, hit);
      return hit;
    }
    if (this.dir === null) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.fileOf(requested), 'utf8'));
    } catch {
      return undefined;
    }
    const entry = parsed as Partial<ModuleSource & { requested: string }>;
    // A damaged or foreign file is a miss, never a module.
    if (typeof entry.url !== 'string' || typeof entry.source !== 'string' || entry.requested !== requested || entry.sha256 !== sha256Of(entry.source)) return undefined;
    const module = { url: entry.url, source: entry.source, sha256: entry.sha256 };
    this.diskHits++;
    this.remember(requested, module);
    return module;
  }

  async put(requested: string, module: ModuleSource): Promise<void> {
    this.remember(requested, module);
    if (this.dir === null || module.source.length > this.bytesMax) return;
    await mkdir(this.dir, { recursive: true });
    const file = this.fileOf(requested);
    const text = JSON.stringify({ requested, ...module });
    // Written aside and renamed: a reader never sees half a file.
    const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, text);
    await rename(temporary, file);
    this.diskBytes = (this.diskBytes ?? await this.measure()) + Buffer.byteLength(text);
    if (this.diskBytes > this.bytesMax) await this.trim();
  }

  private async measure(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dir!)) total += (await stat(join(this.dir!, name)).catch(() => ({ size: 0 }))).size;
    return total;
  }

  /** Drops the least recently written files until the cache is within three quarters of its bound. */
  private async trim(): Promise<void> {
    const files = await Promise.all((await readdir(this.dir!)).map(async (name) => {
      const info = await stat(join(this.dir!, name)).catch(() => null);
      return { name, size: info?.size ?? 0, mtimeMs: info?.mtimeMs ?? 0 };
    }));
    files.sort((left, right) => left.mtimeMs - right.mtimeMs);
    let total = files.reduce((sum, file) => sum + file.size, 0);
    for (const file of files) {
      if (total <= this.bytesMax * 0.75) break;
      await unlink(join(this.dir!, file.name)).catch(() => undefined);
      total -= file.size;
    }
    this.diskBytes = total;
  }
}

/** Reads a response body up to `bytesMax`, else fails naming the module and the bound. */
async function readBounded(body: AsyncIterable<Uint8Array> & { destroy(): void }, url: string, bytesMax: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    if (bytes > bytesMax) {
      body.destroy();
      throw new ModuleError(`Module ${url} is larger than the ${bytesMax} bytes a module may have (--module-bytes-max)`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The network side: resolution, checks, fetches and the caches; one per server. */
export class ModuleLoader {
  readonly allowExternal: boolean;
  readonly cdnUrl: string;
  readonly cache: ModuleCache;
  private readonly moduleBytesMax: number;
  private readonly fetchTimeoutMs: number;
  private readonly policy: PolicyDecider | null;
  /** Fetches under way, by request URL: runs importing the same module share one. */
  private readonly inflight = new Map<string, Promise<ModuleSource>>();
  /** Requests sent (tests, metrics). */
  fetches = 0;

  constructor(options: ModuleLoaderOptions) {
    this.allowExternal = options.allowExternal;
    this.cdnUrl = options.cdnUrl ?? moduleCdnUrlDefault;
    new URL(this.cdnUrl);
    this.cache = new ModuleCache(options.cacheDir ?? null, options.cacheBytesMax ?? moduleCacheBytesMaxDefault);
    this.moduleBytesMax = options.moduleBytesMax ?? moduleBytesMaxDefault;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? moduleFetchTimeoutMsDefault;
    this.policy = options.modulePolicy ?? null;
  }

  /** The module `specifier` names from `base`: checked, then from the cache or the network. */
  async obtain(specifier: string, base: string): Promise<ModuleSource> {
    // Off: nothing is resolved against the CDN and nothing is fetched.
    if (!this.allowExternal && /^(npm|jsr):|^https?:\/\//i.test(specifier)) throw disabled(specifier);
    let url: URL;
    try {
      url = resolveSpecifier(specifier, base, this.cdnUrl);
    } catch (error) {
      if (error instanceof ModuleError) throw error;
      throw new ModuleError(`Cannot import '${specifier}': it is not a valid URL`);
    }
    if (!this.allowExternal) throw disabled(url.href);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ModuleError(`Cannot import '${specifier}': only https: and http: modules can be fetched (it resolved to ${url.href})`);
    await this.check(specifier, url);
    const cached = await this.cache.get(url.href);
    // A redirect's target is checked too, also when the cache answers for it.
    if (cached !== undefined) {
      if (cached.url !== url.href) await this.check(specifier, new URL(cached.url));
      return cached;
    }
    let pending = this.inflight.get(url.href);
    if (pending === undefined) {
      pending = this.fetchModule(url, (target) => this.check(specifier, target)).finally(() => this.inflight.delete(url.href));
      this.inflight.set(url.href, pending);
    }
    return pending;
  }

  /** The modules policy's decision on importing `specifier` from `url`: a denial throws. */
  private async check(specifier: string, url: URL): Promise<void> {
    if (this.policy === null) return;
    const decision = await this.policy.decide(moduleInput(specifier, url));
    if (!decision.allow) throw new ModuleError(`Module import denied by policy: '${specifier}' (${url.href}): ${decision.reason}`);
  }

  /** Fetches `requested`, following redirects by hand; each hop's target is `checkHop`ped before it is fetched. */
  private async fetchModule(requested: URL, checkHop: (target: URL) => Promise<void>): Promise<ModuleSource> {
    const signal = AbortSignal.timeout(this.fetchTimeoutMs);
    let url = requested;
    for (let hop = 0; ; hop++) {
      this.fetches++;
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(url, { method: 'GET', signal, headers: { accept: 'application/javascript, text/javascript, */*' } });
      } catch (error) {
        throw new ModuleError(signal.aborted
          ? `Fetching module ${url.href} took longer than ${this.fetchTimeoutMs} ms (--module-fetch-timeout-ms)`
          : `Fetching module ${url.href} failed: ${(error as Error).message}`);
      }
      const location = response.headers['location'];
      if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === 'string') {
        await response.body.dump();
        if (hop >= moduleRedirectsMax) throw new ModuleError(`Fetching module ${requested.href} followed more than ${moduleRedirectsMax} redirects`);
        url = new URL(location, url);
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ModuleError(`Module ${requested.href} redirected to ${url.href}, which is not an http(s) URL`);
        await checkHop(url);
        continue;
      }
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new ModuleError(`Fetching module ${url.href} failed: HTTP ${response.statusCode}`);
      }
      let source: string;
      try {
        source = await readBounded(response.body, url.href, this.moduleBytesMax);
      } catch (error) {
        if (error instanceof ModuleError) throw error;
        throw new ModuleError(signal.aborted
          ? `Fetching module ${url.href} took longer than ${this.fetchTimeoutMs} ms (--module-fetch-timeout-ms)`
          : `Fetching module ${url.href} failed: ${(error as Error).message}`);
      }
      const module = { url: url.href, source, sha256: sha256Of(source) };
      await this.cache.put(requested.href, module).catch(() => undefined);
      return module;
    }
  }
}

/** A run's provider: the loader's answers, each written to the run's journal. */
export function journaling(loader: ModuleLoader, journal: ModuleJournal): SourceProvider {
  return {
    async obtain(specifier, base) {
      if (journal.entries.length >= runModulesMax) throw new ModuleError(`This run imports more than ${runModulesMax} modules`);
      try {
        const module = await loader.obtain(specifier, base);
        if (!journal.sources.has(module.sha256)) {
          let chars = module.source.length;
          for (const source of journal.sources.values()) chars += source.length;
          if (chars > runModuleCharsMax) throw new ModuleError(`This run's modules pass ${runModuleCharsMax} characters of source in all (at ${module.url})`);
        }
        journal.entries.push({ specifier, base, url: module.url, sha256: module.sha256 });
        journal.sources.set(module.sha256, module.source);
        return module;
      } catch (error) {
        const text = error instanceof ModuleError ? error.stack! : `Error: Cannot import '${specifier}': ${(error as Error).message}`;
        journal.entries.push({ specifier, base, error: text });
        throw new ModuleError(text, '');
      }
    },
  };
}

/** What a replay answers imports from: the recorded journal and sources; never the network. */
export function replaying(heap: string, recorded: { entries: JournalEntry[]; sources: Map<string, string> }): SourceProvider {
  return {
    async obtain(specifier, base) {
      const entry = recorded.entries.find((candidate) => candidate.specifier === specifier && candidate.base === base);
      // A record without the answer cannot be replayed: the heap fails to resume (never a fetch).
      if (entry === undefined) throw new ReplayFailed(`the import of '${specifier}'${base === '' ? '' : ` from ${base}`} is not in the record of heap ${heap}`);
      if (entry.error !== undefined) throw new ModuleError(entry.error, '');
      const source = recorded.sources.get(entry.sha256!);
      if (source === undefined) throw new ReplayFailed(`the source of module ${entry.url} (sha256 ${entry.sha256}) that heap ${heap} imported is missing`);
      return { url: entry.url!, source, sha256: entry.sha256! };
    },
  };
}
