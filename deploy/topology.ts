// The three-node deployment, described once: cluster-compose.yml (containers) and `npm run
// cluster` (local processes, scripts/cluster.ts) both follow it, and test/cluster/topology.test.ts
// checks that the compose file says the same nodes, ports and flags.
import { nodeHash } from '../src/exec/ids.ts';

export interface TopologyNode {
  readonly name: string;
  /** Streamable HTTP (/mcp) and the plain API (/api). */
  readonly httpPort: number;
  /** The Raft transport (/raft/*). */
  readonly clusterPort: number;
}

export const topology = {
  nodes: [
    { name: 'n1', httpPort: 3001, clusterPort: 4001 },
    { name: 'n2', httpPort: 3002, clusterPort: 4002 },
    { name: 'n3', httpPort: 3003, clusterPort: 4003 },
  ] as readonly TopologyNode[],
  /** nginx, in front of /mcp and /api: any node answers any request. */
  loadBalancerPort: 8080,
} as const;

/** Where the nodes run: in compose each is a host of its own name; locally all are 127.0.0.1. */
export interface Placement {
  host(node: TopologyNode): string;
  bindHost: string;
  dataDir(node: TopologyNode): string;
}

export const composePlacement: Placement = { host: (node) => node.name, bindHost: '0.0.0.0', dataDir: () => '/data' };

export function localPlacement(dataDir: string): Placement {
  return { host: () => '127.0.0.1', bindHost: '127.0.0.1', dataDir: (node) => `${dataDir}/${node.name}` };
}

/**
 * The flags of one node. No --stateless-http: behind the load balancer a Streamable HTTP session's
 * requests reach any node, which forwards them to the node that holds the session (docs/cluster.md).
 */
export function nodeFlags(node: TopologyNode, placement: Placement, nodes: readonly TopologyNode[] = topology.nodes): string[] {
  const peers = nodes.filter((peer) => peer !== node).map((peer) => `${peer.name}@${placement.host(peer)}:${peer.clusterPort}`);
  const dataDir = placement.dataDir(node);
  return [
    '--node-id', node.name,
    '--http-port', String(node.httpPort),
    '--cluster-port', String(node.clusterPort),
    '--advertise-addr', `${placement.host(node)}:${node.clusterPort}`,
    '--peers', peers.join(','),
    '--bind-host', placement.bindHost,
    // The cluster port is authenticated by MCP_V8_CLUSTER_SECRET (nodeEnvironment), never by this
    // flag. Beyond loopback the HTTP port wants tokens too; nginx in front is the front door here,
    // so the flag lets it start without: give MCP_V8_AUTH_TOKEN in the environment to ask for tokens.
    ...(placement.bindHost === '127.0.0.1' ? [] : ['--allow-unauthenticated']),
    '--raft-db-path', `${dataDir}/raft`,
    '--execution-db-path', `${dataDir}/executions`,
  ];
}

/**
 * The environment of every node in compose: the cluster secret every request between the nodes is
 * signed with, from the operator's environment (compose refuses to start without it), never
 * written in a file that is committed. Locally (loopback) a secret is optional: MCP_V8_CLUSTER_SECRET
 * in the environment of `npm run cluster` is passed on to the nodes.
 */
export const composeNodeEnvironment = {
  MCP_V8_CLUSTER_SECRET: '${MCP_V8_CLUSTER_SECRET:?set MCP_V8_CLUSTER_SECRET to one secret of 32+ characters for every node, e.g. openssl rand -hex 32}',
} as const;

/**
 * The upstreams and the maps that pick one per request: `mcp_v8` round-robin; `mcp_v8_by_session`,
 * nginx's `hash` of the Mcp-V8-Session header; with `holders` (the node ids of `upstreams`, in
 * their order), one upstream per node (the others as its backups) for a Streamable HTTP request
 * whose Mcp-Session-Id names the node that opened it (src/cluster/mcp-sessions.ts: its first 8 hex
 * digits are the hash of that node's id), so it reaches the node that holds the session without a
 * forward. The session header wins over the session id; a request with neither goes round-robin.
 */
function upstreamBlocks(upstreams: readonly string[], holders: readonly string[] | undefined): string[] {
  const server = (upstream: string) => `    server ${upstream} max_fails=1 fail_timeout=2s;`;
  const servers = upstreams.map(server);
  // Named by position: node ids may hold characters an upstream's name may not.
  const perNode = (holders ?? []).flatMap((_name, i) => [
    `  upstream mcp_v8_node_${i + 1} {`,
    server(upstreams[i]!),
    ...upstreams.filter((_, j) => j !== i).map((upstream) => `    server ${upstream} backup;`),
    '    keepalive 16;',
    '  }',
  ]);
  const byHolder = holders === undefined ? [] : [
    '  map $http_mcp_session_id $mcp_v8_by_holder {',
    '    default mcp_v8;',
    ...holders.map((name, i) => `    ~^${nodeHash(name).toString(16).padStart(8, '0')}- mcp_v8_node_${i + 1};`),
    '  }',
  ];
  return [
    '  upstream mcp_v8 {', ...servers, '    keepalive 64;', '  }',
    '  upstream mcp_v8_by_session {', '    hash $http_mcp_v8_session;', ...servers, '    keepalive 64;', '  }',
    ...perNode,
    ...byHolder,
    '  map $http_mcp_v8_session $mcp_v8_upstream {',
    `    "" ${holders === undefined ? 'mcp_v8' : '$mcp_v8_by_holder'};`,
    '    default mcp_v8_by_session;',
    '  }',
  ];
}

/**
 * nginx in front of the nodes: round-robin over /mcp, /api and /healthz, no affinity needed. A
 * request with the `Mcp-V8-Session` header (a run that names its session) goes by nginx's `hash` of
 * it to the session's home node (src/cluster/session-home.ts computes the same), which runs it
 * without a forward; the upstreams are listed in the order of their node ids, as the nodes order
 * the voters. With `holders`, a Streamable HTTP request goes to the node its session id names
 * (`upstreamBlocks`). A node nginx finds down is skipped (the request reaches another node, which
 * forwards it or serves it, as without the routing): the routing saves forwards, no answer needs it.
 */
export function nginxConfig(options: { listenPort: number; upstreams: readonly string[]; holders?: readonly string[]; prefix: string | null }): string {
  const logs = options.prefix === null
    ? ['  access_log off;', '  error_log stderr warn;']
    : [`  access_log off;`, `  error_log ${options.prefix}/error.log warn;`];
  if (options.holders !== undefined && options.holders.length !== options.upstreams.length) throw new Error('nginxConfig: one holder (node id) per upstream');
  return [
    'worker_processes 1;',
    ...(options.prefix === null ? [] : [`pid ${options.prefix}/nginx.pid;`]),
    'events { worker_connections 4096; }',
    'http {',
    ...logs,
    ...(options.prefix === null ? [] : [`  client_body_temp_path ${options.prefix}/body;`, `  proxy_temp_path ${options.prefix}/proxy;`]),
    ...upstreamBlocks(options.upstreams, options.holders),
    '  server {',
    `    listen ${options.listenPort};`,
    '    client_max_body_size 8m;',
    '    location ~ ^/(mcp|api/|healthz) {',
    '      proxy_pass http://$mcp_v8_upstream;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header Host $host;',
    '      proxy_buffering off;',
    '      proxy_read_timeout 360s;',
    '      proxy_next_upstream error timeout http_502;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}
