/**
 * Requests and answers of the operations routes of issue 11 scope H (list, replay): the handlers validate with
 * these schemas, the client parses with them, and the OpenAPI document is generated from them.
 */
import * as z from "zod";
import { taskViewSchema } from "./tasks.js";

export const LIST_LIMIT_DEFAULT = 50;
export const LIST_LIMIT_MAX = 100;

/** `GET /v1/tasks`: exactly one of `group` and `status=failed`. Query strings are text, so `limit` is coerced. */
export const listTasksQuerySchema = z
  .strictObject({
    topic: z.string().min(1).max(64).meta({ description: "the topic" }),
    group: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .meta({ description: "the deliverBy field's value: list that ordering group in delivery order" }),
    status: z
      .literal("failed")
      .optional()
      .meta({ description: "`failed`: list the topic's dead-lettered tasks, newest first" }),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(LIST_LIMIT_MAX)
      .default(LIST_LIMIT_DEFAULT)
      .meta({ description: `page size, 1–${LIST_LIMIT_MAX} (default ${LIST_LIMIT_DEFAULT})` }),
    cursor: z.string().min(1).max(2048).optional().meta({ description: "the previous page's `next_cursor`" }),
  })
  .refine((q) => (q.group === undefined) !== (q.status === undefined), {
    message: "give exactly one of group and status=failed",
    path: ["group"],
  });
export type ListTasksQuery = z.output<typeof listTasksQuerySchema>;

export const taskListSchema = z.looseObject({
  tasks: z.array(taskViewSchema),
  next_cursor: z.string().nullable(),
});
export type TaskList = z.output<typeof taskListSchema>;
