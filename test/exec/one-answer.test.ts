// One event-loop wake per stateless run (issue 23): a fresh context's run is two calls sent
// together (src/exec/isolate-pool.ts, `attachAndRun`), the attach-and-run and the state after its
// microtasks, and the patched isolated-vm (scripts/patch-isolated-vm.mjs, `answerWithNext`) queues
// the first one's answer without waking the event loop: the second's wakes it for both. What is
// checked: the first answer is held until the second comes (and is not lost when none comes), both
// arrive in one turn of the loop for every run, in order, and the run's outcome is as before.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import ivm from 'isolated-vm';
import { isolatedVmBuild } from '../../src/exec/isolated-vm-build.ts';
import { IsolatePool, attachAndRun } from '../../src/exec/isolate-pool.ts';
import type { SandboxState } from '../../src/exec/outcome.ts';

const onCatastrophicError = (_isolate: ivm.Isolate, message: string) => assert.fail(`no isolate fails in V8: ${message}`);
const noFeatures = { fetch: false, fs: false, fetchRequestBytesMax: 0, fsWriteBytesMax: 0 };
/** The turn of the event loop running now (libuv's iteration count). */
const loopTurn = (): number => performance.nodeTiming.uvMetricsInfo.loopCount;
/** Two whole turns of the event loop: an answer whose wake was sent is handled by then. */
async function twoTurns(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

describe('one answer per run', () => {
  test('the build has the option (the lead rebuilds isolated-vm after a patch change)', () => {
    assert.equal(isolatedVmBuild().answerWithNext, true, 'this test needs the patched isolated-vm with answerWithNext (node scripts/patch-isolated-vm.mjs)');
  });

  test('an answer made with answerWithNext waits for the next answer, and the two come in order', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    try {
      const context = await isolate.createContext();
      // [0]: the host lets the second call end; [1]: the second call has begun (the first is
      // answered by then); [2]: the second call is sent (the first ends only then: an isolate that
      // ran out of calls before the second came would wake the loop for the first, as it must).
      const flags = new Int32Array(new SharedArrayBuffer(12));
      await context.global.set('flags', new ivm.ExternalCopy(flags.buffer).copyInto({ release: true }));
      const order: string[] = [];
      const first = context.evalClosure('const f = new Int32Array(flags); while (Atomics.load(f, 2) === 0); return 1', [], { result: { copy: true }, answerWithNext: true } as ivm.ContextEvalClosureOptions)
        .then((value) => { order.push('first'); return value; });
      const second = context.evalClosure('const f = new Int32Array(flags); Atomics.store(f, 1, 1); Atomics.notify(f, 1); while (Atomics.load(f, 0) === 0); return 2', [], { result: { copy: true } })
        .then((value) => { order.push('second'); return value; });
      // Awaited in the event loop (a wait of V8's, woken through Node's own platform, not
      // isolated-vm's), so the loop is idle in between, as a server's is while a run executes.
      const began = Atomics.waitAsync(flags, 1, 0, 10_000);
      Atomics.store(flags, 2, 1);
      assert.notEqual(began.async ? await began.value : began.value, 'timed-out', 'the second call began');
      await twoTurns();
      assert.deepEqual(order, [], 'the first answer is held while the second call runs');
      Atomics.store(flags, 0, 1);
      assert.deepEqual([await first, await second], [1, 2]);
      assert.deepEqual(order, ['first', 'second']);
    } finally {
      isolate.dispose();
    }
  });

  test('answers held with no answered call behind them still come when the isolate runs out of work', async () => {
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    try {
      const context = await isolate.createContext();
      // A call made with answerWithNext waits for the next call to wake the isolate (the caller's
      // contract: a run sends its state call right behind); here the next is one with no answer.
      const held = context.evalClosure('return 3', [], { result: { copy: true }, answerWithNext: true } as ivm.ContextEvalClosureOptions);
      const rejected = context.evalClosure('throw new RangeError("held")', [], { answerWithNext: true } as ivm.ContextEvalClosureOptions);
      rejected.catch(() => undefined);
      context.evalClosureIgnored('void 0', []);
      assert.equal(await held, 3);
      await assert.rejects(rejected, /RangeError: held/, 'a rejection is held and delivered the same way');
    } finally {
      isolate.dispose();
    }
  });

  test('a stateless run\'s attach answer never wakes the event loop: it comes with the state, or with another isolate\'s answer', async () => {
    // Every isolated-vm answer: its call's id and the turn of the loop it came in.
    const answers: Array<{ id: number; turn: number }> = [];
    const calls = new Set<number>();
    let made: number[] = [];
    const hook = createHook({
      init(asyncId, type) {
        if (type !== 'isolated-vm') return;
        calls.add(asyncId);
        made.push(asyncId);
      },
      before(asyncId) {
        if (calls.delete(asyncId)) answers.push({ id: asyncId, turn: loopTurn() });
      },
    });
    const pool = new IsolatePool({ slots: 1, onCatastrophicError });
    hook.enable();
    try {
      for (let index = 0; index < 20; index++) {
        const prepared = await pool.acquire(8);
        prepared.runs = 1;
        // The code ends only once both calls are sent (as a real run's code, which takes far longer
        // than the host's two sends): an isolate that ran out of calls first wakes the loop itself.
        const gate = new Int32Array(new SharedArrayBuffer(4));
        await prepared.context.global.set('gate', new ivm.ExternalCopy(gate.buffer).copyInto({ release: true }));
        made = [];
        const { attached, state } = attachAndRun(prepared, index, 8, noFeatures, null, `while (Atomics.load(new Int32Array(gate), 0) === 0); let late = 0; Promise.resolve().then(() => { late = 1; }); ${index} * 2 + late`);
        Atomics.store(gate, 0, 1);
        assert.equal(made.length, 2, 'the run made its two calls');
        const [attachId, stateId] = made as [number, number];
        await attached;
        const answer = await state as SandboxState;
        assert.deepEqual([answer.settled, answer.outcome], [true, { ok: true, value: String(index * 2), type: 'number' }]);
        const attach = answers.find((each) => each.id === attachId)!;
        const stateTurn = answers.find((each) => each.id === stateId)!.turn;
        // Another isolate's answer (the pool making contexts) may wake the loop first and bring it
        // along; so may a console line's delivery, which this hook does not see: the code prints none.
        const broughtBy = answers.filter((each) => each.turn === attach.turn && each.id !== attachId);
        assert.ok(attach.turn === stateTurn || broughtBy.length > 0, `run ${index}: the attach answer came in turn ${attach.turn} alone, the state in ${stateTurn}`);
        pool.release(prepared, 8, true);
      }
    } finally {
      hook.disable();
      await pool.close();
    }
  });
});
