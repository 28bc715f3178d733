// Isolates made and disposed off the event loop (src/exec/isolate-lifecycle.ts): the patched
// isolated-vm's Isolate.createAsync and disposeAsync, and an engine whose runs retire and replace
// isolates every way they can (timeout, out of memory, cancel, fresh stateful heaps whose live
// contexts are dropped) without making or disposing one on the loop.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import ivm from 'isolated-vm';
import { createEngine } from '../../src/exec/engine.ts';
import { disposeIsolate, isolateCounts, isolatesOffLoop, isolatesSettled, newIsolate, offLoopCreations, offLoopCreationsMax } from '../../src/exec/isolate-lifecycle.ts';
import type { RunRequest } from '../../src/exec/types.ts';
import { collectBeforeExit } from './harness.ts';

const needsPatchedBuild = 'these tests need the patched isolated-vm with Isolate.createAsync (node scripts/patch-isolated-vm.mjs)';
after(collectBeforeExit);

/** src/ files, relative paths, with their text. */
function sourceFiles(directory = new URL('../../src/', import.meta.url)): Array<[string, string]> {
  return readdirSync(directory, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(ts|js)$/.test(name))
    .map((name) => [name, readFileSync(new URL(name, directory), 'utf8')]);
}

describe('isolates off the event loop', () => {
  test('no code of the server makes or disposes an isolate but through isolate-lifecycle.ts', () => {
    // The synchronous constructor and dispose() hold the event loop (≈ 3 ms, ≈ 0.5 ms): only the
    // fallback for an unpatched build may call them.
    const offenders = sourceFiles()
      .filter(([name]) => name !== 'exec/isolate-lifecycle.ts')
      .flatMap(([name, text]) => text.split('\n').map((line, index) => [`src/${name}:${index + 1}`, line] as const))
      .filter(([, line]) => /new ivm\.Isolate\b|\bnew Isolate\(|isolate\??\.dispose\(\)/i.test(line));
    assert.deepEqual(offenders, []);
  });

  test('createAsync makes a working isolate with the limit asked for; disposeAsync disposes it at once', async () => {
    assert.equal(isolatesOffLoop, true, needsPatchedBuild);
    const isolate = await newIsolate({ memoryLimit: 8 });
    assert.ok(isolate instanceof ivm.Isolate);
    const context = await isolate.createContext();
    assert.equal(await context.eval('6 * 7', { copy: true }), 42);
    // The memory limit reached V8 and isolated-vm's checks: a bomb fails, the isolate is disposed.
    await assert.rejects(context.eval('const a = []; for (;;) a.push(new Array(1000))'), /memory limit/i);
    assert.equal(isolate.isDisposed, true, 'isolated-vm disposes an isolate past its limit');
    await disposeIsolate(isolate);

    const second = await newIsolate({ memoryLimit: 16 });
    const stats = await second.getHeapStatistics();
    assert.ok(stats.heap_size_limit >= 16 * 1024 * 1024, `heap limit ${stats.heap_size_limit}`);
    const secondContext = await second.createContext();
    const disposed = disposeIsolate(second);
    assert.equal(second.isDisposed, true, 'disposed before the teardown is done');
    await assert.rejects(secondContext.eval('1'), /disposed/i);
    await assert.rejects(second.createContext(), /disposed/i);
    await disposed;
    await disposeIsolate(second);
  });

  test('bad options are refused as the constructor refuses them', async () => {
    assert.equal(isolatesOffLoop, true, needsPatchedBuild);
    await assert.rejects(newIsolate({ memoryLimit: 4 }), /memoryLimit.*at least 8/);
    await assert.rejects(newIsolate({ memoryLimit: 8, snapshot: 'not a copy' as unknown as ivm.ExternalCopy<ArrayBuffer> }), /snapshot/);
    await isolatesSettled();
  });

  test('many creations at once all come, at most the bound under way, and every one works', async () => {
    assert.equal(isolatesOffLoop, true, needsPatchedBuild);
    const count = 3 * offLoopCreationsMax + 1;
    const creations = Array.from({ length: count }, () => newIsolate({ memoryLimit: 8 }));
    await Promise.resolve();
    assert.deepEqual(offLoopCreations(), { underWay: offLoopCreationsMax, waiting: count - offLoopCreationsMax });
    const isolates = await Promise.all(creations);
    assert.deepEqual(offLoopCreations(), { underWay: 0, waiting: 0 });
    const answers = await Promise.all(isolates.map(async (isolate, index) => (await isolate.createContext()).eval(`${index} + 1`, { copy: true })));
    assert.deepEqual(answers, isolates.map((_, index) => index + 1));
    await Promise.all(isolates.map(disposeIsolate));
    await isolatesSettled();
  });

  test('runs that retire their isolate every way make and dispose none on the event loop', async () => {
    assert.equal(isolatesOffLoop, true, needsPatchedBuild);
    const before = { ...isolateCounts };
    const engine = await createEngine({ maxConcurrentExecutions: 2 });
    const runStateless = (code: string, limits = { heapMemoryMaxMb: 8, executionTimeoutMs: 5_000 }, signal = new AbortController().signal, more: Partial<RunRequest> = {}) =>
      engine.run({ code, limits, signal, onConsoleLine: () => undefined, ...more });
    assert.equal((await runStateless('1 + 1')).status, 'completed');
    assert.equal((await runStateless('for (;;) {}', { heapMemoryMaxMb: 8, executionTimeoutMs: 200 })).status, 'timed_out');
    assert.equal((await runStateless('const a = []; for (;;) a.push(new Array(1000))')).status, 'failed');
    const cancel = new AbortController();
    const cancelled = runStateless('for (;;) {}', { heapMemoryMaxMb: 8, executionTimeoutMs: 30_000 }, cancel.signal);
    setImmediate(() => cancel.abort());
    assert.equal((await cancelled).status, 'cancelled');
    // Fresh stateful heaps that hold more than the reuse bound: their isolates are disposed and
    // replaced when their live contexts go.
    for (let index = 0; index < 3; index++) {
      const ran = await runStateless(`globalThis.big = new Array(${400_000 + index}).fill(${index}); big.length`, { heapMemoryMaxMb: 32, executionTimeoutMs: 5_000 }, undefined, { stateful: { replay: [] } });
      assert.equal(ran.status, 'completed', ran.error ?? '');
      assert.equal(typeof ran.kept, 'number', 'the live context is held for its commit');
      engine.live.release(ran.kept!);
    }
    assert.equal((await runStateless('2 + 2')).status, 'completed');
    // Close waits for the replacements under way and disposes the idle isolates: off the loop too.
    await engine.close();
    assert.equal(isolateCounts.createdOnLoop - before.createdOnLoop, 0, 'no isolate made on the loop');
    assert.equal(isolateCounts.disposedOnLoop - before.disposedOnLoop, 0, 'no isolate disposed on the loop');
    assert.ok(isolateCounts.disposedOffLoop - before.disposedOffLoop >= 4, `isolates disposed off the loop: ${isolateCounts.disposedOffLoop - before.disposedOffLoop}`);
    assert.ok(isolateCounts.createdOffLoop - before.createdOffLoop >= 4, `isolates made off the loop (replacements): ${isolateCounts.createdOffLoop - before.createdOffLoop}`);
  });
});
