// How the Raft core's logical ticks map to the milliseconds of the cluster flags.
import type { ClusterConfig } from '../config.ts';

/**
 * The core counts time in ticks and draws its election timeout from [T, 2T) ticks. A tick is a
 * quarter of the heartbeat (at least 1 ms), T is the minimum timeout, and the random source the
 * core is given caps the draw so the timeout stays within [min, max].
 */
export function clusterTicks(config: Pick<ClusterConfig, 'heartbeatIntervalMs' | 'electionTimeoutMinMs' | 'electionTimeoutMaxMs'>): { tickMs: number; heartbeatTicks: number; electionTicks: number; jitterTicks: number } {
  const tickMs = Math.max(1, Math.floor(config.heartbeatIntervalMs / 4));
  const heartbeatTicks = Math.max(1, Math.round(config.heartbeatIntervalMs / tickMs));
  const electionTicks = Math.max(heartbeatTicks + 1, Math.round(config.electionTimeoutMinMs / tickMs));
  const jitterTicks = Math.max(1, Math.min(electionTicks, Math.round((config.electionTimeoutMaxMs - config.electionTimeoutMinMs) / tickMs) + 1));
  return { tickMs, heartbeatTicks, electionTicks, jitterTicks };
}
