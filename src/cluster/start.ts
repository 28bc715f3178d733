// Cluster mode of a node (--cluster-port): the cluster port's HTTP server, the Raft node behind
// it, and the stores the service layer uses in place of the single-node ones.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ClusterConfig } from '../config.ts';
import type { ExecutionService } from '../service/executions.ts';
import { openHeapStore, type HeapStore } from '../storage/heap-store.ts';
import { ForwardedExecutions, LocalExecutions } from './executions.ts';
import type { ForwardedMcpHandler } from '../transport/mcp-http.ts';
import { McpSessionForwarder } from './mcp-sessions.ts';
import { ClusterNode, type NodeStatus } from './node.ts';
import { ReplicatedHeapStore, ReplicatedSessions } from './replicated.ts';
import { clusterHandler, newRequestCounts } from './routes.ts';

export interface RunningCluster {
  readonly node: ClusterNode;
  readonly port: number;
  readonly sessions: ReplicatedSessions;
  /** The heap store: S3 when --s3-bucket is given (the log carries ids), else the log itself. */
  openHeapStore(): Promise<HeapStore>;
  /** Serve other nodes' calls for this node's executions, and forward calls for theirs. */
  attach(service: ExecutionService): void;
  /** Streamable HTTP sessions of other nodes: ids that name their node, requests forwarded there. */
  readonly mcpPeers: McpSessionForwarder;
  /** Serve the requests other nodes forward for this node's Streamable HTTP sessions. */
  attachMcp(serve: ForwardedMcpHandler | null): void;
  status(): NodeStatus;
  close(): Promise<void>;
}

function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(new Error(`--cluster-port ${port}: cannot listen on ${host} (${error.code ?? error.message})`, { cause: error }));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** What cluster mode needs of the node's Config (src/config.ts imports this part, not the reverse). */
export interface ClusterStart {
  nodeId: string;
  bindHost: string;
  /** --allowed-hosts: Host values the cluster port answers to too. */
  allowedHosts: readonly string[];
  /** The shared heap store, when --s3-bucket is given; else heap records replicate through the log. */
  s3: { bucket: string; cacheDir: string | null } | null;
  cluster: ClusterConfig;
}

export async function startCluster(config: ClusterStart, logger: Logger): Promise<RunningCluster> {
  const clusterConfig = config.cluster;
  let local: LocalExecutions | null = null;
  let mcp: ForwardedMcpHandler | null = null;
  /** Whether this node's engine holds a heap live (the service's, once attached; until then, as before: yes). */
  let holdsLive: (heap: string) => boolean = () => true;
  // The address is known once the port is bound (--cluster-port 0 in a single-node cluster).
  const node = new ClusterNode({ name: config.nodeId, config: clusterConfig, addr: clusterConfig.advertiseAddr ?? '', logger });
  const server = createServer(clusterHandler({ node, counts: newRequestCounts(), executions: () => local, mcp: () => mcp, logger, allowedHosts: config.allowedHosts, bindHost: config.bindHost }));
  server.keepAliveTimeout = 65_000;
  const port = await listenOn(server, clusterConfig.clusterPort, config.bindHost);
  node.addr = clusterConfig.advertiseAddr ?? `${config.bindHost}:${port}`;
  logger.info({ clusterPort: port, addr: node.addr, nodeId: config.nodeId }, 'mcp-v8 cluster port listening');
  const closeServer = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    await node.boot();
  } catch (error) {
    await node.close();
    await closeServer();
    throw error;
  }
  const sessions = new ReplicatedSessions(node);
  return {
    node, port, sessions,
    openHeapStore: async () => {
      if (config.s3 !== null) return openHeapStore({ kind: 's3', bucket: config.s3.bucket, cacheDir: config.s3.cacheDir });
      return new ReplicatedHeapStore(node, (heap) => holdsLive(heap));
    },
    attach: (service) => {
      local = new LocalExecutions(service);
      holdsLive = (heap) => service.holdsLive(heap);
      service.remote = new ForwardedExecutions(node);
    },
    mcpPeers: new McpSessionForwarder(node, logger),
    attachMcp: (serve) => { mcp = serve; },
    status: () => node.status(),
    close: async () => {
      local = null;
      mcp = null;
      await node.close();
      await closeServer();
    },
  };
}
