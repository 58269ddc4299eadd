import * as z from "#shared/zod.js";
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from "./list-limits.js";
import { cursorParam } from "./next-cursor.js";
import { PLAIN_DIGITS_NOTE, queryInteger } from "./query.js";

/**
 * `GET /v1/schedules?topic=`'s query (re-exported by schedules.ts, where the schedule schemas are): a module that
 * builds no other schema, so the list function bundles only this one.
 */
export const listSchedulesQuerySchema = z.strictObject({
  topic: z.withMeta(z.string().check(z.minLength(1), z.maxLength(64)), { description: "the topic" }),
  limit: z.withMeta(
    // prefault, not default: zod documents no default for a preprocessed input
    z.prefault(queryInteger({ min: 1, max: LIST_LIMIT_MAX }), LIST_LIMIT_DEFAULT),
    { description: `page size, 1–${LIST_LIMIT_MAX} (default ${LIST_LIMIT_DEFAULT}), ${PLAIN_DIGITS_NOTE}` },
  ),
  cursor: cursorParam("the previous page's `next_cursor`"),
});
