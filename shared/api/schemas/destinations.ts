/**
 * The destination routes (`/v1/destinations…`, issue 14): each topic's view of each callback host it protects —
 * the circuit breaker's state and the leases in use.
 */
import * as z from "#shared/zod.js";
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX } from "./list-limits.js";
import { cursorParam, nextCursorSchema } from "./next-cursor.js";
import { PLAIN_DIGITS_NOTE, queryInteger } from "./query.js";

/**
 * Which circuits a list page holds: `open` every circuit that holds deliveries back (open and half-open), `closed`
 * the others; absent, all.
 */
export const DESTINATION_STATE_FILTERS = ["open", "closed"] as const;
export type DestinationStateFilter = (typeof DESTINATION_STATE_FILTERS)[number];

/** `GET /v1/destinations`' query: a page of the destination partition, in topic and host order. */
export const listDestinationsQuerySchema = z.strictObject({
  limit: z.withMeta(
    // prefault, not default: zod documents no default for a preprocessed input
    z.prefault(queryInteger({ min: 1, max: LIST_LIMIT_MAX }), LIST_LIMIT_DEFAULT),
    { description: `page size, 1–${LIST_LIMIT_MAX} (default ${LIST_LIMIT_DEFAULT}), ${PLAIN_DIGITS_NOTE}` },
  ),
  cursor: cursorParam("the previous page's `next_cursor` (of a list with the same `state`)"),
  state: z.withMeta(z.optional(z.enum(DESTINATION_STATE_FILTERS)), {
    description:
      "`open`: only circuits that hold deliveries back (open and half-open); `closed`: only closed ones; default every one",
  }),
});

export const destinationResetQuerySchema = z.strictObject({
  topic: z.withMeta(z.optional(z.string().check(z.minLength(1), z.maxLength(64))), {
    description:
      "only this topic's circuit, also a topic since removed from the configuration (default: every deployed topic)",
  }),
});

export const destinationViewSchema = z.looseObject({
  topic: z.string(),
  host: z.string(),
  /** `half-open`: open, and its cool-down is over (the next delivery probes). */
  state: z.enum(["closed", "open", "half-open"]),
  /** Consecutive failed attempts (a success resets it). */
  failures: z.number().check(z.int(), z.nonnegative()),
  opened_at: z.nullable(z.string()),
  /** When an open circuit lets its next probe through; null when closed. */
  next_probe_at: z.nullable(z.string()),
  last_error: z.nullable(z.string()),
  last_failure_at: z.nullable(z.string()),
  /** Concurrency leases held now (topics with `maxConcurrencyPerHost`). */
  in_flight: z.number().check(z.int(), z.nonnegative()),
});
export type DestinationView = z.output<typeof destinationViewSchema>;

export const destinationListSchema = z.looseObject({
  destinations: z.array(destinationViewSchema),
  next_cursor: nextCursorSchema,
  /** Kept for clients written before pages: present exactly when `next_cursor` is (more destinations exist). */
  truncated: z.withMeta(z.optional(z.literal(true)), {
    description:
      "present exactly when `next_cursor` is: more destinations exist (kept for clients written before the list had pages)",
  }),
});
export type DestinationList = z.output<typeof destinationListSchema>;

export const destinationResetResponseSchema = z.looseObject({
  host: z.string(),
  /** The host's destinations after the reset (closed, no failures), one per topic. */
  destinations: z.array(destinationViewSchema),
});
export type DestinationResetResponse = z.output<typeof destinationResetResponseSchema>;
