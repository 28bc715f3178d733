// Heap bytes a new context takes on an isolate (bench/context-cost.ts, test/exec/lazy.test.ts):
// they do not depend on the machine's load, unlike its CPU.
import type ivm from 'isolated-vm';

/** `used_heap_size` around 8 contexts held, median of 5 rounds (a GC within a round shows as an outlier). */
export async function heapBytesPerContext(isolate: ivm.Isolate): Promise<number> {
  const perRound: number[] = [];
  for (let round = 0; round < 5; round++) {
    const held = [await isolate.createContext()];
    const before = await isolate.getHeapStatistics();
    for (let index = 0; index < 8; index++) held.push(await isolate.createContext());
    const after = await isolate.getHeapStatistics();
    for (const context of held) context.release();
    perRound.push((after.used_heap_size - before.used_heap_size) / 8);
  }
  return [...perRound].sort((a, b) => a - b)[2]!;
}
