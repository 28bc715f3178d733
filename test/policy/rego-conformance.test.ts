// Runs OPA's own Rego test cases (test/fixtures/rego-conformance, copied byte for byte from
// /work/shared/conformance; see its README) through our evaluator and reports passed, failed and
// unsupported. Unsupported means the evaluator refused cleanly with "unsupported: <feature>";
// such a case never counts as passed, and a refusal is never a wrong answer.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { RegoError, RegoPolicy, evalTermText, fromJSON, toJSON, type Value } from '../../src/policy/rego/index.ts';

const fixtureDir = join(import.meta.dirname, '../fixtures/rego-conformance/rego');
const sharedDir = '/work/shared/conformance/rego';
/** Recorded at the last change of the evaluator: fewer passing cases is a regression. */
const PASSED_MIN = 345;

interface Case {
  note: string;
  query: string;
  modules?: string[];
  data?: unknown;
  input?: unknown;
  input_term?: string;
  want_result?: Record<string, unknown>[];
  want_error_code?: string;
  want_error?: string;
  sort_bindings?: boolean;
  strict_error?: boolean;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? yamlFiles(p) : e.name.endsWith('.yaml') ? [p] : [];
  }).sort();
}

function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (x !== null && typeof x === 'object') {
    return `{${Object.keys(x).sort().map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}

function normaliseRows(rows: Record<string, unknown>[], sortBindings: boolean): string {
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      // Through Rego values and back: numbers compare by value, sets become sorted arrays.
      let j = toJSON(fromJSON(v));
      if (sortBindings && Array.isArray(j)) j = [...j].sort((a, b) => canonical(a).localeCompare(canonical(b)));
      out[k] = j;
    }
    return canonical(out);
  }).sort().join('\n');
}

type Outcome = { kind: 'passed' } | { kind: 'failed' | 'unsupported'; why: string };

function runCase(c: Case): Outcome {
  let rows: Map<string, Value>[];
  try {
    const policy = new RegoPolicy((c.modules ?? []).map((source, i) => ({ file: `test-${i}.rego`, source })), c.data ?? {});
    const input = c.input_term !== undefined ? evalTermText(c.input_term) : c.input === undefined ? undefined : fromJSON(c.input);
    rows = policy.query(c.query, input, { strictBuiltinErrors: c.strict_error === true });
  } catch (err) {
    if (err instanceof RegoError && err.code === 'unsupported') return { kind: 'unsupported', why: err.message };
    const wanted = c.want_error_code !== undefined || c.want_error !== undefined;
    if (!wanted) return { kind: 'failed', why: `error ${String(err instanceof Error ? err.message : err)}` };
    const code = err instanceof RegoError ? err.code : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    if (c.want_error_code !== undefined && code !== c.want_error_code) return { kind: 'failed', why: `error code ${code} (${message}), want ${c.want_error_code}` };
    if (c.want_error !== undefined && !message.includes(c.want_error)) return { kind: 'failed', why: `error ${JSON.stringify(message)}, want it to contain ${JSON.stringify(c.want_error)}` };
    return { kind: 'passed' };
  }
  if (c.want_error_code !== undefined || c.want_error !== undefined) return { kind: 'failed', why: `no error, want ${c.want_error_code ?? ''} ${c.want_error ?? ''}` };
  const got = rows.map((r) => Object.fromEntries([...r].map(([k, v]) => [k, toJSON(v)])));
  const sort = c.sort_bindings === true;
  const a = normaliseRows(got, sort);
  const b = normaliseRows(c.want_result ?? [], sort);
  return a === b ? { kind: 'passed' } : { kind: 'failed', why: `got ${a || '(undefined)'}; want ${b || '(undefined)'}` };
}

test('the vendored conformance cases are the shared ones, unedited', { skip: false }, () => {
  const ours = yamlFiles(fixtureDir).map((p) => relative(fixtureDir, p));
  assert.ok(ours.length > 100, `only ${ours.length} case files found under ${fixtureDir}`);
  if (!existsSync(sharedDir)) return; // CI's fresh machine has only the vendored copy
  assert.deepEqual(ours, yamlFiles(sharedDir).map((p) => relative(sharedDir, p)));
  for (const r of ours) assert.ok(readFileSync(join(fixtureDir, r)).equals(readFileSync(join(sharedDir, r))), `${r} differs from ${sharedDir}`);
});

test('Rego conformance: OPA test cases through the in-process evaluator', (t) => {
  const counts = { passed: 0, failed: 0, unsupported: 0 };
  const report: string[] = [];
  for (const file of yamlFiles(fixtureDir)) {
    const doc = YAML.parse(readFileSync(file, 'utf8')) as { cases: Case[] };
    for (const c of doc.cases) {
      const outcome = runCase(c);
      counts[outcome.kind]++;
      if (outcome.kind !== 'passed') report.push(`${outcome.kind}: ${relative(fixtureDir, file)} "${c.note}": ${outcome.why.slice(0, 400)}`);
    }
  }
  const claimed = counts.passed + counts.failed;
  const summary = `passed ${counts.passed}, failed ${counts.failed}, unsupported ${counts.unsupported} (${((100 * counts.passed) / claimed).toFixed(1)} % of claimed cases)`;
  for (const line of report) t.diagnostic(line);
  t.diagnostic(summary);
  if (process.env.REGO_CONFORMANCE_VERBOSE) process.stdout.write(`${report.join('\n')}\n${summary}\n`);
  assert.ok(counts.passed >= 0.9 * claimed, `fewer than 90 % of claimed cases pass: ${summary}`);
  assert.ok(counts.passed >= PASSED_MIN, `regression: ${summary}, recorded minimum ${PASSED_MIN}`);
});
