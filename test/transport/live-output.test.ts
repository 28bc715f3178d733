// LiveOutput on its own: what a watching request is told adds up to what the execution printed,
// even when the request began to watch after the code had printed (a busy server answers submit's
// id late). The service is a stand-in here: an EventEmitter of 'output' and 'finished' that counts
// what it emitted as the store does (the real service is exercised in agent-surface.test.ts).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { ExecutionService } from '../../src/service/executions.ts';
import { LiveOutput, type LiveNotification } from '../../src/transport/live-output.ts';

/** Emits as the service does, and answers linesPrinted as its store does: lines of a running execution. */
class ServiceStandIn extends EventEmitter {
  private readonly printed = new Map<string, number>();
  override emit(event: string, ...args: unknown[]): boolean {
    const id = event === 'output' ? String(args[0]) : event === 'finished' ? (args[0] as { execution_id: string }).execution_id : null;
    if (event === 'output' && id !== null) this.printed.set(id, (this.printed.get(id) ?? 0) + 1);
    if (event === 'finished' && id !== null) this.printed.delete(id);
    return super.emit(event, ...args);
  }
  linesPrinted(id: string): number {
    return this.printed.get(id) ?? 0;
  }
}

function textsOf(sent: LiveNotification[]): string[] {
  return sent.map((notification) => (notification.method === 'notifications/progress' ? notification.params.message : notification.params.data));
}

test('lines printed before a request watched are counted as not sent, so sent + not sent = printed', async () => {
  const service = new ServiceStandIn();
  const live = new LiveOutput(service as unknown as ExecutionService);
  const sent: LiveNotification[] = [];
  for (let i = 0; i < 3; i++) service.emit('output', 'e1', `early ${i}`);
  const request = live.start({ progressToken: 7, logging: false, send: async (notification) => { sent.push(notification); } })!;
  request.watch('e1');
  service.emit('output', 'e1', 'late 0');
  service.emit('output', 'e1', 'late 1');
  service.emit('output', 'other', 'not watched');
  service.emit('finished', { execution_id: 'e1' });
  await request.stop();
  const texts = textsOf(sent).join('\n').split('\n');
  assert.deepEqual(texts.filter((line) => line.startsWith('late')), ['late 0', 'late 1']);
  const notSent = texts.map((line) => /^\[(\d+) lines not sent live/.exec(line)?.[1]).filter((count) => count !== undefined).map(Number);
  assert.deepEqual(notSent, [3]);
});

test('an execution that finished is forgotten: a later watcher of the same id starts from nothing', async () => {
  const service = new ServiceStandIn();
  const live = new LiveOutput(service as unknown as ExecutionService);
  service.emit('output', 'e2', 'a');
  service.emit('finished', { execution_id: 'e2' });
  const sent: LiveNotification[] = [];
  const request = live.start({ progressToken: undefined, logging: true, send: async (notification) => { sent.push(notification); } })!;
  request.watch('e2');
  await request.stop();
  assert.deepEqual(textsOf(sent), []);
});
