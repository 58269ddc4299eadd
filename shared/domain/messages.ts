import * as z from "#shared/zod.js";

/**
 * Timer-queue and topic-queue messages carry the task id: the id encodes the table key and the due time, and the
 * content stays in the table (so a message is tiny and a cancel or completion is always seen). A topic message of
 * an occurrence of a recurring schedule also carries its `scheduleId`: a hint, so deliver reads the task and its
 * schedule first instead of trying the read-free start, which refuses an occurrence (a refused conditional write
 * still costs its write unit). The task item stays the truth: a message without it (written before it existed, or
 * by hand) or with a wrong one is delivered as its task says.
 */
export const taskMessageSchema = z.object({
  v: z.literal(1),
  taskId: z.string().check(z.minLength(1), z.maxLength(200)),
  // A hint, checked apart (`scheduleHint`): a malformed one is dropped, not the message. Not `z.catch`, which
  // brings ~7 KB of zod's issue machinery into every bundle that reads a message (the 250 KB bundle budget).
  scheduleId: z.optional(z.unknown()),
});

/** A queue message: the task it points at, and an occurrence's schedule (a hint). */
export interface TaskMessage {
  readonly v: 1;
  readonly taskId: string;
  readonly scheduleId?: string;
}

/** The hint as a message carries it, or undefined when absent or malformed (the task is then read as it says). */
function scheduleHint(value: unknown): string | undefined {
  return typeof value === "string" && value.length >= 1 && value.length <= 200 ? value : undefined;
}

/** What a topic message points at: the task, and its schedule when it is an occurrence (TaskRecord's fields). */
export interface TaskPointer {
  readonly taskId: string;
  readonly scheduleId?: string | undefined;
}

/** The message body; `scheduleId` only when given, so a plain task's message is byte for byte the old one. */
export function taskMessageBody(taskId: string, scheduleId?: string): string {
  const body: TaskMessage = scheduleId === undefined ? { v: 1, taskId } : { v: 1, taskId, scheduleId };
  return JSON.stringify(body);
}

/** A queue message's task pointer, or undefined for anything that is not one (not JSON, wrong shape). */
export function parseTaskMessage(body: string): TaskMessage | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = taskMessageSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { v, taskId } = parsed.data;
  const scheduleId = scheduleHint(parsed.data.scheduleId);
  return scheduleId === undefined ? { v, taskId } : { v, taskId, scheduleId };
}

/** Task id → schedule id for the occurrences among `tasks`: what a group send's messages carry (topic-queue.ts). */
export function scheduleIdsOf(tasks: readonly TaskPointer[]): Map<string, string> {
  const ids = new Map<string, string>();
  for (const { taskId, scheduleId } of tasks) if (scheduleId !== undefined) ids.set(taskId, scheduleId);
  return ids;
}
