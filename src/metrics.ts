// Prometheus text exposition without a client library: a handful of counters, gauges and one
// histogram, bounded by construction (labels come from a fixed set of statuses).
import type { FinalStatus } from './exec/types.ts';

const latencyBucketsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;
const finalStatuses: readonly FinalStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];

export class Metrics {
  private readonly executionsByStatus = new Map<FinalStatus, number>(finalStatuses.map((status) => [status, 0]));
  private readonly latencyBucketCounts: number[] = latencyBucketsSeconds.map(() => 0);
  private latencyCount = 0;
  private latencySumSeconds = 0;
  private submitted = 0;

  executionSubmitted(): void {
    this.submitted++;
  }

  executionFinished(status: FinalStatus, latencySeconds: number): void {
    this.executionsByStatus.set(status, (this.executionsByStatus.get(status) ?? 0) + 1);
    this.latencyCount++;
    this.latencySumSeconds += latencySeconds;
    latencyBucketsSeconds.forEach((bound, index) => {
      if (latencySeconds <= bound) this.latencyBucketCounts[index]!++;
    });
  }

  render(gauges: { queueDepth: number; running: number }): string {
    const lines: string[] = [
      '# HELP mcp_v8_executions_submitted_total Executions accepted by run_js or POST /api/exec.',
      '# TYPE mcp_v8_executions_submitted_total counter',
      `mcp_v8_executions_submitted_total ${this.submitted}`,
      '# HELP mcp_v8_executions_total Finished executions by final status.',
      '# TYPE mcp_v8_executions_total counter',
    ];
    for (const [status, count] of this.executionsByStatus) lines.push(`mcp_v8_executions_total{status="${status}"} ${count}`);
    lines.push(
      '# HELP mcp_v8_executions_running Executions running in an isolate now.',
      '# TYPE mcp_v8_executions_running gauge',
      `mcp_v8_executions_running ${gauges.running}`,
      '# HELP mcp_v8_execution_queue_depth Executions waiting for a free isolate.',
      '# TYPE mcp_v8_execution_queue_depth gauge',
      `mcp_v8_execution_queue_depth ${gauges.queueDepth}`,
      '# HELP mcp_v8_execution_duration_seconds Time from submission to a final status.',
      '# TYPE mcp_v8_execution_duration_seconds histogram',
    );
    latencyBucketsSeconds.forEach((bound, index) => {
      lines.push(`mcp_v8_execution_duration_seconds_bucket{le="${bound}"} ${this.latencyBucketCounts[index]}`);
    });
    lines.push(
      `mcp_v8_execution_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`,
      `mcp_v8_execution_duration_seconds_sum ${this.latencySumSeconds}`,
      `mcp_v8_execution_duration_seconds_count ${this.latencyCount}`,
    );
    return lines.join('\n') + '\n';
  }
}
