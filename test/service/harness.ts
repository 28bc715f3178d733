// An execution service on a real engine and a real LevelDB execution store, for one test file,
// closed after it.
import { join } from 'node:path';
import { after } from 'node:test';
import { createEngine } from '../../src/exec/engine.ts';
import { ExecutionService } from '../../src/service/executions.ts';
import { Metrics } from '../../src/metrics.ts';
import { ExecutionStore } from '../../src/storage/execution-store.ts';
import { tempDir } from '../support/server-process.ts';
import { collectBeforeExit } from '../exec/harness.ts';

export async function serviceForFile(name: string, slots = 1): Promise<{ service: ExecutionService; store: ExecutionStore }> {
  const engine = await createEngine({ maxConcurrentExecutions: slots });
  const store = await ExecutionStore.open({ path: join(tempDir(name), 'executions') });
  const service = new ExecutionService({ engine, store, metrics: new Metrics(), nodeId: 'test' });
  after(async () => {
    await service.close();
    await engine.close();
    await store.close();
    collectBeforeExit();
  });
  return { service, store };
}
