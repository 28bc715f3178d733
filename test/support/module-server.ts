// A real HTTP server on 127.0.0.1 serving ES modules as esm.sh lays them out (package paths,
// /jsr/ paths, absolute-path re-exports, redirects), plus the failures a module fetch meets: a
// syntax error, a 404, an oversize body, a slow answer. It counts the requests it gets.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Answer only after `release()` (a slow module): the test decides when, no sleeps. */
  held?: boolean;
}

/** The modules every module test imports. */
export const esmRoutes: Record<string, Route> = {
  // npm:lodash-like@1.0.0 → esm.sh's entry, which re-exports its build by absolute path.
  '/lodash-like@1.0.0': { body: 'export * from "/lodash-like@1.0.0/es2022/lodash-like.mjs";\nexport { default } from "/lodash-like@1.0.0/es2022/lodash-like.mjs";' },
  '/lodash-like@1.0.0/es2022/lodash-like.mjs': { body: 'import { words } from "./words.mjs";\nexport function camelCase(text) { const [first, ...rest] = words(text); return first + rest.map((w) => w[0].toUpperCase() + w.slice(1)).join(""); }\nexport function chunk(list, size) { const out = []; for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size)); return out; }\nexport default { camelCase, chunk };' },
  '/lodash-like@1.0.0/es2022/words.mjs': { body: 'export const words = (text) => text.split(/\\s+/).map((w) => w.toLowerCase());' },
  // jsr:@luca/cases@1.0.0 → /jsr/@luca/cases@1.0.0, a redirect to the versioned build.
  '/jsr/@luca/cases@1.0.0': { status: 302, headers: { location: '/jsr/@luca/cases@1.0.0/mod.js' } },
  '/jsr/@luca/cases@1.0.0/mod.js': { body: 'export { pascalCase } from "./pascal.ts";\nexport const camelCase = (t) => t.replace(/ (\\w)/g, (_, c) => c.toUpperCase());' },
  '/jsr/@luca/cases@1.0.0/pascal.ts': { body: 'interface Options { sep?: string }\nexport function pascalCase(text: string, options: Options = {}): string { return text.split(options.sep ?? " ").map((w: string) => w[0]!.toUpperCase() + w.slice(1)).join(""); }' },
  '/x/tla.js': { body: 'export const value = await Promise.resolve(42);' },
  '/x/counter.js': { body: 'export let count = 0; export function bump() { return ++count; }' },
  '/x/lazy.js': { body: 'export const load = () => import("./counter.js");' },
  '/x/broken.js': { body: 'export const = 1;' },
  '/x/early.js': { body: 'const a = 1;\nexport { a };\nexport { a };' },
  '/x/throws.js': { body: 'throw new TypeError("module refused");' },
  '/x/missing-dep.js': { body: 'import { gone } from "./gone.js"; export const x = gone;' },
  '/x/slow.js': { body: 'export const slow = true;', held: true },
  '/x/moved.js': { status: 301, headers: { location: '/y/final/entry.js' } },
  '/y/final/entry.js': { body: 'export { near } from "./near.js";' },
  '/y/final/near.js': { body: 'export const near = "resolved against the final URL";' },
};

export interface ModuleServer {
  url: string;
  /** Requests per path, and in all. */
  requests: Map<string, number>;
  total(): number;
  /** Answers the held (slow) requests. */
  release(): void;
  /** Resolves when a request for `path` has arrived (a slow module is waiting). */
  arrived(path: string): Promise<void>;
  close(): Promise<void>;
}

export async function startModuleServer(routes: Record<string, Route> = esmRoutes, extra: Record<string, Route> = {}, port = 0): Promise<ModuleServer> {
  const all = { ...routes, ...extra };
  const requests = new Map<string, number>();
  const held: Array<() => void> = [];
  const waiters = new Map<string, Array<() => void>>();
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    for (const wake of waiters.get(path) ?? []) wake();
    waiters.delete(path);
    const route = all[path];
    const answer = () => {
      if (route === undefined) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      response.writeHead(route.status ?? 200, { 'content-type': 'application/javascript', ...route.headers }).end(route.body ?? '');
    };
    if (route?.held === true) held.push(answer);
    else answer();
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    requests,
    total: () => [...requests.values()].reduce((sum, count) => sum + count, 0),
    release: () => { for (const answer of held.splice(0)) answer(); },
    arrived: (path) => (requests.has(path) ? Promise.resolve() : new Promise((resolve) => { waiters.set(path, [...(waiters.get(path) ?? []), resolve]); })),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
