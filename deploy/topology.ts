// The three-node deployment, described once: cluster-compose.yml (containers) and `npm run
// cluster` (local processes, scripts/cluster.ts) both follow it, and test/cluster/topology.test.ts
// checks that the compose file says the same nodes, ports and flags.

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
 * nginx in front of the nodes: round-robin over /mcp, /api and /healthz, no affinity needed. A
 * request with the `Mcp-V8-Session` header (a run that names its session) goes by nginx's `hash` of
 * it to the session's home node (src/cluster/session-home.ts computes the same), which runs it
 * without a forward; the upstreams are listed in the order of their node ids, as the nodes order
 * the voters. A node nginx finds down is skipped (its sessions' runs reach another node, which
 * forwards them or runs them, as without the header).
 */
export function nginxConfig(options: { listenPort: number; upstreams: readonly string[]; prefix: string | null }): string {
  const logs = options.prefix === null
    ? ['  access_log off;', '  error_log stderr warn;']
    : [`  access_log off;`, `  error_log ${options.prefix}/error.log warn;`];
  const servers = options.upstreams.map((upstream) => `    server ${upstream} max_fails=1 fail_timeout=2s;`);
  return [
    'worker_processes 1;',
    ...(options.prefix === null ? [] : [`pid ${options.prefix}/nginx.pid;`]),
    'events { worker_connections 4096; }',
    'http {',
    ...logs,
    ...(options.prefix === null ? [] : [`  client_body_temp_path ${options.prefix}/body;`, `  proxy_temp_path ${options.prefix}/proxy;`]),
    '  upstream mcp_v8 {',
    ...servers,
    '    keepalive 64;',
    '  }',
    '  upstream mcp_v8_by_session {',
    '    hash $http_mcp_v8_session;',
    ...servers,
    '    keepalive 64;',
    '  }',
    '  map $http_mcp_v8_session $mcp_v8_upstream {',
    '    "" mcp_v8;',
    '    default mcp_v8_by_session;',
    '  }',
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
