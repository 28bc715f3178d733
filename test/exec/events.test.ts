// Event, CustomEvent and EventTarget (src/exec/sandbox/events.js), checked against Node's own on
// the same script, and with every builtin they call replaced by the run first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runInThisContext } from 'node:vm';
import { engineForFile } from './harness.ts';

const { run } = await engineForFile(1);

/** Exercises dispatch as code does; notes what it sees without calling Array.prototype.push or Function.prototype.call. */
const scenarioWith = (signal: boolean): string => `(() => {
  const log = [];
  const note = (...entry) => { log[log.length] = entry; };
  const target = new EventTarget();
  const controller = ${signal ? 'new AbortController()' : 'null'};
  function a(e) { note('a', e.type, e.eventPhase, e.target === target, e.currentTarget === target, e.cancelable, e.defaultPrevented); e.preventDefault(); note('a2', e.defaultPrevented, e.returnValue); }
  const b = { handleEvent(e) { note('b', this === b, e.composedPath().length); } };
  target.addEventListener('x', a);
  target.addEventListener('x', a);
  target.addEventListener('x', b, { once: true });
  ${signal ? "target.addEventListener('x', () => note('signal'), { signal: controller.signal });" : ''}
  target.addEventListener('x', (e) => { e.preventDefault(); note('passive', e.defaultPrevented); }, { passive: true });
  target.addEventListener('x', () => note('capture'), true);
  const first = new Event('x', { cancelable: true });
  note('dispatch1', target.dispatchEvent(first), first.eventPhase, first.currentTarget, first.target === target, first.composedPath().length);
  ${signal ? 'controller.abort();' : ''}
  note('dispatch2', target.dispatchEvent(new Event('x')));
  target.removeEventListener('x', a);
  target.removeEventListener('x', () => {}, true);
  note('dispatch3', target.dispatchEvent(new Event('x', { cancelable: true })));
  const stopper = new EventTarget();
  stopper.addEventListener('y', (e) => { note('s1'); e.stopImmediatePropagation(); });
  stopper.addEventListener('y', () => note('s2'));
  stopper.dispatchEvent(new Event('y'));
  const custom = new CustomEvent('c', { detail: { n: 1 }, bubbles: true });
  note('custom', custom.detail.n, custom instanceof Event, new CustomEvent('c').detail, custom.bubbles, custom.composed, Reflect.apply(Object.prototype.toString, custom, []), Reflect.apply(Object.prototype.toString, target, []), Event.AT_TARGET, Event.prototype.BUBBLING_PHASE, new Event('z').isTrusted, typeof new Event('z').timeStamp);
  try { target.dispatchEvent({ type: 'x' }); } catch (error) { note('not an Event', error instanceof TypeError); }
  try { new Event(); } catch (error) { note('no type', error instanceof TypeError); }
  const reentry = new EventTarget();
  reentry.addEventListener('r', (e) => { try { reentry.dispatchEvent(e); } catch (error) { note('reentry', error.name); } });
  reentry.dispatchEvent(new Event('r'));
  const again = new Event('again');
  const counter = new EventTarget();
  let count = 0;
  counter.addEventListener('again', () => { count++; });
  counter.dispatchEvent(again);
  counter.dispatchEvent(again);
  note('redispatched', count);
  return JSON.stringify(log);
})()`;
const scenario = scenarioWith(true);
/** AbortSignal (web-api.js) captures its builtins too: the vandal's scenario is the whole one. */
const vandalScenario = scenario;

const vandal = `Array.prototype.push = function () { throw new Error('push'); };
Array.prototype.splice = function () { throw new Error('splice'); };
Array.prototype.slice = function () { throw new Error('slice'); };
Array.prototype[Symbol.iterator] = function () { throw new Error('iterate'); };
Map.prototype.get = function () { throw new Error('get'); };
Map.prototype.set = function () { throw new Error('set'); };
Function.prototype.call = function () { throw new Error('call'); };
Function.prototype.apply = function () { throw new Error('apply'); };
Promise.prototype.then = function () { throw new Error('then'); };
performance.now = function () { throw new Error('now'); };
String = function () { return 'vandal'; };
Boolean = function () { return true; };
`;

describe('Event, CustomEvent and EventTarget', () => {
  test('dispatch as in Node: order, once, signal, passive, capture, stopImmediatePropagation, detail, re-entry', async () => {
    const expected = runInThisContext(scenario) as string;
    const ran = await run(scenario);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, expected);
    assert.match(expected, /"s1"\]/);
  });

  test('with the builtins they call replaced by the run, they answer as Node does on a clean run', async () => {
    const ran = await run(vandal + vandalScenario);
    assert.equal(ran.status, 'completed', ran.error ?? '');
    assert.equal(ran.result, runInThisContext(vandalScenario) as string);
  });

  test('a listener that throws does not stop the dispatch, and its error fails the run as a throw in a microtask does', async () => {
    const ran = await run("const t = new EventTarget(); let later = false; t.addEventListener('x', () => { throw new Error('listener'); }); t.addEventListener('x', () => { later = true; }); t.dispatchEvent(new Event('x')); later");
    assert.equal(ran.status, 'failed');
    assert.match(String(ran.error), /^Error: listener\n {4}at EventTarget\.<anonymous> \(main\.js:1:87\)/);
    const microtask = await run("queueMicrotask(() => { throw new Error('listener'); }); true");
    assert.equal(microtask.status, ran.status);
  });
});
