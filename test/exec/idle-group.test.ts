// src/exec/idle-group.ts against a real server process (issue 18): where the process may make a
// cgroup v1 `cpu` group (root on a cgroup v1 machine), a spinning run's isolate thread is moved
// into the server's group when it is lowered to nice 19, the group is idle while a neighbour's
// `1+1` runs beside it and not once the spinner is alone, and the thread goes back to the
// process's own group when its run ends; the group is removed when the server stops, and a group left by a server
// killed with SIGKILL is removed by the next one to start. Where it may not (no cgroup v1 `cpu`
// hierarchy, no permission: CI may have neither), the server says why in its log and only nices.
// Thread states and groups are polled (the server offers no event for them), each poll bounded by
// the test's timeout; nothing is timed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isolateThreadName, loweredNice } from '../../src/exec/thread-nice.ts';
import { waitMsMax } from '../../src/tools/execution-tools.ts';
import { threadNiceValues } from '../support/hostile.ts';
import { startServerProcess, tempDir, type ServerProcess } from '../support/server-process.ts';

interface Started { server: ServerProcess; dir: string | null; reason: string | null }

async function start(name: string): Promise<Started> {
  const root = tempDir(name);
  const server = await startServerProcess(['--stateless', '--http-port', '0', '--execution-db-path', join(root, 'executions')]);
  const line = JSON.parse(await server.waitForStderr(/idle cgroup/)) as { dir?: string; reason?: string; msg: string };
  return { server, dir: line.msg === 'lowered isolate threads go to an idle cgroup' ? line.dir! : null, reason: line.reason ?? null };
}

/** Thread ids in a cgroup v1 group (its `tasks` file). */
const members = (dir: string) => readFileSync(join(dir, 'tasks'), 'utf8').split('\n').filter((line) => line !== '').map(Number);

const idleFlag = (dir: string) => readFileSync(join(dir, 'cpu.idle'), 'utf8').trim();

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

async function exec(server: ServerProcess, body: Record<string, unknown>): Promise<{ execution_id: string; status: string; result?: string }> {
  const response = await fetch(`${server.baseUrl}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.status === 200 || response.status === 202, `${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as { execution_id: string; status: string; result?: string };
}

test('a spinning run\'s thread goes into the idle group while lowered and back when it ends; the group goes with the server', async () => {
  const { server, dir, reason } = await start('idle-group');
  const pid = server.child.pid!;
  try {
    if (dir === null) {
      // No cgroup to be had here: the server said why and still lowers by nice (host-lanes.test.ts).
      assert.ok(reason !== null && reason.length > 0, 'the log names why there is no idle group');
      return;
    }
    assert.deepEqual(members(dir), [], 'empty while nothing spins');
    assert.deepEqual([idleFlag(dir), readFileSync(join(dir, 'cpu.shares'), 'utf8').trim()], ['0', '15'], 'not idle, weighing as one nice-19 thread');
    const spinner = await exec(server, { code: 'for(;;){}', execution_timeout_secs: 120, wait_ms: 0 });
    // Lowered, then moved (the move is written off the event loop, a moment later).
    while (!threadNiceValues(pid).includes(loweredNice) || members(dir).length === 0) await pause();
    const inGroup = members(dir);
    assert.equal(inGroup.length, 1, `one thread in the group: ${inGroup.join(', ')}`);
    const tid = inGroup[0]!;
    assert.ok(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1').includes(`(${isolateThreadName})`), 'an isolate thread');
    assert.equal(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1').split(') ')[1]!.split(' ')[16], String(loweredNice), 'the thread in the group is the lowered one');
    // Idle while short runs are about: seen idle while a neighbour is in flight (looked at until
    // it is, over at most 100 neighbours), and not idle again once the spinner is alone.
    let seenIdle = false;
    for (let sent = 0; !seenIdle && sent < 100; sent++) {
      let settled = false;
      const neighbour = exec(server, { code: '1+1', wait_ms: waitMsMax }).finally(() => { settled = true; });
      while (!settled && !seenIdle) { seenIdle = idleFlag(dir) === '1'; await new Promise((resolve) => setImmediate(resolve)); }
      const answer = await neighbour;
      assert.deepEqual([answer.status, answer.result], ['completed', '2']);
    }
    assert.ok(seenIdle, 'the group was idle while a neighbour ran');
    while (idleFlag(dir) !== '0') await pause();
    await fetch(`${server.baseUrl}/api/executions/${spinner.execution_id}/cancel`, { method: 'POST' });
    while (members(dir).length > 0) await pause();
    assert.ok(readFileSync(`/proc/${pid}/task/${tid}/cgroup`, 'utf8').split('\n').some((line) => /:cpu[,:]/.test(line) && !line.includes('lowered')), 'the thread is back in the process\'s own group');
  } finally {
    assert.equal(await server.stop('SIGTERM'), 0);
  }
  if (dir !== null) assert.equal(existsSync(dir), false, 'the group is removed when the server stops');
});

test('a group left by a server killed with SIGKILL is removed by the next server to start', async () => {
  const first = await start('idle-group-killed');
  await first.server.stop('SIGKILL');
  if (first.dir === null) {
    assert.ok(first.reason !== null && first.reason.length > 0, 'the log names why there is no idle group');
    return;
  }
  assert.equal(existsSync(first.dir), true, 'left behind by SIGKILL');
  const second = await start('idle-group-next');
  try {
    assert.equal(existsSync(first.dir), false, 'removed by the next start');
    assert.notEqual(second.dir, null);
  } finally {
    await second.server.stop('SIGTERM');
  }
});
