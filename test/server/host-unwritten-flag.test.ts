// Issue 18: the execution store's bound on console output not yet written to disk (64 Mi
// characters by default) is a flag, --execution-unwritten-output-max-mb. A real server with a
// bound of 1 Mi characters: a run printing twenty lines of 1,000,000 characters hands the store
// more than that in one turn of its event loop (before any write can end), so lines are dropped
// and the output says so, naming the bound; the run itself completes, and so does a neighbour.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { droppedOutputLine } from '../../src/storage/execution-store.ts';
import { exec, execution, output, serverForSuite, submit } from '../support/hostile.ts';

const flood = "const mb = 'x'.repeat(1e6); for (let i = 0; i < 20; i++) console.log(mb); 'done'";

describe('--execution-unwritten-output-max-mb', () => {
  const server = serverForSuite('unwritten-flag', 'stateless', ['--execution-unwritten-output-max-mb', '1']);

  test('past the bound, lines are dropped with a line naming it; the run and a neighbour complete', async () => {
    const id = await submit(server(), { code: flood, execution_timeout_secs: 30, heap_memory_max_mb: 64 });
    const done = await execution(server(), id);
    assert.deepEqual([done.status, done.result], ['completed', 'done']);
    // Line by line: a page holds at most 1 MiB, less than two of these lines.
    const first = await output(server(), id, { line_limit: 1 });
    const printed: string[] = [];
    for (let line = 1; line <= first.total_lines; line++) printed.push((await output(server(), id, { line_offset: line, line_limit: 1 })).data.slice(0, -1));
    assert.ok(printed.includes(droppedOutputLine(2 ** 20)), `lines: ${printed.map((line) => line.length > 80 ? `${line.length} characters` : line).join(' | ')}`);
    assert.match(droppedOutputLine(2 ** 20), /holds 1 MiB of console output not yet written to disk/);
    assert.ok(printed.filter((line) => line.length === 1e6).length < 20, 'some lines were dropped');
    const neighbour = await exec(server(), { code: '1+1' });
    assert.deepEqual([neighbour.status, neighbour.result], ['completed', '2']);
  });
});
