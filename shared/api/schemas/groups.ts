/** Request schemas of the group routes (scope I2): the handler validates with them, the OpenAPI document shows them. */
import * as z from "#shared/zod.js";
import { cursorParam } from "./next-cursor.js";
import { PLAIN_DIGITS_NOTE, queryInteger } from "./query.js";

/** Tasks read per call: bounded work (and Lambda time) however large the group. */
export const MAX_GROUP_PAGE = 1_000;

/**
 * The path's group segment that says "the group is in `?group=`". A group named `.` or `..` cannot travel in a
 * path: every URL parser (API Gateway's clients, `fetch`, `new URL`) removes such a segment, even percent-encoded,
 * and the request reaches another route. The client always sends the group this way.
 */
export const GROUP_IN_QUERY = "-";

// No minimum: an add takes `""` as a group value (only an absent or null field makes a task its own group); it
// travels as `-` and `?group=`, an empty path segment never reaching the route.
const groupValue = z.string().check(z.maxLength(1024));

export const cancelGroupParamsSchema = z.object({
  topic: z.withMeta(z.string().check(z.minLength(1)), { description: "the topic" }),
  value: z.withMeta(groupValue, {
    description: `the ordering field's value (the group), or \`${GROUP_IN_QUERY}\` with the value in \`group\` (needed for \`.\` and \`..\`, which URL parsers remove from a path, and for a value holding \`/\`, which API Gateway decodes from \`%2F\` before it matches a route: 404)`,
  }),
});

export const cancelGroupQuerySchema = z.strictObject({
  group: z.withMeta(z.optional(groupValue), {
    description: `the group, when the path's group is \`${GROUP_IN_QUERY}\` (and only then)`,
  }),
  limit: z.withMeta(z.optional(queryInteger({ min: 1, max: MAX_GROUP_PAGE })), {
    description: `tasks read this call (default and maximum ${MAX_GROUP_PAGE}), ${PLAIN_DIGITS_NOTE}`,
  }),
  cursor: cursorParam("`next_cursor` of the previous call"),
  // As `GET /v1/tasks?subscriber=` takes it: one of the topic's subscribers (as configured now), checked by the service.
  subscriber: z.withMeta(z.optional(z.string().check(z.minLength(1), z.maxLength(64))), {
    description:
      "a fan-out topic: cancel only this subscriber's copies of the group (its lane, in the order it receives them), no other subscriber's, nor the tasks themselves",
  }),
});
export type CancelGroupQuery = z.output<typeof cancelGroupQuerySchema>;
