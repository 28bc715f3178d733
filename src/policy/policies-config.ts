// `--policies-json` (a file path or inline JSON) and the `--opa-url`/`--opa-fetch-policy`
// shorthand, validated into policy sets, then loaded into deciders. The format (api.md):
//   {"fetch": {"mode": "all", "policies": [{"url": "file:///etc/mcp/fetch.rego"}]},
//    "filesystem": {"mode": "any", "policies": [{"url": "http://opa:8181", "policy_path": "mcp/filesystem"}]},
//    "modules": {"policies": [{"url": "file:///etc/mcp/modules/", "rule": "data.mcp.modules.allow"}]}}
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CombinedDecider, LocalRegoDecider, OpaRestDecider, type PolicyDecider, type PolicyMode } from './decider.ts';
import type { ModuleSource } from './rego/index.ts';

export const POLICY_KEYS = ['fetch', 'filesystem', 'modules'] as const;
export type PolicyKey = (typeof POLICY_KEYS)[number];

export interface PolicySource {
  readonly url: string;
  readonly rule?: string;
  readonly policy_path?: string;
}

export interface PolicySet {
  readonly mode: PolicyMode;
  readonly policies: readonly PolicySource[];
}

export type PoliciesConfig = Partial<Record<PolicyKey, PolicySet>>;

export class PolicyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyConfigError';
  }
}

const REGO_FILES_MAX = 256;
const REGO_BYTES_MAX = 4 * 1024 * 1024;

const sourceSchema = z.object({
  url: z.string().refine((u) => /^(file|https?):\/\//.test(u), { message: 'must be a file://, http:// or https:// URL' }),
  rule: z.string().regex(/^data(\.[A-Za-z_][A-Za-z0-9_]*)+$/, { message: 'must be a reference like data.mcp.fetch.allow' }).optional(),
  policy_path: z.string().regex(/^\/?[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, { message: 'must be a path like mcp/fetch' }).optional(),
}).strict();
const setSchema = z.object({
  mode: z.enum(['all', 'any']).optional(),
  policies: z.array(sourceSchema).min(1).max(64),
}).strict();
const configSchema = z.object({ fetch: setSchema.optional(), filesystem: setSchema.optional(), modules: setSchema.optional() }).strict();

/** Validates `--policies-json`: inline JSON when it starts with `{`, else a file path. */
export function parsePoliciesJson(arg: string, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): PoliciesConfig {
  const inline = arg.trimStart().startsWith('{');
  const name = inline ? '(inline JSON)' : arg;
  let text: string;
  if (inline) text = arg;
  else {
    try { text = read(arg); } catch (err) {
      throw new PolicyConfigError(`--policies-json ${name}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  let json: unknown;
  try { json = JSON.parse(text); } catch (err) { throw new PolicyConfigError(`--policies-json ${name}: not valid JSON (${(err as Error).message})`); }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
    const keys = issue.code === 'unrecognized_keys' ? ` ${issue.keys.join(', ')}` : '';
    throw new PolicyConfigError(`--policies-json ${name}: ${field === '' ? 'top level' : `field ${field}`}: ${issue.message}${keys}`);
  }
  const out: PoliciesConfig = {};
  for (const key of POLICY_KEYS) {
    const set = parsed.data[key];
    if (set !== undefined) out[key] = { mode: set.mode ?? 'all', policies: set.policies };
  }
  return out;
}

/** `--opa-url` (+ `--opa-fetch-policy`, default mcp/fetch) adds a remote fetch policy (all must allow). */
export function withOpaFetchShorthand(config: PoliciesConfig, opaUrl: string | undefined, opaFetchPolicy: string | undefined): PoliciesConfig {
  if (opaUrl === undefined) {
    if (opaFetchPolicy !== undefined) throw new PolicyConfigError('--opa-fetch-policy requires --opa-url');
    return config;
  }
  if (!/^https?:\/\//.test(opaUrl)) throw new PolicyConfigError(`--opa-url ${JSON.stringify(opaUrl)} must be an http:// or https:// URL`);
  const source: PolicySource = { url: opaUrl, policy_path: opaFetchPolicy ?? 'mcp/fetch' };
  const fetch = config.fetch;
  if (fetch !== undefined && fetch.mode === 'any' && fetch.policies.length > 1) {
    throw new PolicyConfigError('--opa-url with a --policies-json fetch set in mode "any": add the OPA URL to that set instead, so the mode is clear');
  }
  return { ...config, fetch: { mode: 'all', policies: fetch === undefined ? [source] : [...fetch.policies, source] } };
}

/** Reads `.rego` files (one file, or every `.rego` in a folder tree), bounded in count and size. */
export function loadRegoSources(url: string, where: string): ModuleSource[] {
  let root: string;
  try { root = fileURLToPath(url); } catch (err) { throw new PolicyConfigError(`${where}: ${url} is not a valid file URL (${(err as Error).message})`); }
  const files: string[] = [];
  const walk = (path: string): void => {
    let st;
    try { st = statSync(path); } catch (err) { throw new PolicyConfigError(`${where}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`); }
    if (st.isDirectory()) for (const e of readdirSync(path).sort()) { const p = join(path, e); if (e.endsWith('.rego') || statSync(p).isDirectory()) walk(p); }
    else files.push(path);
    if (files.length > REGO_FILES_MAX) throw new PolicyConfigError(`${where}: more than ${REGO_FILES_MAX} .rego files under ${root}`);
  };
  walk(root);
  if (files.length === 0) throw new PolicyConfigError(`${where}: no .rego files under ${root}`);
  let bytes = 0;
  return files.map((file) => {
    const source = readFileSync(file, 'utf8');
    bytes += source.length;
    if (bytes > REGO_BYTES_MAX) throw new PolicyConfigError(`${where}: Rego sources under ${root} exceed ${REGO_BYTES_MAX} bytes`);
    return { file, source };
  });
}

/** Builds one decider per configured capability. Local Rego is parsed now, so errors surface at start-up. */
export function buildDeciders(config: PoliciesConfig, opaTimeoutMs?: number): Partial<Record<PolicyKey, PolicyDecider>> {
  const out: Partial<Record<PolicyKey, PolicyDecider>> = {};
  for (const key of POLICY_KEYS) {
    const set = config[key];
    if (set === undefined) continue;
    const deciders = set.policies.map((p, i) => {
      const where = `--policies-json ${key}.policies[${i}]`;
      if (p.url.startsWith('file://')) {
        if (p.policy_path !== undefined) throw new PolicyConfigError(`${where}: policy_path is for OPA URLs; a file:// policy takes rule`);
        const modules = loadRegoSources(p.url, where);
        try { return new LocalRegoDecider(modules, p.rule ?? `data.mcp.${key}.allow`); } catch (err) {
          throw new PolicyConfigError(`${where}: ${(err as Error).message}`);
        }
      }
      if (p.rule !== undefined) throw new PolicyConfigError(`${where}: rule is for file:// policies; an OPA URL takes policy_path`);
      try {
        return new OpaRestDecider({ url: p.url, policyPath: p.policy_path ?? `mcp/${key}`, ...(opaTimeoutMs === undefined ? {} : { timeoutMs: opaTimeoutMs }) });
      } catch (err) {
        throw new PolicyConfigError(`${where}: ${(err as Error).message}`);
      }
    });
    out[key] = new CombinedDecider(deciders, set.mode);
  }
  return out;
}
