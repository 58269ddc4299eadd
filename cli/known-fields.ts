import { destinationResetResponseSchema } from "#shared/api/schemas/destinations.js";
import { scheduleChangeResponseSchema } from "#shared/api/schemas/schedules.js";
import { rescheduleResponseSchema } from "#shared/api/schemas/tasks.js";
import { topicViewSchema } from "#shared/api/schemas/topics.js";

/** The fields a response schema names, in its order. */
const fieldsOf = (schema: { readonly shape: object }): readonly string[] => Object.keys(schema.shape);

/**
 * The fields of the API's views the CLI shows as tables, by view: every other field of an answer (a broken or
 * hostile API's, or a newer API's) is one the CLI does not know, and a table shows only the first few of those
 * (output.ts printResult): an answer of 300,000 extra fields printed as many rows, 37.8 million characters over
 * ~19 s. Read from the API's own response schemas, the widest of each view (a task's as a move answers it, with
 * `rescheduled_from`; a schedule's as a pause or delete answers it, with what it cancelled), so no field the API
 * sends is ever left out of a table (unknown-fields.test.ts checks them against docs/openapi.json).
 */
export const KNOWN_FIELDS = {
  task: fieldsOf(rescheduleResponseSchema),
  schedule: fieldsOf(scheduleChangeResponseSchema),
  topic: fieldsOf(topicViewSchema),
  destinationReset: fieldsOf(destinationResetResponseSchema),
} as const satisfies Record<string, readonly string[]>;
