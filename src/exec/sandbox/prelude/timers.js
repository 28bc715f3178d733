// @ts-check
// Sandbox code, part of the prelude (see console.js): the timer queue the host drives.
// ---- timers: a queue the host drives; one callback per host turn so microtasks run between ----
const timerDelayMax = 2 ** 31 - 1;
const timersPendingMax = 100000;
/**
 * And at most this many per MiB of the memory limit: 60,000 timers at 8 or 16 MiB ran V8 out of
 * memory while it grew the timer table, beyond recovery (a parked isolate thread, issue 18);
 * 1,024 per MiB stay well inside the heap and fail with this RangeError instead.
 */
const timersPerMiB = 1024;
const timerQueue = /** @type {Map<number, Timer>} */ (safeMap());
let timerSequence = 0;
let idSequence = 0;
const idSymbol = Symbol('timerId');

class Timeout {
  /** @param {number} id */
  constructor(id) { this[idSymbol] = id; }
  ref() { const timer = timerQueue.get(this[idSymbol]); if (timer) timer.ref = true; return this; }
  unref() { const timer = timerQueue.get(this[idSymbol]); if (timer) timer.ref = false; return this; }
  hasRef() { const timer = timerQueue.get(this[idSymbol]); return timer ? timer.ref : false; }
  refresh() {
    const timer = timerQueue.get(this[idSymbol]);
    if (timer) { timer.due = loopNow() + timer.delay; timer.sequence = ++timerSequence; }
    return this;
  }
  close() { timerQueue.delete(this[idSymbol]); return this; }
  [Symbol.toPrimitive]() { return this[idSymbol]; }
}

/** @param {unknown} callback @param {unknown} delay @param {unknown[]} args @param {boolean} repeat @returns {Timeout} */
function addTimer(callback, delay, args, repeat) {
  if (typeof callback !== 'function') throw new TypeError(`The "callback" argument must be of type function. Received ${inspect(callback, { depth: 0 })}`);
  const timersMax = mathMin(timersPendingMax, timersPerMiB * mathFloor(memoryLimitBytes / (1024 * 1024)));
  if (timerQueue.size >= timersMax) throw new RangeError(`too many pending timers (at most ${timersMax} per execution at this heap_memory_max_mb, ${timersPerMiB} per MiB)`);
  let delayMs = RealNumber(delay);
  if (!(delayMs >= 1 && delayMs <= timerDelayMax)) delayMs = 1;
  const id = ++idSequence;
  timerQueue.set(id, { callback, args, delay: delayMs, due: loopNow() + delayMs, repeat, ref: true, sequence: ++timerSequence });
  return new Timeout(id);
}

/** @param {any} handle (user code's: a Timeout or its number) */
function clearTimer(handle) {
  if (handle === null || handle === undefined) return;
  const id = typeof handle === 'object' ? handle[idSymbol] : RealNumber(handle);
  timerQueue.delete(id);
}

globalThis.setTimeout = (/** @type {unknown} */ callback, /** @type {unknown} */ delay, /** @type {unknown[]} */ ...args) => addTimer(callback, delay, args, false);
globalThis.setInterval = (/** @type {unknown} */ callback, /** @type {unknown} */ delay, /** @type {unknown[]} */ ...args) => addTimer(callback, delay, args, true);
globalThis.clearTimeout = { clearTimeout: (/** @type {unknown} */ handle) => clearTimer(handle) }.clearTimeout;
globalThis.clearInterval = { clearInterval: (/** @type {unknown} */ handle) => clearTimer(handle) }.clearInterval;
globalThis.queueMicrotask = (/** @type {any} */ callback) => {
  if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
  reflectApply(promiseThen, new RealPromise((/** @type {(value: undefined) => void} */ resolve) => resolve(undefined)), [callback]);
};


/**
 * @typedef {{ callback: Function, args: unknown[], delay: number, due: number, repeat: boolean, ref: boolean, sequence: number }} Timer
 */
/**
 * The timer that fires next: the earliest due, the first made among equals.
 * @returns {{ id: number, timer: Timer } | null}
 */
function nextTimer() {
  /** @type {{ id: number, timer: Timer } | null} */
  let next = null;
  timerQueue.forEach((timer, id) => {
    if (next === null || timer.due < next.timer.due || (timer.due === next.timer.due && timer.sequence < next.timer.sequence)) next = { id, timer };
  });
  return next;
}


// ---- AbortSignal.timeout: web-api.js has the class; the timer is this queue's, unref'd as in Node ----
// The class is made on first use (lazy.js): `timeout` is put on it then, with its methods taken.
const webApiExtend = /** @type {NonNullable<typeof __mcpv8_webApiExtend>} */ (globalThis.__mcpv8_webApiExtend);
delete globalThis.__mcpv8_webApiExtend;
{
  /** @type {any} */ let AbortControllerClass = null;
  /** @type {any} */ let abortControllerAbort = null;
  /** @type {Function | undefined} */ let abortControllerSignal;
  const numberIsInteger = Number.isInteger;
  const timeoutApply = Reflect.apply;
  const TimeoutErrorBase = Error;
  /**
   * Node's AbortSignal.timeout(delay): aborted with a TimeoutError after `delay` ms; the timer
   * does not keep the run going (a Node process would exit with it pending).
   * @param {unknown} delay
   * @returns {unknown}
   */
  const timeout = (delay) => {
    if (typeof delay !== 'number') throw new TypeError(`The "delay" argument must be of type number. Received ${inspect(delay, { depth: 0 })}`);
    if (!numberIsInteger(delay) || delay < 0 || delay > 4294967295) throw new RangeError(`The value of "delay" is out of range. It must be an integer >= 0 && <= 4294967295. Received ${delay}`);
    const controller = new AbortControllerClass();
    const fire = () => {
      const reason = new TimeoutErrorBase('The operation was aborted due to timeout');
      reason.name = 'TimeoutError';
      timeoutApply(abortControllerAbort, controller, [reason]);
    };
    const handle = addTimer(fire, delay, [], false);
    const timer = timerQueue.get(handle[idSymbol]);
    if (timer) timer.ref = false;
    return timeoutApply(/** @type {Function} */ (abortControllerSignal), controller, []);
  };
  const timeoutFunction = { timeout }.timeout;
  webApiExtend((values) => {
    AbortControllerClass = values.AbortController;
    abortControllerAbort = AbortControllerClass.prototype.abort;
    abortControllerSignal = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(AbortControllerClass.prototype, 'signal')).get;
    defineProperty(values.AbortSignal, 'timeout', /** @type {PropertyDescriptor} */ ({ __proto__: null, value: timeoutFunction, writable: true, configurable: true }));
  });
}
