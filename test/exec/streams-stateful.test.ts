// Stateful mode with streams: a stream is an ordinary object of the isolate (its queue, its reader,
// the promises it waits on), so a heap that holds half-read streams resumes live and replays into
// a fresh context to the same state; the next run reads on from where the last one stopped.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { statefulHarness } from './stateful-harness.ts';

const { runStateful, chain, resume, drop } = await statefulHarness();

describe('streams in a heap', () => {
  test('half-read streams, a pending pipe and a stream body resume live and replay alike', async () => {
    const { steps, last } = await chain([
      `var pulled = 0;
       // Chunks 1-5 are pulled by runs 1 and 2 (the pipe reads ahead), each with a random draw of its run; the
       // last is pulled by the probe, whose own draws come from its own seed: it has none.
       var source = new ReadableStream({ pull(c) { return new Promise((ok) => setTimeout(ok, 5)).then(() => { ++pulled; c.enqueue('n' + pulled + ':' + (pulled < 6 ? Math.random().toFixed(3) : 'end')); if (pulled === 6) c.close(); }); } });
       var upper = source.pipeThrough(new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); } }));
       var reader = upper.getReader();
       var seen = [(await reader.read()).value, (await reader.read()).value];
       var written = [];
       var sink = new WritableStream({ write(chunk) { return new Promise((ok) => setTimeout(ok, 3)).then(() => written.push(chunk)); } }, { highWaterMark: 4 });
       var writer = sink.getWriter();
       writer.write('w1'); writer.write('w2');
       var body = new Response(ReadableStream.from(['a', 'b', 'c'].map((s) => new TextEncoder().encode(s)))).body.getReader();
       var firstByte = (await body.read()).value[0];
       seen.length`,
      `seen.push((await reader.read()).value);
       await writer.write('w3');
       [seen.length, written.join(), writer.desiredSize, firstByte].join(' ')`,
    ]);
    assert.equal(last.outcome.result, '3 w1,w2,w3 4 97');
    const probe = `const rest = [];
      for (;;) { const r = await reader.read(); if (r.done) break; rest.push(r.value); }
      let tail = '';
      for (;;) { const r = await body.read(); if (r.done) break; tail += new TextDecoder().decode(r.value); }
      await writer.close();
      [seen.join(), rest.join(), pulled, written.join(), tail, upper.locked, sink.locked].join(' | ')`;
    const live = await runStateful(probe, resume(last.live!));
    assert.equal(live.outcome.status, 'completed', live.outcome.error ?? '');
    assert.match(live.outcome.result ?? '', /^N1:0\.\d{3},N2:0\.\d{3},N3:0\.\d{3} \| N4:0\.\d{3},N5:0\.\d{3},N6:END \| 6 \| w1,w2,w3 \| bc \| true \| true$/);
    const replayed = await runStateful(probe, { replay: steps });
    assert.equal(replayed.outcome.status, 'completed', replayed.outcome.error ?? '');
    assert.equal(replayed.outcome.result, live.outcome.result);
    drop(live.live);
    drop(replayed.live);
  });
});
