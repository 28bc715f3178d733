// Issue 18, item 7: cancel said `ok: true` for runs that then completed (14 of 60 stateless, 7 of
// 60 stateful, where a heap was saved and the session moved on). Now cancel waits for the run's
// record and says `ok: false` with the final status when the run ended on its own first. Runs
// timed to end around the moment of the cancel, over a real server process: every answer must
// agree with the record.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { execution, serverForSuite, submit } from '../support/hostile.ts';
import { type ServerProcess } from '../support/server-process.ts';

async function cancel(server: ServerProcess, id: string): Promise<{ ok: boolean; error?: string }> {
  const response = await fetch(`${server.baseUrl}/api/executions/${id}/cancel`, { method: 'POST', signal: AbortSignal.timeout(60_000) });
  return (await response.json()) as { ok: boolean; error?: string };
}

for (const mode of ['stateless', 'stateful'] as const) {
  describe(`cancel wins or says it lost (${mode})`, () => {
    const server = serverForSuite(`host-cancel-${mode}`, mode);

    test('60 runs ending around their cancel: each answer agrees with the record', async () => {
      const seen = { won: 0, lost: 0 };
      for (let index = 0; index < 60; index++) {
        const body: Record<string, unknown> = { code: `await new Promise((resolve) => setTimeout(resolve, ${index % 6})); ${index}`, execution_timeout_secs: 30 };
        if (mode === 'stateful') body.session = 'cancel-race';
        const id = await submit(server(), body);
        const answer = await cancel(server(), id);
        const record = await execution(server(), id);
        if (answer.ok) {
          seen.won++;
          assert.equal(record.status, 'cancelled', `cancel said ok, the record says ${record.status}`);
          assert.equal(record.heap ?? null, null, 'a cancelled run saves no heap');
        } else {
          seen.lost++;
          assert.notEqual(record.status, 'cancelled');
          assert.ok(answer.error?.includes(`(status: ${record.status})`), `${answer.error} / ${record.status}`);
        }
      }
      assert.ok(seen.won > 0, `some cancels won: ${JSON.stringify(seen)}`);
    });
  });
}
