// @ts-check
// Sandbox code: Event, CustomEvent and EventTarget (DOM's event dispatch for a target with no
// parent, as Node has them; WinterTC's Minimum Common API lists them). Pure JavaScript; every
// builtin it calls is captured here, at start-up, so code that replaces Array.prototype.push,
// Map.prototype.get, Function.prototype.call or an iterator does not change how events dispatch.
(function () {
  'use strict';
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const MapConstructor = Map;
  const mapGet = Map.prototype.get;
  const mapSet = Map.prototype.set;
  const arraySplice = Array.prototype.splice;
  const arraySlice = Array.prototype.slice;
  const promiseResolve = Promise.resolve.bind(Promise);
  const promiseThen = Promise.prototype.then;
  const performanceNow = /** @type {{ now(): number }} */ (globalThis.performance).now;
  const performanceObject = globalThis.performance;
  const TypeErrorConstructor = TypeError;
  const ErrorConstructor = Error;
  const StringConstructor = String;

  const NONE = 0;
  const CAPTURING_PHASE = 1;
  const AT_TARGET = 2;
  const BUBBLING_PHASE = 3;
  const lazy = /** @type {NonNullable<typeof __mcpv8_lazy>} */ (globalThis.__mcpv8_lazy);

  /**
   * The classes, made in a context on the first read of one of them (lazy.js; most runs use
   * none): what they call is captured above, at start-up, and `Symbol` (the computed keys) is the
   * start-up one, bound as a parameter. The file's module scope, run later.
   * @moduleScope
   * @param {SymbolConstructor} Symbol
   */
  function build(Symbol) {
  /** A listener that throws does not stop the dispatch; its error is reported as a throw in a microtask would be. */
  /** @param {unknown} error */
  function report(error) {
    apply(promiseThen, promiseResolve(undefined), [() => { throw error; }]);
  }

  /** @typedef {{ type: string, bubbles: boolean, cancelable: boolean, composed: boolean, defaultPrevented: boolean, stopImmediate: boolean, stop: boolean, passive: boolean, phase: number, target: unknown, current: unknown, dispatching: boolean, timeStamp: number }} EventState */
  /** @type {(event: unknown) => EventState | null} */
  let stateOf = () => null;
  /** @type {(target: EventTarget, type: string, listener: unknown, capture: boolean) => void} */
  let removeListener = () => {};

  class Event {
    /** @type {EventState} */
    #state;
    /**
     * @param {unknown} type
     * @param {{ bubbles?: unknown, cancelable?: unknown, composed?: unknown } | null} [options]
     */
    constructor(type, options) {
      if (arguments.length === 0) throw new TypeErrorConstructor('The "type" argument must be specified');
      const init = options === undefined || options === null ? {} : options;
      this.#state = {
        type: StringConstructor(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable, composed: !!init.composed,
        defaultPrevented: false, stopImmediate: false, stop: false, passive: false, phase: NONE, target: null, current: null, dispatching: false,
        timeStamp: apply(performanceNow, performanceObject, []),
      };
      defineProperty(this, 'isTrusted', /** @type {PropertyDescriptor} */ ({ __proto__: null, get: isTrusted, enumerable: true, configurable: false }));
    }
    static { stateOf = (event) => (event !== null && typeof event === 'object' && #state in event ? event.#state : null); }
    get type() { return this.#state.type; }
    get bubbles() { return this.#state.bubbles; }
    get cancelable() { return this.#state.cancelable; }
    get composed() { return this.#state.composed; }
    get defaultPrevented() { return this.#state.cancelable && this.#state.defaultPrevented; }
    get returnValue() { return !this.defaultPrevented; }
    get eventPhase() { return this.#state.phase; }
    get target() { return this.#state.target; }
    get currentTarget() { return this.#state.current; }
    get srcElement() { return this.#state.target; }
    get timeStamp() { return this.#state.timeStamp; }
    get cancelBubble() { return this.#state.stop; }
    set cancelBubble(value) { if (value) this.#state.stop = true; }
    /** Node answers [] even while dispatching (the DOM says [currentTarget]); Node is what code here expects. */
    composedPath() { return []; }
    preventDefault() { if (this.#state.cancelable && !this.#state.passive) this.#state.defaultPrevented = true; }
    stopPropagation() { this.#state.stop = true; }
    stopImmediatePropagation() { this.#state.stop = true; this.#state.stopImmediate = true; }
    get [Symbol.toStringTag]() { return 'Event'; }
  }
  /** @this {unknown} */
  function isTrusted() { return false; }
  // An index loop and a null-prototype descriptor: this runs after user code (the Array iterator, Object.prototype.get may be its).
  const phases = [['NONE', NONE], ['CAPTURING_PHASE', CAPTURING_PHASE], ['AT_TARGET', AT_TARGET], ['BUBBLING_PHASE', BUBBLING_PHASE]];
  for (let index = 0; index < phases.length; index++) {
    // On the constructor only, as in Node (the DOM has them on the prototype too).
    defineProperty(Event, phases[index][0], /** @type {PropertyDescriptor} */ ({ __proto__: null, value: phases[index][1], enumerable: true }));
  }

  class CustomEvent extends Event {
    #detail;
    /**
     * @param {unknown} type
     * @param {{ bubbles?: unknown, cancelable?: unknown, composed?: unknown, detail?: unknown } | null} [options]
     */
    constructor(type, options) {
      if (arguments.length === 0) throw new TypeErrorConstructor('The "type" argument must be specified');
      super(type, options);
      this.#detail = options === undefined || options === null || options.detail === undefined ? null : options.detail;
    }
    get detail() { return this.#detail; }
    get [Symbol.toStringTag]() { return 'CustomEvent'; }
  }

  /** @typedef {{ listener: unknown, capture: boolean, once: boolean, passive: boolean, removed: boolean }} Listener */

  /**
   * @param {unknown} options
   * @returns {{ capture: boolean, once: boolean, passive: boolean, signal: unknown }}
   */
  function listenerOptions(options) {
    if (options === null || (typeof options !== 'object' && typeof options !== 'function')) return { capture: !!options, once: false, passive: false, signal: undefined };
    const init = /** @type {{ capture?: unknown, once?: unknown, passive?: unknown, signal?: unknown }} */ (options);
    return { capture: !!init.capture, once: !!init.once, passive: !!init.passive, signal: init.signal };
  }

  class EventTarget {
    /** @type {Map<string, Listener[]>} */
    #listeners = new MapConstructor();

    static {
      removeListener = (target, type, listener, capture) => {
        const list = apply(mapGet, target.#listeners, [type]);
        if (list === undefined) return;
        for (let index = 0; index < list.length; index++) {
          if (list[index].listener === listener && list[index].capture === capture) {
            list[index].removed = true;
            apply(arraySplice, list, [index, 1]);
            return;
          }
        }
      };
    }

    /**
     * @param {unknown} type
     * @param {unknown} listener
     * @param {unknown} [options]
     */
    addEventListener(type, listener, options) {
      if (listener === null || listener === undefined) return;
      const { capture, once, passive, signal } = listenerOptions(options);
      const signalled = /** @type {{ aborted?: unknown, addEventListener?: unknown } | undefined} */ (signal);
      if (signalled !== undefined && signalled !== null && signalled.aborted) return;
      const key = StringConstructor(type);
      let list = apply(mapGet, this.#listeners, [key]);
      if (list === undefined) { list = []; apply(mapSet, this.#listeners, [key, list]); }
      for (let index = 0; index < list.length; index++) if (list[index].listener === listener && list[index].capture === capture) return;
      // Defined, not pushed: a push onto the array's next index meets a setter a run put on Array.prototype.
      defineProperty(list, list.length, /** @type {PropertyDescriptor} */ ({ __proto__: null, value: { listener, capture, once, passive, removed: false }, writable: true, enumerable: true, configurable: true }));
      if (signalled !== undefined && signalled !== null && typeof signalled.addEventListener === 'function') {
        apply(signalled.addEventListener, signalled, ['abort', () => removeListener(this, key, listener, capture), { once: true }]);
      }
    }

    /**
     * @param {unknown} type
     * @param {unknown} listener
     * @param {unknown} [options]
     */
    removeEventListener(type, listener, options) {
      removeListener(this, StringConstructor(type), listener, listenerOptions(options).capture);
    }

    /**
     * @param {unknown} event
     * @returns {boolean}
     */
    dispatchEvent(event) {
      const state = stateOf(event);
      if (state === null) throw new TypeErrorConstructor('The "event" argument must be an instance of Event.');
      // Node's ERR_EVENT_RECURSION (the DOM says InvalidStateError).
      if (state.dispatching) throw new ErrorConstructor(`The event "${state.type}" is already being dispatched`);
      state.dispatching = true;
      state.target = this;
      state.current = this;
      state.phase = AT_TARGET;
      const list = apply(mapGet, this.#listeners, [state.type]);
      const snapshot = list === undefined ? [] : apply(arraySlice, list, []);
      for (let index = 0; index < snapshot.length && !state.stopImmediate; index++) {
        const entry = snapshot[index];
        if (entry.removed) continue;
        if (entry.once) removeListener(this, state.type, entry.listener, entry.capture);
        state.passive = entry.passive;
        try {
          const listener = /** @type {{ handleEvent?: unknown }} */ (entry.listener);
          if (typeof listener === 'function') apply(listener, this, [event]);
          else if (listener !== null && typeof listener === 'object' && typeof listener.handleEvent === 'function') apply(listener.handleEvent, listener, [event]);
        } catch (error) {
          report(error);
        }
        state.passive = false;
      }
      state.dispatching = false;
      state.current = null;
      state.phase = NONE;
      state.stop = false;
      state.stopImmediate = false;
      return !(state.cancelable && state.defaultPrevented);
    }
    get [Symbol.toStringTag]() { return 'EventTarget'; }
  }

  return { Event, CustomEvent, EventTarget };
  }
  lazy.defineLazy(globalThis, ['Event', 'CustomEvent', 'EventTarget'], lazy.buildWith(build, [Symbol]), { group: 'events' });
})();
