// run_js as an MCP task (the tasks utility of MCP 2025-11-25, as @modelcontextprotocol/sdk
// implements it): the task IS the execution. Its taskId is the execution_id that get_execution,
// get_execution_output and cancel_execution take; its status is the execution's; tasks/result is
// run_js's own reply for the finished run. This store keeps only what the protocol adds (which
// session made the task, its ttl, when it was made), bounded; the execution store keeps the rest.
import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { McpV8Error, assert, isMcpV8Error } from '../errors.ts';
import type { ExecutionRecord } from '../model.ts';
import type { ExecutionService } from '../service/executions.ts';

/** Tasks remembered (for their session and ttl); past this the oldest are forgotten. */
export const tasksMax = 10_000;
/** tasks/list page size. */
export const taskPageSize = 50;
/** The poll interval we suggest, and the one the SDK's tasks/result uses while it waits. */
export const taskPollIntervalMs = 500;
/** The longest ttl granted: execution records outlive it only while the store's bounds allow. */
export const taskTtlMsMax = 24 * 60 * 60 * 1000;

interface TaskEntry {
  sessionId: string | undefined;
  ttl: number | null;
  createdAt: string;
}

/** What tasks/result answers for a finished execution: run_js's reply, as a tool result. */
export type TaskResultOf = (executionId: string) => Promise<Result>;

function taskStatus(record: ExecutionRecord): Task['status'] {
  switch (record.status) {
    case 'running': return 'working';
    case 'completed': return 'completed';
    case 'cancelled': return 'cancelled';
    default: return 'failed';
  }
}

export class ExecutionTaskStore implements TaskStore {
  private readonly entries = new Map<string, TaskEntry>();
  private readonly service: ExecutionService;
  private readonly resultOf: TaskResultOf;

  constructor(service: ExecutionService, resultOf: TaskResultOf) {
    this.service = service;
    this.resultOf = resultOf;
  }

  /** The execution is submitted first (run_js's handler); its id becomes the task's. */
  async createTask(params: CreateTaskOptions, _requestId: RequestId, _request: Request, sessionId?: string): Promise<Task> {
    const executionId = params.context?.executionId;
    assert(typeof executionId === 'string', 'a task is created for a submitted execution');
    const ttl = params.ttl === undefined || params.ttl === null ? taskTtlMsMax : Math.min(Math.max(0, params.ttl), taskTtlMsMax);
    this.entries.set(executionId, { sessionId, ttl, createdAt: new Date().toISOString() });
    if (this.entries.size > tasksMax) this.entries.delete(this.entries.keys().next().value!);
    const task = await this.getTask(executionId, sessionId);
    assert(task !== null, 'a task just created is found');
    return task;
  }

  /** A task of another session is not found; ids that were never tasks are not tasks. */
  private entry(taskId: string, sessionId: string | undefined): TaskEntry | null {
    const entry = this.entries.get(taskId);
    if (entry === undefined) return null;
    if (entry.sessionId !== undefined && sessionId !== undefined && entry.sessionId !== sessionId) return null;
    return entry;
  }

  async getTask(taskId: string, sessionId?: string): Promise<Task | null> {
    const entry = this.entry(taskId, sessionId);
    if (entry === null) return null;
    let record: ExecutionRecord;
    try {
      record = await this.service.get(taskId);
    } catch (error) {
      // Evicted from the execution store (past its bounds): the task is gone with it.
      if (isMcpV8Error(error) && error.code === 'EXECUTION_NOT_FOUND') return null;
      throw error;
    }
    const status = taskStatus(record);
    return {
      taskId, status, ttl: entry.ttl, createdAt: entry.createdAt,
      lastUpdatedAt: record.completed_at ?? record.started_at ?? entry.createdAt,
      pollInterval: taskPollIntervalMs,
      ...(status === 'working' ? {} : { statusMessage: `execution ${record.status}${record.error === null ? '' : `: ${record.error.slice(0, 200)}`}` }),
    };
  }

  /** The execution writes its own result; nothing is stored twice. */
  async storeTaskResult(): Promise<void> {}

  async getTaskResult(taskId: string, sessionId?: string): Promise<Result> {
    if (this.entry(taskId, sessionId) === null) throw new McpV8Error('EXECUTION_NOT_FOUND', `no task ${taskId}`);
    return this.resultOf(taskId);
  }

  /** Only cancellation reaches here (tasks/cancel): it cancels the execution and waits for its record. */
  async updateTaskStatus(taskId: string, status: Task['status'], _statusMessage?: string, sessionId?: string): Promise<void> {
    if (this.entry(taskId, sessionId) === null) throw new McpV8Error('EXECUTION_NOT_FOUND', `no task ${taskId}`);
    if (status === 'cancelled') await this.service.cancel(taskId);
  }

  async listTasks(cursor?: string, sessionId?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const ids = [...this.entries.keys()].reverse().filter((id) => this.entry(id, sessionId) !== null);
    const start = cursor === undefined ? 0 : Number(cursor);
    if (!Number.isInteger(start) || start < 0) throw new McpV8Error('INVALID_ARGUMENT', `tasks/list: cursor '${String(cursor).slice(0, 40)}' is not one this server gave`);
    const page = ids.slice(start, start + taskPageSize);
    const tasks = (await Promise.all(page.map((id) => this.getTask(id, sessionId)))).filter((task) => task !== null);
    return { tasks, ...(start + taskPageSize < ids.length ? { nextCursor: String(start + taskPageSize) } : {}) };
  }
}
