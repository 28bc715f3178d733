// @ts-check
// Sandbox code: globals made on first use. Every object the snapshot holds is deserialized again
// into every new context (V8 copies a context's objects, not only its code), so a class that most
// runs never touch (URL, Blob, FormData, …) costs every run its functions, prototypes and maps
// (bench/RESULTS.md, "context cost"). A group of such globals is defined here as accessors
// instead: the first read of any of them runs the group's `build` once, and each accessor still
// in place becomes the data property the global would have been. Only `build`'s code, shared by
// all contexts, is in the snapshot; its objects are made in the contexts that use them.
//
// `build` runs after user code: it must read nothing user code can replace. So a group's file
// captures at start-up what its build calls (as every sandbox file does for the calls it makes
// later), and receives the globals it names while building (`Symbol` for its computed keys)
// as parameters bound at start-up (`buildWith`).
//
// Defines globalThis.__mcpv8_lazy; the prelude (natives.js) captures and deletes it, and sets the
// presenter that makes a built group's functions print as V8's own.
(function () {
  'use strict';
  const defineProperty = Object.defineProperty;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const { apply } = Reflect;
  // Descriptors are null-prototype objects: after user code ran, `Object.prototype.get` may exist.
  /** @type {((value: unknown, name: string, depth: number) => void) | null} */
  let presenter = null;
  /** Accessors made before the presenter was set: presented when it is. @type {Array<[Function, string]>} */
  const unpresented = [];
  // Groups by name (a checkpoint names the groups its history built, and a restore builds them
  // again: prelude/checkpoint.js). Null prototypes and index loops: read after user code ran.
  /** @type {Record<string, () => Record<string, unknown>>} */
  const groupsByName = /** @type {any} */ ({ __proto__: null });
  /** The names of the groups built in this context, in the order their builds ended. @type {string[]} */
  const builtNames = [];
  // Told of each group as its build ends, before any user code sees it (checkpoint.js): a
  // LazyGroup (globals.d.ts), its holder, names, values, and the accessors it replaced (`set`
  // undefined for a read-only group).
  /** @type {((group: LazyGroup) => void) | null} */
  let buildObserver = null;
  /** @param {unknown[]} list @param {unknown} value */
  const append = (list, value) => defineProperty(list, list.length, /** @type {PropertyDescriptor} */ ({ __proto__: null, value, writable: true, enumerable: true, configurable: true }));

  /** @param {Function} fn @param {string} name */
  function present(fn, name) {
    if (presenter === null) unpresented[unpresented.length] = [fn, name];
    else presenter(fn, name, 0);
  }

  /**
   * Defines `names` on `holder` as accessors that build the whole group on the first read of any.
   * The values are data properties once built: writable and configurable as V8's own globals are,
   * enumerable if `enumerable`; not writable if `readOnly` (then, as for a read-only property, a
   * write before the build changes nothing). A write before the build replaces only that name.
   * What `build` throws (a memory limit) reaches the reader, and the next read tries again.
   * @param {object} holder
   * @param {string[]} names
   * @param {() => Record<string, unknown>} build answers a value for each of `names`, as own properties
   * @param {{ enumerable?: boolean, readOnly?: boolean, depth?: number, group?: string }} [options] depth: how deep the presenter looks into each value (default 2); group: the group's name (default its names joined by commas), unique
   */
  function defineLazy(holder, names, build, options = {}) {
    const enumerable = options.enumerable === true;
    const writable = options.readOnly !== true;
    const depth = options.depth ?? 2;
    const group = options.group ?? names.join(',');
    if (groupsByName[group] !== undefined) throw new Error(`a lazy group named ${group} exists already`);
    /** @type {Record<string, unknown> | null} */
    let built = null;
    /** @type {Function[]} */
    const getters = [];
    /** @type {Array<Function | undefined>} */
    const setters = [];
    const settle = () => {
      if (built !== null) return built;
      const values = build();
      built = values;
      for (let index = 0; index < names.length; index++) {
        const name = names[index];
        const current = getOwnPropertyDescriptor(holder, name);
        // Only while the accessor is still ours: a run that deleted or redefined the name keeps that.
        if (current !== undefined && current.get === getters[index]) defineProperty(holder, name, /** @type {PropertyDescriptor} */ ({ __proto__: null, value: values[name], writable, enumerable, configurable: true }));
        if (presenter !== null) presenter(values[name], name, depth);
      }
      append(builtNames, group);
      if (buildObserver !== null) buildObserver(/** @type {LazyGroup} */ ({ __proto__: null, name: group, holder, names, values, getters, setters, writable, enumerable }));
      return values;
    };
    groupsByName[group] = settle;
    for (let index = 0; index < names.length; index++) {
      const name = names[index];
      const getter = { get [name]() { return settle()[name]; } };
      const get = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(getter, name)).get;
      getters[index] = /** @type {Function} */ (get);
      present(/** @type {Function} */ (get), `get ${name}`);
      const descriptor = /** @type {PropertyDescriptor} */ ({ __proto__: null, get, enumerable, configurable: true });
      if (writable) {
        const setter = { set [name](/** @type {unknown} */ value) { defineProperty(holder, name, /** @type {PropertyDescriptor} */ ({ __proto__: null, value, writable: true, enumerable, configurable: true })); } };
        descriptor.set = /** @type {PropertyDescriptor} */ (getOwnPropertyDescriptor(setter, name)).set;
        present(/** @type {Function} */ (descriptor.set), `set ${name}`);
      }
      setters[index] = descriptor.set;
      defineProperty(holder, name, descriptor);
    }
    return settle;
  }

  /**
   * `build` with `values` as its arguments, fixed now: a group's build takes the globals it reads
   * while building as parameters, so a run that replaced them (`globalThis.Symbol = …`) does not
   * reach it.
   * @param {(...args: any[]) => Record<string, unknown>} build @param {unknown[]} values
   * @returns {() => Record<string, unknown>}
   */
  function buildWith(build, values) {
    return () => apply(build, undefined, values);
  }

  /** @param {(value: unknown, name: string, depth: number) => void} present */
  function setPresenter(present) {
    presenter = present;
    for (let index = 0; index < unpresented.length; index++) present(unpresented[index][0], unpresented[index][1], 0);
    unpresented.length = 0;
  }

  /**
   * Builds the group named `name` (a checkpoint's restore): false if there is none of that name.
   * @param {string} name @returns {boolean}
   */
  function buildGroup(name) {
    const settle = groupsByName[name];
    if (settle === undefined) return false;
    settle();
    return true;
  }

  /** @returns {string[]} the groups built in this context, in the order their builds ended (a copy) */
  function builtGroups() {
    /** @type {string[]} */
    const names = [];
    for (let index = 0; index < builtNames.length; index++) append(names, builtNames[index]);
    return names;
  }

  /** @param {string} name @returns {boolean} whether a group of that name exists */
  const hasGroup = (name) => groupsByName[name] !== undefined;

  /** @param {(group: LazyGroup) => void} observe */
  function setBuildObserver(observe) {
    buildObserver = observe;
  }

  defineProperty(globalThis, '__mcpv8_lazy', { value: { __proto__: null, defineLazy, buildWith, setPresenter, buildGroup, builtGroups, hasGroup, setBuildObserver }, configurable: true });
})();
