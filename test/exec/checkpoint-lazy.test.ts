// Checkpoints of histories that read lazily built globals (lazy.js: URL, Headers, Blob, Event,
// crypto.subtle …; docs/stateful.md, "Checkpoints"): the checkpoint names the groups built, a
// restore builds them again before the data, and the heap it gives equals the whole replay; a
// group whose built classes user code changed refuses the checkpoint (the whole history replays,
// with the same result); an instance of a built class in the state refuses it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkpointRunsEvery } from '../../src/exec/run.ts';
import type { ReplayStep, StatefulStart } from '../../src/exec/types.ts';
import { checkpointHelpers } from './checkpoint-support.ts';
import { statefulHarness } from './stateful-harness.ts';

const harness = await statefulHarness();
const { runStateful, chain, resume, drop } = harness;
const { resumeAndRun, liveEqualsReplayed } = checkpointHelpers(harness);

/** The lazily built globals (and crypto.subtle): data or accessor, and what the classes give. */
const probe = `JSON.stringify([
  ['URL', 'URLSearchParams', 'AbortController', 'AbortSignal', 'Headers', 'Blob', 'File', 'FormData', 'Event', 'CustomEvent', 'EventTarget', 'ReadableStream'].map((name) => {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    return [name, 'value' in d ? typeof d.value : 'accessor', d.writable, d.enumerable, d.configurable];
  }),
  'value' in Object.getOwnPropertyDescriptor(crypto, 'subtle'),
  Object.keys(globalThis).filter((name) => name.startsWith('s_')).map((name) => [name, JSON.stringify(globalThis[name])]),
  new URL('/p?q=' + s_count, s_base).href, String(URL), String(URL.prototype.toString), Object.getOwnPropertyNames(Headers.prototype).length,
])`;

/** A history of `runs` runs, `first` then plain ones: its steps, the checkpoint its last run left, and its live context. */
async function history(first: string[], runs: number): Promise<{ steps: ReplayStep[]; checkpoints: Array<string | null | undefined>; live: string | null }> {
  const codes = [...first, ...Array.from({ length: runs - first.length }, (_, index) => `var s_count = (globalThis.s_count ?? 0) + 1; var s_last${index % 3} = { at: ${index}, tags: ['t'] }; s_count`)];
  const { steps, last } = await chain(codes);
  return { steps, checkpoints: [last.outcome.checkpoint], live: last.live };
}

const webRun = "var s_base = 'https://example.com/a/'; var s_path = new URL('b?x=1', s_base).pathname; var s_header = new Headers({ 'X-A': '1' }).get('x-a'); var s_event = typeof EventTarget; s_path";
const cryptoRun = "var s_digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('a')))].slice(0, 4); var s_aborted = new AbortController().signal.aborted; s_digest.length";
const later = ["s_count += 1; new URL('c', s_base).href + new Headers([['a', String(s_count)]]).get('a')", "var s_more = new URL('?' + new URLSearchParams({ k: 'v w' }), s_base).search; s_more", probe];

