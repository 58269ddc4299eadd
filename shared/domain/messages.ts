import * as z from "#shared/zod.js";

/**
 * Timer-queue and topic-queue messages carry only the task id: the id encodes the table key and the due time,
 * and the content stays in the table (so a message is tiny and a cancel or completion is always seen).
 */
export const taskMessageSchema = z.object({
  v: z.literal(1),
  taskId: z.string().check(z.minLength(1), z.maxLength(200)),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

export function taskMessageBody(taskId: string): string {
  return JSON.stringify({ v: 1, taskId } satisfies TaskMessage);
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
  return parsed.success ? parsed.data : undefined;
}
