// Fetch header injection: rules from `--fetch-header host=…,header=…,value=…[,methods=GET;POST]`
// (repeatable) and `--fetch-header-config` JSON, merged in that order. A rule matches a request
// by host (exact, or `*.domain` which also matches the bare domain; case-insensitive) and by
// method. Injected values are secrets: they appear in no error, log or config dump.
import { z } from 'zod';

export interface HeaderRule {
  /** Lower case; `*.example.com` or `api.example.com`. */
  readonly host: string;
  /** Upper case; undefined = every method. */
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: readonly (readonly [string, string])[];
  /** Replace a header the code set itself (later releases' `override`; default false). */
  readonly override: boolean;
  /** Where the rule came from, for messages: `--fetch-header #2`, `headers.json[0]`. */
  readonly source: string;
}

export const REDACTED = '[redacted]';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HOST = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$|^\[[0-9A-Fa-f:.]+\]$/;
const HEADER_RULES_MAX = 1000;

export class HeaderConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeaderConfigError';
  }
}

function checkHost(host: string, where: string): string {
  if (!HOST.test(host)) throw new HeaderConfigError(`${where}: host ${JSON.stringify(host)} must be a host name like api.example.com or *.example.com`);
  return host.toLowerCase();
}

function checkHeader(name: string, where: string): string {
  if (!TOKEN.test(name)) throw new HeaderConfigError(`${where}: header name ${JSON.stringify(name)} is not a valid HTTP header name`);
  return name;
}

function checkValue(value: string, name: string, where: string): string {
  // The value itself is never echoed.
  if (/[\r\n\0]/.test(value)) throw new HeaderConfigError(`${where}: the value of header ${name} contains a line break or NUL`);
  return value;
}

function checkMethods(methods: readonly string[], where: string): Set<string> {
  if (methods.length === 0) throw new HeaderConfigError(`${where}: methods is empty (leave it out to match every method)`);
  return new Set(methods.map((m) => {
    if (!TOKEN.test(m)) throw new HeaderConfigError(`${where}: method ${JSON.stringify(m)} is not an HTTP method`);
    return m.toUpperCase();
  }));
}

/** The flag text with any value redacted, for error messages. */
export function redactFlag(text: string): string {
  return text.replace(/(^|,)value=.*?(?=,(host|header|methods|override)=|$)/g, `$1value=${REDACTED}`);
}

/** One `--fetch-header` occurrence. A value may itself contain commas. */
export function parseFetchHeaderFlag(text: string, index: number): HeaderRule {
  const where = `--fetch-header #${index + 1} "${redactFlag(text)}"`;
  const fields = new Map<string, string>();
  for (const part of text.split(/,(?=(?:host|header|value|methods|override)=)/)) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (eq < 0 || !['host', 'header', 'value', 'methods', 'override'].includes(key)) throw new HeaderConfigError(`${where}: expected host=…,header=…,value=…[,methods=GET;POST], found ${JSON.stringify(key.slice(0, 40))}`);
    if (fields.has(key)) throw new HeaderConfigError(`${where}: ${key} is given twice`);
    fields.set(key, part.slice(eq + 1));
  }
  for (const required of ['host', 'header', 'value']) if (!fields.has(required)) throw new HeaderConfigError(`${where}: ${required}= is missing`);
  const override = fields.get('override');
  if (override !== undefined && override !== 'true' && override !== 'false') throw new HeaderConfigError(`${where}: override must be true or false`);
  const name = checkHeader(fields.get('header')!, where);
  const methods = fields.get('methods');
  return {
    host: checkHost(fields.get('host')!, where),
    methods: methods === undefined ? undefined : checkMethods(methods.split(';'), where),
    headers: [[name, checkValue(fields.get('value')!, name, where)]],
    override: override === 'true',
    source: `--fetch-header #${index + 1}`,
  };
}

const ruleSchema = z.object({
  host: z.string(),
  methods: z.array(z.string()).optional(),
  headers: z.record(z.string(), z.string()),
  override: z.boolean().optional(),
}).strict();

/** The `--fetch-header-config` file's text; `file` names it in every error. */
export function parseFetchHeaderConfig(text: string, file: string): HeaderRule[] {
  let json: unknown;
  try { json = JSON.parse(text); } catch (err) {
    throw new HeaderConfigError(`--fetch-header-config ${file}: not valid JSON (${(err as Error).message.replace(/"[^"]*"/g, '…')})`);
  }
  const parsed = z.array(ruleSchema).max(HEADER_RULES_MAX).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new HeaderConfigError(`--fetch-header-config ${file}: ${path === '' ? 'the file' : `field ${path.replace(/^\./, '')}`}: ${issue.message} (expected [{"host": "...", "methods"?: ["GET"], "headers": {"Name": "value"}}])`);
  }
  return parsed.data.map((r, i) => {
    const where = `--fetch-header-config ${file}: [${i}]`;
    const headers = Object.entries(r.headers).map(([k, v]) => [checkHeader(k, `${where}.headers`), checkValue(v, k, `${where}.headers`)] as const);
    if (headers.length === 0) throw new HeaderConfigError(`${where}.headers: no headers`);
    return {
      host: checkHost(r.host, `${where}.host`),
      methods: r.methods === undefined ? undefined : checkMethods(r.methods, `${where}.methods`),
      headers,
      override: r.override ?? false,
      source: `${file}[${i}]`,
    };
  });
}

/** Flags first, then the file's rules; rule order decides between two rules for one header. */
export function mergeHeaderRules(flagRules: readonly HeaderRule[], fileRules: readonly HeaderRule[]): HeaderRule[] {
  const all = [...flagRules, ...fileRules];
  if (all.length > HEADER_RULES_MAX) throw new HeaderConfigError(`${all.length} header injection rules; at most ${HEADER_RULES_MAX}`);
  return all;
}

export function hostMatches(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (pattern.startsWith('*.')) {
    const domain = pattern.slice(2);
    return h === domain || h.endsWith(`.${domain}`);
  }
  return h === pattern;
}

/**
 * Adds the matching rules' headers to `headers` (lower-cased names → values, as set by the code).
 * A header the code set wins unless the rule says override; among rules, the first one wins.
 * Returns the names injected (never the values).
 */
export function injectHeaders(rules: readonly HeaderRule[], url: URL, method: string, headers: Map<string, string>): string[] {
  const injected: string[] = [];
  const fromCode = new Set(headers.keys());
  const m = method.toUpperCase();
  for (const rule of rules) {
    if (!hostMatches(rule.host, url.hostname)) continue;
    if (rule.methods !== undefined && !rule.methods.has(m)) continue;
    for (const [name, value] of rule.headers) {
      const key = name.toLowerCase();
      if (injected.includes(key)) continue;
      if (fromCode.has(key) && !rule.override) continue;
      headers.set(key, value);
      injected.push(key);
    }
  }
  return injected;
}

/** The rules as a config dump may show them: values redacted. */
export function describeHeaderRules(rules: readonly HeaderRule[]): unknown[] {
  return rules.map((r) => ({
    host: r.host,
    ...(r.methods ? { methods: [...r.methods] } : {}),
    headers: Object.fromEntries(r.headers.map(([k]) => [k, REDACTED])),
    ...(r.override ? { override: true } : {}),
    source: r.source,
  }));
}