describe('a history that read lazily built globals resumes from a checkpoint', () => {
  test(`URL, Headers, EventTarget, crypto.subtle and AbortController read in early runs, ${checkpointRunsEvery} runs: the checkpoint names the groups, and equals the whole replay`, async () => {
    const { steps, checkpoints, live } = await history([webRun, cryptoRun], checkpointRunsEvery);
    drop(live);
    const state = checkpoints[0];
    assert.equal(typeof state, 'string', 'the last run left a checkpoint');
    assert.deepEqual(JSON.parse(state!).groups, ['web-api', 'events', 'crypto.subtle']);
    const fallbacks: string[] = [];
    const fromIt: StatefulStart = { replay: [], checkpoint: { heap: steps.at(-1)!.heap, state: state!, fallback: async (reason) => { fallbacks.push(reason); return steps; } } };
    const restored = await resumeAndRun(fromIt, [probe, ...later]);
    const replayed = await resumeAndRun({ replay: steps }, [probe, ...later]);
    assert.deepEqual(fallbacks, []);
    assert.deepEqual(restored, replayed);
    // The probe saw the built classes as data properties and the history's data (not two empty states that agree).
    assert.match(restored[0]!, /\["URL","function",true,false,true\]/);
    assert.match(restored[0]!, /\["ReadableStream","accessor"/);
    assert.match(restored[0]!, /"s_path","\\"\/a\/b\\""/);
    assert.match(restored[0]!, /"s_digest","\[202,151,129,18\]"/);
  });

  test('streams read in an early run (their group builds web-api first)', async () => {
    const streamRun = "var s_chunks = await (async () => { const reader = new ReadableStream({ start(c) { c.enqueue('a'); c.enqueue('b'); c.close(); } }).getReader(); const chunks = []; for (;;) { const { done, value } = await reader.read(); if (done) return chunks; chunks.push(value); } })(); s_chunks.length";
    const { steps, checkpoints, live } = await history([streamRun, webRun], checkpointRunsEvery);
    drop(live);
    assert.deepEqual(JSON.parse(checkpoints[0]!).groups, ['web-api', 'streams', 'events']);
    const streamLater = "var s_again = await new Response(new Blob(['x', 'y']).stream()).text(); s_again + s_chunks.join('') + typeof WritableStream";
    const fromIt: StatefulStart = { replay: [], checkpoint: { heap: steps.at(-1)!.heap, state: checkpoints[0]!, fallback: () => assert.fail('the checkpoint was refused') } };
    const restored = await resumeAndRun(fromIt, [probe, streamLater]);
    assert.deepEqual(restored, await resumeAndRun({ replay: steps }, [probe, streamLater]));
    assert.match(restored[0]!, /\["ReadableStream","function",true,false,true\]/);
    assert.equal(restored[1], 'xyabfunction');
  });

  test('a context rebuilt by whole replay records the groups its replayed runs built, and checkpoints', async () => {
    const { steps, live } = await history([webRun], checkpointRunsEvery - 2);
    drop(live);
    // Replayed: run 30 of the context's; two live runs later, the 32nd takes a checkpoint.
    const results = [];
    let next: StatefulStart = { replay: steps };
    let last: string | null | undefined;
    for (let index = 0; index < 2; index++) {
      const ran = await runStateful("s_count += 1; new Headers([['n', String(s_count)]]).get('n')", next);
      assert.equal(ran.outcome.status, 'completed', ran.outcome.error ?? undefined);
      results.push(ran.outcome.result);
      last = ran.outcome.checkpoint;
      if ('resume' in next) drop(next.resume);
      next = resume(ran.live!);
    }
    if ('resume' in next) drop(next.resume);
    assert.deepEqual(results, [String(checkpointRunsEvery - 2), String(checkpointRunsEvery - 1)]);
    assert.deepEqual(JSON.parse(last!).groups, ['web-api', 'events']);
  });

  test('a restored context checkpoints again (its groups recorded as the restore built them)', async () => {
    const { steps, checkpoints, live } = await history([webRun], checkpointRunsEvery);
    drop(live);
    const start: StatefulStart = { replay: [], checkpoint: { heap: steps.at(-1)!.heap, state: checkpoints[0]!, fallback: () => assert.fail('the checkpoint was refused') } };
    let next: StatefulStart = start;
    let last: string | null | undefined;
    for (let index = 0; index < checkpointRunsEvery; index++) {
      const ran = await runStateful(`s_count += 1; new URL('x', s_base).pathname`, next);
      assert.equal(ran.outcome.status, 'completed', ran.outcome.error ?? undefined);
      last = ran.outcome.checkpoint;
      if ('resume' in next) drop(next.resume);
      next = resume(ran.live!);
    }
    if ('resume' in next) drop(next.resume);
    assert.equal(typeof last, 'string');
    assert.deepEqual(JSON.parse(last!).groups, ['web-api', 'events']);
  });
});

/** A run that builds the web classes (a read of URL) while what a walk would call is replaced, then puts all back; `s_hooked` counts the calls. */
const hookedBuild = (indexSetters: boolean) => `var s_hooked = 0; var s_kind = (() => {
    let hooked = 0;
    const saved = { add: Set.prototype.add, has: Set.prototype.has, get: Map.prototype.get, set: Map.prototype.set, push: Array.prototype.push, iterator: Array.prototype[Symbol.iterator] };
    Set.prototype.add = function (...a) { hooked++; return saved.add.apply(this, a); };
    Set.prototype.has = function (...a) { hooked++; return saved.has.apply(this, a); };
    Map.prototype.get = function (...a) { hooked++; return saved.get.apply(this, a); };
    Map.prototype.set = function (...a) { hooked++; return saved.set.apply(this, a); };
    Array.prototype.push = function (...a) { hooked++; return saved.push.apply(this, a); };
    Array.prototype[Symbol.iterator] = function () { hooked++; return saved.iterator.call(this); };
    const indices = ${indexSetters ? "['0', '1', '2', '3']" : '[]'};
    for (let at = 0; at < indices.length; at++) Object.defineProperty(Array.prototype, indices[at], { __proto__: null, set(value) { hooked++; URL.prototype.extra = 1; }, configurable: true });
    const names = ['value', 'get', 'set', 'writable'];
    for (let at = 0; at < names.length; at++) Object.defineProperty(Object.prototype, names[at], { __proto__: null, get() { hooked++; return undefined; }, configurable: true });
    const kind = typeof URL;
    for (let at = 0; at < indices.length; at++) delete Array.prototype[indices[at]];
    for (let at = 0; at < names.length; at++) delete Object.prototype[names[at]];
    Set.prototype.add = saved.add; Set.prototype.has = saved.has; Map.prototype.get = saved.get; Map.prototype.set = saved.set;
    Array.prototype.push = saved.push; Array.prototype[Symbol.iterator] = saved.iterator;
    s_hooked = hooked;
    return kind;
  })(); s_kind`;

test('a group built while user code had replaced what a walk would call runs none of it, and its record holds', async () => {
  // Installed, the group built (its objects recorded), then put back: the checkpoint's check then
  // passes, so the record must be of the classes as built, made without calling any of these.
  const { steps, checkpoints, live } = await history([hookedBuild(false), webRun], checkpointRunsEvery);
  assert.equal(typeof checkpoints[0], 'string', 'the built-ins are put back: a checkpoint');
  await liveEqualsReplayed(steps, live, "JSON.stringify([s_hooked, Object.keys(URL.prototype).length])");
  const fromIt: StatefulStart = { replay: [], checkpoint: { heap: steps.at(-1)!.heap, state: checkpoints[0]!, fallback: () => assert.fail('the checkpoint was refused') } };
  const codes = [probe, 'String(s_hooked)'];
  const restored = await resumeAndRun(fromIt, codes);
  assert.deepEqual(restored, await resumeAndRun({ replay: steps }, codes));
  assert.equal(restored[1], '0');
  // Index setters on Array.prototype too (defined and deleted, the check finds Array.prototype changed, as before groups were kept: no checkpoint): none ran.
  const indexed = await history([hookedBuild(true), webRun], checkpointRunsEvery);
  await liveEqualsReplayed(indexed.steps, indexed.live, "JSON.stringify([s_hooked, 'extra' in URL.prototype])");
  const replayed = await resumeAndRun({ replay: indexed.steps }, ["JSON.stringify([s_hooked, 'extra' in URL.prototype])"]);
  assert.deepEqual(replayed, ['[0,false]']);
});

describe('a lazily built class user code changed refuses the checkpoint', () => {
  const cases: Array<[string, string]> = [
    ["a built class's prototype method replaced", "URL.prototype.toString = function () { return 'mine'; };"],
    ['a static added to a built class', 'Headers.extra = 1;'],
    ['a built global replaced by a user value', 'new URL("http://a/"); globalThis.URL = function URL() {};'],
    ['a built global deleted', 'new Headers(); delete globalThis.Blob;'],
    ['a lazy global replaced before its group was built', 'globalThis.Headers = 1; new URL("http://a/");'],
    ["crypto.subtle's digest replaced", 'crypto.subtle.digest = () => 1;'],
    ['an event class frozen', 'Object.freeze(EventTarget.prototype);'],
    ['a getter of a built prototype replaced', "Object.defineProperty(URL.prototype, 'href', { get() { return 'x'; } });"],
    ['an instance of a built class in the state (URL)', "var s_url = new URL('http://a/b');"],
    ['an instance of a built class in the state (Headers, in an object)', "var s_holder = { headers: new Headers() };"],
    ['a built class in the state', 'var s_class = { URL };'],
    ['a stream class changed', 'ReadableStream.prototype.getReader = () => null;'],
    ['a stream in the state', 'var s_stream = new ReadableStream();'],
  ];
  const rest = Array.from({ length: checkpointRunsEvery - 1 }, (_, index) => `var s_n${index} = ${index};`);
  test('the control: a history that read the same classes, unchanged, gets one', async () => {
    const { last } = await chain(["new URL('http://a/'); new Headers(); new EventTarget(); crypto.subtle; 'ok'", ...rest]);
    assert.equal(typeof last.outcome.checkpoint, 'string');
    drop(last.live);
  });
  for (const [what, code] of cases) {
    test(what, async () => {
      const { steps, last } = await chain([code, ...rest]);
      assert.equal(last.outcome.checkpoint, null);
      // The whole replay gives what the live context has.
      await liveEqualsReplayed(steps, last.live, "JSON.stringify([typeof URL, String(globalThis.URL?.prototype?.toString), typeof Headers, Object.keys(globalThis.Headers ?? {}), typeof Blob, Object.isFrozen(globalThis.EventTarget?.prototype ?? {})])");
    });
  }
});

describe('a checkpoint naming groups the sandbox refuses falls back to the whole replay', () => {
  const corrupt: Array<[string, (state: string) => string]> = [
    ['a group this sandbox does not have', (state) => state.replace('"web-api"', '"no-such-group"')],
    ['a group named twice', (state) => state.replace('"groups":["web-api"', '"groups":["web-api","web-api"')],
    ['no group in format 3', (state) => state.replace(/"groups":\[[^\]]*\]/, '"groups":[]')],
    ['groups in format 2', (state) => state.replace('"format":3', '"format":2')],
    ['a group that is not a name', (state) => state.replace('"groups":["web-api"', '"groups":[7')],
  ];
  for (const [what, damage] of corrupt) {
    test(what, async () => {
      const { steps, checkpoints, live } = await history([webRun], checkpointRunsEvery);
      drop(live);
      const damaged = damage(checkpoints[0]!);
      assert.notEqual(damaged, checkpoints[0]);
      const reasons: string[] = [];
      const start: StatefulStart = { replay: [], checkpoint: { heap: steps.at(-1)!.heap, state: damaged, fallback: async (reason) => { reasons.push(reason); return steps; } } };
      assert.deepEqual(await resumeAndRun(start, [probe, later[0]!]), await resumeAndRun({ replay: steps }, [probe, later[0]!]));
      assert.equal(reasons.length, 1);
    });
  }
});
