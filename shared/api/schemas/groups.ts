/** Request schemas of the group routes (scope I2): the handler validates with them, the OpenAPI document shows them. */
import * as z from "zod";

/** Tasks read per call: bounded work (and Lambda time) however large the group. */
export const MAX_GROUP_PAGE = 1_000;

export const cancelGroupParamsSchema = z.object({
  topic: z.string().min(1).meta({ description: "the topic" }),
  value: z.string().min(1).max(1024).meta({ description: "the ordering field's value (the group)" }),
});

export const cancelGroupQuerySchema = z
  .object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_GROUP_PAGE)
      .optional()
      .meta({ description: `tasks read this call (default and maximum ${MAX_GROUP_PAGE})` }),
    cursor: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .meta({ description: "`next_cursor` of the previous call" }),
  })
  .strict();
export type CancelGroupQuery = z.output<typeof cancelGroupQuerySchema>;
