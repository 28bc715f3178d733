// From the policy flags to ready gates: the one call the server makes at start-up once the
// sandbox's fetch()/fs exist (not yet: the flags are still refused in src/config.ts). Every
// problem is an INVALID_FLAG error naming the flag, file and field; secrets never appear.
import { readFileSync } from 'node:fs';
import { McpV8Error } from '../errors.ts';
import type { PolicyDecider } from './decider.ts';
import { FetchGate } from './fetch-gate.ts';
import { FsGate } from './fs-gate.ts';
import { HeaderConfigError, describeHeaderRules, mergeHeaderRules, parseFetchHeaderConfig, parseFetchHeaderFlag, type HeaderRule } from './headers.ts';
import { PolicyConfigError, buildDeciders, parsePoliciesJson, withOpaFetchShorthand, type PoliciesConfig } from './policies-config.ts';

export interface PolicyFlags {
  readonly policiesJson?: string | undefined;
  readonly opaUrl?: string | undefined;
  readonly opaFetchPolicy?: string | undefined;
  readonly fetchHeader?: readonly string[] | undefined;
  readonly fetchHeaderConfig?: string | undefined;
}

export interface PolicyCapabilities {
  /** Present when a fetch policy is configured: the sandbox gets fetch(). */
  readonly fetch: FetchGate | undefined;
  /** Present when a filesystem policy is configured: the sandbox gets fs. */
  readonly fs: FsGate | undefined;
  /** Present when a modules policy is configured: imports are checked. */
  readonly modules: PolicyDecider | undefined;
  /** For a start-up log line or a config dump: policies and rules, header values redacted. */
  readonly summary: Record<string, unknown>;
}

export function buildPolicyCapabilities(flags: PolicyFlags, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): PolicyCapabilities {
  try {
    let config: PoliciesConfig = flags.policiesJson === undefined ? {} : parsePoliciesJson(flags.policiesJson, read);
    config = withOpaFetchShorthand(config, flags.opaUrl, flags.opaFetchPolicy);
    const rules = headerRules(flags, read);
    if (rules.length > 0 && config.fetch === undefined) {
      throw new PolicyConfigError(`--${flags.fetchHeader?.length ? 'fetch-header' : 'fetch-header-config'} requires a fetch policy: --opa-url, or a "fetch" entry in --policies-json`);
    }
    const deciders = buildDeciders(config);
    return {
      fetch: deciders.fetch === undefined ? undefined : new FetchGate({ decider: deciders.fetch, headerRules: rules }),
      fs: deciders.filesystem === undefined ? undefined : new FsGate({ decider: deciders.filesystem }),
      modules: deciders.modules,
      summary: {
        ...Object.fromEntries(Object.entries(deciders).map(([k, d]) => [k, d.description])),
        ...(rules.length > 0 ? { fetchHeaders: describeHeaderRules(rules) } : {}),
      },
    };
  } catch (err) {
    if (err instanceof PolicyConfigError || err instanceof HeaderConfigError) throw new McpV8Error('INVALID_FLAG', err.message);
    throw err;
  }
}

function headerRules(flags: PolicyFlags, read: (path: string) => string): HeaderRule[] {
  const fromFlags = (flags.fetchHeader ?? []).map((text, i) => parseFetchHeaderFlag(text, i));
  let fromFile: HeaderRule[] = [];
  if (flags.fetchHeaderConfig !== undefined) {
    let text: string;
    try { text = read(flags.fetchHeaderConfig); } catch (err) {
      throw new HeaderConfigError(`--fetch-header-config ${flags.fetchHeaderConfig}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    fromFile = parseFetchHeaderConfig(text, flags.fetchHeaderConfig);
  }
  return mergeHeaderRules(fromFlags, fromFile);
}
