import { destinationResetResponseSchema } from "#shared/api/schemas/destinations.js";
import { scheduleChangeResponseSchema } from "#shared/api/schemas/schedules.js";
import { rescheduleResponseSchema } from "#shared/api/schemas/tasks.js";
import { topicViewSchema } from "#shared/api/schemas/topics.js";
import { topicSettingsSchema } from "#shared/config/schema.js";

/** What known-fields reads of a zod schema: an object's shape, or the schema an optional (nullable, …) wraps. */
interface SchemaLike {
  readonly _zod: { readonly def: { readonly shape?: object; readonly innerType?: SchemaLike } };
}

/** The schema an optional, nullable or defaulted one wraps, down to the value's own. */
function unwrapped(schema: SchemaLike): SchemaLike {
  let inner = schema;
  while (inner._zod.def.innerType) inner = inner._zod.def.innerType;
  return inner;
}

/**
 * The fields a response schema names, in its order, and below each that is an object the fields its schema names,
 * as the table's rows name them (`backlog.waiting`): dotted paths, at any depth.
 */
function fieldsOf(schema: SchemaLike, prefix = ""): string[] {
  const shape = unwrapped(schema)._zod.def.shape as Record<string, SchemaLike> | undefined;
  if (!shape) return [];
  return Object.entries(shape).flatMap(([key, field]) => [
    `${prefix}${key}`,
    ...fieldsOf(field, `${prefix}${key}.`),
  ]);
}

/**
 * The fields of the API's views the CLI shows as tables, by view, nested ones as dotted paths: every other field of
 * an answer (a broken or hostile API's, or a newer API's), at the top or under a known one, is one the CLI does not
 * know, and a table shows only the first few of those (output.ts printResult): an answer of 300,000 extra fields
 * printed as many rows, 37.8 million characters over ~19 s, and so did 300,000 keys under a topic's `settings`. Read
 * from the API's own response schemas, the widest of each view (a task's as a move answers it, with
 * `rescheduled_from`; a schedule's as a pause or delete answers it, with what it cancelled), so no field the API
 * sends is ever left out of a table (unknown-fields.test.ts checks them against docs/openapi.json). A topic's
 * `settings` are open in its schema (the topic's resolved configuration): its fields are the config's topic settings
 * (shared/config/schema.ts) and the topic's `name`.
 */
export const KNOWN_FIELDS = {
  task: fieldsOf(rescheduleResponseSchema),
  schedule: fieldsOf(scheduleChangeResponseSchema),
  topic: [...fieldsOf(topicViewSchema), "settings.name", ...fieldsOf(topicSettingsSchema, "settings.")],
  destinationReset: fieldsOf(destinationResetResponseSchema),
} as const satisfies Record<string, readonly string[]>;
