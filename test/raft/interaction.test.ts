// Interaction scripts (etcd-io/raft's testdata habit): each file in testdata/ is a sequence of
// commands, each followed by `----` and the output it must print. Run with RAFT_REWRITE=1 to
// record the current output as the expectation (then read the diff before committing it).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConfigChangeKind, Message, NodeId } from '../../src/raft/types.ts';
import { Harness } from './harness.ts';

const testdataDirectory = join(import.meta.dirname, 'testdata');
const rewrite = process.env.RAFT_REWRITE === '1';

function ids(text: string | undefined): NodeId[] {
  return text === undefined || text === '' ? [] : text.split(',').map(Number);
}

function describeMessage(message: Message): string {
  const parts = [`${message.from}->${message.to} ${message.type} term=${message.term}`];
  if (message.type === 'append' || message.type === 'vote' || message.type === 'preVote') parts.push(`index=${message.index} logTerm=${message.logTerm}`);
  if (message.type === 'append') parts.push(`entries=[${message.entries.map((entry) => `${entry.index}/${entry.term}`).join(' ')}] commit=${message.commit}`);
  if (message.type === 'appendResponse') parts.push(`index=${message.index}`);
  if (message.type === 'heartbeat') parts.push(`commit=${message.commit}`);
  if (message.reject) parts.push(`reject hint=${message.rejectHintIndex}/${message.rejectHintTerm}`);
  if (message.snapshot !== null) parts.push(`snapshot=${message.snapshot.index}/${message.snapshot.term}`);
  return parts.join(' ');
}

function status(harness: Harness): string {
  return [...harness.nodes.keys()].map((id) => {
    const raft = harness.raft(id);
    const log = raft.log;
    return `${id}: ${raft.role} term=${raft.term} lead=${raft.lead} commit=${log.committed} applied=${log.applied} last=${log.lastIndex()} voters=[${raft.config.voters.join(',')}] learners=[${raft.config.learners.join(',')}]`;
  }).join('\n');
}

/** Deliver until quiet, printing every message as it is delivered. */
function traceStabilize(harness: Harness): string {
  const lines: string[] = [];
  harness.processAll();
  for (let round = 0; round < 100 && harness.queue.length > 0; round++) {
    harness.deliverRound((message) => {
      lines.push(describeMessage(message));
      return true;
    });
  }
  return lines.join('\n');
}

function execute(harness: Harness | null, line: string): { harness: Harness; output: string } {
  const [command, ...args] = line.split(/\s+/);
  const named = Object.fromEntries(args.filter((arg) => arg.includes('=')).map((arg) => arg.split('=') as [string, string]));
  const positional = args.filter((arg) => !arg.includes('='));
  if (command === 'new') {
    const created = new Harness({ voters: ids(named.voters), others: ids(named.others) });
    return { harness: created, output: status(created) };
  }
  assert.ok(harness !== null, 'a script starts with `new`');
  const id = Number(positional[0]);
  switch (command) {
    case 'campaign': harness.campaign(id); return { harness, output: status(harness) };
    case 'propose': return { harness, output: JSON.stringify(harness.raft(id).propose(positional[1] ?? '')) };
    case 'config': return { harness, output: JSON.stringify(harness.raft(id).proposeConfigChange({ kind: positional[1] as ConfigChangeKind, nodeId: Number(positional[2]) })) };
    case 'transfer': return { harness, output: String(harness.raft(id).transferLeadership(Number(positional[1]))) };
    case 'isolate': harness.isolate(id); return { harness, output: 'ok' };
    case 'heal': harness.heal(); return { harness, output: 'ok' };
    case 'tick': harness.tick(id, ids(named.except)); return { harness, output: status(harness) };
    case 'stabilize': return { harness, output: traceStabilize(harness) || '(no messages)' };
    case 'status': return { harness, output: status(harness) };
    default: throw new Error(`unknown command ${line}`);
  }
}

function runScript(text: string): string {
  let harness: Harness | null = null;
  const blocks: string[] = [];
  for (const block of text.trim().split(/\n\s*\n/)) {
    const lines = block.split('\n');
    const separator = lines.indexOf('----');
    const commandLines = (separator < 0 ? lines : lines.slice(0, separator)).filter((line) => !line.startsWith('#'));
    const comments = lines.filter((line, position) => line.startsWith('#') && (separator < 0 || position < separator));
    const command = commandLines.join(' ').trim();
    const result = execute(harness, command);
    harness = result.harness;
    blocks.push([...comments, command, '----', result.output].join('\n'));
  }
  return `${blocks.join('\n\n')}\n`;
}

for (const file of readdirSync(testdataDirectory).filter((name) => name.endsWith('.txt')).sort()) {
  test(`interaction script testdata/${file}`, () => {
    const path = join(testdataDirectory, file);
    const expected = readFileSync(path, 'utf8');
    const actual = runScript(expected);
    if (rewrite) writeFileSync(path, actual);
    else assert.equal(actual, expected);
  });
}
