// The Raft transport's client side (src/cluster/client.ts) against a real HTTP server that holds
// its answers: appends to one peer go up to appendRequestsInFlightMax requests open at once (each on
// its own connection), what is sent while they are all open leaves batched in the next request,
// votes stay one at a time, and the messages a peer answers with reach the node.
import assert from 'node:assert/strict';
import { once, EventEmitter } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { appendRequestsInFlightMax, PeerClient } from '../../src/cluster/client.ts';
import { emptyMessage, type Message } from '../../src/raft/types.ts';

interface Arrival {
  path: string;
  messages: Message[];
  answer: (messages: Message[]) => void;
}

/** A peer that records each Raft request as it arrives and answers only when the test says. */
async function holdingPeer(): Promise<{ addr: string; arrivals: Arrival[]; arrived: (count: number) => Promise<void>; close: () => Promise<void> }> {
  const arrivals: Arrival[] = [];
  const events = new EventEmitter();
  const server = createServer((request, response: ServerResponse) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => { body += chunk; });
    request.on('end', () => {
      arrivals.push({
        path: request.url ?? '',
        messages: (JSON.parse(body) as { messages: Message[] }).messages,
        answer: (messages) => {
          if (messages.length === 0) response.writeHead(204).end();
          else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ messages }));
        },
      });
      events.emit('arrival');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const arrived = async (count: number) => {
    while (arrivals.length < count) await once(events, 'arrival');
  };
  const close = async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
  return { addr: `127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals, arrived, close };
}

const append = (index: number): Message => ({ ...emptyMessage('append', 1, 2, 1), index, logTerm: 1, entries: [{ term: 1, index: index + 1, kind: 'normal', data: `e${index + 1}` }] });

test('appends to a peer: at most appendRequestsInFlightMax requests open; what waits leaves batched; answers reach the node', async () => {
  const peer = await holdingPeer();
  const replies: Message[] = [];
  const client = new PeerClient(pino({ level: 'silent' }), { node: 'n1', secret: null }, (messages) => replies.push(...messages));
  try {
    const sends = appendRequestsInFlightMax + 2;
    for (let index = 0; index < sends; index++) client.sendMessages(peer.addr, [append(index)]);
    await peer.arrived(appendRequestsInFlightMax);
    // On separate connections they may be read in any order (the core rejects and probes back).
    const firstIndexes = peer.arrivals.map((arrival) => arrival.messages.map((message) => message.index)).sort((a, b) => a[0]! - b[0]!);
    assert.deepEqual(firstIndexes, Array.from({ length: appendRequestsInFlightMax }, (_, index) => [index]), 'one request per send while fewer are open');
    const ack: Message = { ...emptyMessage('appendResponse', 2, 1, 1), index: 1 };
    peer.arrivals.find((arrival) => arrival.messages[0]!.index === 0)!.answer([ack]);
    await peer.arrived(appendRequestsInFlightMax + 1);
    assert.deepEqual(peer.arrivals.at(-1)!.messages.map((message) => message.index), [appendRequestsInFlightMax, appendRequestsInFlightMax + 1], 'the two sent while all were open leave in one request once one answers');
    assert.ok(peer.arrivals.every((arrival) => arrival.path === '/raft/append'));
    assert.deepEqual(replies, [ack], 'the answer carried the peer\'s message to the node');
    for (const arrival of peer.arrivals.filter((arrival) => arrival.messages[0]!.index !== 0)) arrival.answer([]);
  } finally {
    await client.close();
    await peer.close();
  }
});

test('votes to a peer stay one request at a time: the next waits for the answer', async () => {
  const peer = await holdingPeer();
  const client = new PeerClient(pino({ level: 'silent' }), { node: 'n1', secret: null });
  try {
    const vote = (term: number): Message => emptyMessage('vote', 1, 2, term);
    client.sendMessages(peer.addr, [vote(1)]);
    client.sendMessages(peer.addr, [vote(2)]);
    client.sendMessages(peer.addr, [vote(3)]);
    await peer.arrived(1);
    peer.arrivals[0]!.answer([]);
    await peer.arrived(2);
    assert.deepEqual(peer.arrivals.map((arrival) => arrival.messages.map((message) => message.term)), [[1], [2, 3]], 'the votes sent while one was open left together, after it');
    peer.arrivals[1]!.answer([]);
  } finally {
    await client.close();
    await peer.close();
  }
});

test('a request to a peer whose process is gone tells onPeerGone: refused (nothing listens), and closed by the peer mid-request; a peer that answers an error does not', async () => {
  const client = new PeerClient(pino({ level: 'silent' }), { node: 'n1', secret: null });
  const gone: Array<{ addr: string; why: string }> = [];
  client.onPeerGone = (addr, why) => gone.push({ addr, why });
  // A port nothing listens on: bound, then closed.
  const closed = createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const refusedAddr = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(client.post(refusedAddr, '/raft/propose', {}, 2_000), /did not answer/);
  assert.deepEqual(gone, [{ addr: refusedAddr, why: 'POST /raft/propose: ECONNREFUSED' }]);
  // A peer that reads the request and drops the connection without an answer (as a process killed mid-request).
  const dropping = createServer((request) => {
    request.resume();
    request.on('end', () => request.socket.destroy());
  });
  dropping.listen(0, '127.0.0.1');
  await once(dropping, 'listening');
  const droppingAddr = `127.0.0.1:${(dropping.address() as AddressInfo).port}`;
  await assert.rejects(client.post(droppingAddr, '/raft/propose', {}, 2_000), /did not answer/);
  assert.equal(gone.length, 2);
  assert.equal(gone[1]!.addr, droppingAddr);
  assert.match(gone[1]!.why, /^POST \/raft\/propose: (UND_ERR_SOCKET|ECONNRESET)$/);
  // A live peer answering an error is not gone.
  const failing = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"NO_QUORUM","error":"no quorum"}'));
  });
  failing.listen(0, '127.0.0.1');
  await once(failing, 'listening');
  await assert.rejects(client.post(`127.0.0.1:${(failing.address() as AddressInfo).port}`, '/raft/propose', {}, 2_000), /no quorum/);
  assert.equal(gone.length, 2);
  await client.close();
  await Promise.all([dropping, failing].map((server) => new Promise((resolve) => server.close(resolve))));
});
