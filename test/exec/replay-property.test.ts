// Property: for random programs that use every non-deterministic API the sandbox offers (random,
// clocks, crypto, timers of random delays, intervals, concurrent promises, microtasks) and may
// throw, the state rebuilt by replaying the recorded history equals the live state, byte for
// byte. Seeded: a failure names its seed and program, and replays the same way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { statefulHarness } from './stateful-harness.ts';

const { runStateful, chain, resume, drop } = await statefulHarness();

function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const statements: Array<(k: number, pick: (n: number) => number) => string> = [
  () => 's.push(Math.random());',
  () => 's.push(Date.now());',
  () => 's.push(Math.round(performance.now() * 1000));',
  () => "s.push(crypto.getRandomValues(new Uint8Array(3)).join('.'));",
  () => 's.push(crypto.randomUUID());',
  (k, pick) => `setTimeout(() => s.push('t${k}@' + Date.now()), ${pick(12)});`,
  (k, pick) => `await new Promise((done) => setTimeout(done, ${pick(8)}));`,
  (k, pick) => `await Promise.all([new Promise((done) => setTimeout(() => { s.push('a${k}'); done(); }, ${pick(6)})), new Promise((done) => setTimeout(() => { s.push('b${k}'); done(); }, ${pick(6)}))]);`,
  (k, pick) => `await Promise.race([new Promise((done) => setTimeout(() => done('x${k}'), ${pick(5)})), new Promise((done) => setTimeout(() => done('y${k}'), ${pick(5)}))]).then((won) => s.push(won));`,
  (k, pick) => `{ let n${k} = 0; const h${k} = setInterval(() => { s.push('i${k}:' + n${k}); if (++n${k} === ${1 + pick(3)}) clearInterval(h${k}); }, ${1 + pick(4)}); }`,
  (k) => `queueMicrotask(() => s.push('m${k}:' + Math.random()));`,
  (k) => `Promise.resolve().then(() => s.push('p${k}:' + Date.now()));`,
  (k) => `if (Math.random() < 0.5) s.push('branch${k}'); else var other${k} = Date.now();`,
  (k) => `const local${k} = s.length; s.push({ at: local${k}, seen: new Date().toISOString() });`,
  (k) => `if (Math.random() < 0.08) throw new Error('chance ${k}');`,
];

function program(seed: number): string[] {
  const random = generator(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const runs = 1 + pick(3);
  const codes: string[] = [];
  let k = 0;
  for (let run = 0; run < runs; run++) {
    const lines = run === 0 ? ['var s = [];'] : [];
    const count = 2 + pick(7);
    for (let index = 0; index < count; index++) lines.push(statements[pick(statements.length)]!(k++, pick));
    lines.push('s.length');
    codes.push(lines.join('\n'));
  }
  return codes;
}

describe('replay equals live', () => {
  const seeds = Array.from({ length: 40 }, (_, index) => 1000 + index);
  test(`${seeds.length} random programs`, async () => {
    for (const seed of seeds) {
      const codes = program(seed);
      const { steps, last } = await chain(codes);
      const probe = 'JSON.stringify(s)';
      const live = await runStateful(probe, resume(last.live!));
      const replayed = await runStateful(probe, { replay: steps });
      const context = `seed ${seed}:\n${codes.join('\n---\n')}`;
      assert.equal(live.outcome.status, 'completed', `${context}\n${live.outcome.error}`);
      assert.equal(replayed.outcome.status, 'completed', `${context}\n${replayed.outcome.error}`);
      assert.equal(replayed.outcome.result, live.outcome.result, context);
      drop(live.live);
      drop(replayed.live);
    }
  });
});
