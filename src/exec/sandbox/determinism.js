// @ts-check
// Sandbox code: everything non-deterministic that user code can observe comes from here, so a
// run can be recorded and later replayed (docs/exec.md, "Determinism hooks"):
//   - Math.random and crypto draw from one seeded generator (xoshiro128**), seeded per run;
//   - Date.now, new Date(), Date() and performance.now read one clock, and every reading user
//     code makes is logged;
//   - the event loop notes every macrotask it delivers (timerId and the clock when it fired).
// The host reads the log at the end of the run as `record`. Readings the event loop makes for
// its own bookkeeping (loopNow) are not logged: a replayer drives the loop from the events.
// Replay (stateful mode, docs/stateful.md): `begin(seed, readings)` makes the clock answer the
// recorded readings in order and the loop's clock a virtual one, set by the host to the time of
// each recorded event; reading more often than the record did is a divergence, reported.
// Defines globalThis.__mcpv8_determinism; the prelude captures and deletes it, and seeds the
// generator when the host attaches the context to a run.
(function () {
  'use strict';
  const RealDate = Date;
  const realNow = RealDate.now;
  // Captured: a run that replaced Array.prototype.push lost its clock readings from the record
  // (or failed at Date.now()), and its heap then could not be replayed.
  const reflectApply = Reflect.apply;
  // Captured too: web.js's crypto and structuredClone call next32 and Date for a run that may
  // have replaced Math.imul, Reflect.construct or Date.prototype.toString.
  const mathImul = Math.imul;
  const reflectConstruct = Reflect.construct;
  const defineProperty = Object.defineProperty;
  /** Appends as a data property: neither push nor a setter the run put on Array.prototype sees it. */
  /** @param {unknown[]} list @param {unknown} item */
  const appendTo = (list, item) => { defineProperty(list, list.length, /** @type {PropertyDescriptor} */ ({ __proto__: null, value: item, writable: true, enumerable: true, configurable: true })); };
  const dateToString = RealDate.prototype.toString;
  const clockReadingsMax = 100000;
  const eventsMax = 100000;
  /** @type {{ seed: number, clockReadingsMs: number[], events: unknown[], complete: boolean }} */
  let record = { seed: 0, clockReadingsMs: [], events: [], complete: true };
  const state = new Uint32Array(4);
  /** The recorded readings while replaying, else null; the next one to answer; the virtual clock. */
  let replayReadings = /** @type {number[] | null} */ (null);
  let replayIndex = 0;
  let virtualNowMs = 0;
  let divergence = /** @type {string | null} */ (null);

  /** @param {number} value @param {number} shift @returns {number} */
  function rotl(value, shift) { return (value << shift) | (value >>> (32 - shift)); }

  /** xoshiro128**: 32 random bits per call, period 2^128 - 1. */
  function next32() {
    const result = mathImul(rotl(mathImul(state[1], 5), 7), 9) >>> 0;
    const shifted = state[1] << 9;
    state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3];
    state[2] ^= shifted; state[3] = rotl(state[3], 11);
    return result;
  }

  /** Fills the generator's state from a 32-bit seed with splitmix32, as xoshiro's authors advise. */
  /** @param {number} seed */
  function reseed(seed) {
    let z = seed >>> 0;
    for (let index = 0; index < 4; index++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z ^ (z >>> 16); t = mathImul(t, 0x21f0aaad);
      t ^= t >>> 15; t = mathImul(t, 0x735a2d97);
      state[index] = (t ^ (t >>> 15)) >>> 0;
    }
    if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
    record = { seed: seed >>> 0, clockReadingsMs: [], events: [], complete: true };
    replayReadings = null;
    divergence = null;
  }

  /** Starts a run: live (readings null) or replaying the recorded readings of one. */
  /** @param {number} seed @param {number[] | null} readings */
  function begin(seed, readings) {
    reseed(seed);
    if (readings !== null) {
      replayReadings = readings;
      replayIndex = 0;
      virtualNowMs = readings.length > 0 ? readings[0] : 0;
    }
  }

  /** A double in [0, 1) with 53 random bits, like V8's own Math.random. */
  function random() {
    return ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
  }

  function userNow() {
    if (replayReadings !== null) {
      if (replayIndex < replayReadings.length) return replayReadings[replayIndex++];
      divergence ??= `the code read the clock more often than the recorded run (${replayReadings.length} readings)`;
      return virtualNowMs;
    }
    const now = realNow();
    if (record.clockReadingsMs.length < clockReadingsMax) appendTo(record.clockReadingsMs, now);
    else record.complete = false;
    return now;
  }

  function loopNow() {
    return replayReadings === null ? realNow() : virtualNowMs;
  }

  /** The replay's state after a run: what diverged from the record, or null. */
  function replayIssue() {
    if (replayReadings === null) return null;
    if (divergence === null && replayIndex < replayReadings.length) return `the code read the clock ${replayIndex} times, the recorded run ${replayReadings.length}`;
    return divergence;
  }

  /** @param {{ kind: string, atMs?: number }} event */
  function noteEvent(event) {
    if (replayReadings !== null) {
      virtualNowMs = event.atMs ?? virtualNowMs;
      return;
    }
    if (record.events.length < eventsMax) appendTo(record.events, event);
    else record.complete = false;
  }

  /** @param {...unknown} args @returns {unknown} */
  function SandboxDate(...args) {
    if (new.target === undefined) return reflectApply(dateToString, new RealDate(userNow()), []);
    return reflectConstruct(RealDate, args.length === 0 ? [userNow()] : args, new.target);
  }
  Object.defineProperty(SandboxDate, 'name', { value: 'Date' });
  Object.defineProperty(SandboxDate, 'length', { value: 7 });
  Object.defineProperty(SandboxDate, 'prototype', { value: RealDate.prototype, writable: false });
  Object.defineProperty(RealDate.prototype, 'constructor', { value: SandboxDate, writable: true, configurable: true });
  SandboxDate.now = function now() { return userNow(); };
  SandboxDate.parse = RealDate.parse;
  SandboxDate.UTC = RealDate.UTC;
  Object.defineProperty(globalThis, 'Date', { value: SandboxDate, writable: true, configurable: true });
  Object.defineProperty(Math, 'random', { value: { random() { return random(); } }.random, writable: true, configurable: true });

  reseed(0);
  Object.defineProperty(globalThis, '__mcpv8_determinism', {
    value: { next32, reseed, begin, userNow, loopNow, noteEvent, replayIssue, replaying: () => replayReadings !== null, takeRecord: () => record },
    configurable: true,
  });
})();
