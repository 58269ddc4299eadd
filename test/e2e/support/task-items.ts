import { makeTaskKey, newUlid } from "#shared/domain/keys.js";
import type { TaskRecord, TaskStatus } from "#shared/domain/task.js";

export interface TaskItemOptions {
  readonly group: string;
  readonly dueAtMs: number;
  readonly status: TaskStatus;
  readonly callbackUrl: string;
  readonly seq?: number;
  readonly queuedAtMs?: number;
}

/**
 * A `demo` task item exactly as add-task / the relay would have written it, for tests that put the table in a
 * state only a crash, a lost message or a long delay leaves behind.
 */
export function demoTaskItem(options: TaskItemOptions): TaskRecord {
  const key = makeTaskKey("demo", options.group, options.dueAtMs, newUlid(Date.now()));
  return {
    pk: key.pk,
    sk: key.sk,
    taskId: key.taskId,
    topic: "demo",
    groupValue: options.group,
    status: options.status,
    dueAtMs: options.dueAtMs,
    acceptedAtMs: options.dueAtMs - 1_000,
    content: JSON.stringify({ order_id: options.group, seq: options.seq ?? 0 }),
    callbackUrl: options.callbackUrl,
    timer: "queue",
    attempts: 0,
    ...(options.queuedAtMs !== undefined ? { queuedAtMs: options.queuedAtMs } : {}),
  };
}
