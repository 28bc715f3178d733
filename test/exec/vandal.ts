// The vandal: a run's code that replaces every builtin our sandbox files could call, before
// anything of ours runs on its behalf. Tests of those files (inspect-vandal, web-vandal,
// web-api-vandal) prefix a scenario with it and expect the answers of a clean run.
// It names no promise word ('Prom' + 'ise'): code with one that ends with an expression runs in the
// await wrapper (top-level-await.ts, routesThroughWrapper), whose call adds a frame to stacks, and
// a vandalised run would then differ from its clean twin by routing, not by what it replaced.

/** Replaces (with a thrower or a liar) every prototype method, iterator, getter and static our sandbox files call. */
export const vandalSource = `(() => {
  const defineProperty = Object.defineProperty;
  const Prom = globalThis['Prom' + 'ise'];
  const lie = (name) => function () { throw new Error('vandal: ' + name); };
  const prototypes = { Array: Array.prototype, String: String.prototype, Map: Map.prototype, Set: Set.prototype, Number: Number.prototype, Boolean: Boolean.prototype, Symbol: Symbol.prototype,
    Date: Date.prototype, RegExp: RegExp.prototype, Error: Error.prototype, Function: Function.prototype, Prom: Prom.prototype, Object: Object.prototype,
    TypedArray: Object.getPrototypeOf(Uint8Array.prototype), MapIterator: Object.getPrototypeOf(new Map().entries()), SetIterator: Object.getPrototypeOf(new Set().values()),
    ArrayIterator: Object.getPrototypeOf([].values()), StringIterator: Object.getPrototypeOf(''[Symbol.iterator]()) };
  const statics = { Object, Reflect, JSON, Math, Array, Number, String, ArrayBuffer, Symbol, Prom };
  // Planned first, done after: the plan's own loops must not run through what it replaces.
  const plan = [];
  for (const [name, owner] of Object.entries(prototypes)) for (const key of Reflect.ownKeys(owner)) {
    const descriptor = Object.getOwnPropertyDescriptor(owner, key);
    if (typeof descriptor.value === 'function' && key !== 'constructor' && !(name === 'Object' && key !== 'toString' && key !== 'valueOf' && key !== 'hasOwnProperty')) plan.push([owner, key, { value: lie(name + '.' + String(key)), writable: true, configurable: true }]);
  }
  for (const [name, owner] of Object.entries(statics)) for (const key of Reflect.ownKeys(owner)) {
    const descriptor = Object.getOwnPropertyDescriptor(owner, key);
    if (typeof descriptor.value === 'function' && key !== 'prototype') plan.push([owner, key, { value: lie(name + '.' + String(key)), writable: true, configurable: true }]);
  }
  for (const [owner, key] of [[Map.prototype, 'size'], [Set.prototype, 'size'], [ArrayBuffer.prototype, 'byteLength'], [Object.getPrototypeOf(Uint8Array.prototype), 'length'],
    [RegExp.prototype, 'source'], [RegExp.prototype, 'flags'], [RegExp.prototype, 'global'], [Symbol.prototype, 'description'],
    [Object.getPrototypeOf(Uint8Array.prototype), 'buffer'], [Object.getPrototypeOf(Uint8Array.prototype), 'byteOffset'], [Object.getPrototypeOf(Uint8Array.prototype), 'byteLength'], [DataView.prototype, 'byteLength'], [DataView.prototype, 'buffer']]) plan.push([owner, key, { get: lie(String(key)), configurable: true }]);
  for (const key of ['0', '1', 'get', 'set', 'value', "'", '"', 'done']) plan.push([Object.prototype, key, { set: lie('set ' + key), get: () => 'vandal', configurable: true }]);
  plan.push([Array.prototype, '0', { set: lie('set 0'), get: () => 'vandal', configurable: true }]);
  plan.push([Array.prototype, 'constructor', { value: lie('Array constructor'), writable: true, configurable: true }]);
  for (const C of [Map, Set, Date, RegExp, Error, Prom, Number, String, Boolean, ArrayBuffer, DataView, Array]) plan.push([C, Symbol.hasInstance, { value: () => false, configurable: true }]);
  for (const name of ['String', 'Number', 'Boolean', 'parseInt', 'parseFloat', 'Map', 'Set', 'Symbol', 'Object', 'JSON', 'Math', 'Reflect', 'Uint8Array']) plan.push([globalThis, name, { value: lie(name), writable: true, configurable: true }]);
  for (let i = 0; i < plan.length; i++) { try { defineProperty(plan[i][0], plan[i][1], plan[i][2]); } catch {} }
})();
`;

