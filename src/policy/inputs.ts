// The input documents policies see, exactly as the reference README describes them. Policies
// written for the reference server must decide the same way here.

export interface UrlParsed {
  readonly scheme: string;
  readonly host: string;
  readonly port: number | null;
  readonly path: string;
  readonly query: string;
}

export interface FetchInput {
  readonly operation: 'fetch';
  readonly url: string;
  readonly method: string;
  /** Request headers with lower-cased names (the code's own headers, before injection). */
  readonly headers: Readonly<Record<string, string>>;
  readonly url_parsed: UrlParsed;
}

export const FS_OPERATIONS = ['readFile', 'writeFile', 'appendFile', 'readdir', 'stat', 'mkdir', 'rm', 'rename', 'copyFile', 'exists'] as const;
export type FsOperation = (typeof FS_OPERATIONS)[number];

export interface FsInput {
  readonly operation: FsOperation;
  readonly path: string;
  readonly destination?: string;
  readonly recursive?: boolean;
  readonly encoding?: 'utf8' | 'buffer';
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/** scheme without ':', host without port (lower case), port (explicit or the scheme's default), path, query without '?'. */
export function parseUrlForPolicy(url: URL): UrlParsed {
  const scheme = url.protocol.replace(/:$/, '');
  const port = url.port !== '' ? Number(url.port) : (DEFAULT_PORTS[scheme] ?? null);
  return { scheme, host: url.hostname, port, path: url.pathname, query: url.search.replace(/^\?/, '') };
}

export function fetchInput(url: URL, method: string, headers: Iterable<readonly [string, string]>): FetchInput {
  const lower: Record<string, string> = {};
  for (const [k, v] of headers) lower[k.toLowerCase()] = v;
  return { operation: 'fetch', url: url.href, method: method.toUpperCase(), headers: lower, url_parsed: parseUrlForPolicy(url) };
}

export interface ModuleInput {
  readonly specifier: string;
  readonly specifier_type: 'npm' | 'jsr' | 'url';
  readonly resolved_url: string;
  readonly url_parsed: UrlParsed;
}

/** The module-import input document (api.md): what the code wrote and where it resolved to. */
export function moduleInput(specifier: string, resolvedUrl: URL): ModuleInput {
  const specifier_type = specifier.startsWith('npm:') ? 'npm' : specifier.startsWith('jsr:') ? 'jsr' : 'url';
  return { specifier, specifier_type, resolved_url: resolvedUrl.href, url_parsed: parseUrlForPolicy(resolvedUrl) };
}
