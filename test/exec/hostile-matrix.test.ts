// Every hostile value the code can make, delivered every way the host or isolated-vm may touch
// it: each run ends (completed, failed or timed out), no isolate is left running code after its
// run, and the engine serves on. The values run code of their own when anything reads, converts,
// awaits, formats or copies them (getters, proxy traps, toString, then, prepareStackTrace, species),
// and that code never returns. With the prebuilt isolated-vm, 24 of these 192 left an isolate
// thread spinning forever (docs/exec.md, "Limits"); with the patched build, none.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { engine, run, result } = await engineForFile(2);

const spin = 'for (;;) {}';
const values = {
  'looping message and stack getters': `({ get message() { ${spin} }, get stack() { ${spin} } })`,
  'a proxy whose get loops': `new Proxy({}, { get() { ${spin} } })`,
  'a function proxy whose every trap loops': `new Proxy(function () {}, { get() { ${spin} }, apply() { ${spin} }, getPrototypeOf() { ${spin} }, ownKeys() { ${spin} }, getOwnPropertyDescriptor() { ${spin} }, has() { ${spin} } })`,
  'looping toString and valueOf': `({ toString() { ${spin} }, valueOf() { ${spin} } })`,
  'a looping Symbol.toPrimitive': `({ [Symbol.toPrimitive]() { ${spin} } })`,
  'a thenable whose then loops': `({ then(resolve) { ${spin} } })`,
  'a looping then getter': `({ get then() { ${spin} } })`,
  'an Error with a looping name getter': `Object.assign(new Error('e'), { get name() { ${spin} } })`,
  'an Error with looping stack and message': `(() => { const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { ${spin} } }); Object.defineProperty(e, 'message', { get() { ${spin} } }); return e; })()`,
  'a looping Error.prepareStackTrace': `(() => { Error.prepareStackTrace = () => { ${spin} }; return new Error('p'); })()`,
  'an array proxy whose length loops': `new Proxy([], { get(target, key) { if (key === 'length') { ${spin} } return 1; } })`,
  'an array with a looping species': `(() => { class X extends Array { static get [Symbol.species]() { ${spin} } } return new X(); })()`,
};
const deliveries: Record<string, (value: string) => string> = {
  'thrown': (value) => `throw ${value}`,
  'rejected, unhandled': (value) => `Promise.reject(${value}); 1`,
  'the completion value': (value) => value,
  'logged': (value) => `console.log(${value}); 1`,
  'formatted with %s %o %j': (value) => `console.error('%s %o %j', ${value}, ${value}, ${value}); 1`,
  'thrown in a timer': (value) => `setTimeout(() => { throw ${value} }, 1); 1`,
  'thrown in a microtask': (value) => `queueMicrotask(() => { throw ${value} }); 1`,
  'awaited': (value) => `await (${value}); 1`,
  'resolved as the result': (value) => `Promise.resolve(${value})`,
  'JSON-stringified': (value) => `JSON.stringify(${value})`,
  'structured-cloned': (value) => `structuredClone(${value})`,
  'text-encoded': (value) => `new TextEncoder().encode(${value})`,
  'tabled and dir-ed': (value) => `console.table(${value}); console.dir(${value}); 1`,
  'thrown in an async function': (value) => `(async () => { throw ${value} })(); 1`,
  'rejected in a timer': (value) => `setTimeout(() => Promise.reject(${value}), 1); 1`,
  'rejected, handled later': (value) => `const p = Promise.reject(${value}); setTimeout(() => p.catch(() => {}), 5); 1`,
};

describe('hostile values, every delivery', () => {
  test('every run ends, no isolate keeps running, and the engine serves on', async () => {
    const cases = Object.entries(values).flatMap(([what, value]) => Object.entries(deliveries).map(([how, deliver]) => ({ name: `${what}, ${how}`, code: deliver(value) })));
    const outcomes: string[] = [];
    let next = 0;
    // Four at a time on two slots: queued runs too, as under load.
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < cases.length) {
        const { name, code } = cases[next++]!;
        const ran = await run(code, { timeoutMs: 300 });
        if (!['completed', 'failed', 'timed_out'].includes(ran.status)) outcomes.push(`${name}: ${ran.status} ${ran.error}`);
      }
    }));
    assert.deepEqual(outcomes, [], 'every run completed, failed or timed out');
    assert.equal(engine.stuckIsolates, 0, 'no stopped isolate kept running code');
    assert.deepEqual(await Promise.all([result('6 * 7'), result("'still' + ' serving'")]), ['42', 'still serving']);
  });
});
