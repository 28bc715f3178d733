// Policy decisions: a PolicyDecider answers allow or deny for an input document. Two kinds: Rego
// evaluated in-process, and a remote OPA over its REST API. Every failure (a policy that does not
// evaluate, an OPA that is down, slow or answers nonsense) is a deny with a reason that says why.
import { request } from 'undici';
import { POLICY_LIMITS } from './limits.ts';
import { RegoError, RegoPolicy, type ModuleSource } from './rego/index.ts';

export interface PolicyDecision {
  readonly allow: boolean;
  /** Names the policy and what it decided (or why it could not), for error messages and logs. */
  readonly reason: string;
}

export interface PolicyDecider {
  /** E.g. `rego data.mcp.fetch.allow (fetch.rego)` or `OPA http://opa:8181/v1/data/mcp/fetch`. */
  readonly description: string;
  decide(input: unknown): Promise<PolicyDecision>;
}

/** Rego modules evaluated in this process; allow only if the rule's value is exactly `true`. */
export class LocalRegoDecider implements PolicyDecider {
  readonly description: string;
  private readonly policy: RegoPolicy;
  private readonly rulePath: readonly string[];

  /** `rule` like `data.mcp.fetch.allow`. Throws RegoError (file and line) for a bad module. */
  constructor(modules: readonly ModuleSource[], rule: string, data: unknown = {}) {
    const path = rule.split('.');
    if (path[0] !== 'data' || path.length < 2 || path.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) {
      throw new RegoError('rego_compile_error', `rule ${JSON.stringify(rule)} must be a reference like data.mcp.fetch.allow`);
    }
    this.rulePath = path.slice(1);
    this.policy = new RegoPolicy(modules, data);
    this.description = `rego ${rule} (${modules.map((m) => m.file).join(', ')})`;
  }

  decideSync(input: unknown): PolicyDecision {
    try {
      const value = this.policy.evaluate(this.rulePath, input, { stepsMax: POLICY_LIMITS.regoDecisionStepsMax });
      if (value === true) return { allow: true, reason: `${this.description} allowed` };
      return { allow: false, reason: `${this.description} is ${value === undefined ? 'undefined' : JSON.stringify(value)}` };
    } catch (err) {
      return { allow: false, reason: `${this.description} failed to evaluate: ${(err as Error).message}` };
    }
  }

  decide(input: unknown): Promise<PolicyDecision> {
    return Promise.resolve(this.decideSync(input));
  }
}

export interface OpaRestOptions {
  /** OPA's base URL, e.g. http://127.0.0.1:8181 */
  readonly url: string;
  /** Path under /v1/data/, e.g. mcp/fetch */
  readonly policyPath: string;
  readonly timeoutMs?: number;
  readonly responseBytesMax?: number;
}

export const OPA_TIMEOUT_MS_DEFAULT = 5_000;
export const OPA_RESPONSE_BYTES_MAX = 1024 * 1024;

/** OPA's Data API: POST <url>/v1/data/<path> {input}; allow if result.allow or result is true. */
export class OpaRestDecider implements PolicyDecider {
  readonly description: string;
  private readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly responseBytesMax: number;

  constructor(options: OpaRestOptions) {
    const base = new URL(options.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`OPA URL ${options.url} must be http:// or https://`);
    const path = options.policyPath.replace(/^\/+|\/+$/g, '');
    if (path === '' || path.split('/').some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) throw new Error(`OPA policy path ${JSON.stringify(options.policyPath)} must look like mcp/fetch`);
    this.endpoint = `${base.origin}${base.pathname.replace(/\/+$/, '')}/v1/data/${path}`;
    this.timeoutMs = options.timeoutMs ?? OPA_TIMEOUT_MS_DEFAULT;
    this.responseBytesMax = options.responseBytesMax ?? OPA_RESPONSE_BYTES_MAX;
    this.description = `OPA ${this.endpoint}`;
  }

  async decide(input: unknown): Promise<PolicyDecision> {
    let text: string;
    let status: number;
    try {
      const res = await request(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ input }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.statusCode;
      text = await readBounded(res.body, this.responseBytesMax);
    } catch (err) {
      const e = err as Error & { code?: string };
      const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${this.timeoutMs} ms`
        : e.code === 'RESPONSE_TOO_LARGE' ? `answered with a ${e.message}` : `unreachable (${e.code ?? e.message})`;
      return { allow: false, reason: `${this.description} ${why}` };
    }
    if (status !== 200) return { allow: false, reason: `${this.description} answered HTTP ${status}: ${text.slice(0, 200)}` };
    let body: unknown;
    try { body = JSON.parse(text); } catch { return { allow: false, reason: `${this.description} answered with invalid JSON` }; }
    const result = (body as { result?: unknown }).result;
    const allow = result === true || (typeof result === 'object' && result !== null && (result as { allow?: unknown }).allow === true);
    const shown = result === undefined ? 'undefined (no such policy or no result)' : JSON.stringify(result).slice(0, 200);
    return { allow, reason: `${this.description} ${allow ? 'allowed' : `result is ${shown}`}` };
  }
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy?: (err?: Error) => void }, bytesMax: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > bytesMax) {
      body.destroy?.();
      throw Object.assign(new Error(`response larger than ${bytesMax} bytes`), { code: 'RESPONSE_TOO_LARGE' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export type PolicyMode = 'all' | 'any';

/** Several policies for one capability: `all` must allow (the default) or `any` may. */
export class CombinedDecider implements PolicyDecider {
  readonly description: string;
  private readonly deciders: readonly PolicyDecider[];
  private readonly mode: PolicyMode;

  constructor(deciders: readonly PolicyDecider[], mode: PolicyMode = 'all') {
    if (deciders.length === 0) throw new Error('a policy set needs at least one policy');
    this.deciders = deciders;
    this.mode = mode;
    this.description = deciders.length === 1 ? deciders[0]!.description : `${mode} of [${deciders.map((d) => d.description).join('; ')}]`;
  }

  async decide(input: unknown): Promise<PolicyDecision> {
    const decisions = await Promise.all(this.deciders.map((d) => d.decide(input)));
    if (this.mode === 'all') {
      const deny = decisions.find((d) => !d.allow);
      return deny ?? { allow: true, reason: decisions.map((d) => d.reason).join('; ') };
    }
    const allow = decisions.find((d) => d.allow);
    return allow ?? { allow: false, reason: `no policy allowed: ${decisions.map((d) => d.reason).join('; ')}` };
  }
}
