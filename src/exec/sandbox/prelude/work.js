// @ts-check
// Sandbox code, part of the prelude (see console.js): work V8 finishes outside microtasks, and
// a FinalizationRegistry whose cleanup never runs.
// ---- work V8 finishes outside microtasks: async WebAssembly compiles on a background thread ----
// The host cannot see those tasks, so the sandbox counts them; while one is pending, a run
// that awaits it is not stuck, and the host polls instead of failing it.
// Their results reach user code in an order the host records (a 'work' event), and a replay
// delivers them in that same order (control 'deliver'), whenever V8 actually finishes them.
const promiseThen = Promise.prototype.then;
const RealPromise = Promise;
let pendingWork = 0;
let workSequence = 0;
/**
 * Runs started in this context: work still pending when its run ended never completes (its
 * promise stays pending), so it can neither reach user code during a later run (or during
 * another execution on the same isolate) nor make a live resume differ from a replay.
 */
let generation = 0;
/** Replay: finished work waiting for its recorded turn, by work id. */
const finishedWork = safeMap();
/** A promise that settles with `promise`, at a turn the host records (or, replaying, replays). */
/** @param {Promise<unknown>} promise @returns {Promise<unknown>} */
function trackWork(promise) {
  const workId = ++workSequence;
  const born = generation;
  pendingWork++;
  return new RealPromise((resolve, reject) => {
    const finish = (/** @type {boolean} */ ok, /** @type {unknown} */ value) => {
      if (born !== generation) return;
      pendingWork--;
      const settle = () => (ok ? resolve(value) : reject(value));
      if (replaying()) finishedWork.set(workId, settle);
      else { noteEvent({ kind: 'work', workId }); settle(); }
    };
    reflectApply(promiseThen, promise, [(value) => finish(true, value), (error) => finish(false, error)]);
  });
}
// Called once user code may have run (WebAssembly is wrapped on first use): only captured
// built-ins (reflectApply and defineProperty are captured further down, before any user code).
/** @param {any} original a built-in function @returns {Function} */
function trackedWork(original) {
  /** @type {(this: unknown, ...args: unknown[]) => Promise<unknown>} */
  const tracked = function (...args) {
    return trackWork(reflectApply(original, this, args));
  };
  defineProperty(tracked, 'name', { value: original.name });
  defineProperty(tracked, 'length', { value: original.length });
  return tracked;
}
// FinalizationRegistry callbacks would run whenever V8 collects, outside any run: during a
// later run of a stateful context (which a replay could not reproduce) or during another
// execution on the same isolate. The specification allows cleanup never to be called; here it
// never is.
const FinalizationRegistryShim = class FinalizationRegistry {
  #cleanup;
  /** @param {unknown} cleanup */
  constructor(cleanup) {
    if (typeof cleanup !== 'function') throw new TypeError('FinalizationRegistry: cleanup must be callable');
    this.#cleanup = cleanup;
  }
  /** @param {unknown} target @param {unknown} heldValue @param {unknown} [unregisterToken] */
  register(target, heldValue, unregisterToken) {
    if (target === null || (typeof target !== 'object' && typeof target !== 'function')) throw new TypeError('FinalizationRegistry.prototype.register: invalid target');
    if (target === heldValue) throw new TypeError('FinalizationRegistry.prototype.register: target and holdings must not be same');
    void unregisterToken;
  }
  /** @param {unknown} unregisterToken */
  unregister(unregisterToken) {
    if (unregisterToken === null || (typeof unregisterToken !== 'object' && typeof unregisterToken !== 'function')) throw new TypeError('Invalid unregisterToken');
    return false;
  }
  get [Symbol.toStringTag]() { return 'FinalizationRegistry'; }
};
Object.defineProperty(globalThis, 'FinalizationRegistry', { value: FinalizationRegistryShim, writable: true, configurable: true });

